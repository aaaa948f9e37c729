//! Transfer speed against link caps: many seeders, uneven seeders, getters
//! that share pieces among themselves.

use std::{
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{bail, Result};

use super::{get, mbs, mib, parse_get, per_peer_note, same_bytes, share};
use crate::{report::Bound, Discovery, Mbit, Report, Testbed};

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
