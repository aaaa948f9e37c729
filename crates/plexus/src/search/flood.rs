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

/// Most queries one neighbour may have open (remembered for routing) at
/// once; beyond it the neighbour's new queries are refused until some
/// expire, so one peer cannot take the whole table ([`FloodConfig::max_open`]).
pub const MAX_OPEN_PER_PEER: usize = 64;

/// Most searches started on this node open at once. They are counted apart
/// from other peers' queries, so a flood of remote queries never stops the
/// local user from searching; beyond it a new search is refused ("too many
/// searches running") until one ends: its caller stops listening
/// (`Flood::end_local`) or it expires ([`FloodConfig::seen_for`]).
pub const MAX_LOCAL_SEARCHES: usize = 64;

/// Limits of the flooding search.
#[derive(Debug, Clone)]
pub struct FloodConfig {
    /// How long a query id is remembered (duplicates dropped, hits routed).
    pub seen_for: Duration,
    /// Most queries from other peers remembered at once (each at most
    /// [`MAX_OPEN_PER_PEER`] from one neighbour); when full, the oldest is
    /// forgotten to make room (hits still on their way for it are dropped).
    /// Searches started here are not counted ([`MAX_LOCAL_SEARCHES`]).
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
    /// The sender has [`MAX_OPEN_PER_PEER`] queries open; try later.
    Busy,
}

/// Seen-query cache, reverse paths and per-neighbour rate limits.
pub struct Flood {
    config: FloodConfig,
    seen: HashMap<u64, (Origin, usize)>,
    /// Each id in `seen` once, oldest first, with when it expires.
    expiry: VecDeque<(Instant, u64)>,
    /// Open queries by the neighbour that sent them.
    per_peer: HashMap<PeerId, usize>,
    /// Open queries started here.
    local: usize,
    /// Remote queries forgotten early to make room.
    evicted: u64,
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
            per_peer: HashMap::new(),
            local: 0,
            evicted: 0,
        }
    }

    /// Remote queries forgotten early because the table was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
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
            self.forget(id);
        }
    }

    /// Drops `id` from `seen` and its origin's count (not from `expiry`).
    fn forget(&mut self, id: u64) {
        match self.seen.remove(&id) {
            Some((Origin::Local, _)) => self.local -= 1,
            Some((Origin::Peer(peer), _)) => {
                if let Some(n) = self.per_peer.get_mut(&peer) {
                    *n -= 1;
                    if *n == 0 {
                        self.per_peer.remove(&peer);
                    }
                }
            }
            None => {}
        }
    }

    /// Forgets the oldest query from another peer (never a local one).
    fn evict_oldest_remote(&mut self) {
        let oldest = self
            .expiry
            .iter()
            .position(|(_, id)| matches!(self.seen.get(id), Some((Origin::Peer(_), _))));
        if let Some(at) = oldest {
            let (_, id) = self.expiry.remove(at).expect("position is in range");
            self.forget(id);
            self.evicted += 1;
        }
    }

    fn remember(&mut self, id: u64, origin: Origin, now: Instant) {
        match origin {
            Origin::Local => self.local += 1,
            Origin::Peer(peer) => *self.per_peer.entry(peer).or_default() += 1,
        }
        self.seen.insert(id, (origin, 0));
        self.expiry.push_back((now + self.config.seen_for, id));
    }

    /// Starts a local query: the neighbours to send it to and the TTL
    /// lowered to [`MAX_TTL`] (TTL 0 floods to nobody), or `None` when
    /// [`MAX_LOCAL_SEARCHES`] are open (or `id` is taken).
    pub fn start(
        &mut self,
        id: u64,
        ttl: u8,
        neighbours: &[PeerId],
        now: Instant,
    ) -> Option<(Vec<PeerId>, u8)> {
        self.expire(now);
        if self.local >= MAX_LOCAL_SEARCHES || self.seen.contains_key(&id) {
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
        if self.per_peer.get(&from).copied().unwrap_or(0) >= MAX_OPEN_PER_PEER {
            return Decision::Busy;
        }
        while self.seen.len() - self.local >= self.config.max_open.max(1) {
            self.evict_oldest_remote();
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

    /// Local search `id` ended (its caller stopped listening): frees its
    /// slot. A copy of it coming back later is handled as a new query, which
    /// the nodes that saw it drop as a duplicate.
    pub fn end_local(&mut self, id: u64) {
        if !matches!(self.seen.get(&id), Some((Origin::Local, _))) {
            return;
        }
        if let Some(at) = self.expiry.iter().position(|(_, i)| *i == id) {
            self.expiry.remove(at);
        }
        self.forget(id);
    }

    /// Drops the rate-limit state of a neighbour that left.
    pub fn forget_peer(&mut self, peer: &PeerId) {
        self.limiter.forget(peer);
    }
}

#[cfg(test)]
#[path = "flood_tests.rs"]
mod tests;
