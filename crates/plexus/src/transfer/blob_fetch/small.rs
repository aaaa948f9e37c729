//! A small file of a collection (one chunk group at most) in one request:
//! every byte is asked for at once from one of the collection's peers,
//! without asking first who has it. Decoding the whole file against its
//! hash also proves its size, so nothing is taken on trust.

use std::sync::Arc;

use libp2p::{Multiaddr, PeerId};

use super::{apply_failure, ask, Limits};
use crate::{
    blobs::protocol::{Request, Response},
    content::{ApplyError, ChunkNum, ChunkRanges, Hash, Store},
    transfer::{network::BlobNetwork, stats::Tally, writer::BlobWriter},
    Error,
};

/// Fetches all `size` bytes (the size the listing gives) of `hash` from
/// the first of `peers` (starting at `index`, to spread the files) that
/// sends them, into a batched blob. `None` when no peer did, or the bytes
/// do not match that size: the caller then takes the usual way, and nobody
/// is blamed (the listing may be the one that is wrong).
#[allow(clippy::too_many_arguments)]
pub(super) async fn fetch_whole<N: BlobNetwork>(
    net: &N,
    store: &Arc<Store>,
    limits: &Limits,
    hash: Hash,
    size: u64,
    index: usize,
    peers: &[(PeerId, Vec<Multiaddr>)],
    tally: &mut Tally,
) -> Result<Option<u64>, Error> {
    let ranges = ChunkRanges::from(ChunkNum(0)..ChunkNum::chunks(size));
    for i in 0..peers.len() {
        let (peer, addrs) = &peers[(index + i) % peers.len()];
        let request = Request::Get {
            hash,
            ranges: ranges.clone(),
        };
        let Ok(Response::Data(bytes)) = ask(
            net.clone(),
            *peer,
            addrs.clone(),
            request,
            limits.have_timeout,
        )
        .await
        else {
            continue;
        };
        tally
            .first_request
            .get_or_insert_with(std::time::Instant::now);
        let mut blob = BlobWriter::open(store.clone(), hash, size, true).await?;
        match blob.apply(ranges.clone(), bytes).await? {
            (_, Ok(())) if blob.is_complete() => {
                tally.fetched += size;
                net.counters().inspect(|c| c.verified(size));
                *tally.per_peer.entry(*peer).or_default() += size;
                return Ok(Some(size));
            }
            (_, Err(ApplyError::Write(e))) => {
                return Err(apply_failure(hash, ApplyError::Write(e)))
            }
            _ => return Ok(None),
        }
    }
    Ok(None)
}
