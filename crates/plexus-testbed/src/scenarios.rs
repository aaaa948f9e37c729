//! The scenarios: each builds its own testbed, runs, measures, tears down,
//! and returns a [`Report`] whose rows say whether the figures are good
//! enough. Every wait is bounded.

use std::{
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{report::Bound, Discovery, Host, Mbit, Report, Testbed};

/// Every scenario's name, as the CLI takes it.
pub const ALL: &[&str] = &[
    "swarm",
    "uneven",
    "spread",
    "cut",
    "partition",
    "lan",
    "punch",
];

/// Runs the scenario called `name` with its default figures.
pub fn run(plexus: &Path, name: &str) -> Result<Vec<Report>> {
    Ok(match name {
        "swarm" => [1, 2, 4, 8]
            .into_iter()
            .map(|k| swarm(plexus, k, Mbit(20.0)))
            .collect::<Result<_>>()?,
        "uneven" => vec![uneven(plexus, &[Mbit(2.0), Mbit(10.0), Mbit(50.0)])?],
        "spread" => vec![spread(plexus, 8, Mbit(20.0))?],
        "cut" => vec![cut_links(plexus, Mbit(20.0))?],
        "partition" => vec![partition(plexus, 10)?],
        "lan" => vec![lan(plexus, 6)?],
        "punch" => vec![crate::punch::punch(
            plexus,
            crate::NatKind::PortPreserving,
            20,
        )?],
        other => bail!("no scenario {other:?}; pick one of {}", ALL.join(", ")),
    })
}

/// What one `plexus get --json` reported.
struct Got {
    /// Seconds from the first data request to the end.
    transfer_secs: f64,
    /// Seconds of the whole command.
    secs: f64,
    /// Verified bytes from each provider.
    per_peer: Vec<(String, u64)>,
}

fn share(host: &Host, file: &Path) -> Result<String> {
    let v = host.json(&["share", file.to_str().expect("utf-8 path")])?;
    Ok(v["hash"]
        .as_str()
        .context("share printed no hash")?
        .to_string())
}

fn parse_get(v: &serde_json::Value) -> Got {
    let secs = v["secs"].as_f64().unwrap_or(0.0);
    Got {
        transfer_secs: v["transfer_secs"].as_f64().unwrap_or(secs),
        secs,
        per_peer: v["per_peer"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| {
                        let id = p["peer_id"].as_str().unwrap_or("?");
                        (
                            id[id.len().saturating_sub(6)..].to_string(),
                            p["bytes"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// `plexus get HASH -o OUT` on `host`, checked byte for byte against `src`.
fn get(host: &Host, hash: &str, src: &Path, out: &Path) -> Result<Got> {
    let v = host.json(&["get", hash, "-o", out.to_str().expect("utf-8"), "--force"])?;
    same_bytes(src, out)?;
    Ok(parse_get(&v))
}

fn same_bytes(a: &Path, b: &Path) -> Result<()> {
    if std::fs::read(a)? != std::fs::read(b)? {
        bail!("{} differs from {}", b.display(), a.display());
    }
    Ok(())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn mbs(bytes_per_sec: f64) -> f64 {
    bytes_per_sec / 1e6
}

fn per_peer_note(got: &Got) -> String {
    let parts: Vec<String> = got
        .per_peer
        .iter()
        .map(|(p, b)| format!("..{p} {:.1} MiB", mib(*b)))
        .collect();
    format!("bytes per seeder: {}", parts.join(", "))
}

/// One getter (host 0, uncapped) and `k` seeders each with upload capped at
/// `rate`: the getter's rate against min(k x rate, getter link).
pub fn swarm(plexus: &Path, k: usize, rate: Mbit) -> Result<Report> {
    let bed = Testbed::new(plexus, k + 1, Discovery::BootstrapFromFirst)?;
    for i in 1..=k {
        bed.net.cap(i, Some(rate), None)?;
    }
    // About 6-7 s of transfer at the ideal rate.
    let size = (k as u64 * 16) << 20;
    let file = bed.make_file("swarm.bin", size, k as u64)?;
    let mut hash = String::new();
    for seeder in &bed.hosts[1..] {
        hash = share(seeder, &file)?;
    }
    let got = get(&bed.hosts[0], &hash, &file, &bed.dir.path().join("out"))?;
    let ideal = k as f64 * rate.bytes_per_sec();
    let mut report = Report::new(&format!("swarm k={k}"));
    report.row(
        format!("k={k} seeders at {} Mbit/s, {:.0} MiB", rate.0, mib(size)),
        mbs(size as f64 / got.transfer_secs),
        mbs(ideal),
        "MB/s",
        Bound::AtLeast(0.9),
    );
    report.note(format!(
        "transfer {:.2} s, whole get {:.2} s (with provider lookup); {}",
        got.transfer_secs,
        got.secs,
        per_peer_note(&got)
    ));
    Ok(report)
}

/// Seeders at very different rates: the time against size / sum of rates.
pub fn uneven(plexus: &Path, rates: &[Mbit]) -> Result<Report> {
    let bed = Testbed::new(plexus, rates.len() + 1, Discovery::BootstrapFromFirst)?;
    for (i, r) in rates.iter().enumerate() {
        bed.net.cap(i + 1, Some(*r), None)?;
    }
    let sum: f64 = rates.iter().map(|r| r.bytes_per_sec()).sum();
    let size = ((sum * 8.0) as u64) & !0xffff; // about 8 s at the ideal rate
    let file = bed.make_file("uneven.bin", size, 7)?;
    let mut hash = String::new();
    for seeder in &bed.hosts[1..] {
        hash = share(seeder, &file)?;
    }
    let got = get(&bed.hosts[0], &hash, &file, &bed.dir.path().join("out"))?;
    let names: Vec<String> = rates.iter().map(|r| format!("{}", r.0)).collect();
    let mut report = Report::new("uneven");
    report.row(
        format!(
            "seeders at {} Mbit/s, {:.0} MiB",
            names.join("/"),
            mib(size)
        ),
        got.transfer_secs,
        size as f64 / sum,
        "s",
        Bound::AtMost(1.15),
    );
    report.note(per_peer_note(&got));
    Ok(report)
}

/// One seeder capped at `rate`, `getters` uncapped getters starting
/// together: they trade pieces, so the last one ends well before
/// getters x (size / rate).
pub fn spread(plexus: &Path, getters: usize, rate: Mbit) -> Result<Report> {
    let bed = Testbed::new(plexus, getters + 1, Discovery::BootstrapFromFirst)?;
    bed.net.cap(0, Some(rate), None)?;
    let size: u64 = 16 << 20;
    let file = bed.make_file("spread.bin", size, 3)?;
    let hash = share(&bed.hosts[0], &file)?;
    bed.wait_for_routing(getters as u64, Duration::from_secs(30))?;
    let started = Instant::now();
    let children: Vec<_> = bed.hosts[1..]
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let out = bed.dir.path().join(format!("out{i}"));
            let child = h
                .command(&["get", &hash, "-o", out.to_str().unwrap(), "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn();
            (out, child)
        })
        .collect();
    let mut ends = Vec::new();
    let mut from_seeder = 0u64;
    let seeder_tail = &bed.hosts[0].peer_id[bed.hosts[0].peer_id.len() - 6..];
    for (out, child) in children {
        let output = child?.wait_with_output()?;
        if !output.status.success() {
            bail!(
                "a getter failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        ends.push(started.elapsed().as_secs_f64());
        let v: serde_json::Value = serde_json::from_slice(&output.stdout)?;
        let got = parse_get(&v);
        from_seeder += got
            .per_peer
            .iter()
            .filter(|(p, _)| p == seeder_tail)
            .map(|(_, b)| b)
            .sum::<u64>();
        same_bytes(&file, &out)?;
    }
    ends.sort_by(f64::total_cmp);
    let one = size as f64 / rate.bytes_per_sec();
    let mut report = Report::new("spread");
    report.row(
        format!("last of {getters} getters, seeder at {} Mbit/s", rate.0),
        *ends.last().expect("getters"),
        getters as f64 * one,
        "s",
        Bound::AtMost(0.5),
    );
    report.note(format!(
        "finish times (s): {}; one copy from the seeder alone takes {one:.1} s",
        ends.iter()
            .map(|t| format!("{t:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    report.note(format!(
        "the seeder uploaded {:.1} MiB = {:.2} copies; the rest came from getters",
        mib(from_seeder),
        from_seeder as f64 / size as f64
    ));
    Ok(report)
}

/// Bytes of `hash` the host has verified so far (from `plexus ls`).
fn present(host: &Host, hash: &str) -> u64 {
    host.json(&["ls"])
        .ok()
        .and_then(|v| {
            v.as_array()?
                .iter()
                .find(|e| e["hash"] == hash)
                .and_then(|e| e["present_bytes"].as_u64())
        })
        .unwrap_or(0)
}

/// Starts `get` on `host` in the background, waits (bounded) until `frac`
/// of `size` is verified, runs `act`, then waits for the get to finish.
fn get_with_interruption(
    host: &Host,
    hash: &str,
    size: u64,
    out: &Path,
    frac: f64,
    act: impl FnOnce() -> Result<()>,
) -> Result<Got> {
    let child = host
        .command(&[
            "get",
            hash,
            "-o",
            out.to_str().unwrap(),
            "--json",
            "--force",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while present(host, hash) < (size as f64 * frac) as u64 {
        if Instant::now() > deadline {
            bail!("the download did not reach {:.0}% in 60 s", frac * 100.0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    act()?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!("get failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(parse_get(&serde_json::from_slice(&output.stdout)?))
}

/// A seeder's link is cut mid-download (the rest finish it); then the
/// getter's own link is cut for 10 s and restored (the download resumes).
pub fn cut_links(plexus: &Path, rate: Mbit) -> Result<Report> {
    let bed = Testbed::new(plexus, 4, Discovery::BootstrapFromFirst)?;
    for i in 1..4 {
        bed.net.cap(i, Some(rate), None)?;
    }
    let size: u64 = 48 << 20;
    let file = bed.make_file("cut.bin", size, 11)?;
    let mut hash = String::new();
    for seeder in &bed.hosts[1..] {
        hash = share(seeder, &file)?;
    }
    let getter = &bed.hosts[0];
    let out = bed.dir.path().join("out1");
    let started = Instant::now();
    let got = get_with_interruption(getter, &hash, size, &out, 0.3, || bed.net.cut(1))?;
    let first = started.elapsed().as_secs_f64();
    same_bytes(&file, &out)?;
    bed.net.restore(1)?;
    let mut report = Report::new("cut");
    let two = size as f64 / (2.0 * rate.bytes_per_sec());
    // Ideal (pessimistic): as if only the two others had served it all.
    report.row(
        "seeder 1 of 3 cut at 30%: completes",
        first,
        two,
        "s",
        Bound::AtMost(1.3),
    );
    report.note(per_peer_note(&got));

    // The getter's own link: cut 10 s, restored, the same get completes.
    getter.cli(&["rm", &hash])?;
    let out = bed.dir.path().join("out2");
    let started = Instant::now();
    let got = get_with_interruption(getter, &hash, size, &out, 0.3, || {
        bed.net.cut(0)?;
        std::thread::sleep(Duration::from_secs(10));
        bed.net.restore(0)
    })?;
    same_bytes(&file, &out)?;
    report.row(
        "getter cut 10 s at 30%: completes",
        started.elapsed().as_secs_f64(),
        size as f64 / (3.0 * rate.bytes_per_sec()) + 10.0,
        "s",
        // TCP's retransmission backoff after a 10 s outage adds seconds.
        Bound::AtMost(2.0),
    );
    report.note(per_peer_note(&got));
    Ok(report)
}

/// Looks every host up from every other, all lookups at once; returns how
/// many failed.
fn lookups_failing(bed: &Testbed) -> usize {
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for from in &bed.hosts {
            for to in bed.hosts.iter().filter(|to| to.peer_id != from.peer_id) {
                handles.push(s.spawn(move || {
                    from.json(&["dht", "find-peer", &to.peer_id])
                        .map(|v| v["addrs"].as_array().is_none_or(|a| a.is_empty()))
                        .unwrap_or(true)
                }));
            }
        }
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(true))
            .filter(|failed| *failed)
            .count()
    })
}

/// A network split in two halves for a while, then healed: every host must
/// find every other by DHT lookup again within a bounded time.
pub fn partition(plexus: &Path, n: usize) -> Result<Report> {
    let bed = Testbed::new(plexus, n, Discovery::BootstrapFromFirst)?;
    let formed = bed.wait_for_routing(n as u64 - 1, Duration::from_secs(60))?;
    let mut report = Report::new("partition");
    let before = lookups_failing(&bed);
    report.note(format!(
        "{n} hosts: routing tables full after {:.1} s; {before} of {} lookups failed before the split",
        formed.as_secs_f64(),
        n * (n - 1)
    ));
    let half: Vec<usize> = (0..n / 2).collect();
    bed.net.partition(&half)?;
    std::thread::sleep(Duration::from_secs(5));
    let during = lookups_failing(&bed);
    report.note(format!(
        "during the split {during} of {} lookups failed",
        n * (n - 1)
    ));
    bed.net.heal(&half)?;
    let healed = Instant::now();
    let limit = Duration::from_secs(90);
    loop {
        let failing = lookups_failing(&bed);
        if failing == 0 {
            break;
        }
        if healed.elapsed() > limit {
            bail!("{failing} lookups still fail {limit:?} after the heal");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    report.row(
        "every host finds every other after the heal",
        healed.elapsed().as_secs_f64(),
        limit.as_secs_f64(),
        "s",
        Bound::AtMost(1.0),
    );
    Ok(report)
}

/// Hosts on one bridge, no bootstrap peers, mDNS on: each finds all others.
pub fn lan(plexus: &Path, n: usize) -> Result<Report> {
    let bed = Testbed::new(plexus, n, Discovery::MdnsOnly)?;
    let started = Instant::now();
    let limit = Duration::from_secs(30);
    loop {
        let mut all = true;
        for h in &bed.hosts {
            let peers = h.json(&["peers"])?;
            let connected = peers
                .as_array()
                .map(|a| a.iter().filter(|p| p["connected"] == true).count())
                .unwrap_or(0);
            if connected < n - 1 {
                all = false;
                break;
            }
        }
        if all {
            break;
        }
        if started.elapsed() > limit {
            bail!("mDNS did not connect all {n} hosts in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let mut report = Report::new("lan");
    report.row(
        format!("{n} hosts connected to all others by mDNS"),
        started.elapsed().as_secs_f64(),
        limit.as_secs_f64(),
        "s",
        Bound::AtMost(1.0),
    );
    Ok(report)
}
