//! What a download needs from the network, as a trait: the download loop
//! depends on this, not on [`crate::Node`], so it can run against an
//! in-memory network in tests and the node's modules do not depend on each
//! other in a circle.

use std::future::Future;

use libp2p::{Multiaddr, PeerId};

use crate::blobs::protocol::{Request, Response};
use crate::{content::Hash, Error};

/// The network as a download sees it. [`crate::Node`] implements it through
/// its command channel.
pub(crate) trait BlobNetwork: Clone + Send + Sync + 'static {
    /// This node's id (never asked for data).
    fn local_peer_id(&self) -> PeerId;

    /// Sends one blob-protocol request to `peer`, dialing `addrs` when it is
    /// not connected.
    fn request(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: Request,
    ) -> impl Future<Output = Result<Response, Error>> + Send;

    /// Peers that announced `hash` in the DHT.
    fn find_providers(&self, hash: Hash)
        -> impl Future<Output = Result<Vec<PeerId>, Error>> + Send;

    /// Peers connected now (mDNS neighbours among them).
    fn connected_peers(&self) -> impl Future<Output = Result<Vec<PeerId>, Error>> + Send;

    /// Announces that this node holds (part of) `hash`; best effort.
    fn provide(&self, hash: Hash) -> impl Future<Output = ()> + Send;

    /// Where the download counts verified and corrupt data (the node's
    /// metrics); none by default (tests).
    fn counters(&self) -> Option<&crate::metrics::Counters> {
        None
    }
}
