//! A download: finds the candidates, fetches the blob (and, for a
//! collection, every file in it) through [`super::blob_fetch`], and adds up
//! the figures.

use std::{sync::Arc, time::Instant};

use tokio::sync::watch;

use super::{
    blob_fetch::{self, Limits},
    candidates::candidates,
    files,
    network::BlobNetwork,
    stats::{DownloadStats, GetOptions, PeerBytes, Progress, Tally},
};
use crate::{
    content::{blocking, sealed, BlobFormat, Collection, Hash, Store},
    seal::Key,
    Error,
};

/// Fetches `hash` (a blob, or a collection and every file in it) into
/// `store`, through `net`. With `key`, a collection's listing is sealed
/// and opened with it (the blobs stay sealed in the store).
pub(crate) async fn fetch<N: BlobNetwork>(
    net: &N,
    store: &Arc<Store>,
    hash: Hash,
    format: Option<BlobFormat>,
    key: Option<&Key>,
    options: &GetOptions,
    progress: &watch::Sender<Progress>,
) -> Result<DownloadStats, Error> {
    let limits = Limits::default();
    fetch_with(net, store, &limits, hash, format, key, options, progress).await
}

/// [`fetch`] with the given time limits.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn fetch_with<N: BlobNetwork>(
    net: &N,
    store: &Arc<Store>,
    limits: &Limits,
    hash: Hash,
    format: Option<BlobFormat>,
    key: Option<&Key>,
    options: &GetOptions,
    progress: &watch::Sender<Progress>,
) -> Result<DownloadStats, Error> {
    let started = Instant::now();
    let peers = candidates(net, hash, options).await?;
    let mut tally = Tally::default();
    let (size, _) = blob_fetch::fetch_blob(
        net,
        store,
        limits,
        hash,
        blob_fetch::Role::Alone,
        options,
        &peers,
        progress,
        0,
        &mut tally,
    )
    .await?;
    let max = sealed::max_listing_bytes();
    let listing = if format.is_none_or(|f| f == BlobFormat::Collection) && size <= max {
        let store = store.clone();
        blocking(move || store.read_small(&hash, max)).await.ok()
    } else {
        None
    };
    let collection = match (format, listing) {
        (Some(BlobFormat::Collection), Some(bytes)) => Some(
            sealed::open_listing(&hash, &bytes, key).map_err(|e| match e {
                Error::Store(reason) => Error::Download { hash, reason },
                other => other,
            })?,
        ),
        (Some(BlobFormat::Collection), None) => {
            return Err(Error::Download {
                hash,
                reason: format!("a collection is at most {max} bytes"),
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
        files::fetch_files(
            net,
            store,
            limits,
            hash,
            &collection.entries,
            options,
            &peers,
            progress,
            &mut tally,
        )
        .await?;
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
        first_byte_secs: tally
            .first_byte
            .map(|t| t.duration_since(started).as_secs_f64()),
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
