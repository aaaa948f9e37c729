//! The directory's wire types. Peer registration itself uses libp2p
//! rendezvous (namespace [`NAMESPACE`]); this protocol carries the records
//! and the searches.

use libp2p::{Multiaddr, StreamProtocol};
use serde::{Deserialize, Serialize};

use crate::{content::SignedRecord, search::Hit};

/// The directory's publish-and-search protocol.
pub const DIRECTORY_PROTOCOL: StreamProtocol = StreamProtocol::new("/plexus/directory/1.0.0");

/// The rendezvous namespace Plexus peers register under.
pub const NAMESPACE: &str = "plexus";

/// Most hits one directory search returns.
pub const MAX_RESULTS: usize = 200;

/// Largest request a directory reads (a publish of 1,000 records of about
/// 1 KiB fits); longer ones fail before they are parsed.
pub const MAX_REQUEST_BYTES: u64 = 1024 * 1024;

/// Largest answer a client reads: [`MAX_RESULTS`] hits of records up to
/// 8 KiB with 16 addresses fit; a directory sending more is cut off.
pub const MAX_RESPONSE_BYTES: u64 = 2 * 1024 * 1024;

/// A request to a directory server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum DirRequest {
    /// Replace the sender's records with these (each signed by the sender).
    Publish {
        /// The sender's signed records.
        records: Vec<SignedRecord>,
        /// Where the sender listens.
        addrs: Vec<Multiaddr>,
    },
    /// Records whose name or tags match every word.
    Search {
        /// Lower-case words.
        words: Vec<String>,
    },
}

/// A directory server's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum DirResponse {
    /// Records accepted, and how long they are kept unless republished.
    Published {
        /// Records now indexed for the sender.
        accepted: usize,
        /// Seconds until they expire.
        ttl_secs: u64,
    },
    /// Search results.
    Hits(Vec<Hit>),
    /// Refused, with the reason.
    Refused(String),
}
