//! Storers that cannot or do not keep what they took: a full one is
//! skipped; a rotten or deleted shard is caught and rebuilt elsewhere.

use std::{path::Path, time::Duration};

use anyhow::{bail, Context, Result};

use super::{
    bed::{make_file, placed_rows, shard_file, Bed},
    Spread, PROBE_SECS,
};
use crate::{report::Bound, Report};

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

/// 6 storers, 2-of-4: one holder's shard is overwritten with zeros and,
/// with `delete`, another's deleted on disk, both daemons still answering.
/// The other holders' audits, and each holder's check of its own copy (on
/// every `Status`, every round and before it repairs), find them; the
/// shards are rebuilt elsewhere long before the 20 s a silent holder
/// would take.
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
