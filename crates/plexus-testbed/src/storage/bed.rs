//! The storage test bed: storers, an owner and newcomer namespaces; what
//! they store, hold and repaired, asked through the `plexus` CLI.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::{Spread, PROBE_SECS};
use crate::{report::Bound, Host, Net, Report};

/// Storers 0..s, the owner at s, a newcomer namespace (no daemon) at s + 1.
pub(super) struct Bed {
    /// `None` once killed.
    pub(super) hosts: Vec<Option<Host>>,
    pub(super) storers: usize,
    newcomers: usize,
    net: Net,
    pub(super) dir: tempfile::TempDir,
}

/// What `plexus store --json` printed.
pub(super) struct Placed {
    pub(super) ticket: String,
    pub(super) object: String,
    pub(super) size: u64,
    pub(super) stored_bytes: u64,
    pub(super) secs: f64,
}

impl Bed {
    /// Starts `storers` daemons offering `offer(i)` and an owner without an
    /// offer, all probing every [`PROBE_SECS`] and repairing a holder
    /// unheard of for `repair_after` seconds; the owner dials every storer.
    pub(super) fn new(
        plexus: &Path,
        storers: usize,
        offer: impl Fn(usize) -> String,
        repair_after: u64,
    ) -> Result<Self> {
        let net = Net::new(storers + 2)?;
        let dir = tempfile::Builder::new()
            .prefix("plexus-storebed")
            .tempdir()?;
        let mut hosts: Vec<Option<Host>> = Vec::new();
        for i in 0..=storers {
            let data_dir = dir.path().join(format!("host{i}"));
            std::fs::create_dir_all(&data_dir)?;
            let mut extra: Vec<String> = vec![
                "--no-mdns".into(),
                "--storage-probe-secs".into(),
                PROBE_SECS.to_string(),
                "--storage-repair-after-secs".into(),
                repair_after.to_string(),
            ];
            if let Some(Some(first)) = hosts.first() {
                extra.extend(["--bootstrap".into(), first.tcp_addr()]);
            }
            if i < storers {
                extra.extend(["--offer-storage".into(), offer(i)]);
            }
            let link = &net.links[i];
            hosts.push(Some(Host::start(
                plexus, &link.ns, link.ip, data_dir, &extra,
            )?));
        }
        let bed = Self {
            hosts,
            storers,
            newcomers: 0,
            net,
            dir,
        };
        let owner = bed.owner()?;
        for s in bed.hosts[1..storers].iter().flatten() {
            owner.json(&["connect", &s.tcp_addr()])?;
        }
        Ok(bed)
    }

    pub(super) fn owner(&self) -> Result<&Host> {
        self.hosts[self.storers].as_ref().context("owner is gone")
    }

    pub(super) fn kill(&mut self, i: usize) {
        if let Some(mut h) = self.hosts[i].take() {
            h.kill();
        }
    }

    /// Storers alive.
    pub(super) fn alive(&self) -> Vec<usize> {
        (0..self.storers)
            .filter(|&i| self.hosts[i].is_some())
            .collect()
    }

    /// `plexus store FILE SPREAD --json` on the owner.
    pub(super) fn store(&self, file: &Path, spread: Spread) -> Result<Placed> {
        let mut args = vec!["store".to_string(), file.display().to_string()];
        args.extend(spread.args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let v = self.owner()?.json(&args)?;
        Ok(Placed {
            ticket: v["ticket"].as_str().context("no ticket")?.to_string(),
            object: v["object"].as_str().context("no object")?.to_string(),
            size: v["size"].as_u64().context("no size")?,
            stored_bytes: v["stored_bytes"].as_u64().context("no stored_bytes")?,
            secs: v["secs"].as_f64().unwrap_or(0.0),
        })
    }

    /// Live storers that pin a shard of `object`.
    pub(super) fn holders(&self, object: &str) -> Result<Vec<usize>> {
        let mut out = Vec::new();
        for i in self.alive() {
            let pins = self.hosts[i].as_ref().expect("alive").json(&["pins"])?;
            let holds = pins.as_array().is_some_and(|a| {
                a.iter()
                    .any(|p| p["kind"] == "held" && p["object"] == object)
            });
            if holds {
                out.push(i);
            }
        }
        Ok(out)
    }

    /// Waits (at most `limit`) until exactly `want` live storers hold
    /// `object`, none of them in `not`; returns how long it took.
    pub(super) fn wait_holders(
        &self,
        object: &str,
        want: usize,
        not: &[usize],
        limit: Duration,
    ) -> Result<Duration> {
        let started = Instant::now();
        loop {
            let now = self.holders(object)?;
            if now.len() == want && !now.iter().any(|i| not.contains(i)) {
                return Ok(started.elapsed());
            }
            if started.elapsed() > limit {
                bail!("holders of {object} are {now:?} after {limit:?}, wanted {want} without {not:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Repairs carried out and bytes they moved, summed over `hosts`.
    pub(super) fn repair_counts(&self, hosts: &[usize]) -> Result<(u64, u64)> {
        let mut sum = (0, 0);
        for &i in hosts {
            if let Some(h) = &self.hosts[i] {
                let s = h.json(&["status"])?;
                sum.0 += s["storage_repairs"].as_u64().unwrap_or(0);
                sum.1 += s["storage_repair_bytes"].as_u64().unwrap_or(0);
            }
        }
        Ok(sum)
    }

    /// A newcomer with a fresh data dir and no daemon, in its own
    /// namespace, bootstrapping from a live storer, gets `ticket`; checked
    /// byte for byte against `src`. Returns the seconds it took.
    pub(super) fn newcomer_get(&mut self, ticket: &str, src: &Path) -> Result<f64> {
        self.newcomers += 1;
        let via = self
            .alive()
            .first()
            .and_then(|&i| self.hosts[i].as_ref())
            .context("no storer alive")?
            .tcp_addr();
        let data_dir = self.dir.path().join(format!("newcomer{}", self.newcomers));
        std::fs::create_dir_all(&data_dir)?;
        std::fs::write(
            data_dir.join("config.toml"),
            format!("bootstrap = [\"{via}\"]\nmdns = false\n"),
        )?;
        let out = self.dir.path().join("got.bin");
        let started = Instant::now();
        let output = std::process::Command::new("ip")
            .args(["netns", "exec", &self.net.links[self.storers + 1].ns])
            .arg(&self.owner_binary()?)
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["get", ticket, "-o"])
            .arg(&out)
            .arg("--force")
            .output()?;
        let secs = started.elapsed().as_secs_f64();
        // Kept like the daemons' logs (see `host.rs`) when asked for.
        if let Some(dir) = std::env::var_os("PLEXUS_TESTBED_LOGS") {
            let log = Path::new(&dir).join(format!("newcomer{}.log", self.newcomers));
            let _ = std::fs::write(log, &output.stderr);
        }
        if !output.status.success() {
            bail!(
                "the newcomer's get failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let same = std::fs::read(src)? == std::fs::read(&out)?;
        std::fs::remove_file(&out)?;
        std::fs::remove_dir_all(&data_dir)?;
        if !same {
            bail!("the newcomer got different bytes");
        }
        Ok(secs)
    }

    fn owner_binary(&self) -> Result<PathBuf> {
        let any = self.hosts.iter().flatten().next().context("no host")?;
        Ok(any.plexus.clone())
    }
}

pub(super) fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// Scratch file of `size` pseudo-random bytes.
pub(super) fn make_file(dir: &Path, name: &str, size: u64, seed: u64) -> Result<PathBuf> {
    use std::io::Write;
    let path = dir.join(name);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut left = size;
    while left > 0 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = left.min(8) as usize;
        file.write_all(&x.to_le_bytes()[..n])?;
        left -= n as u64;
    }
    file.flush()?;
    Ok(path)
}

/// Rows for a fresh placement: holders and overhead (bytes stored / size).
pub(super) fn placed_rows(report: &mut Report, spread: Spread, placed: &Placed, holders: usize) {
    let (k, n) = spread.k_n();
    report.row(
        format!("store {:.0} MiB {spread}: holders placed", mib(placed.size)),
        holders as f64,
        n as f64,
        "",
        Bound::AtLeast(1.0),
    );
    report.row(
        format!("overhead {spread} (bytes stored / size)"),
        placed.stored_bytes as f64 / placed.size as f64,
        n as f64 / k as f64,
        "x",
        Bound::AtMost(1.02),
    );
    report.note(format!(
        "stored {} bytes as {} bytes in {:.2}s",
        placed.size, placed.stored_bytes, placed.secs
    ));
}

/// The largest blob in a host's content store: its shard (a storer that
/// holds one shard has it and the small manifest).
pub(super) fn shard_file(host: &Host) -> Result<PathBuf> {
    let dir = host.data_dir.join("store").join("blobs");
    let mut best: Option<(u64, PathBuf)> = None;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "data") {
            let len = std::fs::metadata(&path)?.len();
            if best.as_ref().is_none_or(|(l, _)| len > *l) {
                best = Some((len, path));
            }
        }
    }
    best.map(|(_, p)| p)
        .with_context(|| format!("no blob in {}", dir.display()))
}
