//! What a simulation measured, printed as text, and the bounds the CI
//! test holds it to.

use std::{fmt, time::Duration};

use super::{measure::Summary, SimConfig};

/// One measurement round after a churn step.
#[derive(Debug, Clone)]
pub struct Point {
    /// Seconds since the churn step when the round began.
    pub at: f64,
    /// Lookups of running peers.
    pub peers: Summary,
    /// Finds of hashes whose provider still runs.
    pub finds: Summary,
    /// Share of finds of hashes whose provider left that still returned it.
    pub stale: f64,
    /// Finds of hashes whose provider left.
    pub departed_finds: usize,
}

/// One churn step and the rounds measured after it.
#[derive(Debug, Clone)]
pub struct ChurnStep {
    /// Share of the original nodes gone after this step, in percent.
    pub pct: u32,
    /// Nodes this step removed at once.
    pub removed: usize,
    /// Nodes still running.
    pub left: usize,
    /// The rounds, in time order.
    pub points: Vec<Point>,
}

impl ChurnStep {
    /// Seconds from the churn until every later round had all lookups and
    /// finds succeed (`None`: the last round still failed some).
    pub fn recovery(&self) -> Option<f64> {
        let last_bad = self
            .points
            .iter()
            .rposition(|p| p.peers.success < 1.0 || p.finds.success < 1.0);
        match last_bad {
            None => Some(0.0),
            Some(i) => self.points.get(i + 1).map(|p| p.at),
        }
    }

    /// Seconds from the churn until departed providers stopped being
    /// returned (`None`: still returned in the last round).
    pub fn stale_gone(&self) -> Option<f64> {
        match self.points.iter().rposition(|p| p.stale > 0.0) {
            None => Some(0.0),
            Some(i) => self.points.get(i + 1).map(|p| p.at),
        }
    }
}

/// Everything one simulation measured.
#[derive(Debug, Clone)]
pub struct SimReport {
    /// What was simulated.
    pub config: SimConfig,
    /// Time to start the nodes and fill their routing tables.
    pub setup: Duration,
    /// Time after set-up until the joins' work died down (or the limit).
    pub quiet_after: Duration,
    /// Fewest routing table peers of any node after set-up.
    pub smallest_table: usize,
    /// Mean routing table peers per node after set-up.
    pub mean_table: f64,
    /// Mean open connections per node after set-up.
    pub mean_conns: f64,
    /// Resident memory per node (process RSS growth / nodes), bytes.
    pub rss_per_node: f64,
    /// CPU seconds per node to start and join.
    pub cpu_setup_per_node: f64,
    /// CPU per idle node, as a share of one core.
    pub cpu_idle_per_node: f64,
    /// Peer lookups before churn.
    pub peers: Summary,
    /// Provider finds before churn.
    pub finds: Summary,
    /// Hop histogram of the peer lookups before churn.
    pub peer_hops: Vec<usize>,
    /// Hop histogram of the provider finds before churn.
    pub find_hops: Vec<usize>,
    /// The churn steps.
    pub steps: Vec<ChurnStep>,
}

impl SimReport {
    /// Breaches of the CI bounds: every lookup and find before churn
    /// succeeds with a known hop count, median hops at most `max_median`,
    /// and after each churn step the last round succeeds fully.
    pub fn breaches(&self, max_median: u32) -> Vec<String> {
        let mut out = Vec::new();
        for (what, s) in [
            ("peer lookups", &self.peers),
            ("provider finds", &self.finds),
        ] {
            if s.success < 1.0 {
                out.push(format!("{what}: success {:.1}% < 100%", s.success * 100.0));
            }
            if s.unknown_hops > 0 {
                out.push(format!("{what}: {} without a hop count", s.unknown_hops));
            }
            if s.hops.0 > max_median {
                out.push(format!("{what}: median hops {} > {max_median}", s.hops.0));
            }
        }
        for step in &self.steps {
            if let Some(last) = step.points.last() {
                if last.peers.success < 1.0 || last.finds.success < 1.0 {
                    out.push(format!(
                        "{}% churn: last round peers {:.1}%, finds {:.1}%",
                        step.pct,
                        last.peers.success * 100.0,
                        last.finds.success * 100.0
                    ));
                }
                if last.stale > 0.0 {
                    out.push(format!(
                        "{}% churn: last round still returned {:.1}% of departed providers",
                        step.pct,
                        last.stale * 100.0
                    ));
                }
            }
        }
        out
    }
}

impl fmt::Display for SimReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        writeln!(
            f,
            "dht-sim: {} Plexus nodes in one process, memory transport, Kademlia k=20 alpha=3, refresh every {} s, seed {}",
            c.nodes,
            c.refresh.as_secs(),
            c.seed
        )?;
        writeln!(
            f,
            "hops: request rounds along the chain of introductions to the answer (routing-table peer = 1; named by a d-hop peer = d+1; target already in the table = 0)"
        )?;
        writeln!(
            f,
            "set-up: {:.1} s, quiet {:.1} s later; routing table peers mean {:.0} (smallest {}); open connections per node {:.1}",
            self.setup.as_secs_f64(),
            self.quiet_after.as_secs_f64(),
            self.mean_table,
            self.smallest_table,
            self.mean_conns
        )?;
        writeln!(
            f,
            "per node: RSS {:.2} MiB; CPU to start and join {:.1} ms; idle CPU (quiet network) {:.3}% of a core",
            self.rss_per_node / (1024.0 * 1024.0),
            self.cpu_setup_per_node * 1000.0,
            self.cpu_idle_per_node * 100.0
        )?;
        writeln!(f, "before churn:")?;
        writeln!(f, "  peer lookups    {}", self.peers)?;
        writeln!(f, "  provider finds  {}", self.finds)?;
        writeln!(f, "  hop histogram (peer lookups)    {:?}", self.peer_hops)?;
        writeln!(f, "  hop histogram (provider finds)  {:?}", self.find_hops)?;
        for step in &self.steps {
            writeln!(
                f,
                "churn to {}% gone: {} nodes removed at once, {} left",
                step.pct, step.removed, step.left
            )?;
            for p in &step.points {
                writeln!(
                    f,
                    "  t+{:>5.1} s  peers {:>6.1}% (hops median {}, {:.1} msgs)  finds {:>6.1}% (hops median {}, {:.1} msgs)  departed providers still returned {:>5.1}% of {}",
                    p.at,
                    p.peers.success * 100.0,
                    p.peers.hops.0,
                    p.peers.requests.0,
                    p.finds.success * 100.0,
                    p.finds.hops.0,
                    p.finds.requests.0,
                    p.stale * 100.0,
                    p.departed_finds
                )?;
                if p.finds.misses != Default::default() {
                    writeln!(f, "           finds failed: {}", p.finds.misses)?;
                }
            }
            let secs =
                |v: Option<f64>| v.map_or("not within the rounds".into(), |s| format!("{s:.1} s"));
            writeln!(
                f,
                "  recovery (all later rounds 100%): {}; departed providers gone: {}",
                secs(step.recovery()),
                secs(step.stale_gone())
            )?;
        }
        Ok(())
    }
}
