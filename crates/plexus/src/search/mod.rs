//! Keyword search over signed metadata records, two ways:
//!
//! - **flooding** (unstructured, like Gnutella): a query goes to neighbours,
//!   who answer and forward it with TTL-1; hits travel back along the path
//!   the query came ([`flood`]). Super-peers index their leaves' records so
//!   queries need fewer messages.
//! - **directory** (hybrid, like a tracker): peers register with a directory
//!   server by libp2p rendezvous and publish their records to it; anyone can
//!   search its index ([`directory`]).
//!
//! Both answer with [`Hit`]s; the node merges them without duplicates.

pub mod directory;
pub mod flood;

use libp2p::{Multiaddr, PeerId, StreamProtocol};
use serde::{Deserialize, Serialize};

use crate::content::{Metadata, SignedRecord, Ticket};

/// The flooding search protocol.
pub const SEARCH_PROTOCOL: StreamProtocol = StreamProtocol::new("/plexus/search/1.0.0");

/// Most query words.
pub const MAX_WORDS: usize = 16;
/// Most hits in one message.
pub const MAX_HITS_PER_MESSAGE: usize = 64;

/// One answer to a search: a signed record and where its publisher listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    /// The publisher's signed record.
    pub record: SignedRecord,
    /// Addresses of the publisher (the holder of the content).
    pub addrs: Vec<Multiaddr>,
}

/// A checked search result, as handed to the caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchHit {
    /// What the record says.
    pub meta: Metadata,
    /// The peer that holds the content (the record's publisher).
    pub holder: PeerId,
    /// Where the holder listens.
    pub addrs: Vec<Multiaddr>,
    /// Where the hit came from: "flood" or "directory".
    pub source: String,
}

impl SearchHit {
    /// Checks `hit`'s signature; `None` for a forged or malformed record.
    pub fn from_hit(hit: Hit, source: &str) -> Option<Self> {
        let meta = hit.record.verify().ok()?;
        Some(Self {
            holder: meta.publisher,
            meta,
            addrs: hit.addrs,
            source: source.into(),
        })
    }

    /// A ticket that fetches the content from its holder.
    pub fn ticket(&self) -> Ticket {
        self.meta.ticket(self.addrs.clone())
    }
}

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
        /// Hops left, at most [`flood::MAX_TTL`].
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

/// Figures of one node's flooding search, for tests and measurements.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchStats {
    /// Distinct queries handled (answered and forwarded).
    pub queries_handled: u64,
    /// Copies of already-seen queries dropped.
    pub duplicates: u64,
    /// Queries refused by the rate limit or the open-query cap.
    pub refused: u64,
    /// Query and hit messages this node sent.
    pub messages_sent: u64,
    /// Current neighbours.
    pub neighbours: usize,
    /// Leaves whose records this node indexes (super-peers only).
    pub indexed_leaves: usize,
}
