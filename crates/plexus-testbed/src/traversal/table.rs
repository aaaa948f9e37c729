//! The success-rate table: one line per pair run (NAT kind and transport),
//! with runs, the share that ended direct, what happened otherwise, and the
//! median, 90th percentile and largest time to the first verified byte.

use super::{median_max, p90, pair::Ended, Outcome};
use crate::Report;

/// A report whose notes are the table's lines.
pub fn table(outcomes: &[Outcome]) -> Report {
    let mut report = Report::new("NAT traversal: success rate per NAT kind and transport");
    report.note(format!(
        "{:<34} {:<5} {:>5} {:>8} {:>8} {:>8} {:>7} {:>10} {:>8} {:>8}",
        "NAT kind",
        "via",
        "runs",
        "direct",
        "relayed",
        "refused",
        "failed",
        "1st byte",
        "p90",
        "max"
    ));
    for o in outcomes {
        let n = o.runs.len();
        let count = |e: &Ended| o.runs.iter().filter(|r| r.ended == *e).count();
        let failed = o
            .runs
            .iter()
            .filter(|r| matches!(r.ended, Ended::Failed(_)))
            .count();
        let firsts: Vec<f64> = o.runs.iter().filter_map(|r| r.first_byte).collect();
        let (median, max) = median_max(&firsts);
        let pct = |k: usize| format!("{:.0}%", 100.0 * k as f64 / n.max(1) as f64);
        report.note(format!(
            "{:<34} {:<5} {:>5} {:>8} {:>8} {:>8} {:>7} {:>9.2}s {:>7.2}s {:>7.2}s",
            o.pair.label(),
            o.pair.transport.name(),
            n,
            pct(count(&Ended::Direct)),
            pct(count(&Ended::Relayed)),
            pct(count(&Ended::Refused)),
            failed,
            median,
            p90(&firsts),
            max
        ));
    }
    report.note(
        "direct: the file came over a direct connection on that transport; relayed: with \
         --allow-relay, over the relay; refused: without it, stopped with the reason; \
         1st byte: median time to the first verified byte of the runs that got data \
         (p90: 90th percentile)",
    );
    report
}
