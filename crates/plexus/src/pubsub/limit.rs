//! Per-author message rate limit: a token bucket for each author, without
//! I/O or clocks of its own (the caller passes the time).

use std::{collections::HashMap, time::Instant};

use libp2p::PeerId;

/// Authors tracked at once before idle (full) buckets are dropped.
const MAX_TRACKED: usize = 4096;

/// Token buckets keyed by message author: `rate` messages a second on
/// average, up to `burst` at once.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: HashMap<PeerId, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// A limiter allowing `rate` messages a second per author with bursts of
    /// `burst` (both at least 1).
    pub fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate.max(1)),
            burst: f64::from(burst.max(1)),
            buckets: HashMap::new(),
        }
    }

    /// Whether one more message from `author` at `now` is within the limit;
    /// counts it if so.
    pub fn allow(&mut self, author: PeerId, now: Instant) -> bool {
        if self.buckets.len() >= MAX_TRACKED && !self.buckets.contains_key(&author) {
            self.prune(now);
        }
        let (rate, burst) = (self.rate, self.burst);
        let bucket = self.buckets.entry(author).or_insert(Bucket {
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

    /// Authors currently tracked.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }

    /// Drops buckets that have refilled completely: they hold no state a
    /// fresh bucket would not.
    fn prune(&mut self, now: Instant) {
        let (rate, burst) = (self.rate, self.burst);
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
    fn burst_then_refill_at_rate() {
        let mut limiter = RateLimiter::new(10, 5);
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
    fn authors_are_limited_separately() {
        let mut limiter = RateLimiter::new(1, 2);
        let (a, b, t) = (PeerId::random(), PeerId::random(), Instant::now());
        assert!(limiter.allow(a, t) && limiter.allow(a, t));
        assert!(!limiter.allow(a, t), "a is over its limit");
        assert!(limiter.allow(b, t), "b is not held back by a");
    }

    #[test]
    fn steady_sender_under_the_rate_is_never_refused() {
        let mut limiter = RateLimiter::new(20, 1);
        let (a, t0) = (PeerId::random(), Instant::now());
        for i in 0..200u64 {
            assert!(
                limiter.allow(a, t0 + Duration::from_millis(50 * i)),
                "msg {i}"
            );
        }
    }

    #[test]
    fn idle_authors_are_forgotten_when_many_are_tracked() {
        let mut limiter = RateLimiter::new(100, 10);
        let t0 = Instant::now();
        for _ in 0..MAX_TRACKED {
            assert!(limiter.allow(PeerId::random(), t0));
        }
        assert_eq!(limiter.tracked(), MAX_TRACKED);
        // A second later every bucket is full again, so all can go.
        limiter.allow(PeerId::random(), t0 + Duration::from_secs(1));
        assert_eq!(limiter.tracked(), 1);
    }
}
