//! A collection's files: small ones fetched many per request, several
//! requests at once (`blob_fetch/many.rs`), and recorded in batches (one
//! sync, one store commit; announced through the collection, not one by
//! one); big ones, and small ones no batch brought, one after another.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::Arc,
};

use futures::{stream::FuturesUnordered, StreamExt};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::watch;

use super::{
    blob_fetch::{
        self,
        many::{self, Item},
        Limits, Role, BATCH_MAX,
    },
    network::BlobNetwork,
    stats::{GetOptions, Progress, Tally},
};
use crate::{
    blobs::protocol::{MAX_BATCH, MAX_BATCH_BYTES},
    content::{blocking, CollectionEntry, Hash, Store},
    Error,
};

/// Files fetched one by one at once (each costs the provider one or two
/// of its per-peer request slots).
const IN_FLIGHT: usize = 8;
/// Batches of small files asked for at once (each holds one of the
/// provider's per-peer slots and at most [`MAX_BATCH_BYTES`] of its bytes).
const BATCHES_IN_FLIGHT: usize = 4;
/// Batched files recorded per store commit.
const RECORD_EVERY: usize = 1024;

/// Fetches every file of the collection `hash` into `store`: the small
/// ones in batches first, then the big ones and whatever a batch did not
/// bring, one by one.
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
        suspects: HashMap::new(),
    };
    let result = async {
        let rest = run
            .fetch_batches(limits, entries, peers, progress, tally)
            .await?;
        run.fetch_each(limits, entries, rest, options, peers, progress, tally)
            .await
    }
    .await;
    // What was fetched is recorded even when a file failed, so running
    // the same get again resumes.
    let recorded = run.record().await;
    result.and(recorded)
}

/// One file's outcome: its entry, its size and whether it is batched, and
/// its own figures.
type Outcome<'a> = (
    usize,
    &'a CollectionEntry,
    Result<(u64, bool), Error>,
    Tally,
);

struct Files<'a, N> {
    net: &'a N,
    store: &'a Arc<Store>,
    hash: Hash,
    /// Bytes of the files finished.
    done: u64,
    /// Batched files fetched and not yet recorded.
    batch: Vec<(Hash, u64)>,
    /// Entries a batch peer sent wrong bytes for: if the listed size
    /// turns out right, that peer lied.
    suspects: HashMap<usize, PeerId>,
}

impl<N: BlobNetwork> Files<'_, N> {
    /// Fetches the small files (at most [`BATCH_MAX`] bytes each, not
    /// already in the store) in batches, spread over `peers`; returns the
    /// indexes of the entries left to fetch one by one.
    async fn fetch_batches(
        &mut self,
        limits: &Limits,
        entries: &[CollectionEntry],
        peers: &[(PeerId, Vec<Multiaddr>)],
        progress: &watch::Sender<Progress>,
        tally: &mut Tally,
    ) -> Result<Vec<usize>, Error> {
        let (small, mut rest): (Vec<usize>, Vec<usize>) =
            (0..entries.len()).partition(|&i| (1..=BATCH_MAX).contains(&entries[i].size));
        let small = {
            let store = self.store.clone();
            let hashes: Vec<Hash> = small.iter().map(|&i| entries[i].hash).collect();
            let known = blocking(move || {
                hashes
                    .iter()
                    .map(|h| Ok(store.get(h)?.is_some_and(|i| i.complete)))
                    .collect::<Result<Vec<bool>, Error>>()
            })
            .await?;
            // Files already complete go the one-by-one way, which costs
            // them nothing.
            let (known, small): (Vec<_>, Vec<_>) =
                small.into_iter().zip(known).partition(|(_, k)| *k);
            rest.extend(known.into_iter().map(|(i, _)| i));
            small.into_iter().map(|(i, _)| i).collect::<Vec<_>>()
        };
        let mut queue: VecDeque<Vec<usize>> = VecDeque::new();
        let mut bytes = 0;
        for i in small {
            let full = queue.back().is_none_or(|b: &Vec<usize>| {
                b.len() >= MAX_BATCH || bytes + entries[i].size > MAX_BATCH_BYTES
            });
            if full {
                queue.push_back(Vec::new());
                bytes = 0;
            }
            bytes += entries[i].size;
            queue.back_mut().expect("pushed").push(i);
        }
        let (net, store) = (self.net, self.store);
        let mut unusable = HashSet::new();
        let mut next = 0;
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < BATCHES_IN_FLIGHT && !queue.is_empty() {
                let usable: Vec<_> = peers
                    .iter()
                    .filter(|(p, _)| !unusable.contains(p))
                    .collect();
                let Some((peer, addrs)) = usable.get(next % usable.len().max(1)) else {
                    break;
                };
                next += 1;
                let batch = queue.pop_front().expect("not empty");
                let items = batch
                    .iter()
                    .map(|&i| (entries[i].hash, entries[i].size))
                    .collect();
                let (peer, addrs) = (*peer, addrs.clone());
                in_flight.push(async move {
                    let got = many::fetch_batch(net, store, limits, peer, addrs, items).await;
                    (batch, peer, got)
                });
            }
            let Some((batch, peer, got)) = in_flight.next().await else {
                break;
            };
            let got = got?;
            tally.merge(got.tally);
            if got.unusable {
                unusable.insert(peer);
            }
            for (i, item) in batch.into_iter().zip(got.items) {
                match item {
                    Item::Stored => self.add(entries[i].hash, entries[i].size, progress).await?,
                    Item::Failed => rest.push(i),
                    Item::Wrong => {
                        unusable.insert(peer);
                        self.suspects.insert(i, peer);
                        rest.push(i);
                    }
                }
            }
        }
        rest.extend(queue.into_iter().flatten());
        rest.sort_unstable();
        Ok(rest)
    }

    /// Fetches the entries `which` one by one, several small ones at once.
    #[allow(clippy::too_many_arguments)]
    async fn fetch_each(
        &mut self,
        limits: &Limits,
        entries: &[CollectionEntry],
        which: Vec<usize>,
        options: &GetOptions,
        peers: &[(PeerId, Vec<Multiaddr>)],
        progress: &watch::Sender<Progress>,
        tally: &mut Tally,
    ) -> Result<(), Error> {
        let (net, store) = (self.net, self.store);
        let mut in_flight = FuturesUnordered::new();
        for index in which {
            let entry = &entries[index];
            if entry.size > BATCH_MAX {
                while let Some(outcome) = in_flight.next().await {
                    self.settle(outcome, progress, tally).await?;
                }
                let role = Role::File {
                    size: entry.size,
                    index,
                };
                let got = blob_fetch::fetch_blob(
                    net, store, limits, entry.hash, role, options, peers, progress, self.done,
                    tally,
                )
                .await;
                self.settle((index, entry, got, Tally::default()), progress, tally)
                    .await?;
                continue;
            }
            if in_flight.len() >= IN_FLIGHT {
                if let Some(outcome) = in_flight.next().await {
                    self.settle(outcome, progress, tally).await?;
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
                (index, entry, got, own)
            });
        }
        while let Some(outcome) = in_flight.next().await {
            self.settle(outcome, progress, tally).await?;
        }
        Ok(())
    }

    async fn settle(
        &mut self,
        (index, entry, got, own): Outcome<'_>,
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
        if let Some(peer) = self.suspects.remove(&index) {
            tracing::warn!(%peer, "a batch peer sent wrong bytes for {}", entry.path);
            tally.blame(peer);
        }
        if batched {
            self.add(entry.hash, got, progress).await
        } else {
            self.done += got;
            let done = self.done;
            progress.send_modify(|p| p.done = done);
            Ok(())
        }
    }

    /// A file written and not yet recorded: counted, and recorded with
    /// the others every [`RECORD_EVERY`].
    async fn add(
        &mut self,
        hash: Hash,
        size: u64,
        progress: &watch::Sender<Progress>,
    ) -> Result<(), Error> {
        self.batch.push((hash, size));
        self.done += size;
        let done = self.done;
        progress.send_modify(|p| p.done = done);
        if self.batch.len() >= RECORD_EVERY {
            self.record().await?;
        }
        Ok(())
    }

    /// Records the batched files (one sync, one commit). They are not
    /// announced one by one: the collection is, and whoever fetches it
    /// asks its providers for the files, as this node did. (A sharer
    /// announces only what it shares, too. Announcing each file cost one
    /// Kademlia query apiece: for a folder of 10,000 files, about a quarter
    /// of the CPU while the get ran, in `perf`.)
    async fn record(&mut self) -> Result<(), Error> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let done = std::mem::take(&mut self.batch);
        let store = self.store.clone();
        blocking(move || store.record_complete(&done)).await
    }
}
