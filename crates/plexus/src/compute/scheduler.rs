//! The job scheduler, without I/O (time passed in): which worker runs
//! which copy of which unit, and when a unit's result is trusted.
//!
//! Rules:
//!
//! - **Quorum.** Each unit runs on `quorum` workers at first. Results are
//!   compared by BLAKE3 hash (an output and an error each hash to a
//!   digest, so honest workers agree on a unit that fails too). A unit is
//!   decided when one digest has at least `quorum` votes **and** a strict
//!   majority of the votes cast. Until then, more copies are assigned:
//!   as few as could decide it if they all agreed with the leading digest.
//! - **Distinct workers.** The copies of one unit go to workers that differ
//!   by peer id **and** share no IP address (of the connections the
//!   runner has to them), so one machine with many identities cannot cast
//!   two votes on one unit.
//! - **Re-assignment.** A copy whose worker disconnected, failed or did not
//!   answer within the unit timeout is dropped and assigned again. A worker
//!   that did not answer in time, or whose copies failed (a network error,
//!   a refusal) [`MAX_FAILURES`] times in a row, is left out of the job;
//!   one failure alone is not enough, since with a quorum of 2 and two
//!   workers a single dropped connection would end the job. A failed copy
//!   cast no vote, so its worker may take the same unit again.
//! - **Marks.** A worker whose result lost a vote is marked: it gets units
//!   only when no unmarked worker has room, one at a time.
//! - **Stuck.** A unit that needs a copy no worker left can take (every
//!   eligible one ran it or shares an address with one that did) ends the
//!   job with [`Decision::Stuck`], saying so.

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    time::{Duration, Instant},
};

use libp2p::PeerId;

/// Copies failed in a row (no result: a network error, a refusal) after
/// which a worker leaves the job.
pub const MAX_FAILURES: u32 = 3;

/// The BLAKE3 hash of a copy's result.
pub type Digest = [u8; 32];

/// What the scheduler wants done next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send unit `unit` to `worker`.
    Assign {
        /// The unit's index.
        unit: usize,
        /// The worker.
        worker: PeerId,
    },
    /// Nothing to send now; ask again when a result comes or at this time.
    Wait(Instant),
    /// Every unit is decided.
    Finished,
    /// The job cannot finish, for this reason.
    Stuck(String),
}

/// A worker as the scheduler sees it.
#[derive(Debug, Clone, Default)]
pub struct WorkerState {
    /// The IP addresses of its connections.
    pub ips: Vec<IpAddr>,
    /// Units it runs at once.
    pub slots: usize,
    /// Copies it runs now.
    pub busy: usize,
    /// Results it gave that won their vote.
    pub agreed: u64,
    /// Results it gave that lost their vote (the mark).
    pub lost: u64,
    /// Its copies that failed since its last result.
    pub failures: u32,
    /// Left the job (disconnected, failed or refused too often, late).
    pub gone: bool,
}

#[derive(Debug, Default)]
struct Unit {
    /// Copies out now: worker and deadline.
    running: Vec<(PeerId, Instant)>,
    /// Results in: worker and digest.
    votes: Vec<(PeerId, Digest)>,
    /// Workers that took a copy (running, answered or dropped).
    tried: Vec<PeerId>,
    decided: Option<Digest>,
}

/// The scheduler of one job.
#[derive(Debug)]
pub struct Scheduler {
    quorum: usize,
    timeout: Duration,
    units: Vec<Unit>,
    workers: BTreeMap<PeerId, WorkerState>,
}

impl Scheduler {
    /// A job of `units` units, each trusted when `quorum` (at least 1)
    /// workers agree; a copy not answered within `timeout` is re-assigned.
    pub fn new(units: usize, quorum: usize, timeout: Duration) -> Self {
        Self {
            quorum: quorum.max(1),
            timeout,
            units: (0..units).map(|_| Unit::default()).collect(),
            workers: BTreeMap::new(),
        }
    }

    /// Adds a worker (again, if it had left) with its addresses, slots and
    /// the votes it lost in earlier jobs (its mark carries over).
    pub fn add_worker(&mut self, peer: PeerId, ips: Vec<IpAddr>, slots: usize, lost_before: u64) {
        let worker = self.workers.entry(peer).or_insert_with(|| WorkerState {
            lost: lost_before,
            ..WorkerState::default()
        });
        worker.ips = ips;
        worker.slots = slots.max(1);
        worker.gone = false;
    }

    /// The worker left: its running copies are dropped, to be assigned
    /// elsewhere.
    pub fn remove_worker(&mut self, peer: PeerId) {
        if let Some(w) = self.workers.get_mut(&peer) {
            w.gone = true;
            w.busy = 0;
        }
        for unit in &mut self.units {
            unit.running.retain(|(p, _)| *p != peer);
        }
    }

    /// The copy of `unit` on `peer` failed (not a result: a network error,
    /// a refusal): dropped, to be assigned again (to `peer` too: it cast no
    /// vote); after [`MAX_FAILURES`] in a row the worker leaves the job.
    pub fn on_failure(&mut self, unit: usize, peer: PeerId) {
        let Some(w) = self.workers.get_mut(&peer) else {
            return;
        };
        w.failures += 1;
        if w.failures >= MAX_FAILURES {
            self.remove_worker(peer);
        } else if let Some(u) = self.units.get_mut(unit) {
            if let Some(at) = u.running.iter().position(|(p, _)| *p == peer) {
                u.running.remove(at);
                w.busy = w.busy.saturating_sub(1);
            }
        }
        if let Some(u) = self.units.get_mut(unit) {
            u.tried.retain(|p| *p != peer);
        }
    }

    /// `peer` answered `unit` with a result whose hash is `digest`.
    /// Returns whether the unit is decided now.
    pub fn on_result(&mut self, unit: usize, peer: PeerId, digest: Digest) -> bool {
        let Some(u) = self.units.get_mut(unit) else {
            return false;
        };
        let Some(at) = u.running.iter().position(|(p, _)| *p == peer) else {
            return u.decided.is_some(); // timed out before, or never sent
        };
        u.running.remove(at);
        if let Some(w) = self.workers.get_mut(&peer) {
            w.busy = w.busy.saturating_sub(1);
            w.failures = 0;
        }
        u.votes.push((peer, digest));
        if let Some(decided) = u.decided {
            // A late copy: counted against its worker if it disagrees.
            let won = decided == digest;
            self.tally(peer, won);
            return true;
        }
        let mut counts: HashMap<Digest, usize> = HashMap::new();
        for (_, d) in &u.votes {
            *counts.entry(*d).or_default() += 1;
        }
        let total = u.votes.len();
        let winner = counts
            .iter()
            .find(|(_, &n)| n >= self.quorum && 2 * n > total)
            .map(|(d, _)| *d);
        let Some(winner) = winner else { return false };
        u.decided = Some(winner);
        let votes = u.votes.clone();
        for (p, d) in votes {
            self.tally(p, d == winner);
        }
        true
    }

    fn tally(&mut self, peer: PeerId, won: bool) {
        if let Some(w) = self.workers.get_mut(&peer) {
            if won {
                w.agreed += 1;
            } else {
                w.lost += 1;
            }
        }
    }

    /// Copies still wanted for `unit`, beyond those running.
    fn wanted(&self, unit: &Unit) -> usize {
        if unit.decided.is_some() {
            return 0;
        }
        let mut counts: HashMap<Digest, usize> = HashMap::new();
        for (_, d) in &unit.votes {
            *counts.entry(*d).or_default() += 1;
        }
        let best = counts.values().copied().max().unwrap_or(0);
        let n = unit.votes.len();
        // k more agreeing copies decide it: best + k >= quorum and
        // 2 (best + k) > n + k, i.e. k > n - 2 best.
        let k = (self.quorum.saturating_sub(best)).max((n + 1).saturating_sub(2 * best));
        k.saturating_sub(unit.running.len())
    }

    /// Whether `peer` may take a copy of `unit` (ignoring its free slots).
    fn eligible(&self, unit: &Unit, peer: &PeerId, worker: &WorkerState) -> bool {
        if worker.gone || unit.tried.contains(peer) {
            return false;
        }
        // No shared address with any worker that ran or runs this unit.
        let others = unit
            .running
            .iter()
            .map(|(p, _)| p)
            .chain(unit.votes.iter().map(|(p, _)| p));
        !others
            .filter_map(|p| self.workers.get(p))
            .any(|o| o.ips.iter().any(|ip| worker.ips.contains(ip)))
    }

    /// Slots a worker may fill: marked workers one at a time.
    fn room(worker: &WorkerState) -> usize {
        let slots = if worker.lost > 0 { 1 } else { worker.slots };
        slots.saturating_sub(worker.busy)
    }

    /// What to do now: drops copies past their deadline, then assigns as
    /// many copies as workers have room for (unmarked, least busy first).
    pub fn poll(&mut self, now: Instant) -> Vec<Decision> {
        let mut late = Vec::new();
        for unit in &mut self.units {
            unit.running.retain(|(p, deadline)| {
                let keep = *deadline > now;
                if !keep {
                    late.push(*p);
                }
                keep
            });
        }
        for peer in late {
            self.remove_worker(peer);
        }
        if self.units.iter().all(|u| u.decided.is_some()) {
            return vec![Decision::Finished];
        }
        let mut out = Vec::new();
        for index in 0..self.units.len() {
            let mut wanted = self.wanted(&self.units[index]);
            while wanted > 0 {
                let unit = &self.units[index];
                let mut candidates: Vec<(&PeerId, &WorkerState)> = self
                    .workers
                    .iter()
                    .filter(|(p, w)| self.eligible(unit, p, w))
                    .collect();
                if candidates.is_empty() {
                    if unit.running.is_empty() {
                        return vec![Decision::Stuck(format!(
                            "unit {index} needs {wanted} more cop{} but every worker left either ran it or shares an address with one that did ({} votes so far, none with {} agreeing and a majority); add workers on other machines or lower --quorum",
                            if wanted == 1 { "y" } else { "ies" },
                            unit.votes.len(),
                            self.quorum
                        ))];
                    }
                    break;
                }
                candidates.retain(|(_, w)| Self::room(w) > 0);
                candidates.sort_by_key(|(p, w)| (w.lost > 0, w.busy, **p));
                let Some((&peer, _)) = candidates.first() else {
                    break;
                };
                let unit = &mut self.units[index];
                unit.running.push((peer, now + self.timeout));
                unit.tried.push(peer);
                if let Some(w) = self.workers.get_mut(&peer) {
                    w.busy += 1;
                }
                out.push(Decision::Assign {
                    unit: index,
                    worker: peer,
                });
                wanted -= 1;
            }
        }
        if out.is_empty() {
            let next = self
                .units
                .iter()
                .flat_map(|u| u.running.iter().map(|(_, d)| *d))
                .min();
            match next {
                Some(deadline) => out.push(Decision::Wait(deadline)),
                None => out.push(Decision::Stuck(
                    "no worker is left with room for the units still open".into(),
                )),
            }
        }
        out
    }

    /// The decided digest of `unit`, if any.
    pub fn decided(&self, unit: usize) -> Option<Digest> {
        self.units.get(unit).and_then(|u| u.decided)
    }

    /// Units decided so far.
    pub fn done(&self) -> usize {
        self.units.iter().filter(|u| u.decided.is_some()).count()
    }

    /// The workers and their figures.
    pub fn workers(&self) -> &BTreeMap<PeerId, WorkerState> {
        &self.workers
    }
}
