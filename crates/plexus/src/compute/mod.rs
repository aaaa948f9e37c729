//! Compute for others: peers that opt in (`plexus daemon --compute`) run
//! units of WebAssembly jobs for other peers, and a job's results are
//! trusted only where independent workers agree (as BOINC does).
//!
//! - [`sandbox`]: runs one unit in wasmi with fuel, memory and output
//!   limits and no imports; the ABI is documented there.
//! - [`limits`]: [`Limits`] and [`UnitError`], why a unit ended without
//!   output.
//! - [`examples`]: the bundled example jobs (primes, Monte Carlo pi,
//!   Mandelbrot rows) and their inputs.
//! - [`protocol`]: `/plexus/compute/1`, `Hello` and `Unit`; module and
//!   input travel as blobs, by hash.
//! - `behaviour.rs`: the protocol as a libp2p behaviour; `worker.rs`
//!   answers units (refuses them without `--compute`); `runner.rs` runs a
//!   job and finds its workers (why a DHT provider record: see there).
//! - [`scheduler`]: quorum, distinct workers, re-assignment and marks,
//!   without I/O.
//! - `service.rs`: [`ComputeConfig`], the units running, the jobs and the
//!   marks of a node.

pub(crate) mod behaviour;
pub mod examples;
pub mod files;
pub mod job;
pub mod limits;
pub(crate) mod network;
pub mod protocol;
pub(crate) mod runner;
pub mod sandbox;
pub mod scheduler;
pub(crate) mod service;
pub mod worker;

#[cfg(test)]
mod examples_tests;
#[cfg(test)]
mod sandbox_tests;
#[cfg(test)]
mod scheduler_tests;

use libp2p::PeerId;
use tokio::sync::oneshot;

pub(crate) use behaviour::Behaviour;
pub use files::{read_module, split_inputs};
pub use job::{Job, JobProgress, JobResult, WorkerReport};
pub use limits::{Limits, UnitError};
pub use sandbox::{check, run_unit};
pub use service::{ComputeConfig, ComputeFile, ComputeStatus, RunningUnit};

use crate::{content::Hash, Error};

/// The DHT key workers provide: `BLAKE3("plexus/compute/1")`.
pub fn compute_key() -> Hash {
    Hash::of(b"plexus/compute/1")
}

/// What the node asks of the compute component.
pub(crate) enum Command {
    /// Send one request to `peer`.
    Request {
        peer: PeerId,
        addrs: Vec<libp2p::Multiaddr>,
        request: protocol::Request,
        reply: oneshot::Sender<Result<protocol::Response, Error>>,
    },
}
