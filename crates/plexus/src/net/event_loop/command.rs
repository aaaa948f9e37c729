//! The requests a [`crate::Node`] handle sends to the event loop,
//! each with its reply channel.

use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use super::super::status::NodeStatus;
use crate::{
    content::{Hash, SignedRecord},
    discovery::{self, PeerEntry},
    search::{self, SearchHit},
    Error,
};

/// Requests from [`crate::Node`] handles.
pub(crate) enum Command {
    Status {
        reply: oneshot::Sender<NodeStatus>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerEntry>>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId, Error>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
    /// For the blob component.
    Blobs(crate::blobs::Command),
    /// For the discovery component (Kademlia lookups, provider records).
    Discovery(discovery::Command),
    /// A new or changed own record: index it, push it to super-peers and
    /// directories.
    PublishRecord {
        record: SignedRecord,
        reply: oneshot::Sender<()>,
    },
    /// Content was removed: stop answering searches for it and stop
    /// announcing it and the blobs that went with it.
    Unpublish {
        hash: Hash,
        removed: Vec<Hash>,
        reply: oneshot::Sender<()>,
    },
    /// A local search: flooded by the search component and sent to the
    /// directories, whose hits the search component delivers.
    StartSearch {
        words: Vec<String>,
        ttl: u8,
        hits: mpsc::Sender<SearchHit>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Search(search::Command),
    /// Publish/subscribe requests, handled by the pub/sub component.
    Pubsub(crate::pubsub::Command),
    /// Storage protocol requests, handled by the storage component.
    Storage(crate::storage::Command),
    /// Compute protocol requests, handled by the compute component.
    Compute(crate::compute::Command),
}
