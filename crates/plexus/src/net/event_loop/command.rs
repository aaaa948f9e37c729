//! The requests a [`crate::Node`] handle sends to the event loop,
//! each with its reply channel.

use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use super::super::{FoundPeer, NodeStatus, PeerEntry};
use crate::{
    content::{Hash, SignedRecord},
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
    FindPeer {
        peer: PeerId,
        reply: oneshot::Sender<Result<FoundPeer, Error>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
    /// For the blob component.
    Blobs(crate::blobs::Command),
    Provide {
        hash: Hash,
    },
    FindProviders {
        hash: Hash,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
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
}
