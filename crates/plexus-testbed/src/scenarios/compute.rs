//! Compute for others on CPU-limited hosts: one runner and `workers`
//! workers, each worker's daemon in its own cgroup (v1 `cpu` controller,
//! `cpu.cfs_quota_us`) limited to `share` of a CPU. The same job of
//! `units` prime-counting units runs on one worker and then on all; the
//! result must equal a local count, and the speed-up is set against the
//! ideal for that CPU budget (`workers`, the budgets being equal and their
//! sum within the machine's cores).

use std::{
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{report::Bound, Discovery, Net, Report, Testbed};

/// Where the cgroup v1 `cpu` controller is mounted.
const CPU_CGROUPS: &str = "/sys/fs/cgroup/cpu";
/// Primes are counted below this, over all units.
const BELOW: u32 = 600_000;

/// A cgroup of this process's, removed when dropped.
pub(super) struct Cgroup(PathBuf);

impl Cgroup {
    /// A new cgroup limited to `share` of one CPU, holding `pid`.
    pub(super) fn limit(name: &str, share: f64, pid: u32) -> Result<Self> {
        let root = Path::new(CPU_CGROUPS);
        if !root.join("cpu.cfs_quota_us").exists() {
            bail!("no cgroup v1 cpu controller at {CPU_CGROUPS}");
        }
        let dir = root.join(format!("plexus-testbed-{}-{name}", std::process::id()));
        fs::create_dir_all(&dir).with_context(|| format!("cannot make {}", dir.display()))?;
        let group = Self(dir);
        let period: u64 = 100_000;
        fs::write(group.0.join("cpu.cfs_period_us"), period.to_string())?;
        let quota = (share * period as f64) as u64;
        fs::write(group.0.join("cpu.cfs_quota_us"), quota.to_string())?;
        fs::write(group.0.join("cgroup.procs"), pid.to_string())
            .with_context(|| format!("cannot move {pid} into {}", group.0.display()))?;
        Ok(group)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // Empty once its daemon is gone; a few tries while it exits.
        for _ in 0..50 {
            if fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

pub(super) fn count_primes(lo: u32, hi: u32) -> u32 {
    (lo..hi)
        .filter(|&n| n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0))
        .count() as u32
}

/// Waits (at most 20 s) until `runner` is connected to `peers` peers.
pub(super) fn wait_for_peers(runner: &crate::Host, peers: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while runner.json(&["status"])?["connected_peers"]
        .as_u64()
        .unwrap_or(0)
        < peers as u64
    {
        if Instant::now() > deadline {
            bail!("the runner did not see its {peers} peers in 20 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// `plexus job run MODULE --inputs INPUTS --quorum QUORUM -o OUT` on `host`.
pub(super) fn job_run(
    host: &crate::Host,
    module: &Path,
    inputs: &Path,
    quorum: usize,
    out: &Path,
) -> Result<std::process::Command> {
    let quorum = quorum.to_string();
    Ok(host.command(&[
        "job",
        "run",
        module.to_str().context("path")?,
        "--inputs",
        inputs.to_str().context("path")?,
        "--quorum",
        &quorum,
        "-o",
        out.to_str().context("path")?,
    ]))
}

/// Writes the prime-counting module and `units` inputs (ranges below
/// [`BELOW`]) under `dir`: the module's path, the inputs' folder and the
/// output a right run gives.
pub(super) fn prime_job(dir: &Path, units: u32) -> Result<(PathBuf, PathBuf, Vec<u8>)> {
    fs::create_dir_all(dir)?;
    let module = dir.join("primes.wat");
    fs::write(&module, plexus::compute::examples::Example::Primes.source())?;
    let inputs = dir.join("units");
    fs::create_dir_all(&inputs)?;
    let mut expected = Vec::new();
    for i in 0..units {
        let lo = (u64::from(BELOW) * u64::from(i) / u64::from(units)) as u32;
        let hi = (u64::from(BELOW) * u64::from(i + 1) / u64::from(units)) as u32;
        fs::write(
            inputs.join(format!("{i:04}")),
            [lo.to_le_bytes(), hi.to_le_bytes()].concat(),
        )?;
        expected.extend_from_slice(&count_primes(lo, hi).to_le_bytes());
    }
    Ok((module, inputs, expected))
}

/// Runs the job on `workers` workers limited to `share` of a CPU each;
/// returns the wall time of `plexus job run`.
fn run_on(plexus: &Path, workers: usize, units: u32, share: f64) -> Result<f64> {
    let bed = Testbed::on_with(
        plexus,
        Net::new(workers + 1)?,
        Discovery::BootstrapFromFirst,
        |i| {
            if i == 0 {
                Vec::new()
            } else {
                vec!["--compute".into(), "--compute-threads".into(), "1".into()]
            }
        },
    )?;
    let mut groups = Vec::new();
    for (i, host) in bed.hosts.iter().enumerate().skip(1) {
        let pid = host.pid().context("worker daemon not running")?;
        groups.push(Cgroup::limit(&format!("w{i}"), share, pid)?);
    }
    let runner = &bed.hosts[0];
    wait_for_peers(runner, workers)?;
    let (module, inputs, expected) = prime_job(bed.dir.path(), units)?;
    let out = bed.dir.path().join("out.bin");
    let started = Instant::now();
    let run = job_run(runner, &module, &inputs, 1, &out)?
        .output()
        .context("plexus runs")?;
    let secs = started.elapsed().as_secs_f64();
    if !run.status.success() {
        bail!(
            "job run failed: {}",
            String::from_utf8_lossy(&run.stderr).trim()
        );
    }
    if fs::read(&out)? != expected {
        bail!("the job's output differs from the local count");
    }
    drop(bed);
    drop(groups);
    Ok(secs)
}

/// The scenario: `units` units on one worker, then on `workers`, each
/// worker limited to `share` of a CPU.
pub fn compute(plexus: &Path, workers: usize, units: u32, share: f64) -> Result<Report> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if workers as f64 * share > cores as f64 {
        bail!("{workers} workers x {share} CPU is more than the {cores} cores here");
    }
    let one = run_on(plexus, 1, units, share)?;
    let all = run_on(plexus, workers, units, share)?;
    let mut report = Report::new("compute");
    report.row(
        format!("speed-up of {units} units on {workers} workers ({share} CPU each) over 1"),
        one / all,
        workers as f64,
        "x",
        // The job's fixed costs (CLI start, 61 blobs put in the runner's
        // store, finding workers: about 1.5 s) are not divided by workers.
        Bound::AtLeast(0.4),
    );
    report.note(format!(
        "primes below {BELOW} in {units} units, quorum 1, debug build: 1 worker {one:.1} s, {workers} workers {all:.1} s; output equals the local count both times"
    ));
    Ok(report)
}
