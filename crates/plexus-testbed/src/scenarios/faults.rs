//! Network faults: links cut mid-download, and a partition that heals.

use std::{
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{bail, Result};

use super::{parse_get, per_peer_note, same_bytes, share, Got};
use crate::{report::Bound, Discovery, Host, Mbit, Report, Testbed};

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
