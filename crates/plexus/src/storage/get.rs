//! The getter's side: the manifest and any K shards from whichever holders
//! answer, rebuilt, opened and written out. The ticket's holders are asked
//! first which shards they still hold (`Status`, all at once, at most
//! [`PROBE_TIMEOUT`]: a holder that is gone may leave a dial hanging), and
//! each shard is fetched from those that hold it; only shards still missing
//! are then looked up in the DHT, whose queries also wait on peers that
//! are gone.

use std::{path::Path, sync::Arc};

use std::time::Duration;

use futures::{stream::FuturesUnordered, StreamExt};
use libp2p::{Multiaddr, PeerId};

use super::{
    erasure,
    manifest::{Manifest, MAX_MANIFEST_BYTES},
    network::StorageNetwork,
    pins::Pins,
    protocol::{Request, Response},
    seal, StoreTicket,
};
use crate::{
    content::{blocking, BlobFormat, Hash, Store},
    transfer::{download, GetOptions},
    Error,
};

/// How long the holders in a ticket are given to say what they hold.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Once one holder has answered, how much longer the others are waited
/// for: live holders answer at about the same time, and one that is gone
/// (its address still in the ticket) should not hold the get up for the
/// whole [`PROBE_TIMEOUT`]. A slow holder missed here is still a source:
/// shards are fetched from every hint when the answered ones fall short.
const PROBE_GRACE: Duration = Duration::from_secs(1);

/// A holder that answered, with the shard indexes it holds whole.
pub(crate) type Answered = (PeerId, Vec<Multiaddr>, Vec<u8>);

/// Asks `holders` at once which shards of `object` they hold, then the
/// holders they name that were not asked yet (placed by a repair since the
/// ticket was made); returns those that answered within [`PROBE_TIMEOUT`]
/// each round (or [`PROBE_GRACE`] after the round's first answer).
pub(crate) async fn probe<N: StorageNetwork>(
    net: &N,
    object: Hash,
    holders: &[(PeerId, Vec<Multiaddr>)],
) -> Vec<Answered> {
    let me = net.local_peer_id();
    let mut asked: Vec<PeerId> = vec![me];
    let mut round: Vec<(PeerId, Vec<Multiaddr>)> = holders.to_vec();
    let mut answered = Vec::new();
    for _ in 0..2 {
        round.retain(|(p, _)| !asked.contains(p));
        round.dedup_by_key(|(p, _)| *p);
        asked.extend(round.iter().map(|(p, _)| *p));
        let mut asks: FuturesUnordered<_> = round
            .iter()
            .map(|(peer, addrs)| async move {
                let asked = net.storage_request(*peer, addrs.clone(), Request::Status { object });
                match tokio::time::timeout(PROBE_TIMEOUT, asked).await {
                    Ok(Ok(Response::Holding { indexes, holders })) => {
                        Some(((*peer, addrs.clone(), indexes), holders))
                    }
                    _ => None,
                }
            })
            .collect();
        let mut named = Vec::new();
        let mut deadline = tokio::time::Instant::now() + PROBE_TIMEOUT;
        while let Ok(Some(a)) = tokio::time::timeout_at(deadline, asks.next()).await {
            if let Some((answer, holders)) = a {
                answered.push(answer);
                named.extend(holders.into_iter().map(|h| (h.peer, h.addrs)));
                deadline = deadline.min(tokio::time::Instant::now() + PROBE_GRACE);
            }
        }
        drop(asks);
        round = named;
    }
    answered
}

/// Fetches `hash` from the hints, then (if that fails) with the DHT too.
async fn fetch<N: StorageNetwork>(
    net: &N,
    store: &Arc<Store>,
    hash: Hash,
    hints: &GetOptions,
    use_dht: bool,
) -> Result<(), Error> {
    let options = GetOptions {
        use_dht,
        ..hints.clone()
    };
    let (tx, _) = tokio::sync::watch::channel(Default::default());
    download::fetch(net, store, hash, Some(BlobFormat::Raw), None, &options, &tx)
        .await
        .map(drop)
}

/// Fetches and checks the manifest of `object`.
/// First from the holders that answered (`alive`), then from all hints and
/// the DHT.
pub(crate) async fn manifest<N: StorageNetwork>(
    net: &N,
    object: Hash,
    alive: &GetOptions,
    hints: &GetOptions,
) -> Result<Manifest, Error> {
    let store = net.content().clone();
    if alive.providers.is_empty() || fetch(net, &store, object, alive, false).await.is_err() {
        fetch(net, &store, object, hints, true).await?;
    }
    let bytes = blocking(move || store.read_small(&object, MAX_MANIFEST_BYTES)).await?;
    Manifest::from_bytes(&bytes).map_err(|reason| Error::Download {
        hash: object,
        reason,
    })
}

/// Fetches K shards of `manifest` (never those in `skip`), K at a time,
/// each failure starting the next index; first from the hints alone, then
/// through the DHT. Returns the indexes now in the store.
pub(crate) async fn shards<N: StorageNetwork>(
    net: &N,
    object: Hash,
    manifest: &Manifest,
    answered: &[Answered],
    hints: &GetOptions,
    skip: &[usize],
) -> Result<Vec<usize>, Error> {
    let (k, _) = manifest.redundancy.k_n();
    let k = usize::from(k);
    let store = net.content().clone();
    let mut have = Vec::new();
    let mut failures = Vec::new();
    for use_dht in [false, true] {
        let mut todo = (0..manifest.shards.len())
            .filter(|i| !skip.contains(i) && !have.contains(i))
            .collect::<Vec<_>>()
            .into_iter();
        let fetch_one = |index: usize| {
            let store = store.clone();
            let hash = manifest.shards[index];
            // First only the holders that said they hold it (for replicas,
            // every holder of the one hash); then anyone the DHT knows.
            let providers = if use_dht {
                hints.providers.clone()
            } else {
                answered
                    .iter()
                    .filter(|(_, _, held)| {
                        held.iter()
                            .any(|&i| manifest.shards.get(usize::from(i)) == Some(&hash))
                    })
                    .map(|(p, a, _)| (*p, a.clone()))
                    .collect()
            };
            let options = GetOptions {
                providers,
                use_dht,
                allow_relay: false,
            };
            // An empty list still finds a shard this node holds itself.
            async move { (index, fetch(net, &store, hash, &options, use_dht).await) }
        };
        let mut running: FuturesUnordered<_> =
            todo.by_ref().take(k - have.len()).map(fetch_one).collect();
        while let Some((index, got)) = running.next().await {
            match got {
                Ok(()) => have.push(index),
                Err(e) => {
                    failures.push(format!("shard {index}: {e}"));
                    if let Some(i) = todo.next() {
                        running.push(fetch_one(i));
                    }
                }
            }
            if have.len() >= k {
                return Ok(have);
            }
        }
    }
    Err(Error::Download {
        hash: object,
        reason: format!(
            "only {} of the {k} shards needed could be fetched ({})",
            have.len(),
            failures.join("; ")
        ),
    })
}

/// Rebuilds the (sealed) object from the shards `have` in the store.
pub(crate) async fn rebuild<N: StorageNetwork>(
    net: &N,
    manifest: &Manifest,
    have: &[usize],
) -> Result<Vec<u8>, Error> {
    let store = net.content().clone();
    let shards: Vec<(usize, Hash)> = have.iter().map(|&i| (i, manifest.shards[i])).collect();
    let m = manifest.clone();
    blocking(move || {
        let mut bytes = Vec::with_capacity(shards.len());
        for (i, h) in &shards {
            bytes.push((*i, store.read_small(h, m.shard_size)?));
        }
        erasure::join(m.size, m.redundancy, bytes)
    })
    .await
}

/// Removes blobs fetched only to rebuild (a holder keeps its own shards)
/// and stops announcing them.
pub(crate) async fn drop_fetched<N: StorageNetwork>(net: &N, pins: &Pins, hashes: Vec<Hash>) {
    let fetched: Vec<Hash> = hashes
        .into_iter()
        .filter(|h| !pins.uses(h, &Hash([0; 32])))
        .collect();
    let store = net.content().clone();
    let removed = blocking(move || {
        let mut removed = Vec::new();
        for h in fetched {
            if store.share(&h)?.is_none() && store.remove(&h)? {
                removed.push(h);
            }
        }
        Ok(removed)
    })
    .await
    .unwrap_or_default();
    net.forget(removed).await;
}

/// Fetches the manifest and any K shards, rebuilds, opens and writes the
/// object to `out`. Returns its size.
pub(crate) async fn get<N: StorageNetwork>(
    net: &N,
    pins: &Arc<Pins>,
    ticket: &StoreTicket,
    out: &Path,
    force: bool,
) -> Result<u64, Error> {
    if out.exists() && !force {
        return Err(Error::Io {
            path: out.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "already exists (use --force to replace it)",
            ),
        });
    }
    let object = ticket.manifest;
    let hints = GetOptions {
        providers: ticket.holders.clone(),
        use_dht: false,
        allow_relay: false,
    };
    let answered = probe(net, object, &ticket.holders).await;
    let alive = GetOptions {
        providers: answered.iter().map(|(p, a, _)| (*p, a.clone())).collect(),
        use_dht: false,
        allow_relay: false,
    };
    let manifest = manifest(net, object, &alive, &hints).await?;
    let have = shards(net, object, &manifest, &answered, &hints, &[]).await;
    let sealed = match have {
        Ok(have) => rebuild(net, &manifest, &have).await,
        Err(e) => Err(e),
    };
    drop_fetched(net, pins, manifest.shards.clone()).await;
    let plain = seal::open(sealed?, manifest.sealed.as_deref(), ticket.key.as_deref())?;
    let size = plain.len() as u64;
    let owned = out.to_path_buf();
    blocking(move || {
        let tmp = owned.with_extension("plexus-part");
        let io = |source| Error::Io {
            path: owned.clone(),
            source,
        };
        std::fs::write(&tmp, &plain).map_err(io)?;
        std::fs::rename(&tmp, &owned).map_err(io)
    })
    .await?;
    Ok(size)
}
