//! A download: finds the candidates, fetches the blob (and, for a
//! collection, every file in it) through [`super::blob_fetch`], and adds up
//! the figures.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{
    blob_fetch::{self, Limits},
    network::BlobNetwork,
};
use crate::{
    content::{blocking, collection::MAX_COLLECTION_BYTES, BlobFormat, Collection, Hash, Store},
    Error,
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

/// Fetches `hash` (a blob, or a collection and every file in it) into
/// `store`, through `net`.
pub(crate) async fn fetch<N: BlobNetwork>(
    net: &N,
    store: &Arc<Store>,
    hash: Hash,
    format: Option<BlobFormat>,
    options: &GetOptions,
    progress: &watch::Sender<Progress>,
) -> Result<DownloadStats, Error> {
    fetch_with(
        net,
        store,
        &Limits::default(),
        hash,
        format,
        options,
        progress,
    )
    .await
}

/// [`fetch`] with the given time limits.
pub(crate) async fn fetch_with<N: BlobNetwork>(
    net: &N,
    store: &Arc<Store>,
    limits: &Limits,
    hash: Hash,
    format: Option<BlobFormat>,
    options: &GetOptions,
    progress: &watch::Sender<Progress>,
) -> Result<DownloadStats, Error> {
    let started = Instant::now();
    let peers = candidates(net, hash, options).await?;
    let mut tally = Tally::default();
    let size = blob_fetch::fetch_blob(
        net, store, limits, hash, options, &peers, progress, 0, &mut tally,
    )
    .await?;
    let listing =
        if format.is_none_or(|f| f == BlobFormat::Collection) && size <= MAX_COLLECTION_BYTES {
            let store = store.clone();
            blocking(move || store.read_small(&hash, MAX_COLLECTION_BYTES))
                .await
                .ok()
        } else {
            None
        };
    let collection = match (format, listing) {
        (Some(BlobFormat::Collection), Some(bytes)) => Some(
            Collection::from_bytes(&bytes).map_err(|reason| Error::Download { hash, reason })?,
        ),
        (Some(BlobFormat::Collection), None) => {
            return Err(Error::Download {
                hash,
                reason: format!("a collection is at most {MAX_COLLECTION_BYTES} bytes"),
            })
        }
        (None, Some(bytes)) if looks_like_collection(&bytes) => Collection::from_bytes(&bytes).ok(),
        _ => None,
    };
    let (format, total) = if let Some(collection) = collection {
        let total = collection.total_size();
        progress.send_modify(|p| {
            p.total = total;
            p.done = 0;
        });
        let mut base = 0;
        for entry in &collection.entries {
            let got = blob_fetch::fetch_blob(
                net, store, limits, entry.hash, options, &peers, progress, base, &mut tally,
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
    net.provide(hash).await;
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

fn looks_like_collection(bytes: &[u8]) -> bool {
    bytes.starts_with(b"{\"plexus_collection\"") && Collection::from_bytes(bytes).is_ok()
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
pub(super) async fn candidates<N: BlobNetwork>(
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
