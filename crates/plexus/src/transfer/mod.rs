//! Moving blobs between peers: the wire protocol, the size proof, the range
//! planner, and the download loop that drives many providers at once. The
//! loop reaches the network through [`network::BlobNetwork`], not the node.

mod blob_fetch;
pub(crate) mod download;
pub(crate) mod network;
mod planner;
pub mod size;
mod writer;

#[cfg(test)]
mod download_tests;
#[cfg(test)]
mod fake;

pub use download::{DownloadStats, GetOptions, PeerBytes, Progress};
