//! Announcing this node's provider records a bounded number at a time.
//!
//! `kad::Behaviour::start_providing` starts one Kademlia query per key at
//! once. A node that starts with 100,000 shares would start 100,000 queries
//! together: libp2p's query pool scans every query on each poll, and each
//! connection sends at most 32 Kademlia requests at a time (`MAX_NUM_STREAMS`
//! in libp2p-kad's `handler.rs`), queueing the rest, so the user's own
//! lookups wait behind the whole backlog. [`Announcer`] keeps at most
//! [`MAX_IN_FLIGHT`] announcements under way; the rest wait, content the
//! user shares or fetches while the node runs ahead of what the store held
//! at start.
//!
//! The hourly republication is libp2p's own job and is bounded there: it
//! starts at most 10 queries per poll and only while fewer than 100 queries
//! of any kind run (`JOBS_MAX_NEW_QUERIES`, `JOBS_MAX_QUERIES` in
//! libp2p-kad's `jobs.rs`, applied in `Behaviour::poll`).
//!
//! Sans-IO: the behaviour starts the queries and reports their ends.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::content::Hash;

/// Announcements under way at most. Each is one `start_providing` query
/// (a closest-peers lookup, then the records sent to up to 20 peers).
///
/// On loopback (release build, `tests/dht_announce.rs`, 100,000 shares)
/// this announced everything in 60-112 s, peak memory +69 MB, the user's
/// lookup meanwhile answering in 0.1-0.25 s. Handing all 100,000 to
/// Kademlia at once, the node answered nothing for over 7 minutes and grew
/// past 1 GB. Across a real network a query takes a second or more, so
/// 100,000 announcements take on the order of an hour.
pub(crate) const MAX_IN_FLIGHT: usize = 32;

/// Where a hash to announce came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Shared or fetched while the node runs: goes first.
    Fresh,
    /// Held by the store at start.
    Stored,
}

/// Announcement figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Waiting or under way.
    pub(crate) pending: usize,
    /// Under way.
    pub(crate) running: usize,
    /// Finished since start.
    pub(crate) done: u64,
    /// Of those, failed (timed out or refused).
    pub(crate) failed: u64,
}

/// The queue of announcements; `Q` identifies a running query.
pub(crate) struct Announcer<Q> {
    max_in_flight: usize,
    fresh: VecDeque<Hash>,
    stored: VecDeque<Hash>,
    /// Hashes in either queue that are still to be announced; an entry
    /// popped from a queue but no longer here was taken or withdrawn.
    waiting: HashSet<Hash>,
    in_flight: HashMap<Q, Hash>,
    done: u64,
    failed: u64,
}

impl<Q: Eq + std::hash::Hash> Announcer<Q> {
    /// An empty queue with at most `max_in_flight` announcements under way.
    pub(crate) fn new(max_in_flight: usize) -> Self {
        Self {
            max_in_flight: max_in_flight.max(1),
            fresh: VecDeque::new(),
            stored: VecDeque::new(),
            waiting: HashSet::new(),
            in_flight: HashMap::new(),
            done: 0,
            failed: 0,
        }
    }

    /// Queues `hash`. A fresh hash goes ahead of every stored one, even if
    /// it was already waiting among them; a hash already waiting is
    /// announced once.
    pub(crate) fn push(&mut self, hash: Hash, origin: Origin) {
        let new = self.waiting.insert(hash);
        match origin {
            Origin::Fresh => self.fresh.push_back(hash),
            Origin::Stored if new => self.stored.push_back(hash),
            Origin::Stored => {}
        }
    }

    /// Withdraws `hash` if it is still waiting (the content was removed).
    pub(crate) fn withdraw(&mut self, hash: &Hash) {
        self.waiting.remove(hash);
    }

    /// Whether another announcement may start now and one is waiting.
    pub(crate) fn has_work(&self) -> bool {
        self.in_flight.len() < self.max_in_flight && !self.waiting.is_empty()
    }

    /// The next hash to announce, if there is room; the caller starts the
    /// query and reports it with [`Announcer::started`] or
    /// [`Announcer::refused`].
    pub(crate) fn next(&mut self) -> Option<Hash> {
        if !self.has_work() {
            return None;
        }
        while let Some(hash) = self.fresh.pop_front().or_else(|| self.stored.pop_front()) {
            if self.waiting.remove(&hash) {
                return Some(hash);
            }
        }
        None
    }

    /// The query `id` announces `hash`.
    pub(crate) fn started(&mut self, id: Q, hash: Hash) {
        self.in_flight.insert(id, hash);
    }

    /// The announcement of a hash could not start.
    pub(crate) fn refused(&mut self) {
        self.done += 1;
        self.failed += 1;
    }

    /// The query `id` ended; returns whether it was an announcement.
    pub(crate) fn finished(&mut self, id: &Q, ok: bool) -> bool {
        if self.in_flight.remove(id).is_none() {
            return false;
        }
        self.done += 1;
        self.failed += u64::from(!ok);
        true
    }

    /// Announcements waiting or under way, and finished.
    pub(crate) fn counts(&self) -> Counts {
        Counts {
            pending: self.waiting.len() + self.in_flight.len(),
            running: self.in_flight.len(),
            done: self.done,
            failed: self.failed,
        }
    }
}

#[cfg(test)]
#[path = "announce_tests.rs"]
mod tests;
