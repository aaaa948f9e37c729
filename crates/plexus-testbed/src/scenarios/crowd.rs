//! A flash crowd: one seeder and many getters, every link capped, all
//! asking for the same file at once; some leave half way; the seeder's
//! upload capped by Plexus itself (`--max-upload`). Each getter's finish
//! time is held against the fluid lower bound on the last finish:
//!
//! `max(F / u_seeder, N F / (u_seeder + sum of the getters' uploads), F / d_min)`
//!
//! (the seeder must send every byte once, all N copies must come from
//! somewhere, the slowest getter must receive F).

use std::{
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::layers::{
    blob_bytes_received, layers_note, metrics_flags, retransmissions_note, tcp_data_segments,
};
use super::load::{core_waits, cpu_ticks, cpu_use, link_bytes, link_use, min_median_max, sched};
use super::{mib, same_bytes, share};
use crate::{report::Bound, Discovery, Mbit, Net, Report, Testbed};

/// One flash crowd run.
#[derive(Debug, Clone)]
pub struct Crowd {
    /// Getters (the seeder is one more host).
    pub getters: usize,
    /// File size in bytes.
    pub size: u64,
    /// Every host's link, up and down (tc tbf).
    pub link: Mbit,
    /// Every host's download link, when it differs from `link` (home
    /// lines often download several times faster than they upload).
    pub down: Option<Mbit>,
    /// The seeder's own upload cap (`plexus daemon --max-upload`), if any.
    pub seeder_cap: Option<Mbit>,
    /// A third of the getters leave (their daemons stop) once they are
    /// half way.
    pub leave: bool,
    /// The last survivor must finish within this multiple of the bound.
    pub slack: f64,
    /// The seeder must upload fewer copies of the file than this (without
    /// leavers). A seeder that is never idle uploads about
    /// `last finish / (F / u_seeder)` copies, so this goes with `slack`.
    pub max_copies: f64,
    /// Where to draw the CDF of finish times (PNG), if anywhere.
    pub plot: Option<PathBuf>,
}

impl Crowd {
    /// The crowd of issue 16 scaled to `getters` and `size`: 20 Mbit/s
    /// links, no leavers, no seeder cap, within 1.2 x the bound and fewer
    /// than 2 copies from the seeder.
    pub fn new(getters: usize, size: u64) -> Self {
        Self {
            getters,
            size,
            link: Mbit(20.0),
            down: None,
            seeder_cap: None,
            leave: false,
            slack: 1.2,
            max_copies: 2.0,
            plot: None,
        }
    }

    /// The seeder's upload rate in bytes per second: its link or its cap.
    fn seeder_rate(&self) -> f64 {
        let link = self.link.bytes_per_sec();
        self.seeder_cap
            .map_or(link, |c| c.bytes_per_sec().min(link))
    }

    /// Every host's download link.
    fn down_link(&self) -> Mbit {
        self.down.unwrap_or(self.link)
    }

    /// The fluid lower bound on the last finish for `n` getters.
    pub fn bound(&self, n: usize) -> f64 {
        let f = self.size as f64;
        let (us, up) = (self.seeder_rate(), self.link.bytes_per_sec());
        (f / us)
            .max(n as f64 * f / (us + n as f64 * up))
            .max(f / self.down_link().bytes_per_sec())
    }

    fn name(&self) -> String {
        let mut name = format!("crowd {}x{:.0}MiB", self.getters, mib(self.size));
        if self.leave {
            name.push_str(" leave");
        }
        if let Some(c) = self.seeder_cap {
            name.push_str(&format!(" seeder-cap {}", c.0));
        }
        if let Some(d) = self.down {
            name.push_str(&format!(" down {}", d.0));
        }
        name
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct CrowdResult {
    /// The report with its bounds.
    pub report: Report,
    /// Survivors' finish times in seconds from the common start, sorted.
    pub finishes: Vec<f64>,
    /// The bound for the survivors.
    pub bound: f64,
}

/// Runs the crowd `c`.
pub fn crowd(plexus: &Path, c: &Crowd) -> Result<CrowdResult> {
    let n = c.getters;
    let seeder_flags: Vec<String> = c
        .seeder_cap
        .map(|cap| vec!["--max-upload".into(), format!("{}Mbit", cap.0)])
        .unwrap_or_default();
    let bed = Testbed::on_with(
        plexus,
        Net::new(n + 1)?,
        Discovery::BootstrapFromFirst,
        |i| {
            let mut flags = metrics_flags();
            if i == 0 {
                flags.extend(seeder_flags.iter().cloned());
            }
            flags
        },
    )?;
    for i in 0..=n {
        bed.net.cap(i, Some(c.link), Some(c.down_link()))?;
    }
    let file = bed.make_file("crowd.bin", c.size, 16)?;
    let hash = share(&bed.hosts[0], &file)?;
    bed.wait_for_routing(n.min(8) as u64, Duration::from_secs(60))?;
    let sent_before = blob_sent(&bed, 0)?;
    let leavers: Vec<usize> = if c.leave {
        (1..=n).step_by(3).collect()
    } else {
        Vec::new()
    };
    let survivors = n - leavers.len();
    let bound = c.bound(survivors);
    let full_bound = c.bound(n);
    let sched_of = |bed: &Testbed| -> Vec<_> {
        (0..=n)
            .map(|i| bed.hosts[i].pid().and_then(sched))
            .collect()
    };
    let sched_before = sched_of(&bed);
    // Every host's upload `tbf`, read at the start and the end only (one
    // `tc` per namespace: too slow for every sample).
    let every: Vec<usize> = (0..=n).collect();
    let up_before = bed.net.shaped_bytes(0..=n, &every);
    let tcp_of = |bed: &Testbed| -> Vec<_> { (0..=n).map(|i| tcp_data_segments(bed, i)).collect() };
    let tcp_before = tcp_of(&bed);
    let blobs_before: Vec<_> = (0..=n).map(|i| blob_bytes_received(&bed, i)).collect();
    let started = Instant::now();
    let mut children: Vec<(usize, PathBuf, Option<Child>)> = Vec::new();
    for i in 1..=n {
        let out = bed.dir.path().join(format!("out{i}"));
        let child = bed.hosts[i]
            .command(&["get", &hash, "-o", out.to_str().expect("utf-8"), "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("plexus get starts")?;
        children.push((i, out, Some(child)));
    }
    // Leavers stop when the crowd is half way: at half the bound with
    // everyone in.
    let leave_at = Duration::from_secs_f64(full_bound / 2.0);
    let limit = Duration::from_secs_f64(bound * 3.0 + 30.0);
    let mut left = false;
    // The seeder's upload over time: (seconds, bytes sent), every 2 s.
    let mut seeder_sent: Vec<(f64, u64)> = vec![(0.0, sent_before)];
    // Every host's link counters (received, sent) at the same times: how
    // full the getters' downloads were (the bound assumes full), and what
    // beside the file crossed them: their `tbf`s' counts where capped
    // (what the link carries), else the interfaces'. Of the uploads only
    // the seeder's is read from its `tbf` here; every host's is read at the
    // start and the end (`up_before`, `up_after`).
    let wire_of = |bed: &Testbed| -> Vec<(u64, u64)> {
        bed.net
            .shaped_bytes(0..=n, &[0])
            .into_iter()
            .enumerate()
            .map(|(i, (rx, tx))| {
                let dev = || bed.hosts[i].pid().and_then(link_bytes).unwrap_or((0, 0));
                match (rx, tx) {
                    (Some(rx), Some(tx)) => (rx, tx),
                    (rx, tx) => {
                        let (drx, dtx) = dev();
                        (rx.unwrap_or(drx), tx.unwrap_or(dtx))
                    }
                }
            })
            .collect()
    };
    let mut wire: Vec<Vec<(u64, u64)>> = vec![wire_of(&bed)];
    // The machine's CPU at the same times: every host shares its cores.
    let mut cpu: Vec<(u64, u64)> = vec![cpu_ticks().unwrap_or((0, 0))];
    let mut finishes: Vec<(usize, f64)> = Vec::new();
    // Per survivor: (share of its bytes from the seeder, first byte in s).
    let mut sources: Vec<(f64, f64)> = Vec::new();
    let mut outs: Vec<PathBuf> = Vec::new();
    while children.iter().any(|(_, _, ch)| ch.is_some()) {
        if started.elapsed() > limit {
            bail!(
                "getters still running after {limit:?} ({:.1} s bound)",
                bound
            );
        }
        if c.leave && !left && started.elapsed() >= leave_at {
            // All at once and without waiting: a stop takes seconds, and
            // the getters' finishes are noticed only by this loop (stopping
            // them one by one held it for ~28 s, and every finish in that
            // time was counted at its end).
            for &i in &leavers {
                bed.hosts[i].terminate();
            }
            left = true;
        }
        if started.elapsed().as_secs_f64() >= seeder_sent.last().map_or(0.0, |s| s.0) + 2.0 {
            // The links first, timed as soon as read: a sample's time and
            // its counters stay close (a `tc` takes some milliseconds).
            wire.push(wire_of(&bed));
            let t = started.elapsed().as_secs_f64();
            seeder_sent.push((t, blob_sent(&bed, 0)?));
            cpu.push(cpu_ticks().unwrap_or((0, 0)));
        }
        for (i, out, slot) in &mut children {
            let Some(child) = slot else { continue };
            if child.try_wait()?.is_none() {
                continue;
            }
            let at = started.elapsed().as_secs_f64();
            let output = slot.take().expect("running").wait_with_output()?;
            if leavers.contains(i) {
                continue;
            }
            if !output.status.success() {
                bail!(
                    "getter {i} failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
            }
            // Checked once all are done: reading two files here would
            // delay noticing the next getters' ends.
            finishes.push((*i, at));
            outs.push(out.clone());
            if let Ok(stats) = serde_json::from_slice::<serde_json::Value>(&output.stdout) {
                sources.push(source_of(&stats, &bed.hosts[0].peer_id));
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let up_after = bed.net.shaped_bytes(0..=n, &every);
    let tcp_after = tcp_of(&bed);
    let blobs_after: Vec<_> = (0..=n).map(|i| blob_bytes_received(&bed, i)).collect();
    let seeder_blob = blob_sent(&bed, 0)? - sent_before;
    let copies = seeder_blob as f64 / c.size as f64;
    let wire_after = wire_of(&bed);
    let sched_after = sched_of(&bed);
    let ran = started.elapsed().as_secs_f64();
    for out in &outs {
        same_bytes(&file, out)?;
    }
    finishes.sort_by(|a, b| a.1.total_cmp(&b.1));
    let last = finishes.last().map_or(0.0, |f| f.1);
    let mut report = Report::new(&c.name());
    report.row(
        format!("last of {survivors} getters (s) vs fluid bound"),
        last,
        bound,
        "s",
        Bound::AtMost(c.slack),
    );
    if !c.leave {
        report.row(
            format!("copies the seeder uploaded (< {})", c.max_copies),
            copies,
            c.max_copies,
            "x",
            Bound::AtMost(0.999),
        );
    } else {
        report.note(format!(
            "{} getters left at {:.1} s; the seeder uploaded {copies:.2} copies",
            leavers.len(),
            leave_at.as_secs_f64()
        ));
    }
    report.note(format!(
        "bound {bound:.1} s = max(F/u_seeder {:.1}, N F/(u_seeder + N u) {:.1}, F/d {:.1}); F {:.0} MiB, links {} Mbit/s up, {} down, TCP congestion control {}",
        c.size as f64 / c.seeder_rate(),
        survivors as f64 * c.size as f64
            / (c.seeder_rate() + survivors as f64 * c.link.bytes_per_sec()),
        c.size as f64 / c.down_link().bytes_per_sec(),
        mib(c.size),
        c.link.0,
        c.down_link().0,
        crate::net::congestion_control().unwrap_or_else(|| "the machine's default".into())
    ));
    report.note(format!(
        "finish / bound per getter: {}",
        finishes
            .iter()
            .map(|(i, t)| format!("g{i} {t:.1}s {:.2}", t / bound))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if !sources.is_empty() {
        report.note(format!(
            "share of each getter's bytes from the seeder (min/median/max) {}; first byte (s) {}",
            min_median_max(sources.iter().map(|s| s.0).collect()),
            min_median_max(sources.iter().map(|s| s.1).collect())
        ));
    }
    report.note(format!(
        "seeder upload (MB/s) every ~2 s: {}",
        seeder_sent
            .windows(2)
            .map(|w| format!("{:.1}", (w[1].1 - w[0].1) as f64 / (w[1].0 - w[0].0) / 1e6))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    report.note(format!(
        "getters' download links, median use (% of {} Mbit/s) every ~2 s: {}",
        c.down_link().0,
        link_use(
            &seeder_sent,
            &wire,
            c.down_link().bytes_per_sec(),
            1..=n,
            |w| w.0
        )
    ));
    report.note(format!(
        "the seeder's upload link, use (%) every ~2 s: {}",
        link_use(&seeder_sent, &wire, c.link.bytes_per_sec(), 0..=0, |w| w.1)
    ));
    report.note(cpu_use(&cpu));
    report.note(core_waits(&sched_before, &sched_after, ran));
    // The bound counts the file's bytes only; every link also carries
    // TCP/IP headers (and the other protocols' bytes). The seeder's link
    // shows what that costs: its blob bytes are nearly all it sends.
    let seeder_wire = wire_after[0].1.saturating_sub(wire[0][0].1);
    if seeder_wire > 0 && seeder_blob > 0 {
        let framing = seeder_wire as f64 / seeder_blob as f64;
        report.note(format!(
            "the seeder's link sent {framing:.3} bytes per blob byte (TCP/IP headers, other protocols): the bound at that rate is {:.1} s, the last getter {:.2} x that",
            bound * framing,
            last / (bound * framing)
        ));
    }
    // How much of the getters' upload was used: the middle term of the
    // bound assumes all of it.
    let up_use = |i: usize| -> Option<f64> {
        let sent = up_after[i].1?.checked_sub(up_before[i].1?)?;
        Some(sent as f64 / (last * c.link.bytes_per_sec()) * 100.0)
    };
    let ups: Vec<f64> = (1..=n)
        .filter(|i| !leavers.contains(i))
        .filter_map(up_use)
        .collect();
    if !ups.is_empty() {
        let last_ones: Vec<String> = finishes
            .iter()
            .rev()
            .take(3)
            .filter_map(|(i, _)| up_use(*i).map(|u| format!("g{i} {u:.0}")))
            .collect();
        report.note(format!(
            "getters' upload links, use (%) until the last finish (min/median/max): {}; the last three to finish: {}",
            min_median_max(ups),
            last_ones.join(", ")
        ));
    }
    let getters: Vec<usize> = (1..=n).filter(|i| !leavers.contains(i)).collect();
    if let Some(note) = retransmissions_note(&tcp_before, &tcp_after, &getters) {
        report.note(note);
    }
    let mut per_file: Vec<f64> = (1..=n)
        .filter(|i| !leavers.contains(i))
        .map(|i| wire_after[i].0.saturating_sub(wire[0][i].0) as f64 / c.size as f64)
        .collect();
    per_file.sort_by(f64::total_cmp);
    if let (Some(lo), Some(hi)) = (per_file.first(), per_file.last()) {
        report.note(format!(
            "bytes each getter's link received per byte of the file (min/median/max): {lo:.3}/{:.3}/{hi:.3}",
            per_file[per_file.len() / 2]
        ));
    }
    // The same bytes by layer.
    let received: Vec<(usize, f64)> = (1..=n)
        .filter(|i| !leavers.contains(i))
        .map(|i| (i, wire_after[i].0.saturating_sub(wire[0][i].0) as f64))
        .collect();
    if let Some(note) = layers_note(&received, &blobs_before, &blobs_after, c.size) {
        report.note(note);
    }
    let times: Vec<f64> = finishes.iter().map(|f| f.1).collect();
    if let Some(path) = &c.plot {
        crate::plot::finish_cdf(path, &c.name(), &times, bound, c.slack)?;
        report.note(format!("plot: {}", path.display()));
    }
    Ok(CrowdResult {
        report,
        finishes: times,
        bound,
    })
}

/// From `get --json`: the share of the bytes that came from `seeder`, and
/// the seconds to the first verified byte.
fn source_of(stats: &serde_json::Value, seeder: &str) -> (f64, f64) {
    let mut all = 0u64;
    let mut from_seeder = 0u64;
    for p in stats["per_peer"].as_array().into_iter().flatten() {
        let bytes = p["bytes"].as_u64().unwrap_or(0);
        all += bytes;
        if p["peer_id"].as_str() == Some(seeder) {
            from_seeder += bytes;
        }
    }
    let first = stats["first_byte_secs"].as_f64().unwrap_or(f64::NAN);
    (from_seeder as f64 / all.max(1) as f64, first)
}

/// Blob bytes host `i` has sent since its daemon started.
fn blob_sent(bed: &Testbed, i: usize) -> Result<u64> {
    let status = bed.hosts[i].json(&["status"])?;
    status["blob_bytes_sent"]
        .as_u64()
        .context("status has no blob_bytes_sent (an old plexus binary?)")
}

#[cfg(test)]
#[path = "crowd_tests.rs"]
mod tests;
