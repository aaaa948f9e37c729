//! A download: finds the candidates, fetches the blob (and, for a
//! collection, every file in it) through [`super::swarm`], and adds up the
//! figures.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::swarm;
use crate::{
    content::{collection::MAX_COLLECTION_BYTES, BlobFormat, Collection, Hash},
    Error, Node,
};

/// Where to look for content.
#[derive(Debug, Clone, Default)]
pub struct GetOptions {
    /// Known providers with their addresses (e.g. from a ticket).
    pub providers: Vec<(PeerId, Vec<Multiaddr>)>,
    /// Also look for providers in the DHT.
    pub use_dht: bool,
}

/// Live figures of a download.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Progress {
    /// Total bytes to have at the end (known once sizes are known).
    pub total: u64,
    /// Bytes present and verified so far.
    pub done: u64,
    /// Providers currently being asked.
    pub peers: usize,
}

/// Bytes one provider delivered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerBytes {
    /// The provider.
    pub peer_id: PeerId,
    /// Verified bytes it sent.
    pub bytes: u64,
}

/// What a finished download did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DownloadStats {
    /// The content's hash.
    pub hash: Hash,
    /// Blob or collection.
    pub format: BlobFormat,
    /// Total size of the content (all files for a collection).
    pub size: u64,
    /// Bytes fetched over the network this time (less than `size` on resume).
    pub fetched: u64,
    /// Wall-clock seconds, provider lookup included.
    pub secs: f64,
    /// Seconds from the first data request to the end (0 when nothing was
    /// fetched): the figure to compare with link rates.
    pub transfer_secs: f64,
    /// Verified bytes per provider.
    pub per_peer: Vec<PeerBytes>,
    /// Providers dropped for lying: data that failed verification, a size
    /// the hash disproves, or ranges claimed and then refused again and again.
    pub liars: Vec<PeerId>,
}

/// Fetches `hash` (a blob, or a collection and every file in it).
pub async fn fetch(
    node: &Node,
    hash: Hash,
    format: Option<BlobFormat>,
    options: &GetOptions,
    progress: &watch::Sender<Progress>,
) -> Result<DownloadStats, Error> {
    let started = Instant::now();
    let peers = candidates(node, hash, options).await?;
    let mut tally = Tally::default();
    let size = swarm::fetch_blob(node, hash, options, &peers, progress, 0, &mut tally).await?;
    let is_collection = match format {
        Some(f) => f == BlobFormat::Collection,
        None => size <= MAX_COLLECTION_BYTES && looks_like_collection(node, &hash),
    };
    let (format, total) = if is_collection {
        let bytes = node.store().read_small(&hash, MAX_COLLECTION_BYTES)?;
        let collection =
            Collection::from_bytes(&bytes).map_err(|reason| Error::Download { hash, reason })?;
        let total = collection.total_size();
        progress.send_modify(|p| {
            p.total = total;
            p.done = 0;
        });
        let mut base = 0;
        for entry in &collection.entries {
            let got = swarm::fetch_blob(
                node, entry.hash, options, &peers, progress, base, &mut tally,
            )
            .await?;
            if got != entry.size {
                return Err(Error::Download {
                    hash,
                    reason: format!(
                        "{} is {got} bytes, the collection says {}",
                        entry.path, entry.size
                    ),
                });
            }
            base += got;
        }
        (BlobFormat::Collection, total)
    } else {
        (BlobFormat::Raw, size)
    };
    node.provide(hash).await;
    Ok(DownloadStats {
        hash,
        format,
        size: total,
        fetched: tally.fetched,
        secs: started.elapsed().as_secs_f64(),
        transfer_secs: tally
            .first_request
            .map_or(0.0, |t| t.elapsed().as_secs_f64()),
        per_peer: tally
            .per_peer
            .into_iter()
            .map(|(peer_id, bytes)| PeerBytes { peer_id, bytes })
            .collect(),
        liars: tally.liars,
    })
}

fn looks_like_collection(node: &Node, hash: &Hash) -> bool {
    node.store()
        .read_small(hash, MAX_COLLECTION_BYTES)
        .is_ok_and(|b| {
            b.starts_with(b"{\"plexus_collection\"") && Collection::from_bytes(&b).is_ok()
        })
}

/// What the blob downloads of one `fetch` add up to.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) first_request: Option<Instant>,
    pub(super) fetched: u64,
    pub(super) per_peer: HashMap<PeerId, u64>,
    pub(super) liars: Vec<PeerId>,
}

impl Tally {
    /// Records `peer` as a liar (once).
    pub(super) fn blame(&mut self, peer: PeerId) {
        if !self.liars.contains(&peer) {
            self.liars.push(peer);
        }
    }
}

/// The peers worth asking: the given providers, DHT providers, and the
/// peers connected now (mDNS neighbours among them).
pub(super) async fn candidates(
    node: &Node,
    hash: Hash,
    options: &GetOptions,
) -> Result<Vec<(PeerId, Vec<Multiaddr>)>, Error> {
    let mut peers = options.providers.clone();
    if options.use_dht {
        let found = tokio::time::timeout(Duration::from_secs(20), node.find_providers(hash))
            .await
            .unwrap_or(Ok(Vec::new()))?;
        let connected = node
            .peers()
            .await?
            .into_iter()
            .filter(|p| p.connected)
            .map(|p| p.peer_id);
        for peer in found.into_iter().chain(connected) {
            if !peers.iter().any(|(p, _)| *p == peer) {
                peers.push((peer, Vec::new()));
            }
        }
    }
    peers.retain(|(p, _)| *p != node.peer_id());
    Ok(peers)
}
