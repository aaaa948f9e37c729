//! The routing table's periodic refresh: two lookups per interval instead
//! of Kademlia's periodic bootstrap.
//!
//! libp2p-kad's bootstrap (0.49, `QueryInfo::Bootstrap`) looks up this
//! node's own id and then one random key per bucket beyond the closest
//! non-empty one: about log2(N) lookups every interval, 10 at a thousand
//! nodes. Each lookup asks some 20-30 peers, and a peer this node has no
//! connection to costs a new one (a Noise handshake, identify, every
//! protocol's handler). `plexus-testbed dht-sim` measured that cost: 300
//! idle nodes refreshing every 120 s kept both cores of the test machine
//! busy (0.64 % of a core per node, against 0.09 % refreshing every 600 s),
//! which is why 1,000 nodes never went quiet there.
//!
//! Here each interval starts two lookups:
//! - this node's own id: the neighbourhood that holds the provider records
//!   this node is closest to, and that finds it, stays fresh, as with
//!   the bootstrap's first lookup;
//! - one random key: over the intervals, the far buckets are visited in
//!   turn. They fill anyway from the peers that contact this node
//!   (identify puts them in, `full_buckets`), and a lookup through a peer
//!   that left removes it.
//!
//! Kademlia's own bootstrap still runs at start-up (the node asks for it)
//! and whenever the routing table holds fewer than 20 peers (libp2p-kad's
//! automatic bootstrap), so a node that lost its neighbours rebuilds its
//! table at once, not an interval later.
//!
//! Sans-IO: [`Refresh::poll`] is given the time and says what is due.

use std::time::{Duration, Instant};

/// When the next refresh is due.
#[derive(Debug)]
pub(crate) struct Refresh {
    every: Duration,
    next: Instant,
}

/// What [`Refresh::poll`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Look up this node's own id and a random key now.
    Lookup,
    /// Nothing until then.
    Wait(Instant),
}

/// The shortest interval taken: a zero (or near-zero) interval from a
/// library caller would otherwise start two lookups on every poll.
pub(crate) const MIN_EVERY: Duration = Duration::from_secs(1);

impl Refresh {
    /// A refresh every `every` (at least [`MIN_EVERY`]), the first an
    /// interval after `now`.
    pub(crate) fn new(every: Duration, now: Instant) -> Self {
        let every = every.max(MIN_EVERY);
        Self {
            every,
            next: now + every,
        }
    }

    /// When the next refresh is due.
    pub(crate) fn due(&self) -> Instant {
        self.next
    }

    /// What is due at `now`. After a refresh the next is due an interval
    /// later, counted from `now`: a node that was suspended or busy does
    /// one refresh, not one per missed interval.
    pub(crate) fn poll(&mut self, now: Instant) -> Decision {
        if now < self.next {
            return Decision::Wait(self.next);
        }
        self.next = now + self.every;
        Decision::Lookup
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn a_refresh_is_due_once_per_interval() {
        let start = Instant::now();
        let mut refresh = Refresh::new(5 * MIN, start);
        assert_eq!(refresh.poll(start), Decision::Wait(start + 5 * MIN));
        assert_eq!(
            refresh.poll(start + 5 * MIN - Duration::from_millis(1)),
            Decision::Wait(start + 5 * MIN)
        );
        assert_eq!(refresh.poll(start + 5 * MIN), Decision::Lookup);
        assert_eq!(
            refresh.poll(start + 5 * MIN),
            Decision::Wait(start + 10 * MIN)
        );
        assert_eq!(refresh.poll(start + 10 * MIN), Decision::Lookup);
    }

    #[test]
    fn a_zero_interval_is_taken_as_the_shortest_not_as_every_poll() {
        let start = Instant::now();
        let mut refresh = Refresh::new(Duration::ZERO, start);
        assert_eq!(refresh.poll(start), Decision::Wait(start + MIN_EVERY));
        assert_eq!(refresh.poll(start + MIN_EVERY), Decision::Lookup);
        assert_eq!(
            refresh.poll(start + MIN_EVERY),
            Decision::Wait(start + 2 * MIN_EVERY)
        );
    }

    #[test]
    fn missed_intervals_make_one_refresh_not_a_burst() {
        let start = Instant::now();
        let mut refresh = Refresh::new(MIN, start);
        let late = start + 30 * MIN + Duration::from_secs(7);
        assert_eq!(refresh.poll(late), Decision::Lookup);
        assert_eq!(refresh.due(), late + MIN);
        assert_eq!(refresh.poll(late), Decision::Wait(late + MIN));
        assert_eq!(refresh.poll(late + MIN / 2), Decision::Wait(late + MIN));
    }
}
