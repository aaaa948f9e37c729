//! Keyword search over signed metadata records, two ways:
//!
//! - **flooding** (unstructured, like Gnutella): a query goes to neighbours,
//!   who answer and forward it with TTL-1; hits travel back along the path
//!   the query came ([`SearchMessage`], limits in [`FloodConfig`]). Super-peers index their leaves' records so
//!   queries need fewer messages.
//! - **directory** (hybrid, like a tracker): peers register with a directory
//!   server by libp2p rendezvous and publish their records to it; anyone can
//!   search its index ([`crate::directory`]).
//!
//! Both answer with [`Hit`]s; the node merges them without duplicates.
//!
//! This folder is the flooding-search component: `flood.rs` (seen queries,
//! reverse paths), a state machine without I/O (`state.rs`: neighbours,
//! own records; `leaves.rs`: the super-peer's leaf index; `queries.rs`: the
//! searches started here) and the `NetworkBehaviour` that drives it (`behaviour.rs`).

mod behaviour;
mod flood;
mod leaves;
mod protocol;
mod queries;
pub(crate) mod state;

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::content::{Metadata, SignedRecord, Ticket};
pub(crate) use behaviour::Behaviour;
pub use flood::{FloodConfig, MAX_HITS_PER_QUERY, MAX_LOCAL_SEARCHES, MAX_OPEN_PER_PEER, MAX_TTL};
pub use protocol::{SearchAck, SearchMessage, MAX_HITS_PER_MESSAGE, SEARCH_PROTOCOL};

/// Requests for the flooding-search component, each with its reply channel.
pub(crate) enum Command {
    /// The component's figures.
    Stats {
        /// Where the figures go.
        reply: oneshot::Sender<SearchStats>,
    },
}

/// What the flooding-search component tells the rest of the node: nothing
/// yet (hits go straight to the local caller's channel).
#[derive(Debug)]
pub(crate) enum Event {}

/// Most query words.
pub const MAX_WORDS: usize = 16;

/// One answer to a search: a signed record and where its publisher listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    /// The publisher's signed record.
    pub record: SignedRecord,
    /// Addresses of the publisher (the holder of the content).
    pub addrs: Vec<Multiaddr>,
}

/// A checked search result, as [`Node::search`](crate::Node::search) hands
/// it to the caller; [`SearchHit::ticket`] fetches the content with
/// [`Node::get`](crate::Node::get).
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

/// Figures of one node's flooding search, for tests and measurements.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchStats {
    /// Distinct queries handled (answered and forwarded).
    pub queries_handled: u64,
    /// Copies of handled queries sent on to neighbours.
    #[serde(default)]
    pub queries_forwarded: u64,
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
    /// Leaf records this node indexes, over all leaves (super-peers only).
    pub indexed_records: usize,
    /// Other peers' queries forgotten early because the table of open
    /// queries was full.
    pub evicted: u64,
}
