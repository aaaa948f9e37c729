//! The storer's side: answering offers, taking shards within the quota
//! (fetched from the sender through the blob transfer, so every byte is
//! verified against the shard's hash), telling what it holds (after
//! checking its own copy is still there and whole: a holder whose shard
//! file was deleted or damaged gives up its claim, so another holder
//! rebuilds the shard elsewhere), releasing.

use std::sync::Arc;

use libp2p::PeerId;

use super::{
    audit, holders,
    manifest::{Manifest, MAX_MANIFEST_BYTES},
    network::StorageNetwork,
    pins::{Held, Pins},
    protocol::{Request, Response},
};
use crate::{
    blobs::protocol as blobs,
    content::{blocking, BlobFormat, Hash},
    transfer::{download, GetOptions},
    Error,
};

/// Answers one request from `peer`.
pub(crate) async fn handle<N: StorageNetwork>(
    net: &N,
    pins: &Arc<Pins>,
    peer: PeerId,
    request: Request,
) -> Response {
    match request {
        Request::Offer => Response::Offer {
            offered: pins.offered(),
            free: pins.free(),
            addrs: net.addrs().await,
        },
        Request::Put {
            object,
            index,
            shard,
            size,
            owner,
        } => {
            if pins.held(&object).iter().any(|h| h.index == index) {
                return Response::Stored;
            }
            // The manifest counts too; it is at most this big.
            let bytes = size.saturating_add(MAX_MANIFEST_BYTES);
            if let Err(reason) = pins.reserve(object, index, bytes) {
                return Response::Refused(reason);
            }
            let owner = owner.unwrap_or(peer);
            match take(net, pins, peer, owner, object, index, shard, size).await {
                Ok(()) => Response::Stored,
                Err(e) => {
                    pins.unreserve(object, index);
                    discard(net, pins, object, &[shard, object]).await;
                    Response::Refused(e.to_string())
                }
            }
        }
        Request::Holders { object, holders } => {
            let held = pins.held(&object);
            if held.is_empty() {
                return Response::Refused(format!("this node holds nothing of {object}"));
            }
            // The owner, a holder, or (for a shard placed by a repair, whose
            // holder knows no list yet) a holder named in the new list.
            let known = &held[0].holders;
            let allowed = held[0].owner == peer
                || known.iter().any(|h| h.peer == peer)
                || known.is_empty() && holders.iter().any(|h| h.peer == peer);
            if !allowed {
                return Response::Refused("only the owner or a holder may say who holds it".into());
            }
            // Merged, not taken whole: concurrent repairs each change one
            // entry, and an older list must not undo a newer one.
            let merged = match pins.merge_holders(&object, &holders) {
                Ok(merged) => merged,
                Err(e) => return Response::Refused(e.to_string()),
            };
            if !merged.is_empty() && !holders::lists(&merged, &net.local_peer_id()) {
                // Replaced by a repair (this copy was lost or is no longer
                // counted): the room goes back.
                drop_claim(net, pins, object).await;
            }
            Response::Done
        }
        Request::Status { object } => {
            if !intact(net, pins, object).await {
                return Response::Holding {
                    indexes: Vec::new(),
                    holders: Vec::new(),
                };
            }
            let held = pins.held(&object);
            Response::Holding {
                indexes: held.iter().map(|h| h.index).collect(),
                holders: held.first().map(|h| h.holders.clone()).unwrap_or_default(),
            }
        }
        Request::Release { object } => {
            let held = pins.held(&object);
            if held.is_empty() {
                return Response::Done;
            }
            if held[0].owner != peer {
                return Response::Refused("only the owner may release it".into());
            }
            match pins.release(&object) {
                Ok(gone) => {
                    let mut blobs: Vec<Hash> = gone.iter().map(|h| h.shard).collect();
                    blobs.push(object);
                    discard(net, pins, object, &blobs).await;
                    Response::Done
                }
                Err(e) => Response::Refused(e.to_string()),
            }
        }
    }
}

/// Whether every shard of `object` held here is still there and whole
/// ([`audit::check_own`]); if one is not, this node gives up its claim
/// ([`drop_claim`]) and says so in the log. `true` if nothing is held.
pub(crate) async fn intact<N: StorageNetwork>(net: &N, pins: &Arc<Pins>, object: Hash) -> bool {
    let held = pins.held(&object);
    if held.is_empty() {
        return true;
    }
    let store = net.content().clone();
    let broken = blocking(move || {
        Ok(held.iter().find_map(|h| {
            audit::check_own(&store, &h.shard)
                .err()
                .map(|reason| (h.index, reason))
        }))
    })
    .await
    .unwrap_or_default();
    let Some((index, reason)) = broken else {
        return true;
    };
    tracing::warn!(%object, index, "own shard is damaged ({reason}); giving it up so it is rebuilt elsewhere");
    pins.mark_lost(object);
    drop_claim(net, pins, object).await;
    false
}

/// Stops holding `object` here: forgets its pins and removes its blobs
/// (unless something else uses them); the other holders then see this
/// node without the shard and one of them rebuilds it elsewhere.
pub(crate) async fn drop_claim<N: StorageNetwork>(net: &N, pins: &Arc<Pins>, object: Hash) {
    if let Ok(gone) = pins.release(&object) {
        let mut blobs: Vec<Hash> = gone.iter().map(|h| h.shard).collect();
        blobs.push(object);
        discard(net, pins, object, &blobs).await;
    }
}

/// Fetches the manifest and the shard from `peer`, checks they agree, and
/// records the shard as held for `owner`.
#[allow(clippy::too_many_arguments)]
async fn take<N: StorageNetwork>(
    net: &N,
    pins: &Arc<Pins>,
    peer: PeerId,
    owner: PeerId,
    object: Hash,
    index: u8,
    shard: Hash,
    size: u64,
) -> Result<(), Error> {
    let from = GetOptions {
        providers: vec![(peer, Vec::new())],
        use_dht: false,
        allow_relay: false,
    };
    // The manifest's size first, so a huge blob posing as one is not fetched.
    match net
        .request(peer, Vec::new(), blobs::Request::Have(object))
        .await?
    {
        blobs::Response::Have { size, .. } if size <= MAX_MANIFEST_BYTES => {}
        blobs::Response::Have { size, .. } => {
            return Err(Error::BadInput(format!(
                "the manifest is {size} bytes, over the {MAX_MANIFEST_BYTES} byte limit"
            )))
        }
        other => {
            return Err(Error::BadInput(format!(
                "the sender does not serve the manifest: {other:?}"
            )))
        }
    }
    let store = net.content().clone();
    let (tx, _) = tokio::sync::watch::channel(Default::default());
    download::fetch(net, &store, object, Some(BlobFormat::Raw), None, &from, &tx).await?;
    let manifest = {
        let store = store.clone();
        let bytes = blocking(move || store.read_small(&object, MAX_MANIFEST_BYTES)).await?;
        Manifest::from_bytes(&bytes).map_err(Error::BadInput)?
    };
    if manifest.shards.get(usize::from(index)) != Some(&shard) || manifest.shard_size != size {
        return Err(Error::BadInput(format!(
            "shard {index} ({shard}, {size} bytes) is not what the manifest lists"
        )));
    }
    download::fetch(net, &store, shard, Some(BlobFormat::Raw), None, &from, &tx).await?;
    let info = {
        let store = store.clone();
        blocking(move || store.get(&shard)).await?
    };
    if !info.is_some_and(|i| i.complete && i.size == size) {
        return Err(Error::BadInput(format!(
            "shard {shard} did not arrive whole"
        )));
    }
    let manifest_bytes = {
        let store = store.clone();
        blocking(move || Ok(store.get(&object)?.map_or(0, |i| i.size))).await?
    };
    pins.hold(Held {
        object,
        index,
        shard,
        bytes: size + manifest_bytes,
        owner,
        holders: Vec::new(),
    })
}

/// Removes `hashes` from the store unless another pin or a share of the
/// user's still uses them, and stops announcing them.
pub(crate) async fn discard<N: StorageNetwork>(
    net: &N,
    pins: &Arc<Pins>,
    object: Hash,
    hashes: &[Hash],
) {
    let store = net.content().clone();
    let candidates: Vec<Hash> = hashes
        .iter()
        .copied()
        .filter(|h| !pins.uses(h, &object))
        .collect();
    let removed = blocking(move || {
        let mut removed = Vec::new();
        for h in candidates {
            if store.share(&h)?.is_none() && store.remove(&h)? {
                removed.push(h);
            }
        }
        Ok(removed)
    })
    .await
    .unwrap_or_default();
    if !removed.is_empty() {
        net.forget(removed).await;
    }
}
