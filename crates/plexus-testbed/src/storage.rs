//! Storage scenarios (issue 12): storers offering disk, an owner that
//! stores a file and goes offline, holders killed one at a time or several
//! at once, a full storer, a storer whose shard rots. Each daemon runs in its
//! own namespace with short probe and repair times from its `config.toml`;
//! a newcomer (a fresh data dir, no daemon, its own namespace) gets the
//! ticket back byte for byte after every loss. Repair times are measured
//! from the kill to the holder count being back; bytes moved are the
//! repairers' own counters (`plexus status`: `storage_repair_bytes`).

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{report::Bound, Host, Net, Report};

/// Seconds between a holder's probes and audits of the others.
const PROBE_SECS: u64 = 1;

/// How an object is spread, as `plexus store` takes it.
#[derive(Debug, Clone, Copy)]
pub enum Spread {
    /// `--erasure K/N`.
    Erasure(u8, u8),
    /// `--replicas N`.
    Replicas(u8),
}

impl Spread {
    fn args(self) -> Vec<String> {
        match self {
            Spread::Erasure(k, n) => vec!["--erasure".into(), format!("{k}/{n}")],
            Spread::Replicas(n) => vec!["--replicas".into(), n.to_string()],
        }
    }

    /// (K, N).
    fn k_n(self) -> (usize, usize) {
        match self {
            Spread::Erasure(k, n) => (k.into(), n.into()),
            Spread::Replicas(n) => (1, n.into()),
        }
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Spread::Erasure(k, n) => write!(f, "{k}-of-{n}"),
            Spread::Replicas(n) => write!(f, "{n} replicas"),
        }
    }
}

/// Storers 0..s, the owner at s, a newcomer namespace (no daemon) at s + 1.
struct Bed {
    /// `None` once killed.
    hosts: Vec<Option<Host>>,
    storers: usize,
    newcomers: usize,
    net: Net,
    dir: tempfile::TempDir,
}

/// What `plexus store --json` printed.
struct Placed {
    ticket: String,
    object: String,
    size: u64,
    stored_bytes: u64,
    secs: f64,
}

impl Bed {
    /// Starts `storers` daemons offering `offer(i)` and an owner without an
    /// offer, all probing every [`PROBE_SECS`] and repairing a holder
    /// unheard of for `repair_after` seconds; the owner dials every storer.
    fn new(
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
            std::fs::write(
                data_dir.join("config.toml"),
                format!(
                    "storage_probe_secs = {PROBE_SECS}\nstorage_repair_after_secs = {repair_after}\n"
                ),
            )?;
            let mut extra: Vec<String> = vec!["--no-mdns".into()];
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

    fn owner(&self) -> Result<&Host> {
        self.hosts[self.storers].as_ref().context("owner is gone")
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut h) = self.hosts[i].take() {
            h.kill();
        }
    }

    /// Storers alive.
    fn alive(&self) -> Vec<usize> {
        (0..self.storers)
            .filter(|&i| self.hosts[i].is_some())
            .collect()
    }

    /// `plexus store FILE SPREAD --json` on the owner.
    fn store(&self, file: &Path, spread: Spread) -> Result<Placed> {
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
    fn holders(&self, object: &str) -> Result<Vec<usize>> {
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
    fn wait_holders(
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
    fn repair_counts(&self, hosts: &[usize]) -> Result<(u64, u64)> {
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
    fn newcomer_get(&mut self, ticket: &str, src: &Path) -> Result<f64> {
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

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// Scratch file of `size` pseudo-random bytes.
fn make_file(dir: &Path, name: &str, size: u64, seed: u64) -> Result<PathBuf> {
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
fn placed_rows(report: &mut Report, spread: Spread, placed: &Placed, holders: usize) {
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

/// 12 storers; the owner stores `size` bytes as `spread` and goes offline;
/// holders are killed one at a time, with a repair waited for after each,
/// until N - K + 1 of the originals are gone. A newcomer gets the file
/// byte for byte after each loss.
pub fn kill_one_at_a_time(plexus: &Path, size: u64, spread: Spread) -> Result<Report> {
    let (k, n) = spread.k_n();
    let shard = size.div_ceil(k as u64);
    let offer = format!("{}MiB", mib(shard * 2).ceil() as u64 + 4);
    // Above the repairers' 5 s probe timeout: a slow answer is not a loss.
    let repair_after = 8;
    let mut bed = Bed::new(plexus, 12, |_| offer.clone(), repair_after)?;
    let src = make_file(bed.dir.path(), "stored.bin", size, 12)?;
    let mut report = Report::new(&format!("storage-kill {spread}"));
    let placed = bed.store(&src, spread)?;
    let originals = bed.holders(&placed.object)?;
    placed_rows(&mut report, spread, &placed, originals.len());
    let owner = bed.storers;
    bed.kill(owner);
    report.note("the owner is offline from here on");
    let kills = n - k + 1;
    let ideal = (repair_after + PROBE_SECS) as f64;
    let limit = Duration::from_secs(repair_after + 60 + 2 * mib(size) as u64);
    let mut holding = originals.len();
    for (round, &victim) in originals.iter().take(kills).enumerate() {
        let lost = round + 1;
        let others: Vec<usize> = bed.alive().into_iter().filter(|&i| i != victim).collect();
        let before = bed.repair_counts(&others)?;
        bed.kill(victim);
        let want = n.min(others.len());
        let repairs = want.saturating_sub(holding - 1);
        holding = want;
        let took = bed.wait_holders(&placed.object, want, &[], limit)?;
        let after = bed.repair_counts(&others)?;
        if repairs == 0 {
            report.note(format!(
                "lost {lost}: no spare storer left, {want} holders stay (no repair possible)"
            ));
        } else {
            report.row(
                format!("lost {lost}: repaired, back to {want} holders"),
                took.as_secs_f64(),
                ideal,
                "s",
                Bound::AtMost(15.0),
            );
            report.row(
                format!("lost {lost}: MiB moved by {} repair(s)", after.0 - before.0),
                mib(after.1 - before.1),
                mib((k as u64 + 1) * shard * repairs as u64),
                "MiB",
                Bound::None,
            );
        }
        let secs = bed.newcomer_get(&placed.ticket, &src)?;
        eprintln!("lost {lost}: {want} holders after {took:?}; newcomer got it in {secs:.2}s");
        report.row(
            format!("lost {lost}: newcomer gets it byte-identical"),
            secs,
            secs,
            "s",
            Bound::None,
        );
    }
    report.note(format!(
        "repair after {repair_after}s unheard, probes every {PROBE_SECS}s (ideal time = both); \
         bytes moved ideal = (K + 1) shards of {:.2} MiB; after the last kill only {} storers live",
        mib(shard),
        bed.alive().len()
    ));
    Ok(report)
}

/// 12 storers, 4-of-8; the owner goes offline and N - K holders are killed
/// at once: a newcomer gets the file from the K left before any repair
/// could run, then repairs bring it back to N.
pub fn kill_many_at_once(plexus: &Path, size: u64) -> Result<Report> {
    let spread = Spread::Erasure(4, 8);
    let (k, n) = spread.k_n();
    let shard = size.div_ceil(k as u64);
    let offer = format!("{}MiB", mib(shard * 2).ceil() as u64 + 4);
    // Long enough for the get to finish before any repair starts.
    let repair_after = 15 + mib(size) as u64 / 4;
    let mut bed = Bed::new(plexus, 12, |_| offer.clone(), repair_after)?;
    let src = make_file(bed.dir.path(), "stored.bin", size, 13)?;
    let mut report = Report::new(&format!("storage-burst {spread}"));
    let placed = bed.store(&src, spread)?;
    let originals = bed.holders(&placed.object)?;
    placed_rows(&mut report, spread, &placed, originals.len());
    bed.kill(bed.storers);
    let victims = &originals[..n - k];
    let others: Vec<usize> = bed
        .alive()
        .into_iter()
        .filter(|i| !victims.contains(i))
        .collect();
    let before = bed.repair_counts(&others)?;
    for &v in victims {
        bed.kill(v);
    }
    let killed = Instant::now();
    let secs = bed.newcomer_get(&placed.ticket, &src)?;
    let during = bed.holders(&placed.object)?.len();
    report.row(
        format!("{} of {n} holders killed: newcomer gets it", n - k),
        secs,
        secs,
        "s",
        Bound::None,
    );
    report.row(
        "holders alive when that get ended (no repair yet)",
        during as f64,
        k as f64,
        "",
        Bound::AtMost(1.0),
    );
    let limit = Duration::from_secs(repair_after + 90 + 4 * mib(size) as u64);
    // A repair that falls short is a failed row in the printed table, not
    // an error that hides the table.
    let waited = bed.wait_holders(&placed.object, n, victims, limit);
    let took = killed.elapsed();
    let holding = bed.holders(&placed.object)?.len();
    report.row(
        format!("holders {:.0}s after the kill", took.as_secs_f64()),
        holding as f64,
        n as f64,
        "",
        Bound::AtLeast(1.0),
    );
    if let Err(e) = waited {
        report.note(format!("not repaired: {e:#}"));
        return Ok(report);
    }
    let after = bed.repair_counts(&others)?;
    report.row(
        format!("repaired back to {n} holders (from the kill)"),
        took.as_secs_f64(),
        (repair_after + PROBE_SECS) as f64,
        "s",
        Bound::AtMost(4.0),
    );
    report.row(
        format!("MiB moved by {} repairs", after.0 - before.0),
        mib(after.1 - before.1),
        mib((k as u64 + 1) * shard * (n - k) as u64),
        "MiB",
        Bound::None,
    );
    let secs = bed.newcomer_get(&placed.ticket, &src)?;
    report.row(
        "after repair: newcomer gets it byte-identical",
        secs,
        secs,
        "s",
        Bound::None,
    );
    report.note(format!(
        "repair after {repair_after}s unheard, probes every {PROBE_SECS}s"
    ));
    Ok(report)
}

/// 7 storers offering 3 MiB each. A 4 MiB 2-of-4 object fills four of
/// them; 2 MiB in 2 replicas then goes to the two with room (the full ones
/// are skipped); 2 MiB in 3 replicas cannot be placed and says it found 1.
pub fn quota(plexus: &Path) -> Result<Report> {
    let bed = Bed::new(plexus, 7, |_| "3MiB".into(), 60)?;
    let mut report = Report::new("storage-quota");
    let a_file = make_file(bed.dir.path(), "a.bin", 4 << 20, 1)?;
    let b_file = make_file(bed.dir.path(), "b.bin", 2 << 20, 2)?;
    let c_file = make_file(bed.dir.path(), "c.bin", 2 << 20, 3)?;
    let a = bed.store(&a_file, Spread::Erasure(2, 4))?;
    let a_holders = bed.holders(&a.object)?;
    placed_rows(&mut report, Spread::Erasure(2, 4), &a, a_holders.len());
    let b = bed.store(&b_file, Spread::Replicas(2))?;
    let b_holders = bed.holders(&b.object)?;
    let skipped = b_holders.iter().filter(|i| !a_holders.contains(i)).count();
    report.row(
        "2 replicas placed only on storers with room",
        skipped as f64,
        2.0,
        "",
        Bound::AtLeast(1.0),
    );
    report.note(format!(
        "full storers {a_holders:?} skipped; replicas on {b_holders:?}"
    ));
    let mut args = vec!["store".to_string(), c_file.display().to_string()];
    args.extend(Spread::Replicas(3).args());
    let out = bed
        .owner()?
        .cli(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    if out.status.success() {
        bail!("3 replicas of 2 MiB were placed with room for 1: {err}");
    }
    let found = err
        .split("found ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|w| w.parse::<f64>().ok())
        .with_context(|| format!("the refusal does not say how many it found: {err}"))?;
    report.row(
        "unplaceable: found with room, as reported",
        found,
        1.0,
        "",
        Bound::AtMost(1.0),
    );
    report.row(
        "unplaceable: found with room (at least)",
        found,
        1.0,
        "",
        Bound::AtLeast(1.0),
    );
    report.note(format!("refusal: {}", err.trim()));
    Ok(report)
}

/// The largest blob in a host's content store: its shard (a storer that
/// holds one shard has it and the small manifest).
fn shard_file(host: &Host) -> Result<PathBuf> {
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

/// 6 storers, 2-of-4: one holder's shard is overwritten with zeros and,
/// with `delete`, another's deleted on disk, both daemons still answering;
/// status and audits find them and the shards are rebuilt elsewhere. (A
/// failed repair is retried after the repair period, 20 s here.)
pub fn rot(plexus: &Path, size: u64, delete: bool) -> Result<Report> {
    let spread = Spread::Erasure(2, 4);
    let mut bed = Bed::new(plexus, 6, |_| "64MiB".into(), 20)?;
    let src = make_file(bed.dir.path(), "stored.bin", size, 14)?;
    let mut report = Report::new(if delete {
        "storage-rot (zeroed + deleted)"
    } else {
        "storage-rot (zeroed)"
    });
    let placed = bed.store(&src, spread)?;
    let originals = bed.holders(&placed.object)?;
    placed_rows(&mut report, spread, &placed, originals.len());
    bed.kill(bed.storers);
    let (corrupt, gone) = (originals[0], originals[1]);
    let path = shard_file(bed.hosts[corrupt].as_ref().expect("alive"))?;
    let len = std::fs::metadata(&path)?.len();
    std::fs::write(&path, vec![0u8; len as usize])?;
    let mut bad = vec![corrupt];
    if delete {
        let path = shard_file(bed.hosts[gone].as_ref().expect("alive"))?;
        std::fs::remove_file(&path)?;
        bad.push(gone);
    }
    let took = bed.wait_holders(&placed.object, 4, &bad, Duration::from_secs(90))?;
    report.row(
        "rotten shard(s) caught and rebuilt elsewhere",
        took.as_secs_f64(),
        PROBE_SECS as f64,
        "s",
        Bound::AtMost(30.0),
    );
    let secs = bed.newcomer_get(&placed.ticket, &src)?;
    report.row(
        "after repair: newcomer gets it byte-identical",
        secs,
        secs,
        "s",
        Bound::None,
    );
    report.note(format!(
        "shards zeroed/deleted on holders {bad:?}; their daemons kept running and answering probes"
    ));
    Ok(report)
}
