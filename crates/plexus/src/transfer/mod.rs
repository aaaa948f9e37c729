//! Moving blobs between peers: the wire protocol, the range planner, and the
//! download loop that drives many providers at once.

pub mod download;
pub mod planner;
pub mod protocol;
pub mod size;
mod swarm;

pub use download::{DownloadStats, GetOptions, Progress};
