//! The requests a [`crate::Node`] handle sends to the event loop,
//! each with its reply channel.

use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use super::super::{FoundPeer, NodeStatus, PeerEntry};
use crate::{
    content::{Hash, SignedRecord},
    search::{self, SearchHit},
    transfer::protocol::{Request, Response},
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
    BlobRequest {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: Request,
        reply: oneshot::Sender<Result<Response, Error>>,
    },
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
    Subscribe {
        topic: String,
        reply: oneshot::Sender<super::pubsub::Subscribed>,
    },
    Unsubscribe {
        topic: String,
        id: u64,
    },
    /// A pub/sub message to sign and send on a topic.
    Publish {
        topic: String,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<usize, Error>>,
    },
    TopicPeers {
        topic: String,
        mesh: bool,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    PeerScore {
        peer: PeerId,
        reply: oneshot::Sender<Option<f64>>,
    },
}
