//! What compute needs from the node, as a trait (like
//! [`crate::transfer::network`]): the worker and the runner depend on
//! this, not on [`crate::Node`], so `compute` never imports `net`.

use std::{future::Future, net::IpAddr, sync::Arc};

use libp2p::PeerId;

use super::protocol::{Request, Response};
use crate::{
    content::{Hash, Store},
    transfer::network::BlobNetwork,
    Error,
};

/// The node as the compute component sees it.
pub(crate) trait ComputeNetwork: BlobNetwork {
    /// Sends one compute-protocol request to `peer`.
    fn compute_request(
        &self,
        peer: PeerId,
        request: Request,
    ) -> impl Future<Output = Result<Response, Error>> + Send;

    /// The node's content store.
    fn content(&self) -> &Arc<Store>;

    /// The IP addresses of this node's open connections to `peer` (none:
    /// not connected, or only through a relay).
    fn peer_ips(&self, peer: PeerId) -> impl Future<Output = Vec<IpAddr>> + Send;

    /// Peers that may compute: those connected now and the DHT providers
    /// of [`super::compute_key`].
    fn candidates(&self, key: Hash) -> impl Future<Output = Vec<PeerId>> + Send;
}
