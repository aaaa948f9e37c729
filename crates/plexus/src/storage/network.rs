//! What storage needs from the node, as a trait (like
//! [`crate::transfer::network`]): the store and placement code depend on
//! this, not on [`crate::Node`], so `storage` never imports `net`.

use std::{future::Future, sync::Arc};

use libp2p::{Multiaddr, PeerId};

use super::protocol::{Request, Response};
use crate::{
    content::{Hash, Store},
    transfer::network::BlobNetwork,
    Error,
};

/// The node as the storage component sees it.
pub(crate) trait StorageNetwork: BlobNetwork {
    /// Sends one storage-protocol request to `peer`.
    fn storage_request(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: Request,
    ) -> impl Future<Output = Result<Response, Error>> + Send;

    /// The node's content store.
    fn content(&self) -> &Arc<Store>;

    /// Stops announcing `hashes` (their blobs were removed).
    fn forget(&self, hashes: Vec<Hash>) -> impl Future<Output = ()> + Send;

    /// Where this node listens now.
    fn addrs(&self) -> impl Future<Output = Vec<Multiaddr>> + Send;
}
