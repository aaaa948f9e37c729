//! A job as a runner gives it ([`Job`]), follows it ([`JobProgress`]) and
//! gets it back ([`JobResult`]).

use libp2p::PeerId;
use serde::{Deserialize, Serialize};

use super::limits::{Limits, UnitError};
use crate::content::Hash;

/// A job: one module, one input per unit.
#[derive(Debug, Clone)]
pub struct Job {
    /// The WebAssembly module (binary).
    pub wasm: Vec<u8>,
    /// One input per unit.
    pub inputs: Vec<Vec<u8>>,
    /// Workers that must agree on each unit (at least 1).
    pub quorum: usize,
    /// What each unit may use.
    pub limits: Limits,
}

/// How a job is going (`plexus job status`, and the runner's progress).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobProgress {
    /// Its id on this node.
    pub id: u64,
    /// The module's hash.
    pub module: Hash,
    /// Units in the job.
    pub units: usize,
    /// Units decided.
    pub done: usize,
    /// Workers taking part now.
    pub workers: usize,
    /// Copies answered (results, counting every copy).
    pub copies: u64,
    /// Seconds since it started.
    pub secs: f64,
}

impl JobProgress {
    /// A job of `units` units of `module`, not started.
    pub fn new(module: Hash, units: usize) -> Self {
        Self {
            id: 0,
            module,
            units,
            done: 0,
            workers: 0,
            copies: 0,
            secs: 0.0,
        }
    }

    /// Units decided a second.
    pub fn rate(&self) -> f64 {
        self.done as f64 / self.secs.max(1e-3)
    }
}

/// A worker's part in a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerReport {
    /// The worker.
    pub peer: PeerId,
    /// Its results that won their vote.
    pub agreed: u64,
    /// Its results that lost their vote: it is marked, and gets fewer
    /// units (in this job and later ones on this node).
    pub lost: u64,
    /// It left the job (disconnected, timed out, refused).
    pub gone: bool,
}

/// A finished job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobResult {
    /// The module's hash.
    pub module: Hash,
    /// Each unit's agreed result, in order.
    pub outputs: Vec<Result<Vec<u8>, UnitError>>,
    /// The workers and how their results fared.
    pub workers: Vec<WorkerReport>,
    /// Copies answered in all (units x quorum, plus re-runs).
    pub copies: u64,
    /// Wall time in seconds.
    pub secs: f64,
}

impl JobResult {
    /// Every unit's output concatenated, or the first unit that failed.
    pub fn assembled(&self) -> Result<Vec<u8>, (usize, UnitError)> {
        let mut out = Vec::new();
        for (i, o) in self.outputs.iter().enumerate() {
            match o {
                Ok(bytes) => out.extend_from_slice(bytes),
                Err(e) => return Err((i, e.clone())),
            }
        }
        Ok(out)
    }
}
