//! The wire types of the flooding search protocol.

use libp2p::{Multiaddr, StreamProtocol};
use serde::{Deserialize, Serialize};

use super::Hit;
use crate::content::SignedRecord;

/// The flooding search protocol.
pub const SEARCH_PROTOCOL: StreamProtocol = StreamProtocol::new("/plexus/search/1.0.0");

/// Most hits in one message.
pub const MAX_HITS_PER_MESSAGE: usize = 64;

/// Most records a super-peer indexes for one leaf.
pub(crate) const MAX_LEAF_RECORDS: usize = 1000;

/// Largest search message a node reads (an index of 1,000 records of about
/// 1 KiB fits); longer ones fail before they are parsed.
pub const MAX_MESSAGE_BYTES: u64 = 1024 * 1024;

/// Largest [`SearchAck`] a node reads (a refusal's reason is short).
pub const MAX_ACK_BYTES: u64 = 4 * 1024;

/// A message of the flooding search protocol.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SearchMessage {
    /// "Be my neighbour"; sent on explicit connections and as a keep-alive.
    Hello {
        /// Whether the sender indexes its neighbours' records.
        super_peer: bool,
    },
    /// A leaf's records for a super-peer to index (replaces earlier ones).
    Index {
        /// The leaf's own signed records.
        records: Vec<SignedRecord>,
        /// Where the leaf listens.
        addrs: Vec<Multiaddr>,
    },
    /// A keyword query.
    Query {
        /// Random id; a node handles each id once.
        id: u64,
        /// Lower-case words; all must match.
        words: Vec<String>,
        /// Hops left, at most [`super::MAX_TTL`].
        ttl: u8,
    },
    /// Answers to query `id`, on their way back to its origin.
    Hits {
        /// The query's id.
        id: u64,
        /// The answers.
        hits: Vec<Hit>,
    },
}

/// The answer to every [`SearchMessage`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SearchAck {
    /// Accepted; `super_peer` tells a `Hello`'s sender what this node is.
    Ok {
        /// Whether this node indexes its neighbours' records.
        super_peer: bool,
    },
    /// Refused, with the reason (rate limit, too many open queries, bad data).
    Refused(String),
}
