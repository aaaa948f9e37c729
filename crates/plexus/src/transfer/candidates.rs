//! Who to ask for content.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};

use super::{network::BlobNetwork, stats::GetOptions};
use crate::{content::Hash, Error};

/// The peers worth asking: the given providers, DHT providers, and the
/// peers connected now (mDNS neighbours among them).
pub(crate) async fn candidates<N: BlobNetwork>(
    net: &N,
    hash: Hash,
    options: &GetOptions,
) -> Result<Vec<(PeerId, Vec<Multiaddr>)>, Error> {
    let mut peers = options.providers.clone();
    if options.use_dht {
        let found = tokio::time::timeout(Duration::from_secs(20), net.find_providers(hash))
            .await
            .unwrap_or(Ok(Vec::new()))?;
        let connected = net.connected_peers().await?;
        for peer in found.into_iter().chain(connected) {
            if !peers.iter().any(|(p, _)| *p == peer) {
                peers.push((peer, Vec::new()));
            }
        }
    }
    let me = net.local_peer_id();
    peers.retain(|(p, _)| *p != me);
    Ok(peers)
}
