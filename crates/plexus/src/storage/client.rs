//! The owner's side: storing a file (seal, split, place), asking holders
//! what they still hold, and ending it.

use std::{path::Path, sync::Arc, time::Duration};

use futures::{stream::FuturesUnordered, StreamExt};
use libp2p::{Multiaddr, PeerId};

use super::{
    erasure,
    manifest::{Manifest, MAX_MANIFEST_BYTES, MAX_OBJECT_BYTES},
    network::StorageNetwork,
    offer_key,
    pins::{Own, Pins},
    placement::{self, Offer},
    protocol::{HolderInfo, Request, Response},
    redundancy::Redundancy,
    seal, StoreTicket, Stored,
};
use crate::{
    content::{blocking, Hash},
    Error,
};

/// How long a peer may take to answer `Offer`, `Status` or `Release`.
const ASK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a storer may take to fetch and verify its shard.
const PUT_TIMEOUT: Duration = Duration::from_secs(300);

async fn ask<N: StorageNetwork>(
    net: &N,
    peer: PeerId,
    addrs: Vec<Multiaddr>,
    request: Request,
    limit: Duration,
) -> Result<Response, Error> {
    tokio::time::timeout(limit, net.storage_request(peer, addrs, request))
        .await
        .unwrap_or_else(|_| {
            Err(Error::Request {
                peer,
                reason: format!("no answer in {}s", limit.as_secs()),
            })
        })
}

/// Peers offering storage (the peers connected now, asked at once, and
/// DHT providers of [`offer_key`], asked when the lookup ends) with their
/// free room; none of `exclude`. Returns as soon as `want` of them have
/// room for `bytes` (a repair needs one peer, not an answer from every
/// storer, some of which may be gone), else when every one has answered
/// or timed out.
pub(crate) async fn offers<N: StorageNetwork>(
    net: &N,
    exclude: &[PeerId],
    want: usize,
    bytes: u64,
) -> Vec<Offer> {
    let mut asked: Vec<PeerId> = exclude.to_vec();
    asked.push(net.local_peer_id());
    let ask_offer = |peer: PeerId| async move {
        match ask(net, peer, Vec::new(), Request::Offer, ASK_TIMEOUT).await {
            Ok(Response::Offer { free, addrs, .. }) if free > 0 => Some(Offer {
                peer,
                free,
                addrs: addrs.into_iter().take(2).collect(),
            }),
            _ => None,
        }
    };
    let mut asks = FuturesUnordered::new();
    for peer in net.connected_peers().await.unwrap_or_default() {
        if !asked.contains(&peer) {
            asked.push(peer);
            asks.push(ask_offer(peer));
        }
    }
    let lookup = tokio::time::timeout(Duration::from_secs(20), net.find_providers(offer_key()));
    tokio::pin!(lookup);
    let mut looked_up = false;
    let mut found: Vec<Offer> = Vec::new();
    while found.iter().filter(|o| o.free >= bytes).count() < want {
        tokio::select! {
            providers = &mut lookup, if !looked_up => {
                looked_up = true;
                for peer in providers.ok().and_then(Result::ok).unwrap_or_default() {
                    if !asked.contains(&peer) {
                        asked.push(peer);
                        asks.push(ask_offer(peer));
                    }
                }
            }
            Some(offer) = asks.next(), if !asks.is_empty() => found.extend(offer),
            else => break,
        }
    }
    found
}

/// Seals, splits and places the file at `path`; returns its ticket.
pub(crate) async fn store<N: StorageNetwork>(
    net: &N,
    pins: &Arc<Pins>,
    path: &Path,
    redundancy: Redundancy,
) -> Result<Stored, Error> {
    redundancy.check()?;
    let (_, n) = redundancy.k_n();
    let owned = path.to_path_buf();
    let plain = blocking(move || {
        let io = |source| Error::Io {
            path: owned.clone(),
            source,
        };
        let meta = std::fs::metadata(&owned).map_err(io)?;
        if !meta.is_file() {
            return Err(Error::BadInput(format!(
                "{} is not a file: store a file (pack a folder into an archive first)",
                owned.display()
            )));
        }
        if meta.len() > MAX_OBJECT_BYTES {
            return Err(Error::BadInput(format!(
                "{} is {} bytes; plexus store takes at most {MAX_OBJECT_BYTES} bytes (split it)",
                owned.display(),
                meta.len()
            )));
        }
        std::fs::read(&owned).map_err(io)
    })
    .await?;
    let size = plain.len() as u64;
    // The one place the object is encrypted, before anything is split.
    let seal::Sealed {
        bytes: sealed,
        key,
        cipher,
    } = seal::seal(plain)?;
    let store = net.content().clone();
    let (manifest, object) = blocking(move || {
        let shards = erasure::split(&sealed, redundancy)?;
        let mut hashes = Vec::with_capacity(shards.shards.len());
        for shard in &shards.shards {
            hashes.push(store.import_bytes(shard)?);
        }
        let manifest = Manifest {
            plexus_manifest: 1,
            size: sealed.len() as u64,
            redundancy,
            shard_size: shards.shard_size,
            shards: hashes,
            sealed: cipher,
        };
        let object = store.import_bytes(&manifest.to_bytes())?;
        Ok((manifest, object))
    })
    .await?;
    let all: Vec<usize> = (0..usize::from(n)).collect();
    let holders = place(net, object, &manifest, &all, &[], None).await;
    // The owner's copies of the shards are not needed once placed (nor
    // when placement failed).
    let mine: Vec<Hash> = manifest.shards.clone();
    let store = net.content().clone();
    let _ = blocking(move || {
        for h in mine {
            store.remove(&h)?;
        }
        Ok(())
    })
    .await;
    let holders = holders?;
    for h in &holders {
        let request = Request::Holders {
            object,
            holders: holders.clone(),
        };
        let _ = ask(net, h.peer, h.addrs.clone(), request, ASK_TIMEOUT).await;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| object.to_string());
    pins.add_own(Own {
        object,
        name: name.clone(),
        size,
        redundancy,
        holders: holders.clone(),
    })?;
    Ok(Stored {
        ticket: StoreTicket {
            manifest: object,
            key,
            name: Some(name),
            holders: holders.iter().map(|h| (h.peer, h.addrs.clone())).collect(),
        },
        size,
        stored_bytes: manifest.shard_size * u64::from(n),
        holders: holders.len(),
    })
}

/// Places the shards `indexes` of `manifest` each on its own peer (never
/// one of `exclude`), trying spares when a storer refuses or fails; the
/// storers record `owner` (default: this node) as the owner.
pub(crate) async fn place<N: StorageNetwork>(
    net: &N,
    object: Hash,
    manifest: &Manifest,
    indexes: &[usize],
    exclude: &[PeerId],
    owner: Option<PeerId>,
) -> Result<Vec<HolderInfo>, Error> {
    let n = indexes.len();
    let bytes = manifest.shard_size + MAX_MANIFEST_BYTES;
    // Every shard and as many spares, for storers that refuse or fail.
    let offers = offers(net, exclude, 2 * n, bytes).await;
    let plan =
        placement::plan(offers, net.local_peer_id(), exclude, n, bytes).map_err(|found| {
            Error::Unplaceable {
                found,
                needed: n,
                bytes,
            }
        })?;
    let mut spares = plan.spares.into_iter();
    let mut refusals = Vec::new();
    let put = |index: usize, offer: Offer| async move {
        let request = Request::Put {
            object,
            index: index as u8,
            shard: manifest.shards[index],
            size: manifest.shard_size,
            owner,
        };
        let answer = ask(net, offer.peer, offer.addrs.clone(), request, PUT_TIMEOUT).await;
        (index, offer, answer)
    };
    let mut puts: FuturesUnordered<_> = plan
        .holders
        .into_iter()
        .zip(indexes)
        .map(|(o, &i)| put(i, o))
        .collect();
    let mut holders = Vec::new();
    while let Some((index, offer, answer)) = puts.next().await {
        match answer {
            Ok(Response::Stored) => holders.push(HolderInfo {
                index: index as u8,
                peer: offer.peer,
                addrs: offer.addrs,
                generation: 0,
            }),
            other => {
                let reason = match other {
                    Ok(Response::Refused(r)) => r,
                    Ok(r) => format!("unexpected answer {r:?}"),
                    Err(e) => e.to_string(),
                };
                tracing::info!(peer = %offer.peer, "storer refused shard {index}: {reason}");
                refusals.push(format!("{}: {reason}", offer.peer));
                match spares.next() {
                    Some(spare) => puts.push(put(index, spare)),
                    None => {
                        return Err(Error::Unplaceable {
                            found: holders.len() + puts.len(),
                            needed: n,
                            bytes,
                        })
                    }
                }
            }
        }
    }
    holders.sort_by_key(|h| h.index);
    Ok(holders)
}

/// Asks the holders of an own object (and those they name, placed by
/// repairs) which shards they still hold; returns the shard indexes alive
/// and the holders that answered for them.
pub(crate) async fn alive<N: StorageNetwork>(
    net: &N,
    holders: &[HolderInfo],
    object: Hash,
) -> (Vec<u8>, Vec<HolderInfo>) {
    let hints: Vec<_> = holders.iter().map(|h| (h.peer, h.addrs.clone())).collect();
    let answered = super::get::probe(net, object, &hints).await;
    let mut indexes = Vec::new();
    let mut now = Vec::new();
    for (peer, addrs, held) in answered {
        for index in held {
            if !indexes.contains(&index) {
                indexes.push(index);
                now.push(HolderInfo {
                    index,
                    peer,
                    addrs: addrs.clone(),
                    generation: 0,
                });
            }
        }
    }
    indexes.sort_unstable();
    now.sort_by_key(|h| h.index);
    (indexes, now)
}

/// Ends an own object: every holder is asked to release it. Returns how
/// many holders confirmed.
pub(crate) async fn unstore<N: StorageNetwork>(
    net: &N,
    pins: &Arc<Pins>,
    object: Hash,
) -> Result<usize, Error> {
    let own = pins
        .own()
        .into_iter()
        .find(|o| o.object == object)
        .ok_or_else(|| {
            Error::BadInput(format!(
                "{object} is not an object this node stored (see plexus pins)"
            ))
        })?;
    // Holders placed by repairs since are asked too.
    let (_, now) = alive(net, &own.holders, object).await;
    let mut holders = own.holders.clone();
    holders.extend(
        now.into_iter()
            .filter(|h| !own.holders.iter().any(|o| o.peer == h.peer)),
    );
    let asks: FuturesUnordered<_> = holders
        .iter()
        .map(|h| {
            ask(
                net,
                h.peer,
                h.addrs.clone(),
                Request::Release { object },
                ASK_TIMEOUT,
            )
        })
        .collect();
    let released = asks
        .filter(|r| std::future::ready(matches!(r, Ok(Response::Done))))
        .count()
        .await;
    pins.remove_own(&object)?;
    let store = net.content().clone();
    let removed = blocking(move || store.remove(&object)).await?;
    if removed {
        net.forget(vec![object]).await;
    }
    Ok(released)
}
