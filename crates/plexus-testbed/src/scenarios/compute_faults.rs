//! Compute when things go wrong, on hosts in namespaces: a worker killed
//! (SIGKILL) while it runs a unit, hostile modules (a memory bomb, a trap),
//! and a node without `--compute` among the workers. (The endless loop is
//! in `crates/plexus/tests/compute.rs` with a small instruction budget: the
//! CLI's smallest, `--time 1`, is 10^9 instructions, minutes for a debug
//! build on a quarter of a CPU.)
//! One runner, three workers each limited to a quarter of a CPU (so a unit
//! lasts long enough to be killed in), one node that does not compute.

use std::{
    fs,
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::compute::{job_run, prime_job, wait_for_peers, Cgroup};
use crate::{report::Bound, Discovery, Net, Report, Testbed};

/// Hostile modules, and what their units must fail with.
const HOSTILE: [(&str, &str, &str); 2] = [
    (
        "membomb",
        include_str!("../../../../examples/compute/hostile/membomb.wat"),
        "memory limit",
    ),
    (
        "trap",
        include_str!("../../../../examples/compute/hostile/trap.wat"),
        "integer divide by zero",
    ),
];

/// Longest the killed job may take.
const JOB_LIMIT: Duration = Duration::from_secs(120);

/// The scenario.
pub fn compute_faults(plexus: &Path) -> Result<Report> {
    let mut bed = Testbed::on_with(plexus, Net::new(5)?, Discovery::BootstrapFromFirst, |i| {
        if (1..=3).contains(&i) {
            vec!["--compute".into(), "--compute-threads".into(), "1".into()]
        } else {
            Vec::new()
        }
    })?;
    let mut groups = Vec::new();
    for i in 1..=3 {
        let pid = bed.hosts[i].pid().context("worker daemon not running")?;
        groups.push(Cgroup::limit(&format!("f{i}"), 0.25, pid)?);
    }
    wait_for_peers(&bed.hosts[0], 4)?;
    let mut report = Report::new("compute faults");
    let dir = bed.dir.path().to_path_buf();

    // A worker killed mid-unit: the job completes, right.
    let (module, inputs, expected) = prime_job(&dir, 24)?;
    let out = dir.join("out.bin");
    let started = Instant::now();
    let job = job_run(&bed.hosts[0], &module, &inputs, 2, &out)?
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("plexus job run starts")?;
    let killed_at = loop {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("worker 1 ran no unit within 60 s");
        }
        let status = bed.hosts[1].json(&["status"])?;
        let compute = &status["compute"];
        let running = compute["running"].as_array().is_some_and(|r| !r.is_empty());
        if running && compute["units_done"].as_u64().unwrap_or(0) >= 1 {
            bed.hosts[1].kill();
            break started.elapsed().as_secs_f64();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let done = wait_with_limit(job, JOB_LIMIT)?;
    if !done.status.success() {
        bail!(
            "the job with a killed worker failed: {}",
            String::from_utf8_lossy(&done.stderr).trim()
        );
    }
    let total = started.elapsed().as_secs_f64();
    let right = fs::read(&out)? == expected;
    report.row(
        "job with a worker killed mid-unit: output equals the local count",
        f64::from(u8::from(right)),
        1.0,
        "",
        Bound::AtLeast(1.0),
    );
    report.note(format!(
        "24 units, quorum 2, 3 workers at 0.25 CPU: worker 1 killed (SIGKILL) while running a unit at {killed_at:.1} s; the job ended at {total:.1} s"
    ));

    // Hostile modules: every unit fails with its reason.
    let input = dir.join("hostile-input");
    fs::write(&input, [1u8, 2])?;
    let mut named = 0;
    for (name, source, reason) in HOSTILE {
        let module = dir.join(format!("{name}.wat"));
        fs::write(&module, source)?;
        let run = bed.hosts[0].cli(&[
            "job",
            "run",
            module.to_str().context("path")?,
            "--inputs",
            input.to_str().context("path")?,
            "--units",
            "2",
            "--quorum",
            "2",
            "--memory",
            "1MiB",
        ])?;
        let stderr = String::from_utf8_lossy(&run.stderr);
        if run.status.success() {
            bail!("the {name} job succeeded");
        }
        if stderr.contains(reason) {
            named += 1;
        }
        report.note(format!(
            "{name}: {}",
            stderr.trim().lines().last().unwrap_or("")
        ));
    }
    report.row(
        "hostile modules whose units failed naming the cause",
        f64::from(named),
        HOSTILE.len() as f64,
        "",
        Bound::AtLeast(1.0),
    );

    // The survivors still compute, and the node without --compute ran nothing.
    let (module, inputs, expected) = prime_job(&dir.join("again"), 4)?;
    let out = dir.join("again.bin");
    let run = job_run(&bed.hosts[0], &module, &inputs, 2, &out)?
        .output()
        .context("plexus runs")?;
    let healthy = run.status.success() && fs::read(&out)? == expected;
    if !healthy {
        report.note(format!(
            "the good job: {}, stderr: {}",
            run.status,
            String::from_utf8_lossy(&run.stderr).trim()
        ));
    }
    report.row(
        "a good job after the hostile ones: right output",
        f64::from(u8::from(healthy)),
        1.0,
        "",
        Bound::AtLeast(1.0),
    );
    let idle = &bed.hosts[4].json(&["status"])?["compute"];
    let ran = idle["units_done"].as_u64().unwrap_or(0) + idle["units_failed"].as_u64().unwrap_or(0);
    report.row(
        "the node without --compute ran no unit",
        f64::from(u8::from(ran == 0)),
        1.0,
        "",
        Bound::AtLeast(1.0),
    );
    let mut failed = vec![format!("node without --compute: {ran} units run")];
    for i in 2..=3 {
        let c = &bed.hosts[i].json(&["status"])?["compute"];
        failed.push(format!(
            "worker {i}: {} done, {} failed",
            c["units_done"], c["units_failed"]
        ));
    }
    report.note(failed.join("; "));
    drop(bed);
    drop(groups);
    Ok(report)
}

/// Waits for `child` at most `limit`, killing it then.
fn wait_with_limit(
    mut child: std::process::Child,
    limit: Duration,
) -> Result<std::process::Output> {
    let started = Instant::now();
    while child.try_wait()?.is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output()?;
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last: Vec<&str> = stderr.lines().rev().take(5).collect();
            bail!("the job still ran after {limit:?}; it said last: {last:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(child.wait_with_output()?)
}
