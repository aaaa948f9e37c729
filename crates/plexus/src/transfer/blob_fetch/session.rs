//! One blob's download once its size is proven: the loop that keeps every
//! peer's window full, verifies and stores answers, and commits.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use libp2p::{Multiaddr, PeerId};
use tokio::{sync::watch, task::JoinSet};

use super::{ask_have, store_write, Learned, Limits};
use crate::{
    blobs::protocol::{Request, Response},
    content::{range_bytes, Applied, ApplyError, ChunkNum, ChunkRanges, Hash},
    transfer::{
        candidates::candidates,
        network::BlobNetwork,
        planner::{Failure, Planner},
        stats::{GetOptions, Progress, Tally},
        writer::{verify_and_write, BlobWriter},
    },
    Error,
};

/// Most bytes written between two commits of the present ranges. Each
/// commit syncs the data and commits redb; every 4 MiB, a fast link spent
/// most of its time waiting for the disk (`plexus bench`). Fewer bytes while
/// little is verified ([`commit_bytes`]): a crash or a full disk (where the
/// last commit fails too) loses at most this much verified data, fetched
/// again on resume.
const COMMIT_BYTES: u64 = 32 * 1024 * 1024;

/// Bytes between commits when `verified` bytes are present: a quarter of
/// them, from 1 MiB up to [`COMMIT_BYTES`].
fn commit_bytes(verified: u64) -> u64 {
    (verified / 4).clamp(1024 * 1024, COMMIT_BYTES)
}
/// Longest time between two commits: others see new ranges only after a
/// commit, so a flash crowd on slow links wants them often (at 20 Mbit/s a
/// commit every ~370 KiB); on a fast link the byte bound above is reached
/// first or shortly after.
const COMMIT_EVERY: Duration = Duration::from_millis(150);
/// Every how many refreshes new providers are looked up (the first
/// refresh always looks): about every 3 s, every second for the first 3 s.
const DISCOVER_EVERY: u32 = 12;

/// The state of one blob's download.
pub(super) struct BlobFetch<'a, N> {
    pub(super) net: &'a N,
    pub(super) limits: &'a Limits,
    pub(super) hash: Hash,
    pub(super) size: u64,
    pub(super) plan: Planner,
    pub(super) blob: BlobWriter,
    pub(super) addrs: HashMap<PeerId, Vec<Multiaddr>>,
    /// Every peer ever asked, holder or not.
    pub(super) known: HashSet<PeerId>,
    /// Peers with a `Have` outstanding.
    pub(super) asking: HashSet<PeerId>,
    /// Peers whose last answer was a partial holder's (neither the whole
    /// blob nor an offer): they are asked a bare `Have`, since what this
    /// node wants does not change their answer.
    pub(super) partial: HashSet<PeerId>,
    /// `Have`/`Wants` questions and provider lookups under way, each a
    /// task of its own so it is sent at once (see `drive`).
    pub(super) learning: JoinSet<Learned>,
    pub(super) tally: &'a mut Tally,
}

/// What came of one request: its data, verified and written by the
/// request's own task, or the peer's other answer (or the failure).
enum Outcome {
    Written(Applied),
    Other(Result<Response, Error>),
}

/// A request's peer, id and outcome; an error is the download's own (a
/// verifying task that failed), not the peer's.
type Answer = (PeerId, u64, Result<Outcome, Error>);

/// The output of a finished request or question task; a panic in one is
/// the download's error (a bug), not a peer's.
fn joined<T>(hash: Hash, out: Result<T, tokio::task::JoinError>) -> Result<T, Error> {
    out.map_err(|e| Error::Download {
        hash,
        reason: format!("a download task failed: {e}"),
    })
}

impl<N: BlobNetwork> BlobFetch<'_, N> {
    pub(super) fn learn(&mut self, learned: Learned) {
        match learned {
            Learned::Have(peer, answer) => {
                self.asking.remove(&peer);
                if let Ok(Response::Have {
                    size,
                    complete,
                    present,
                    offer,
                }) = answer
                {
                    if complete || offer {
                        self.partial.remove(&peer);
                    } else {
                        self.partial.insert(peer);
                    }
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

    /// Asks every holder again what it has, telling the complete ones what
    /// is still wanted (a seeder serving a crowd answers with the pieces to
    /// fetch from it: `blobs::seeding`); every few rounds, asks the peers
    /// that had nothing (they may have started fetching) and looks for new
    /// providers too.
    fn refresh(&mut self, round: u32, options: &GetOptions) {
        // Often at first (other getters announce as they start), then less.
        let every = if round <= DISCOVER_EVERY {
            4
        } else {
            DISCOVER_EVERY
        };
        let wide = round == 1 || round.is_multiple_of(every);
        let holders: Vec<PeerId> = self.plan.usable_peers();
        let others: Vec<PeerId> = self
            .known
            .iter()
            .filter(|p| wide && !self.plan.peers().contains_key(p))
            .copied()
            .collect();
        let all = ChunkRanges::from(ChunkNum(0)..ChunkNum::chunks(self.size));
        let wants = Request::wants(self.hash, &all.difference(self.blob.present()));
        for peer in holders.into_iter().chain(others) {
            if self.asking.insert(peer) {
                let addrs = self.addrs.get(&peer).cloned().unwrap_or_default();
                let request = if self.partial.contains(&peer) {
                    Request::Have(self.hash)
                } else {
                    wants.clone()
                };
                self.learning.spawn(ask_have(
                    self.net,
                    peer,
                    addrs,
                    request,
                    self.limits.have_timeout,
                ));
            }
        }
        if wide && options.use_dht {
            let (net, hash, options) = (self.net.clone(), self.hash, options.clone());
            self.learning.spawn(async move {
                Learned::Candidates(candidates(&net, hash, &options).await.unwrap_or_default())
            });
        }
    }

    pub(super) async fn drive(
        &mut self,
        options: &GetOptions,
        progress: &watch::Sender<Progress>,
        base: u64,
    ) -> Result<(), Error> {
        // Each request is a task of its own, sent as soon as it is made.
        // As futures polled by this loop, a new request was sent only
        // once the answers ahead of it were taken, each after the await
        // of its verification and of a commit: the provider read the next
        // requests only after it had sent everything asked before, and sat
        // idle (`plexus bench`: 25 ms from asking to the provider reading
        // the request, the transfer at 0.45 x bare requests).
        let mut in_flight: JoinSet<Answer> = JoinSet::new();
        let mut since_commit = 0u64;
        let mut last_commit = Instant::now();
        let mut commit_due = false;
        let mut last_progress = Instant::now();
        let mut refresh = tokio::time::interval(self.limits.refresh_every);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        refresh.tick().await;
        let mut round = 0u32;
        self.tally.first_request.get_or_insert_with(Instant::now);
        loop {
            let now = Instant::now();
            let usable = self.plan.usable_peers();
            for &peer in &usable {
                while let Some(assignment) = self.plan.next_request(peer, now) {
                    tracing::debug!(%peer, id = assignment.id, bytes = range_bytes(&assignment.ranges, self.size), "request");
                    let wire = Request::Get {
                        hash: self.hash,
                        ranges: assignment.ranges.clone(),
                    };
                    let addrs = self.addrs.get(&peer).cloned().unwrap_or_default();
                    let files = self.blob.files();
                    let (net, hash) = (self.net.clone(), self.hash);
                    in_flight.spawn(async move {
                        let outcome = match net.request(peer, addrs, wire).await {
                            Ok(Response::Data(bytes)) => {
                                verify_and_write(hash, files, assignment.ranges, bytes)
                                    .await
                                    .map(Outcome::Written)
                            }
                            other => Ok(Outcome::Other(other)),
                        };
                        (peer, assignment.id, outcome)
                    });
                }
            }
            // The commit syncs in the background; one at a time, so a
            // slow disk makes them larger, not more.
            if commit_due && self.start_commit().await? {
                since_commit = 0;
                last_commit = Instant::now();
            }
            let present_bytes = range_bytes(self.blob.present(), self.size);
            progress.send_modify(|p| {
                p.done = base + present_bytes;
                p.peers = usable.len();
            });
            if self.plan.is_done() {
                break;
            }
            let stall_limit = self.limits.stall_limit;
            if in_flight.is_empty() && last_progress.elapsed() > stall_limit {
                return Err(Error::Download {
                    hash: self.hash,
                    reason: format!(
                        "no peer had the missing ranges for {}s (providers failed or left); run the same command again to resume",
                        stall_limit.as_secs()
                    ),
                });
            }
            tokio::select! {
                Some(answer) = in_flight.join_next() => {
                    if self.on_answer(joined(self.hash, answer)?).await? {
                        last_progress = Instant::now();
                    }
                }
                Some(learned) = self.learning.join_next() => self.learn(joined(self.hash, learned)?),
                _ = refresh.tick() => {
                    round += 1;
                    self.refresh(round, options);
                }
            }
            let written = range_bytes(self.blob.present(), self.size) - present_bytes;
            since_commit += written;
            let verified = range_bytes(self.blob.present(), self.size);
            commit_due =
                since_commit >= commit_bytes(verified) || last_commit.elapsed() > COMMIT_EVERY;
        }
        self.commit().await
    }

    /// Records the verified ranges; a failure is the disk's, not a peer's.
    async fn commit(&mut self) -> Result<(), Error> {
        let started = Instant::now();
        let out = self.blob.commit().await;
        tracing::debug!(took_ms = started.elapsed().as_millis() as u64, "commit");
        out.map_err(|e| self.disk_error(e))
    }

    /// Starts recording the verified ranges in the background (see
    /// [`BlobWriter::start_commit`]); `false` while the last is under way.
    async fn start_commit(&mut self) -> Result<bool, Error> {
        let out = self.blob.start_commit().await;
        tracing::debug!(started = out.as_ref().is_ok_and(|s| *s), "commit");
        out.map_err(|e| self.disk_error(e))
    }

    /// A store error while recording, as the download's error.
    fn disk_error(&self, e: Error) -> Error {
        match e {
            Error::Store(reason) => {
                let kind = if reason.contains("No space left") {
                    std::io::ErrorKind::StorageFull
                } else {
                    std::io::ErrorKind::Other
                };
                store_write(self.hash, reason, kind)
            }
            e => e,
        }
    }

    /// Takes one answer, verified and written by its request's task;
    /// returns whether it brought new bytes.
    async fn on_answer(&mut self, (peer, id, outcome): Answer) -> Result<bool, Error> {
        let hash = self.hash;
        let failure = match outcome? {
            Outcome::Written(applied) => {
                let before = range_bytes(self.blob.present(), self.size);
                self.blob.add_written(&applied.ranges);
                let new = range_bytes(self.blob.present(), self.size) - before;
                tracing::debug!(%peer, id, new, "answer");
                self.tally.add(peer, new);
                self.net.counters().inspect(|c| c.verified(new));
                match applied.result {
                    Ok(()) => {
                        self.plan.on_success(
                            id,
                            applied.written,
                            Instant::now(),
                            self.blob.present(),
                        );
                        return Ok(new > 0);
                    }
                    Err(ApplyError::Invalid(reason)) => {
                        tracing::warn!(%peer, %hash, "dropping provider: its data failed verification ({reason})");
                        self.tally.blame(peer);
                        self.net.counters().inspect(|c| c.corrupt());
                        Failure::Lied
                    }
                    Err(ApplyError::Write(e)) => {
                        // Not the provider's fault: keep what was verified
                        // (committed if the disk still allows) and stop.
                        if let Err(commit) = self.commit().await {
                            tracing::warn!(%hash, "cannot record the verified ranges: {commit}");
                        }
                        return Err(store_write(hash, e.to_string(), e.kind()));
                    }
                }
            }
            Outcome::Other(answer) => match answer {
                Ok(Response::Missing) => {
                    self.plan
                        .on_failure(id, Failure::Missing, Instant::now(), self.blob.present());
                    if self.plan.peers().get(&peer).is_some_and(|s| s.banned) {
                        tracing::warn!(%peer, %hash, "dropping provider: it refuses ranges it claims to have");
                        self.tally.blame(peer);
                    }
                    return Ok(false);
                }
                // (Data never comes here: its request's task verified it.)
                Ok(Response::Busy | Response::Data(_)) => Failure::Transient,
                Ok(
                    Response::NotFound
                    | Response::Refused(_)
                    | Response::Have { .. }
                    | Response::Many(_),
                ) => {
                    self.plan.on_failure(
                        id,
                        Failure::Transient,
                        Instant::now(),
                        self.blob.present(),
                    );
                    self.plan
                        .remove_peer(&peer, Instant::now(), self.blob.present());
                    return Ok(false);
                }
                Err(e @ Error::RelayLimit(_)) => {
                    // The relay's limit is its operator's policy: no new
                    // circuit to get around it. Another provider may finish;
                    // with none, the get stops here with the reason.
                    tracing::info!(%peer, "{e}");
                    let now = Instant::now();
                    self.plan
                        .on_failure(id, Failure::Transient, now, self.blob.present());
                    self.plan.remove_peer(&peer, now, self.blob.present());
                    if self.plan.usable_peers().is_empty() {
                        self.commit().await?;
                        return Err(e);
                    }
                    return Ok(false);
                }
                Err(e) => {
                    tracing::debug!(%peer, "request failed: {e}");
                    Failure::Transient
                }
            },
        };
        self.plan
            .on_failure(id, failure, Instant::now(), self.blob.present());
        Ok(false)
    }
}
