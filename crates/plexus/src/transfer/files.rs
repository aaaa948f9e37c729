//! A collection's files: small ones fetched several at a time and
//! recorded in batches (one sync, one store commit, then announced), big
//! ones one after another with their own progress.

use std::sync::Arc;

use futures::{stream::FuturesUnordered, StreamExt};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::watch;

use super::{
    blob_fetch::{self, Limits, Role, BATCH_MAX},
    network::BlobNetwork,
    stats::{GetOptions, Progress, Tally},
};
use crate::{
    content::{blocking, CollectionEntry, Hash, Store},
    Error,
};

/// Small files fetched at once (each costs the provider one or two of its
/// per-peer request slots).
const IN_FLIGHT: usize = 8;
/// Batched files recorded per store commit.
const RECORD_EVERY: usize = 1024;

/// Fetches every file of the collection `hash` into `store`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn fetch_files<N: BlobNetwork>(
    net: &N,
    store: &Arc<Store>,
    limits: &Limits,
    hash: Hash,
    entries: &[CollectionEntry],
    options: &GetOptions,
    peers: &[(PeerId, Vec<Multiaddr>)],
    progress: &watch::Sender<Progress>,
    tally: &mut Tally,
) -> Result<(), Error> {
    let mut run = Files {
        net,
        store,
        hash,
        done: 0,
        batch: Vec::new(),
    };
    let result = async {
        let mut in_flight = FuturesUnordered::new();
        for (index, entry) in entries.iter().enumerate() {
            if entry.size > BATCH_MAX {
                while let Some(outcome) = in_flight.next().await {
                    run.settle(outcome, progress, tally).await?;
                }
                let role = Role::File {
                    size: entry.size,
                    index,
                };
                let got = blob_fetch::fetch_blob(
                    net, store, limits, entry.hash, role, options, peers, progress, run.done, tally,
                )
                .await;
                run.settle((entry, got, Tally::default()), progress, tally)
                    .await?;
                continue;
            }
            if in_flight.len() >= IN_FLIGHT {
                if let Some(outcome) = in_flight.next().await {
                    run.settle(outcome, progress, tally).await?;
                }
            }
            in_flight.push(async move {
                // Progress is counted per finished file (they run at once).
                let (quiet, _) = watch::channel(Progress::default());
                let mut own = Tally::default();
                let role = Role::File {
                    size: entry.size,
                    index,
                };
                let got = blob_fetch::fetch_blob(
                    net, store, limits, entry.hash, role, options, peers, &quiet, 0, &mut own,
                )
                .await;
                (entry, got, own)
            });
        }
        while let Some(outcome) = in_flight.next().await {
            run.settle(outcome, progress, tally).await?;
        }
        Ok(())
    }
    .await;
    // What was fetched is recorded even when a file failed, so running
    // the same get again resumes.
    let recorded = run.record().await;
    result.and(recorded)
}

/// One file's outcome: its entry, its size and whether it is batched, and
/// its own figures.
type Outcome<'a> = (&'a CollectionEntry, Result<(u64, bool), Error>, Tally);

struct Files<'a, N> {
    net: &'a N,
    store: &'a Arc<Store>,
    hash: Hash,
    /// Bytes of the files finished.
    done: u64,
    /// Batched files fetched and not yet recorded.
    batch: Vec<(Hash, u64)>,
}

impl<N: BlobNetwork> Files<'_, N> {
    async fn settle(
        &mut self,
        (entry, got, own): Outcome<'_>,
        progress: &watch::Sender<Progress>,
        tally: &mut Tally,
    ) -> Result<(), Error> {
        tally.merge(own);
        let (got, batched) = got?;
        if got != entry.size {
            return Err(Error::Download {
                hash: self.hash,
                reason: format!(
                    "{} is {got} bytes, the collection says {}",
                    entry.path, entry.size
                ),
            });
        }
        if batched {
            self.batch.push((entry.hash, got));
        }
        self.done += got;
        let done = self.done;
        progress.send_modify(|p| p.done = done);
        if self.batch.len() >= RECORD_EVERY {
            self.record().await?;
        }
        Ok(())
    }

    /// Records the batched files (one sync, one commit), then announces them.
    async fn record(&mut self) -> Result<(), Error> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let done = std::mem::take(&mut self.batch);
        let (store, list) = (self.store.clone(), done.clone());
        blocking(move || store.record_complete(&list)).await?;
        for (hash, _) in done {
            self.net.provide(hash).await;
        }
        Ok(())
    }
}
