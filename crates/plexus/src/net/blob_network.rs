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
        self.ask(|reply| {
            Command::Blobs(blobs::Command::Request {
                peer,
                addrs,
                request,
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
        Node::find_providers(self, hash).await
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
        let _ = self
            .commands
            .send(Command::Discovery(discovery::Command::Provide { hash }))
            .await;
    }
}
