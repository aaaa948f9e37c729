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

/// `v`'s least, median and largest, two decimals each (`-` when empty).
pub(super) fn min_median_max(mut v: Vec<f64>) -> String {
    if v.is_empty() {
        return "-".into();
    }
    v.sort_by(f64::total_cmp);
    format!("{:.2}/{:.2}/{:.2}", v[0], v[v.len() / 2], v[v.len() - 1])
}

/// Time one process spent on a core and waiting for one, summed over its
/// threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Sched {
    /// Nanoseconds on a core.
    run: u64,
    /// Nanoseconds runnable but waiting for a core (the run queue).
    wait: u64,
    /// Times a thread was put on a core.
    slices: u64,
}

/// `pid`'s [`Sched`], the sum of `/proc/<pid>/task/*/schedstat` (run,
/// run-queue wait, slices); `None` once the process is gone. A thread that
/// ends between two reads takes its counts with it, so the later sum can
/// be the smaller one (differences saturate at 0).
pub(super) fn sched(pid: u32) -> Option<Sched> {
    let mut sum = Sched::default();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        let f: Vec<u64> = text
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if let [run, wait, slices] = f[..] {
            sum.run += run;
            sum.wait += wait;
            sum.slices += slices;
        }
    }
    Some(sum)
}

/// How long the daemons (`before` and `after` per host, host 0 the seeder)
/// waited for a core over `secs` of the run: seconds of waiting per second
/// (summed over a daemon's threads) and the mean wait each time a thread
/// was put on a core, which every step of a transfer pays in turn; then
/// how often their threads were put on a core and how long each ran (a
/// daemon woken per packet runs often and briefly).
pub(super) fn core_waits(before: &[Option<Sched>], after: &[Option<Sched>], secs: f64) -> String {
    let diffs: Vec<Option<Sched>> = before
        .iter()
        .zip(after)
        .map(|(b, a)| {
            let (b, a) = ((*b)?, (*a)?);
            Some(Sched {
                run: a.run.saturating_sub(b.run),
                wait: a.wait.saturating_sub(b.wait),
                slices: a.slices.saturating_sub(b.slices),
            })
        })
        .collect();
    let secs = secs.max(1e-9);
    let per_sec = |d: &Sched| d.wait as f64 / 1e9 / secs;
    let per_slice = |d: &Sched| d.wait as f64 / 1e6 / d.slices.max(1) as f64;
    let getters: Vec<Sched> = diffs.iter().skip(1).flatten().copied().collect();
    let seeder = diffs.first().copied().flatten().unwrap_or_default();
    let run: f64 = diffs.iter().flatten().map(|d| d.run as f64 / 1e9).sum();
    let slices_per_sec = |d: &Sched| d.slices as f64 / secs;
    let run_per_slice = |d: &Sched| d.run as f64 / 1e3 / d.slices.max(1) as f64;
    format!(
        "the daemons waited for a core (run queue, /proc/<pid>/task/*/schedstat, over {secs:.1} s): seeder {:.2} s per s, getters {} (min/median/max); per time on a core: seeder {:.2} ms, getters {} ms; they ran {run:.1} core-seconds; times on a core per s: seeder {:.0}, getters {}; run per time on a core: seeder {:.0} us, getters {} us",
        per_sec(&seeder),
        min_median_max(getters.iter().map(per_sec).collect()),
        per_slice(&seeder),
        min_median_max(getters.iter().map(per_slice).collect()),
        slices_per_sec(&seeder),
        min_median_max(getters.iter().map(slices_per_sec).collect()),
        run_per_slice(&seeder),
        min_median_max(getters.iter().map(run_per_slice).collect()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sched_reads_this_process_and_none_for_a_process_that_is_gone() {
        // Some work, so this process has been on a core.
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        let s = sched(std::process::id()).expect("this process has a /proc entry");
        assert!(s.run > 0 && s.slices > 0, "{s:?}");
        assert_eq!(sched(u32::MAX), None);
    }

    #[test]
    fn core_waits_are_per_second_and_per_slice() {
        let zero = Some(Sched::default());
        let before = [zero, zero, zero, zero];
        let after = [
            Some(Sched {
                run: 1_000_000_000,
                wait: 500_000_000,
                slices: 100,
            }),
            Some(Sched {
                run: 500_000_000,
                wait: 2_000_000_000,
                slices: 1000,
            }),
            Some(Sched {
                run: 0,
                wait: 1_000_000_000,
                slices: 1000,
            }),
            // A getter that left: not counted.
            None,
        ];
        let line = core_waits(&before, &after, 2.0);
        assert!(line.contains("seeder 0.25 s per s"), "{line}");
        assert!(line.contains("getters 0.50/1.00/1.00"), "{line}");
        assert!(
            line.contains("seeder 5.00 ms, getters 1.00/2.00/2.00 ms"),
            "{line}"
        );
        assert!(line.contains("ran 1.5 core-seconds"), "{line}");
        assert!(
            line.contains("times on a core per s: seeder 50, getters 500.00/500.00/500.00"),
            "{line}"
        );
        assert!(
            line.contains("run per time on a core: seeder 10000 us, getters 0.00/500.00/500.00 us"),
            "{line}"
        );
    }
}
