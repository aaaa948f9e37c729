//! Fetching one blob from a swarm of peers: ask everyone what they have,
//! keep each peer's request window full as the [`Planner`] says, verify and
//! store every answer as it arrives, and keep learning: peers that hold
//! only part of the blob (other getters) are asked again every second, and
//! new providers are looked up every few seconds, so pieces spread among
//! getters BitTorrent-style.

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    time::{Duration, Instant},
};

use futures::{future::BoxFuture, stream::FuturesUnordered, FutureExt, StreamExt};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::watch;

use super::{
    download::{candidates, GetOptions, Progress, Tally},
    planner::{Failure, Planner},
    protocol::{Request, Response},
    size,
};
use crate::{
    content::{range_bytes, ApplyError, ChunkRanges, Hash},
    Error, Node,
};

/// Bytes written between two commits of the present ranges.
const COMMIT_BYTES: u64 = 4 * 1024 * 1024;
/// Longest time between two commits (others see new ranges after a commit).
const COMMIT_EVERY: Duration = Duration::from_millis(500);
/// How long a peer may take to say what it has.
const HAVE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often partial holders are asked again what they have.
const REFRESH_EVERY: Duration = Duration::from_secs(1);
/// Every how many refreshes new providers are looked up (the first
/// refresh always looks).
const DISCOVER_EVERY: u32 = 3;
/// How long the download waits with nothing in flight and no progress
/// before it gives up.
const STALL_LIMIT: Duration = Duration::from_secs(20);

/// A peer's answer to `Have`, or a fresh list of candidates.
enum Learned {
    Have(PeerId, Result<Response, Error>),
    Candidates(Vec<(PeerId, Vec<Multiaddr>)>),
}

fn ask_have(
    node: &Node,
    peer: PeerId,
    addrs: Vec<Multiaddr>,
    hash: Hash,
) -> BoxFuture<'static, Learned> {
    let node = node.clone();
    async move {
        let answer = tokio::time::timeout(
            HAVE_TIMEOUT,
            node.blob_request(peer, addrs, Request::Have(hash)),
        )
        .await
        .unwrap_or_else(|_| {
            Err(Error::Request {
                peer,
                reason: format!("no answer in {}s", HAVE_TIMEOUT.as_secs()),
            })
        });
        Learned::Have(peer, answer)
    }
    .boxed()
}

/// One peer's first answer: the size it claims and what it has.
struct Claim {
    peer: PeerId,
    size: u64,
    complete: bool,
    present: ChunkRanges,
}

/// Downloads one blob; returns its size. A blob already complete in the
/// store costs nothing.
pub(super) async fn fetch_blob(
    node: &Node,
    hash: Hash,
    options: &GetOptions,
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
    let addrs: HashMap<PeerId, Vec<Multiaddr>> = peers.iter().cloned().collect();
    let first: Vec<Learned> = futures::future::join_all(
        peers
            .iter()
            .map(|(peer, a)| ask_have(node, *peer, a.clone(), hash)),
    )
    .await;
    let mut claims = Vec::new();
    let mut why = Vec::new();
    for learned in first {
        match learned {
            Learned::Have(
                peer,
                Ok(Response::Have {
                    size,
                    complete,
                    present,
                }),
            ) => claims.push(Claim {
                peer,
                size,
                complete,
                present,
            }),
            Learned::Have(peer, Ok(Response::NotFound)) => {
                why.push(format!("{peer}: does not have it"))
            }
            Learned::Have(peer, Ok(other)) => why.push(format!("{peer}: answered {other:?}")),
            Learned::Have(_, Err(e)) => why.push(e.to_string()),
            Learned::Candidates(_) => {}
        }
    }
    if claims.is_empty() {
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
    }
    // The size comes from a proof checked against the hash, never from
    // what peers say; whoever claimed another size lied.
    let (size, proof, prover) = prove_size(node, hash, &addrs, &claims, tally).await?;
    // From here on this node holds part of the blob: announce it, so other
    // getters find it and fetch what it already has.
    node.provide(hash).await;
    let mut blob = store.begin_download(hash, size)?;
    let before = range_bytes(blob.present(), size);
    let (_, applied) = blob.apply(&size::proof_ranges(size), &proof);
    applied.map_err(|e| apply_failure(hash, e))?;
    if let Some(peer) = prover {
        let new = range_bytes(blob.present(), size) - before;
        tally.fetched += new;
        *tally.per_peer.entry(peer).or_default() += new;
    }
    let plan = Planner::new(size, blob.present());
    progress.send_modify(|p| p.total = p.total.max(base + size));
    let mut run = Run {
        node,
        hash,
        size,
        plan,
        blob,
        addrs,
        known: peers.iter().map(|(p, _)| *p).collect(),
        asking: HashSet::new(),
        learning: FuturesUnordered::new(),
        tally,
    };
    for claim in claims {
        run.learn(Learned::Have(
            claim.peer,
            Ok(Response::Have {
                size: claim.size,
                complete: claim.complete,
                present: claim.present,
            }),
        ));
    }
    run.drive(options, progress, base).await?;
    Ok(size)
}

/// Finds the blob's true size: asks claimers of each size, all sizes at
/// once, for the proof of the last chunk, and returns the first size whose
/// proof verifies, with the proof (valid data to keep) and who sent it
/// (nobody for the empty blob). Claimers whose
/// proof fails are blamed; peers without the last chunk cannot prove and
/// are not asked.
async fn prove_size(
    node: &Node,
    hash: Hash,
    addrs: &HashMap<PeerId, Vec<Multiaddr>>,
    claims: &[Claim],
    tally: &mut Tally,
) -> Result<(u64, Vec<u8>, Option<PeerId>), Error> {
    let mut failures = Vec::new();
    let mut by_size: BTreeMap<u64, VecDeque<PeerId>> = BTreeMap::new();
    for claim in claims {
        let last = size::proof_ranges(claim.size);
        if !size::is_plausible(claim.size) || claim.size == 0 {
            match size::verify(hash, claim.size, &[]) {
                Ok(()) => return Ok((0, Vec::new(), None)),
                Err(reason) => {
                    tally.blame(claim.peer);
                    failures.push(format!("{}: {reason}", claim.peer));
                }
            }
        } else if claim.complete || last.is_subset(&claim.present) {
            by_size.entry(claim.size).or_default().push_back(claim.peer);
        } else {
            failures.push(format!(
                "{}: has only part of it, not the last chunk that proves its size",
                claim.peer
            ));
        }
    }
    let ask = |size: u64, peer: PeerId| {
        let (node, addrs) = (node.clone(), addrs.get(&peer).cloned().unwrap_or_default());
        async move {
            let request = Request::Get {
                hash,
                ranges: size::proof_ranges(size),
            };
            let answer =
                tokio::time::timeout(HAVE_TIMEOUT, node.blob_request(peer, addrs, request))
                    .await
                    .unwrap_or_else(|_| {
                        Err(Error::Request {
                            peer,
                            reason: format!("no answer in {}s", HAVE_TIMEOUT.as_secs()),
                        })
                    });
            (size, peer, answer)
        }
    };
    let mut asking = FuturesUnordered::new();
    for (size, claimers) in &mut by_size {
        if let Some(peer) = claimers.pop_front() {
            asking.push(ask(*size, peer));
        }
    }
    while let Some((size, peer, answer)) = asking.next().await {
        match answer {
            Ok(Response::Data(bytes)) => match size::verify(hash, size, &bytes) {
                Ok(()) => return Ok((size, bytes, Some(peer))),
                Err(reason) => {
                    tracing::warn!(%peer, %hash, "dropping provider: {reason}");
                    tally.blame(peer);
                    failures.push(format!("{peer}: {reason}"));
                }
            },
            Ok(other) => failures.push(format!(
                "{peer}: answered {other:?} when asked to prove its size"
            )),
            Err(e) => failures.push(e.to_string()),
        }
        if let Some(next) = by_size.get_mut(&size).and_then(VecDeque::pop_front) {
            asking.push(ask(size, next));
        }
    }
    Err(Error::Download {
        hash,
        reason: format!(
            "no peer proved the size of the content; nothing was stored ({})",
            failures.join("; ")
        ),
    })
}

/// The error for a response that could not be stored or verified.
fn apply_failure(hash: Hash, e: ApplyError) -> Error {
    match e {
        ApplyError::Write(e) => store_write(hash, e.to_string(), e.kind()),
        ApplyError::Invalid(reason) => Error::Download { hash, reason },
    }
}

/// A failed write or commit: the disk's fault, not a provider's.
fn store_write(hash: Hash, reason: String, kind: std::io::ErrorKind) -> Error {
    let reason = if kind == std::io::ErrorKind::StorageFull {
        format!("disk full ({reason})")
    } else {
        reason
    };
    Error::StoreWrite { hash, reason }
}

/// The state of one blob's download.
struct Run<'a> {
    node: &'a Node,
    hash: Hash,
    size: u64,
    plan: Planner,
    blob: crate::content::PartialBlob,
    addrs: HashMap<PeerId, Vec<Multiaddr>>,
    /// Every peer ever asked, holder or not.
    known: HashSet<PeerId>,
    /// Peers with a `Have` outstanding.
    asking: HashSet<PeerId>,
    learning: FuturesUnordered<BoxFuture<'static, Learned>>,
    tally: &'a mut Tally,
}

type Answer = (PeerId, u64, Result<Response, Error>);

impl Run<'_> {
    fn learn(&mut self, learned: Learned) {
        match learned {
            Learned::Have(peer, answer) => {
                self.asking.remove(&peer);
                if let Ok(Response::Have {
                    size,
                    complete,
                    present,
                }) = answer
                {
                    if size == self.size {
                        self.plan.add_peer(peer, (!complete).then_some(present));
                    } else {
                        tracing::warn!(%peer, hash = %self.hash, "dropping provider: claims {size} bytes, the proven size is {}", self.size);
                        self.tally.blame(peer);
                        self.plan
                            .remove_peer(&peer, Instant::now(), self.blob.present());
                    }
                }
            }
            Learned::Candidates(found) => {
                for (peer, addrs) in found {
                    if self.known.insert(peer) {
                        self.addrs.entry(peer).or_insert(addrs);
                    }
                }
            }
        }
    }

    /// Asks partial holders again what they have; every few rounds, asks
    /// the peers that had nothing (they may have started fetching) and
    /// looks for new providers too.
    fn refresh(&mut self, round: u32, options: &GetOptions) {
        let wide = round == 1 || round.is_multiple_of(DISCOVER_EVERY);
        let holders: HashSet<PeerId> = self.plan.peers().keys().copied().collect();
        let others = self.known.iter().filter(|p| wide && !holders.contains(p));
        let again: Vec<PeerId> = self
            .plan
            .partial_peers()
            .into_iter()
            .chain(others.copied())
            .collect();
        for peer in again {
            if self.asking.insert(peer) {
                let addrs = self.addrs.get(&peer).cloned().unwrap_or_default();
                self.learning
                    .push(ask_have(self.node, peer, addrs, self.hash));
            }
        }
        if wide && options.use_dht {
            let (node, hash, options) = (self.node.clone(), self.hash, options.clone());
            self.learning.push(
                async move {
                    Learned::Candidates(candidates(&node, hash, &options).await.unwrap_or_default())
                }
                .boxed(),
            );
        }
    }

    async fn drive(
        &mut self,
        options: &GetOptions,
        progress: &watch::Sender<Progress>,
        base: u64,
    ) -> Result<(), Error> {
        let mut in_flight = FuturesUnordered::new();
        let mut since_commit = 0u64;
        let mut last_commit = Instant::now();
        let mut last_progress = Instant::now();
        let mut refresh = tokio::time::interval(REFRESH_EVERY);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        refresh.tick().await;
        let mut round = 0u32;
        self.tally.first_request.get_or_insert_with(Instant::now);
        loop {
            let now = Instant::now();
            let usable = self.plan.usable_peers();
            for &peer in &usable {
                while let Some(request) = self.plan.next_request(peer, now) {
                    tracing::debug!(%peer, id = request.id, bytes = range_bytes(&request.ranges, self.size), "request");
                    let wire = Request::Get {
                        hash: self.hash,
                        ranges: request.ranges,
                    };
                    let addrs = self.addrs.get(&peer).cloned().unwrap_or_default();
                    let node = self.node.clone();
                    in_flight.push(async move {
                        let answer = node.blob_request(peer, addrs, wire).await;
                        (peer, request.id, answer)
                    });
                }
            }
            let present_bytes = range_bytes(self.blob.present(), self.size);
            progress.send_modify(|p| {
                p.done = base + present_bytes;
                p.peers = usable.len();
            });
            if self.plan.is_done() {
                break;
            }
            if in_flight.is_empty() && last_progress.elapsed() > STALL_LIMIT {
                return Err(Error::Download {
                    hash: self.hash,
                    reason: format!(
                        "no peer had the missing ranges for {}s (providers failed or left); run the same command again to resume",
                        STALL_LIMIT.as_secs()
                    ),
                });
            }
            tokio::select! {
                Some(answer) = in_flight.next() => {
                    if self.on_answer(answer)? {
                        last_progress = Instant::now();
                    }
                }
                Some(learned) = self.learning.next() => self.learn(learned),
                _ = refresh.tick() => {
                    round += 1;
                    self.refresh(round, options);
                }
            }
            let written = range_bytes(self.blob.present(), self.size) - present_bytes;
            since_commit += written;
            if since_commit >= COMMIT_BYTES || last_commit.elapsed() > COMMIT_EVERY {
                self.commit()?;
                since_commit = 0;
                last_commit = Instant::now();
            }
        }
        self.commit()
    }

    /// Records the verified ranges; a failure is the disk's, not a peer's.
    fn commit(&mut self) -> Result<(), Error> {
        self.blob.commit().map_err(|e| match e {
            Error::Store(reason) => {
                let kind = if reason.contains("No space left") {
                    std::io::ErrorKind::StorageFull
                } else {
                    std::io::ErrorKind::Other
                };
                store_write(self.hash, reason, kind)
            }
            e => e,
        })
    }

    /// Verifies and stores one answer; returns whether it brought new bytes.
    fn on_answer(&mut self, (peer, id, answer): Answer) -> Result<bool, Error> {
        let hash = self.hash;
        let failure = match answer {
            Ok(Response::Data(bytes)) => {
                let ranges = self.plan.ranges_of(id).unwrap_or_default();
                let before = range_bytes(self.blob.present(), self.size);
                let (written, result) = self.blob.apply(&ranges, &bytes);
                let new = range_bytes(self.blob.present(), self.size) - before;
                tracing::debug!(%peer, id, bytes = bytes.len(), new, "answer");
                self.tally.fetched += new;
                *self.tally.per_peer.entry(peer).or_default() += new;
                match result {
                    Ok(()) => {
                        self.plan
                            .on_success(id, written, Instant::now(), self.blob.present());
                        return Ok(new > 0);
                    }
                    Err(ApplyError::Invalid(reason)) => {
                        tracing::warn!(%peer, %hash, "dropping provider: its data failed verification ({reason})");
                        self.tally.blame(peer);
                        Failure::Lied
                    }
                    Err(ApplyError::Write(e)) => {
                        // Not the provider's fault: keep what was verified
                        // (committed if the disk still allows) and stop.
                        if let Err(commit) = self.commit() {
                            tracing::warn!(%hash, "cannot record the verified ranges: {commit}");
                        }
                        return Err(store_write(hash, e.to_string(), e.kind()));
                    }
                }
            }
            Ok(Response::Missing) => {
                self.plan
                    .on_failure(id, Failure::Missing, Instant::now(), self.blob.present());
                if self.plan.peers().get(&peer).is_some_and(|s| s.banned) {
                    tracing::warn!(%peer, %hash, "dropping provider: it refuses ranges it claims to have");
                    self.tally.blame(peer);
                }
                return Ok(false);
            }
            Ok(Response::Busy) => Failure::Transient,
            Ok(Response::NotFound | Response::Refused(_) | Response::Have { .. }) => {
                self.plan
                    .on_failure(id, Failure::Transient, Instant::now(), self.blob.present());
                self.plan
                    .remove_peer(&peer, Instant::now(), self.blob.present());
                return Ok(false);
            }
            Err(e) => {
                tracing::debug!(%peer, "request failed: {e}");
                Failure::Transient
            }
        };
        self.plan
            .on_failure(id, failure, Instant::now(), self.blob.present());
        Ok(false)
    }
}
