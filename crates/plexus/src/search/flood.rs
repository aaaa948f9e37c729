//! The flooding search as a state machine without I/O: which queries to
//! handle, where to forward them, where hits go back, who is rate limited.
//!
//! The event loop feeds it messages and the current neighbour set and sends
//! what it decides.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use libp2p::PeerId;

use crate::ratelimit::{Rate, RateLimiter};

/// The largest TTL a query may have; larger ones are lowered to it.
pub const MAX_TTL: u8 = 7;

/// Most hits a node routes back (or delivers) for one query; more are dropped.
pub const MAX_HITS_PER_QUERY: usize = 1000;

/// Limits of the flooding search.
#[derive(Debug, Clone)]
pub struct FloodConfig {
    /// How long a query id is remembered (duplicates dropped, hits routed).
    pub seen_for: Duration,
    /// Most queries remembered at once; new ones beyond are refused.
    pub max_open: usize,
    /// Queries a neighbour may send in a burst.
    pub burst: u32,
    /// Queries per second a neighbour may send on average.
    pub per_second: f64,
}

impl Default for FloodConfig {
    fn default() -> Self {
        Self {
            seen_for: Duration::from_secs(60),
            max_open: 512,
            burst: 20,
            per_second: 5.0,
        }
    }
}

/// Where a query came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// This node started it.
    Local,
    /// This neighbour sent it first.
    Peer(PeerId),
}

/// What to do with an incoming query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Answer it from local records, and forward it to `forward` with `ttl`
    /// (the list is empty when no hops are left).
    Handle {
        /// Neighbours to forward to.
        forward: Vec<PeerId>,
        /// The TTL of the forwarded copies.
        ttl: u8,
    },
    /// Seen before: drop silently.
    Duplicate,
    /// The sender exceeded its rate limit.
    RateLimited,
    /// Too many queries are open; try later.
    Busy,
}

/// Seen-query cache, reverse paths and per-neighbour rate limits.
pub struct Flood {
    config: FloodConfig,
    seen: HashMap<u64, (Origin, usize)>,
    expiry: VecDeque<(Instant, u64)>,
    limiter: RateLimiter,
}

impl Flood {
    /// An empty state with `config`'s limits.
    pub fn new(config: FloodConfig) -> Self {
        Self {
            limiter: RateLimiter::new(Rate {
                per_second: config.per_second,
                burst: config.burst,
            }),
            config,
            seen: HashMap::new(),
            expiry: VecDeque::new(),
        }
    }

    /// Queries remembered now.
    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.seen.len()
    }

    /// Forgets queries older than `seen_for`.
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.expiry.front() {
            if at > now {
                break;
            }
            self.expiry.pop_front();
            self.seen.remove(&id);
        }
    }

    fn remember(&mut self, id: u64, origin: Origin, now: Instant) {
        self.seen.insert(id, (origin, 0));
        self.expiry.push_back((now + self.config.seen_for, id));
    }

    /// Starts a local query: the neighbours to send it to and the TTL
    /// lowered to [`MAX_TTL`] (TTL 0 floods to nobody), or `None` when too
    /// many queries are open.
    pub fn start(
        &mut self,
        id: u64,
        ttl: u8,
        neighbours: &[PeerId],
        now: Instant,
    ) -> Option<(Vec<PeerId>, u8)> {
        self.expire(now);
        if self.seen.len() >= self.config.max_open || self.seen.contains_key(&id) {
            return None;
        }
        self.remember(id, Origin::Local, now);
        if ttl == 0 {
            return Some((Vec::new(), 0));
        }
        Some((neighbours.to_vec(), ttl.min(MAX_TTL)))
    }

    /// Decides about query `id` with `ttl` from neighbour `from`.
    /// `neighbours` are the candidates to forward to (`from` is skipped).
    pub fn on_query(
        &mut self,
        from: PeerId,
        id: u64,
        ttl: u8,
        neighbours: &[PeerId],
        now: Instant,
    ) -> Decision {
        self.expire(now);
        if !self.limiter.allow(from, now) {
            return Decision::RateLimited;
        }
        if self.seen.contains_key(&id) {
            return Decision::Duplicate;
        }
        if self.seen.len() >= self.config.max_open {
            return Decision::Busy;
        }
        self.remember(id, Origin::Peer(from), now);
        let ttl = ttl.min(MAX_TTL).saturating_sub(1);
        let forward = if ttl == 0 {
            Vec::new()
        } else {
            neighbours.iter().copied().filter(|p| *p != from).collect()
        };
        Decision::Handle { forward, ttl }
    }

    /// Where hits for query `id` go: back to the neighbour it came from, to
    /// the local caller, or nowhere (unknown or expired query).
    pub fn route(&self, id: u64) -> Option<Origin> {
        self.seen.get(&id).map(|(origin, _)| *origin)
    }

    /// Where `count` hits for query `id` go, counting them against the
    /// query's budget of [`MAX_HITS_PER_QUERY`]; `None` when the query is
    /// unknown or its budget is spent.
    pub fn route_hits(&mut self, id: u64, count: usize) -> Option<Origin> {
        let (origin, routed) = self.seen.get_mut(&id)?;
        if *routed + count > MAX_HITS_PER_QUERY {
            return None;
        }
        *routed += count;
        Some(*origin)
    }

    /// Drops the rate-limit state of a neighbour that left.
    pub fn forget_peer(&mut self, peer: &PeerId) {
        self.limiter.forget(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(n: usize) -> Vec<PeerId> {
        (0..n).map(|_| PeerId::random()).collect()
    }

    #[test]
    fn forwards_once_with_ttl_minus_one_and_not_back() {
        let p = peers(3);
        let mut f = Flood::new(FloodConfig::default());
        let now = Instant::now();
        assert_eq!(
            f.on_query(p[0], 7, 3, &p, now),
            Decision::Handle {
                forward: vec![p[1], p[2]],
                ttl: 2
            }
        );
        assert_eq!(f.on_query(p[1], 7, 2, &p, now), Decision::Duplicate);
        assert_eq!(f.route(7), Some(Origin::Peer(p[0])), "hits go back to p0");
        assert_eq!(f.route(8), None);
    }

    #[test]
    fn last_hop_answers_without_forwarding_and_ttl_is_clamped() {
        let p = peers(2);
        let mut f = Flood::new(FloodConfig::default());
        let now = Instant::now();
        assert_eq!(
            f.on_query(p[0], 1, 1, &p, now),
            Decision::Handle {
                forward: vec![],
                ttl: 0
            }
        );
        assert_eq!(
            f.on_query(p[0], 2, 200, &p, now),
            Decision::Handle {
                forward: vec![p[1]],
                ttl: MAX_TTL - 1
            }
        );
        assert_eq!(f.start(3, 99, &p, now), Some((p.clone(), MAX_TTL)));
        assert_eq!(
            f.start(4, 0, &p, now),
            Some((vec![], 0)),
            "TTL 0: no flooding"
        );
        assert_eq!(f.route(3), Some(Origin::Local));
    }

    #[test]
    fn hits_per_query_are_capped() {
        let p = peers(1);
        let mut f = Flood::new(FloodConfig::default());
        let now = Instant::now();
        assert!(matches!(
            f.on_query(p[0], 5, 3, &p, now),
            Decision::Handle { .. }
        ));
        assert_eq!(
            f.route_hits(5, MAX_HITS_PER_QUERY - 1),
            Some(Origin::Peer(p[0]))
        );
        assert_eq!(f.route_hits(5, 2), None, "over the budget");
        assert_eq!(f.route_hits(5, 1), Some(Origin::Peer(p[0])));
        assert_eq!(f.route_hits(6, 1), None, "unknown query");
    }

    #[test]
    fn seen_queries_expire() {
        let p = peers(2);
        let config = FloodConfig {
            seen_for: Duration::from_secs(10),
            ..FloodConfig::default()
        };
        let mut f = Flood::new(config);
        let now = Instant::now();
        assert!(matches!(
            f.on_query(p[0], 1, 3, &p, now),
            Decision::Handle { .. }
        ));
        assert_eq!(f.open(), 1);
        f.expire(now + Duration::from_secs(11));
        assert_eq!(f.open(), 0);
        assert_eq!(f.route(1), None);
    }

    #[test]
    fn rate_limit_per_neighbour_refills_over_time() {
        let p = peers(2);
        let config = FloodConfig {
            burst: 3,
            per_second: 1.0,
            ..FloodConfig::default()
        };
        let mut f = Flood::new(config);
        let now = Instant::now();
        for id in 0..3 {
            assert!(matches!(
                f.on_query(p[0], id, 2, &p, now),
                Decision::Handle { .. }
            ));
        }
        assert_eq!(f.on_query(p[0], 10, 2, &p, now), Decision::RateLimited);
        // Another neighbour has its own budget.
        assert!(matches!(
            f.on_query(p[1], 11, 2, &p, now),
            Decision::Handle { .. }
        ));
        let later = now + Duration::from_millis(1100);
        assert!(matches!(
            f.on_query(p[0], 12, 2, &p, later),
            Decision::Handle { .. }
        ));
        assert_eq!(f.on_query(p[0], 13, 2, &p, later), Decision::RateLimited);
    }

    #[test]
    fn open_queries_are_capped() {
        let p = peers(2);
        let config = FloodConfig {
            max_open: 2,
            burst: 100,
            ..FloodConfig::default()
        };
        let mut f = Flood::new(config);
        let now = Instant::now();
        assert!(f.start(1, 3, &p, now).is_some());
        assert!(f.start(1, 3, &p, now).is_none(), "an id is started once");
        assert!(matches!(
            f.on_query(p[0], 2, 3, &p, now),
            Decision::Handle { .. }
        ));
        assert_eq!(f.on_query(p[0], 3, 3, &p, now), Decision::Busy);
        assert!(f.start(4, 3, &p, now).is_none());
    }
}
