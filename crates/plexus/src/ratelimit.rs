//! The one token-bucket rate limiter of the crate: a bucket per peer (a
//! search neighbour, a directory client, a message author), without I/O or
//! clocks of its own (the caller passes the time).

use std::{collections::HashMap, time::Instant};

use libp2p::PeerId;

/// Most peers tracked at once. When a new peer comes and the table is full,
/// idle (full) buckets are dropped first; if none is idle, the bucket used
/// least recently is dropped (that peer starts over with a full bucket, the
/// smallest gift: it is the one closest to refilled).
const MAX_TRACKED: usize = 4096;

/// How fast a peer may go: `per_second` on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: f64,
    /// Most tokens saved up (at least 1 is used).
    pub burst: u32,
}

/// Token buckets keyed by peer.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: HashMap<PeerId, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// A limiter allowing `rate` per peer (a burst of at least 1).
    pub fn new(rate: Rate) -> Self {
        Self {
            per_second: rate.per_second.max(0.0),
            burst: f64::from(rate.burst.max(1)),
            buckets: HashMap::new(),
        }
    }

    /// Whether one more request from `peer` at `now` is within the limit;
    /// counts it if so.
    pub fn allow(&mut self, peer: PeerId, now: Instant) -> bool {
        if self.buckets.len() >= MAX_TRACKED && !self.buckets.contains_key(&peer) {
            self.prune(now);
            if self.buckets.len() >= MAX_TRACKED {
                self.drop_least_recent();
            }
        }
        let (rate, burst) = (self.per_second, self.burst);
        let bucket = self.buckets.entry(peer).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn drop_least_recent(&mut self) {
        let oldest = self
            .buckets
            .iter()
            .min_by_key(|(_, b)| b.last)
            .map(|(p, _)| *p);
        if let Some(peer) = oldest {
            self.buckets.remove(&peer);
        }
    }

    /// Forgets `peer`'s bucket (it left).
    pub fn forget(&mut self, peer: &PeerId) {
        self.buckets.remove(peer);
    }

    /// Peers currently tracked.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }

    /// Drops buckets that have refilled completely: they hold no state a
    /// fresh bucket would not.
    pub fn prune(&mut self, now: Instant) {
        let (rate, burst) = (self.per_second, self.burst);
        self.buckets.retain(|_, b| {
            b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < burst
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn zero_settings_still_allow_one() {
        let mut limiter = RateLimiter::new(Rate {
            per_second: 0.0,
            burst: 0,
        });
        assert!(limiter.allow(PeerId::random(), Instant::now()));
    }

    #[test]
    fn forgetting_a_peer_refills_it() {
        let mut limiter = RateLimiter::new(Rate {
            per_second: 1.0,
            burst: 1,
        });
        let (a, t) = (PeerId::random(), Instant::now());
        assert!(limiter.allow(a, t));
        assert!(!limiter.allow(a, t));
        limiter.forget(&a);
        assert!(limiter.allow(a, t));
    }

    #[test]
    fn burst_then_refill_at_rate() {
        let mut limiter = RateLimiter::new(Rate {
            per_second: 10.0,
            burst: 5,
        });
        let (a, t0) = (PeerId::random(), Instant::now());
        let allowed = (0..20).filter(|_| limiter.allow(a, t0)).count();
        assert_eq!(allowed, 5, "a burst of 5 at once");
        // 10/s: after 350 ms three more tokens.
        let t1 = t0 + Duration::from_millis(350);
        let allowed = (0..20).filter(|_| limiter.allow(a, t1)).count();
        assert_eq!(allowed, 3);
        // Never more than the burst, however long the pause.
        let t2 = t1 + Duration::from_secs(3600);
        let allowed = (0..20).filter(|_| limiter.allow(a, t2)).count();
        assert_eq!(allowed, 5);
    }

    #[test]
    fn peers_are_limited_separately() {
        let mut limiter = RateLimiter::new(Rate {
            per_second: 1.0,
            burst: 2,
        });
        let (a, b, t) = (PeerId::random(), PeerId::random(), Instant::now());
        assert!(limiter.allow(a, t) && limiter.allow(a, t));
        assert!(!limiter.allow(a, t), "a is over its limit");
        assert!(limiter.allow(b, t), "b is not held back by a");
    }

    #[test]
    fn steady_sender_under_the_rate_is_never_refused() {
        let mut limiter = RateLimiter::new(Rate {
            per_second: 20.0,
            burst: 1,
        });
        let (a, t0) = (PeerId::random(), Instant::now());
        for i in 0..200u64 {
            assert!(
                limiter.allow(a, t0 + Duration::from_millis(50 * i)),
                "msg {i}"
            );
        }
    }

    #[test]
    fn idle_peers_are_forgotten_when_many_are_tracked() {
        let mut limiter = RateLimiter::new(Rate {
            per_second: 100.0,
            burst: 10,
        });
        let t0 = Instant::now();
        for _ in 0..MAX_TRACKED {
            assert!(limiter.allow(PeerId::random(), t0));
        }
        assert_eq!(limiter.tracked(), MAX_TRACKED);
        // A second later every bucket is full again, so all can go.
        limiter.allow(PeerId::random(), t0 + Duration::from_secs(1));
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn busy_peers_never_grow_the_table_past_its_cap() {
        let mut limiter = RateLimiter::new(Rate {
            per_second: 0.001,
            burst: 10,
        });
        let t0 = Instant::now();
        let first = PeerId::random();
        assert!(limiter.allow(first, t0));
        // Every bucket stays busy (nearly no refill), so none is idle.
        for i in 1..=MAX_TRACKED as u64 + 100 {
            limiter.allow(PeerId::random(), t0 + Duration::from_millis(i));
        }
        assert_eq!(limiter.tracked(), MAX_TRACKED);
        // The least recently seen went first.
        assert!(!limiter.buckets.contains_key(&first));
    }
}
