//! Fetching blobs from peers: the size proof ([`size`]), the range planner
//! (`planner.rs`), and the download loop that drives many providers at once.
//! The loop reaches the network through a small trait, `BlobNetwork`
//! (`network.rs`: request a range, find providers, provide), not through the
//! node, so it is tested against a fake network in memory. The wire format
//! is [`crate::blobs::protocol`].

pub(crate) mod blob_fetch;
mod candidates;
pub(crate) mod download;
mod files;
pub(crate) mod network;
mod planner;
pub mod size;
mod stats;
mod writer;

#[cfg(test)]
mod download_tests;
#[cfg(test)]
mod fake;
#[cfg(test)]
mod files_tests;

pub use stats::{DownloadStats, GetOptions, PeerBytes, Progress};
