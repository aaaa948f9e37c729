//! The download loop: asks every candidate what it has, then keeps each
//! provider's request window full as the [`Planner`] says, verifying and
//! storing every answer as it arrives.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use futures::{stream::FuturesUnordered, StreamExt};
use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{
    planner::{Failure, Planner},
    protocol::{Request, Response},
};
use crate::{
    content::{collection::MAX_COLLECTION_BYTES, BlobFormat, Collection, Hash},
    Error, Node,
};

/// Bytes written between two commits of the present ranges.
const COMMIT_BYTES: u64 = 8 * 1024 * 1024;
/// How long a peer may take to say what it has.
const HAVE_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Providers dropped for sending data that failed verification.
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
    let size = fetch_blob(node, hash, &peers, progress, 0, &mut tally).await?;
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
            let got = fetch_blob(node, entry.hash, &peers, progress, base, &mut tally).await?;
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

#[derive(Default)]
struct Tally {
    first_request: Option<Instant>,
    fetched: u64,
    per_peer: HashMap<PeerId, u64>,
    liars: Vec<PeerId>,
}

/// The peers worth asking: the given providers, DHT providers, and the
/// peers connected now (mDNS neighbours among them).
async fn candidates(
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

/// Downloads one blob from `peers`; returns its size. A blob already
/// complete in the store costs nothing.
async fn fetch_blob(
    node: &Node,
    hash: Hash,
    peers: &[(PeerId, Vec<Multiaddr>)],
    progress: &watch::Sender<Progress>,
    base: u64,
    tally: &mut Tally,
) -> Result<u64, Error> {
    let store = node.store().clone();
    if let Some(info) = store.get(&hash)? {
        if info.complete {
            progress.send_modify(|p| {
                p.done = base + info.size;
                p.total = p.total.max(base + info.size);
            });
            return Ok(info.size);
        }
    }
    // Ask everyone what they have.
    let asks = peers.iter().map(|(peer, addrs)| async move {
        let answer = tokio::time::timeout(
            HAVE_TIMEOUT,
            node.blob_request(*peer, addrs.clone(), Request::Have(hash)),
        )
        .await;
        (*peer, answer)
    });
    let answers = futures::future::join_all(asks).await;
    let mut sizes: HashMap<u64, usize> = HashMap::new();
    let mut holders = Vec::new();
    let mut why = Vec::new();
    for (peer, answer) in answers {
        match answer {
            Ok(Ok(Response::Have {
                size,
                complete,
                present,
            })) => {
                *sizes.entry(size).or_default() += 1;
                holders.push((peer, size, (!complete).then_some(present)));
            }
            Ok(Ok(Response::NotFound)) => why.push(format!("{peer}: does not have it")),
            Ok(Ok(other)) => why.push(format!("{peer}: answered {other:?}")),
            Ok(Err(e)) => why.push(e.to_string()),
            Err(_) => why.push(format!("{peer}: no answer in {}s", HAVE_TIMEOUT.as_secs())),
        }
    }
    // The size most holders agree on; a wrong size fails verification anyway.
    let Some((&size, _)) = sizes.iter().max_by_key(|(s, n)| (**n, **s)) else {
        let reason = if peers.is_empty() {
            "no provider found (check the hash, or that a peer sharing it is online)".to_string()
        } else {
            format!(
                "no provider found among the {} peers asked ({})",
                peers.len(),
                why.join("; ")
            )
        };
        return Err(Error::Download { hash, reason });
    };
    let mut blob = store.begin_download(hash, size)?;
    let mut plan = Planner::new(size, blob.present());
    let addrs: HashMap<PeerId, Vec<Multiaddr>> = peers.iter().cloned().collect();
    for (peer, s, have) in holders {
        if s == size {
            plan.add_peer(peer, have);
        }
    }
    progress.send_modify(|p| p.total = p.total.max(base + size));

    tally.first_request.get_or_insert_with(Instant::now);
    let mut in_flight = FuturesUnordered::new();
    let mut since_commit = 0u64;
    let mut last_commit = Instant::now();
    let mut present_bytes = crate::content::range_bytes(blob.present(), size);
    loop {
        for peer in plan.usable_peers() {
            while let Some((piece, ranges)) = plan.next_request(peer) {
                let request = Request::Get {
                    hash,
                    ranges: ranges.clone(),
                };
                let addrs = addrs.get(&peer).cloned().unwrap_or_default();
                in_flight.push(async move {
                    let started = Instant::now();
                    let answer = node.blob_request(peer, addrs, request).await;
                    (peer, piece, ranges, started.elapsed(), answer)
                });
            }
        }
        progress.send_modify(|p| {
            p.done = base + present_bytes;
            p.peers = plan.usable_peers().len();
        });
        if plan.is_done() {
            break;
        }
        let Some((peer, piece, ranges, elapsed, answer)) = in_flight.next().await else {
            return Err(Error::Download {
                hash,
                reason: "every provider failed or left before the download finished; run the same command again to resume".into(),
            });
        };
        let failure = match answer {
            Ok(Response::Data(_)) if plan.is_piece_done(piece) => {
                // A duplicate from the end game: already stored.
                plan.on_success(peer, piece, 0, elapsed, blob.present());
                continue;
            }
            Ok(Response::Data(bytes)) => {
                let (written, result) = blob.apply(&ranges, &bytes);
                tally.fetched += written;
                *tally.per_peer.entry(peer).or_default() += written;
                since_commit += written;
                present_bytes = crate::content::range_bytes(blob.present(), size);
                match result {
                    Ok(()) => {
                        plan.on_success(peer, piece, written, elapsed, blob.present());
                        None
                    }
                    Err(reason) => {
                        tracing::warn!(%peer, %hash, "dropping provider: its data failed verification ({reason})");
                        if !tally.liars.contains(&peer) {
                            tally.liars.push(peer);
                        }
                        Some(Failure::Lied)
                    }
                }
            }
            Ok(Response::Missing) => Some(Failure::Missing),
            Ok(Response::Busy) => Some(Failure::Transient),
            Ok(Response::NotFound | Response::Refused(_) | Response::Have { .. }) => {
                plan.remove_peer(&peer);
                None
            }
            Err(e) => {
                tracing::debug!(%peer, "request failed: {e}");
                Some(Failure::Transient)
            }
        };
        if let Some(failure) = failure {
            plan.on_failure(peer, piece, failure, blob.present());
        }
        if since_commit >= COMMIT_BYTES || last_commit.elapsed() > Duration::from_secs(1) {
            blob.commit()?;
            since_commit = 0;
            last_commit = Instant::now();
        }
    }
    blob.commit()?;
    Ok(size)
}
