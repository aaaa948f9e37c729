//! Storage scenarios (issue 12): storers offering disk, an owner that
//! stores a file and goes offline, holders killed one at a time or several
//! at once, a full storer, a storer whose shard rots. Each daemon runs in its
//! own namespace with short probe and repair times (`--storage-probe-secs`,
//! `--storage-repair-after-secs`); a newcomer (a fresh data dir, no
//! daemon, its own namespace) gets the ticket back byte for byte after
//! every loss. Repair times are measured from the kill to the holder count
//! being back; bytes moved are the repairers' own counters (`plexus
//! status`: `storage_repair_bytes`).
//!
//! - `bed.rs`: starting the storers and the owner, storing, counting
//!   holders, a newcomer's get;
//! - `kill.rs`: holders killed one at a time or N - K at once;
//! - `audits.rs`: a full storer, a zeroed or deleted shard.

mod audits;
mod bed;
mod kill;

pub use audits::{quota, rot};
pub use kill::{kill_many_at_once, kill_one_at_a_time};

/// Seconds between a holder's probes and audits of the others.
const PROBE_SECS: u64 = 1;

/// How an object is spread, as `plexus store` takes it.
#[derive(Debug, Clone, Copy)]
pub enum Spread {
    /// `--erasure K/N`.
    Erasure(u8, u8),
    /// `--replicas N`.
    Replicas(u8),
}

impl Spread {
    fn args(self) -> Vec<String> {
        match self {
            Spread::Erasure(k, n) => vec!["--erasure".into(), format!("{k}/{n}")],
            Spread::Replicas(n) => vec!["--replicas".into(), n.to_string()],
        }
    }

    /// (K, N).
    fn k_n(self) -> (usize, usize) {
        match self {
            Spread::Erasure(k, n) => (k.into(), n.into()),
            Spread::Replicas(n) => (1, n.into()),
        }
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Spread::Erasure(k, n) => write!(f, "{k}-of-{n}"),
            Spread::Replicas(n) => write!(f, "{n} replicas"),
        }
    }
}
