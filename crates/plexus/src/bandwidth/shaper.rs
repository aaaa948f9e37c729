//! One direction's rate cap as a state machine without I/O (the caller
//! passes the time): a token bucket shared by every flow, handing its
//! tokens out round-robin among the flows waiting, so each flow (a
//! connection, in practice one per peer) gets an equal share whatever
//! number of requests it has open.
//!
//! A flow asks for a grant of a few bytes (one chunk) at a time with
//! [`Shaper::request`]; [`Shaper::grant`] returns the tickets that may go
//! now, and [`Shaper::next_grant`] when the next one can. A grant is given
//! while the bucket is not empty and takes its bytes out (the bucket may go
//! below zero by one chunk), so over any long stretch the bytes granted are
//! the rate times the time, plus at most one bucket.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

/// The bucket holds at most this much time at the rate: after an idle
/// spell a burst of at most this long at full link speed.
pub const BURST_TIME: Duration = Duration::from_millis(50);
/// The bucket holds at least this many bytes (one chunk and a bit).
pub const MIN_BURST: f64 = 32.0 * 1024.0;

/// One ticket waiting for its grant.
#[derive(Debug, Clone, Copy)]
struct Waiting {
    ticket: u64,
    bytes: u64,
}

/// A shared token bucket with round-robin grants among flows.
#[derive(Debug)]
pub struct Shaper {
    /// Bytes per second; `None`: no cap, every request goes at once.
    rate: Option<f64>,
    tokens: f64,
    last: Instant,
    /// Each flow's waiting tickets, oldest first.
    queues: HashMap<u64, VecDeque<Waiting>>,
    /// Flows with waiting tickets, the next to be served first.
    ring: VecDeque<u64>,
}

impl Shaper {
    /// A shaper allowing `rate` bytes per second (`None`: no cap).
    pub fn new(rate: Option<u64>, now: Instant) -> Self {
        let mut s = Self {
            rate: None,
            tokens: 0.0,
            last: now,
            queues: HashMap::new(),
            ring: VecDeque::new(),
        };
        s.set_rate(rate, now);
        s
    }

    /// The cap in bytes per second, if any.
    pub fn rate(&self) -> Option<u64> {
        self.rate.map(|r| r as u64)
    }

    /// Changes the cap from `now` on; tickets waiting keep their place.
    /// A rate of 0 means no cap.
    pub fn set_rate(&mut self, rate: Option<u64>, now: Instant) {
        self.refill(now);
        self.rate = rate.filter(|r| *r > 0).map(|r| r as f64);
        self.tokens = self.tokens.min(self.burst());
    }

    fn burst(&self) -> f64 {
        self.rate.map_or(f64::INFINITY, |r| {
            (r * BURST_TIME.as_secs_f64()).max(MIN_BURST)
        })
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        if let Some(rate) = self.rate {
            self.tokens = (self.tokens + rate * elapsed).min(self.burst());
        }
    }

    /// Queues `ticket` of `flow`, asking for `bytes`.
    pub fn request(&mut self, flow: u64, ticket: u64, bytes: u64) {
        let queue = self.queues.entry(flow).or_default();
        if queue.is_empty() {
            self.ring.push_back(flow);
        }
        queue.push_back(Waiting { ticket, bytes });
    }

    /// Forgets `ticket` (its flow gave up waiting).
    pub fn cancel(&mut self, flow: u64, ticket: u64) {
        if let Some(queue) = self.queues.get_mut(&flow) {
            queue.retain(|w| w.ticket != ticket);
            if queue.is_empty() {
                self.queues.remove(&flow);
                self.ring.retain(|f| *f != flow);
            }
        }
    }

    /// The tickets that may go at `now`, one flow after another.
    pub fn grant(&mut self, now: Instant) -> Vec<u64> {
        self.refill(now);
        let mut granted = Vec::new();
        while self.rate.is_none() || self.tokens > 0.0 {
            let Some(flow) = self.ring.pop_front() else {
                break;
            };
            let queue = self.queues.get_mut(&flow).expect("flows in the ring wait");
            let w = queue.pop_front().expect("flows in the ring wait");
            if queue.is_empty() {
                self.queues.remove(&flow);
            } else {
                self.ring.push_back(flow);
            }
            if self.rate.is_some() {
                self.tokens -= w.bytes as f64;
            }
            granted.push(w.ticket);
        }
        granted
    }

    /// When [`Shaper::grant`] will next have something to give (`None`:
    /// nothing waits).
    pub fn next_grant(&self, now: Instant) -> Option<Instant> {
        if self.ring.is_empty() {
            return None;
        }
        match self.rate {
            Some(rate) if self.tokens <= 0.0 => {
                // Just past the moment the bucket is positive again.
                let secs = (-self.tokens + 1.0) / rate;
                Some(self.last.max(now) + Duration::from_secs_f64(secs))
            }
            _ => Some(now),
        }
    }
}
