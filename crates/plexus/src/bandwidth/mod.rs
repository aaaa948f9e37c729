//! Caps on blob traffic, so a node is a good neighbour on links it shares:
//! `--max-upload` and `--max-download` ([`RateLimits`]), applied to every
//! blob response this node sends or reads, across all peers, changeable
//! while the node runs ([`crate::Node::set_rate_limits`]).
//!
//! Each direction is one token bucket ([`shaper`], no I/O, time passed
//! in) whose grants go round-robin among the connections waiting, so the
//! upload is shared fairly among the peers asking. The blob codec asks the
//! [`Bandwidth`] handle for a grant before it writes (or reads) each
//! [`CHUNK`] of a response body. Why not the `governor` crate: it cannot
//! change its rate without being rebuilt, refuses a request larger than
//! its burst, and lets waiters race on their own timers, so it would give
//! no fairness among peers; the bucket here is ~100 lines with direct tests.

mod rate;
pub mod shaper;
#[cfg(test)]
mod shaper_tests;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Instant,
};

pub use rate::{format_rate, parse_rate};
use serde::{Deserialize, Serialize};
use shaper::Shaper;
use tokio::sync::Notify;

/// Bytes of a response body written or read per grant: small enough that
/// peers take turns every few milliseconds, large enough to cost little.
pub const CHUNK: usize = 16 * 1024;

/// Caps on blob traffic in bytes per second; `None`: no cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimits {
    /// Most bytes per second of blob data sent to all peers together.
    pub max_upload: Option<u64>,
    /// Most bytes per second of blob data read from all peers together.
    pub max_download: Option<u64>,
}

/// Which way bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// To peers.
    Up,
    /// From peers.
    Down,
}

#[derive(Debug)]
struct Inner {
    up: Shaper,
    down: Shaper,
    /// Tickets waiting, and how to wake each when it is granted.
    waiting: HashMap<u64, Arc<Notify>>,
    /// Tickets granted but not yet taken by their waiter.
    granted: std::collections::HashSet<u64>,
}

impl Inner {
    fn shaper(&mut self, dir: Direction) -> &mut Shaper {
        match dir {
            Direction::Up => &mut self.up,
            Direction::Down => &mut self.down,
        }
    }

    /// Hands out what the bucket allows now and wakes those waiters.
    fn pump(&mut self, dir: Direction, now: Instant) {
        for ticket in self.shaper(dir).grant(now) {
            if let Some(notify) = self.waiting.remove(&ticket) {
                self.granted.insert(ticket);
                notify.notify_one();
            }
        }
    }
}

/// The node's blob traffic caps and counters; shared by every connection.
#[derive(Debug)]
pub struct Bandwidth {
    inner: Mutex<Inner>,
    next_ticket: AtomicU64,
    next_flow: AtomicU64,
    uploaded: AtomicU64,
    downloaded: AtomicU64,
}

impl Bandwidth {
    /// Caps at `limits`.
    pub fn new(limits: RateLimits) -> Arc<Self> {
        let now = Instant::now();
        Arc::new(Self {
            inner: Mutex::new(Inner {
                up: Shaper::new(limits.max_upload, now),
                down: Shaper::new(limits.max_download, now),
                waiting: HashMap::new(),
                granted: Default::default(),
            }),
            next_ticket: AtomicU64::new(0),
            next_flow: AtomicU64::new(1),
            uploaded: AtomicU64::new(0),
            downloaded: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The caps now.
    pub fn limits(&self) -> RateLimits {
        let inner = self.lock();
        RateLimits {
            max_upload: inner.up.rate(),
            max_download: inner.down.rate(),
        }
    }

    /// Changes the caps; transfers under way follow at once.
    pub fn set_limits(&self, limits: RateLimits) {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.up.set_rate(limits.max_upload, now);
        inner.down.set_rate(limits.max_download, now);
        inner.pump(Direction::Up, now);
        inner.pump(Direction::Down, now);
    }

    /// Blob bytes sent and read since start.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.uploaded.load(Ordering::Relaxed),
            self.downloaded.load(Ordering::Relaxed),
        )
    }

    /// A new flow id (one per connection).
    pub(crate) fn new_flow(&self) -> u64 {
        self.next_flow.fetch_add(1, Ordering::Relaxed)
    }

    /// Waits until `bytes` more may go `dir` for `flow`, and counts them.
    /// Flows waiting together are served in turn.
    pub(crate) async fn acquire(&self, dir: Direction, flow: u64, bytes: u64) {
        let counter = match dir {
            Direction::Up => &self.uploaded,
            Direction::Down => &self.downloaded,
        };
        let (ticket, notify) = {
            let mut inner = self.lock();
            if inner.shaper(dir).rate().is_none() {
                counter.fetch_add(bytes, Ordering::Relaxed);
                return;
            }
            // Only a capped direction needs a ticket and a wake-up.
            let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
            let notify = Arc::new(Notify::new());
            inner.waiting.insert(ticket, notify.clone());
            inner.shaper(dir).request(flow, ticket, bytes);
            (ticket, notify)
        };
        // Forgets the ticket if this future is dropped while it waits.
        let guard = Cancel {
            bandwidth: self,
            dir,
            flow,
            ticket,
        };
        // Bounded: every round either is granted or sleeps until the
        // bucket has refilled (or someone else's grant woke it).
        loop {
            let next = {
                let mut inner = self.lock();
                let now = Instant::now();
                inner.pump(dir, now);
                if inner.granted.remove(&ticket) {
                    std::mem::forget(guard);
                    counter.fetch_add(bytes, Ordering::Relaxed);
                    return;
                }
                inner.shaper(dir).next_grant(now)
            };
            let sleep = match next {
                Some(at) => tokio::time::sleep_until(at.into()),
                None => tokio::time::sleep(std::time::Duration::from_millis(50)),
            };
            tokio::select! {
                _ = notify.notified() => {}
                _ = sleep => {}
            }
        }
    }
}

/// Forgets a waiting ticket when its future is dropped.
struct Cancel<'a> {
    bandwidth: &'a Bandwidth,
    dir: Direction,
    flow: u64,
    ticket: u64,
}

impl Drop for Cancel<'_> {
    fn drop(&mut self) {
        let mut inner = self.bandwidth.lock();
        inner.waiting.remove(&self.ticket);
        inner.granted.remove(&self.ticket);
        inner.shaper(self.dir).cancel(self.flow, self.ticket);
    }
}
