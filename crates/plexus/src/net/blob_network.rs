//! The node as the network a download uses.

use libp2p::{Multiaddr, PeerId};

use super::{event_loop::Command, Node};
use crate::{
    blobs::{
        self,
        protocol::{Request, Response},
    },
    content::Hash,
    discovery,
    transfer::network::BlobNetwork,
    Error,
};

/// The node as one download's network: its requests may run over a relayed
/// connection when no direct one comes (`get --allow-relay`), or only over
/// direct ones (the default).
#[derive(Clone)]
pub(crate) struct Getter {
    pub(crate) node: Node,
    pub(crate) allow_relay: bool,
}

impl std::ops::Deref for Getter {
    type Target = Node;

    fn deref(&self) -> &Node {
        &self.node
    }
}

impl BlobNetwork for Getter {
    fn local_peer_id(&self) -> PeerId {
        self.peer_id
    }

    fn counters(&self) -> Option<&crate::metrics::Counters> {
        Some(self.metrics.counters())
    }

    async fn request(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: Request,
    ) -> Result<Response, Error> {
        self.ask(|reply| {
            Command::Blobs(blobs::Command::Request {
                peer,
                addrs,
                request,
                allow_relay: self.allow_relay,
                reply,
            })
        })
        .await?
        .map_err(|e| match e {
            // The request-response error says only "failed to dial".
            Error::Request { peer, reason } if reason.contains("dial") => Error::Request {
                peer,
                reason: super::setup::dial_hint(reason, self.private),
            },
            e => e,
        })
    }

    async fn find_providers(&self, hash: Hash) -> Result<Vec<PeerId>, Error> {
        Node::find_providers(&self.node, hash).await
    }

    async fn connected_peers(&self) -> Result<Vec<PeerId>, Error> {
        Ok(self
            .peers()
            .await?
            .into_iter()
            .filter(|p| p.connected)
            .map(|p| p.peer_id)
            .collect())
    }

    async fn provide(&self, hash: Hash) {
        self.node.announce(hash).await;
    }
}

impl Node {
    /// Announces that this node holds (part of) `hash`; best effort.
    pub(crate) async fn announce(&self, hash: Hash) {
        let _ = self
            .commands
            .send(Command::Discovery(discovery::Command::Provide { hash }))
            .await;
    }
}

/// The node itself as a download's network: direct connections only.
impl BlobNetwork for Node {
    fn local_peer_id(&self) -> PeerId {
        self.peer_id
    }

    async fn request(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: Request,
    ) -> Result<Response, Error> {
        let getter = Getter {
            node: self.clone(),
            allow_relay: false,
        };
        getter.request(peer, addrs, request).await
    }

    async fn find_providers(&self, hash: Hash) -> Result<Vec<PeerId>, Error> {
        Node::find_providers(self, hash).await
    }

    async fn connected_peers(&self) -> Result<Vec<PeerId>, Error> {
        let getter = Getter {
            node: self.clone(),
            allow_relay: false,
        };
        getter.connected_peers().await
    }

    async fn provide(&self, hash: Hash) {
        self.announce(hash).await;
    }
}
