//! A collection's small files many at a time: one `GetMany` asks a peer
//! for up to [`MAX_BATCH`] whole blobs, each given with the size the
//! listing says. Every answer is checked on its own against its hash
//! (decoding every chunk with that size also proves the size) and must be
//! exactly as long as that encoding; what checks out is written without an
//! fsync, for the caller to record in a batch ([`Store::record_complete`]).
//! What a peer does not send, or sends wrong, is left to the caller to
//! fetch one by one.
//!
//! [`MAX_BATCH`]: crate::blobs::protocol::MAX_BATCH

use std::sync::Arc;

use bao_tree::BaoTree;
use libp2p::{Multiaddr, PeerId};

use super::{ask, store_write, Limits};
use crate::{
    blobs::protocol::{Request, Response},
    content::{blocking, ApplyError, ChunkNum, ChunkRanges, Hash, Store, BLOCK_SIZE},
    transfer::{network::BlobNetwork, stats::Tally},
    Error,
};

/// What became of one blob of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::transfer) enum Item {
    /// Verified and written (not yet recorded).
    Stored,
    /// Not sent (not found, missing, busy, no answer).
    Failed,
    /// Sent, but not the blob of that hash and size (or not exactly its
    /// encoding): the peer lied, or the listing gives a wrong size.
    Wrong,
}

/// One batch's answer from one peer.
pub(in crate::transfer) struct Batch {
    /// Per blob, in the order asked.
    pub(in crate::transfer) items: Vec<Item>,
    /// Whether the peer answered with something other than one answer
    /// per blob (an error, a refusal, a batch of the wrong length): it
    /// gets no more batches.
    pub(in crate::transfer) unusable: bool,
    pub(in crate::transfer) tally: Tally,
}

/// Asks `peer` for the whole blobs `items` (hash and listed size) in one
/// request and stores each that checks out. Errors only when writing to
/// the store fails (the disk's fault).
pub(in crate::transfer) async fn fetch_batch<N: BlobNetwork>(
    net: &N,
    store: &Arc<Store>,
    limits: &Limits,
    peer: PeerId,
    addrs: Vec<Multiaddr>,
    items: Vec<(Hash, u64)>,
) -> Result<Batch, Error> {
    let mut tally = Tally::default();
    let n = items.len();
    let failed = |unusable| Batch {
        items: vec![Item::Failed; n],
        unusable,
        tally: Tally::default(),
    };
    let request = Request::GetMany(items.clone());
    tally
        .first_request
        .get_or_insert_with(std::time::Instant::now);
    let answers = match ask(net.clone(), peer, addrs, request, limits.have_timeout).await {
        Ok(Response::Many(answers)) if answers.len() == n => answers,
        Ok(Response::Busy) => return Ok(failed(false)),
        Ok(other) => {
            tracing::debug!(%peer, "no batch answer: {other:?}");
            return Ok(failed(true));
        }
        Err(e) => {
            tracing::debug!(%peer, "batch request failed: {e}");
            return Ok(failed(true));
        }
    };
    tally.first_byte.get_or_insert_with(std::time::Instant::now);
    let store = store.clone();
    let (checked, stored) = blocking(move || {
        let mut out = Vec::with_capacity(n);
        let mut stored = 0;
        for ((hash, size), answer) in items.into_iter().zip(answers) {
            let Response::Data(bytes) = answer else {
                out.push(Item::Failed);
                continue;
            };
            let item = store_one(&store, hash, size, &bytes)?;
            if item == Item::Stored {
                stored += size;
            }
            out.push(item);
        }
        Ok((out, stored))
    })
    .await?;
    if stored > 0 {
        tally.add(peer, stored);
        net.counters().inspect(|c| c.verified(stored));
    }
    Ok(Batch {
        items: checked,
        unusable: false,
        tally,
    })
}

/// Verifies `encoded` as the whole blob `hash` of `size` bytes and writes
/// it (unrecorded).
fn store_one(store: &Arc<Store>, hash: Hash, size: u64, encoded: &[u8]) -> Result<Item, Error> {
    // All chunks in pre-order: the data and every parent node, nothing more.
    let exact = size + BaoTree::new(size, BLOCK_SIZE).outboard_size();
    if encoded.len() as u64 != exact {
        tracing::warn!(%hash, "a batch answer of {} bytes, the blob's encoding has {exact}", encoded.len());
        return Ok(Item::Wrong);
    }
    let mut blob = store.begin_download(hash, size, true)?;
    let ranges = ChunkRanges::from(ChunkNum(0)..ChunkNum::chunks(size));
    match blob.apply(&ranges, encoded) {
        (_, Ok(())) if blob.is_complete() => Ok(Item::Stored),
        (_, Err(ApplyError::Write(e))) => Err(store_write(hash, e.to_string(), e.kind())),
        (_, Err(ApplyError::Invalid(reason))) => {
            tracing::warn!(%hash, "a batch answer failed verification: {reason}");
            Ok(Item::Wrong)
        }
        (_, Ok(())) => Ok(Item::Wrong),
    }
}
