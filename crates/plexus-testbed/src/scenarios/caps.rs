//! Plexus's own caps on blob traffic (`--max-upload`, `--max-download`,
//! `plexus limits`) on links much faster than the cap: the measured rate
//! over a transfer stays within 5% of the cap.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::{get, mib, share};
use crate::{report::Bound, Discovery, Mbit, Net, Report, Testbed};

/// Which side is capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capped {
    /// The seeder's upload, set while it runs (`plexus limits`).
    Upload,
    /// The getter's download, set when its daemon starts (`--max-download`).
    Download,
}

/// One getter (host 0) fetches `size` bytes from one seeder (host 1) over
/// uncapped links, with `side` capped at `cap`.
pub fn cap_rate(plexus: &Path, side: Capped, cap: Mbit, size: u64) -> Result<Report> {
    let flag = format!("{}Mbit", cap.0);
    let bed = Testbed::on_with(
        plexus,
        Net::new(2)?,
        Discovery::BootstrapFromFirst,
        |i| match (side, i) {
            (Capped::Download, 0) => vec!["--max-download".into(), flag.clone()],
            _ => Vec::new(),
        },
    )?;
    let (getter, seeder) = (&bed.hosts[0], &bed.hosts[1]);
    if side == Capped::Upload {
        seeder.json(&["limits", "--max-upload", &flag])?;
    }
    let (host, key) = match side {
        Capped::Upload => (seeder, "max_upload"),
        Capped::Download => (getter, "max_download"),
    };
    let shown = host.json(&["status"])?["rate_limits"][key]
        .as_f64()
        .with_context(|| format!("status shows no {key}"))?;
    if (shown - cap.bytes_per_sec()).abs() > 1.0 {
        bail!(
            "status shows {key} = {shown} B/s, set {} B/s",
            cap.bytes_per_sec()
        );
    }
    let file = bed.make_file("cap.bin", size, 5)?;
    let hash = share(seeder, &file)?;
    let before = seeder.json(&["status"])?["blob_bytes_sent"]
        .as_u64()
        .unwrap_or(0);
    let got = get(getter, &hash, &file, &bed.dir.path().join("out"))?;
    let sent = seeder.json(&["status"])?["blob_bytes_sent"]
        .as_u64()
        .unwrap_or(0)
        - before;
    let rate = size as f64 / got.transfer_secs;
    let name = match side {
        Capped::Upload => "upload",
        Capped::Download => "download",
    };
    let mut report = Report::new(&format!("cap {name}"));
    for (what, bound) in [
        ("at most", Bound::AtMost(1.05)),
        ("at least", Bound::AtLeast(0.95)),
    ] {
        report.row(
            format!("{name} capped at {} Mbit/s, {what} 5% off", cap.0),
            rate * 8.0 / 1e6,
            cap.0,
            "Mbit",
            bound,
        );
    }
    report.note(format!(
        "{:.0} MiB in {:.2} s (whole get {:.2} s); the seeder sent {:.1} MiB of blob responses",
        mib(size),
        got.transfer_secs,
        got.secs,
        mib(sent)
    ));
    Ok(report)
}
