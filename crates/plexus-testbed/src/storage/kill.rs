//! Holders killed: one at a time with a repair waited for after each, or
//! N - K at once.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Result;

use super::{
    bed::{make_file, mib, placed_rows, Bed},
    Spread, PROBE_SECS,
};
use crate::{report::Bound, Report};

/// 12 storers; the owner stores `size` bytes as `spread` and goes offline;
/// holders are killed one at a time, with a repair waited for after each,
/// until N - K + 1 of the originals are gone. A newcomer gets the file
/// byte for byte after each loss.
pub fn kill_one_at_a_time(plexus: &Path, size: u64, spread: Spread) -> Result<Report> {
    let (k, n) = spread.k_n();
    let shard = size.div_ceil(k as u64);
    let offer = format!("{}MiB", mib(shard * 2).ceil() as u64 + 4);
    // Above the repairers' probe timeout (2 probe periods): one slow
    // answer is not a loss.
    let repair_after = 4;
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
