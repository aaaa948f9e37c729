//! How busy the machine's cores and the hosts' links were during a run,
//! sampled from `/proc`: the crowd prints both next to its times.

/// This machine's CPU time so far, busy and in all, in clock ticks (the
/// first line of `/proc/stat`; idle and iowait are not busy).
pub(super) fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some((total - idle, total))
}

/// How busy the machine's cores were in each sampling interval, and a
/// warning when they were full: every host runs on them, so a run that
/// used them all measured waits for a core along with the links.
pub(super) fn cpu_use(cpu: &[(u64, u64)]) -> String {
    let busy: Vec<f64> = cpu
        .windows(2)
        // A failed read is (0, 0): the intervals next to it are left out.
        .filter(|w| w[0].1 > 0 && w[1].1 > w[0].1)
        .map(|w| w[1].0.saturating_sub(w[0].0) as f64 / (w[1].1 - w[0].1) as f64 * 100.0)
        .collect();
    let mean = busy.iter().sum::<f64>() / busy.len().max(1) as f64;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut note = format!(
        "this machine's CPU busy (% of its {cores} cores) every ~2 s: {} (mean {mean:.0} %)",
        busy.iter()
            .map(|b| format!("{b:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    if mean >= 95.0 {
        note.push_str(
            "; the cores were full, so the times include waiting for one (fewer getters or slower links: PLEXUS_CROWD_GETTERS, PLEXUS_CROWD_MBIT)",
        );
    }
    note
}

/// Bytes received and sent on `eth0` by the network namespace of process
/// `pid`.
pub(super) fn link_bytes(pid: u32) -> Option<(u64, u64)> {
    let dev = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()?;
    let line = dev.lines().find(|l| l.trim_start().starts_with("eth0:"))?;
    let fields: Vec<u64> = line
        .split(':')
        .nth(1)?
        .split_whitespace()
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    Some((*fields.first()?, *fields.get(8)?))
}

/// The median host's (of `hosts`) rate on its link in each sampling
/// interval, received or sent as `dir` picks from the counters, as a
/// percentage of `link` bytes/s; getters that finished (no bytes) still
/// count, so the tail shows as the crowd thinning out.
pub(super) fn link_use(
    times: &[(f64, u64)],
    wire: &[Vec<(u64, u64)>],
    link: f64,
    hosts: std::ops::RangeInclusive<usize>,
    dir: fn(&(u64, u64)) -> u64,
) -> String {
    times
        .windows(2)
        .zip(wire.windows(2))
        .map(|(t, w)| {
            let dt = t[1].0 - t[0].0;
            let mut rates: Vec<f64> = w[1][hosts.clone()]
                .iter()
                .zip(&w[0][hosts.clone()])
                .map(|(b, a)| dir(b).saturating_sub(dir(a)) as f64 / dt / link * 100.0)
                .collect();
            rates.sort_by(f64::total_cmp);
            format!("{:.0}", rates.get(rates.len() / 2).copied().unwrap_or(0.0))
        })
        .collect::<Vec<_>>()
        .join(" ")
}
