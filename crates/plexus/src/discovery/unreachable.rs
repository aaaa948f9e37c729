//! Peers this node could not dial lately, so provider lookups stop naming
//! them: a node that left keeps its provider records in the DHT until their
//! TTL runs out (6 h), and without this every lookup in that time returned
//! it. No I/O: the behaviour reports dial failures and connections, with the
//! time.
//!
//! A provider lookup already dials each provider it finds (see
//! `behaviour/lookups.rs`); a dial that fails for a transport reason (no
//! listener, refused, timed out, another peer answered) marks the peer with
//! the time. A lookup leaves out the providers not connected whose dial
//! failed since it began: each lookup judges afresh, so a peer that was
//! away for a while is named again as soon as it can be dialed. Any
//! connection clears the mark; marks older than [`REMEMBER`] are dropped
//! when the book is full.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use libp2p::{swarm::DialError, PeerId};

/// How long a mark is kept at least (the book holds [`MAX_PEERS`]).
pub(crate) const REMEMBER: Duration = Duration::from_secs(10 * 60);

/// The most peers remembered; the oldest marks go first beyond it.
const MAX_PEERS: usize = 4096;

/// Peers whose last dial failed, and when.
#[derive(Debug, Default)]
pub(crate) struct Unreachable {
    failed: HashMap<PeerId, Instant>,
}

impl Unreachable {
    /// A dial to `peer` failed with `error` at `now`. Failures that say
    /// nothing of the peer (a dial already running, a local limit, an
    /// abort) are ignored.
    pub(crate) fn handle_dial_failure(&mut self, peer: PeerId, error: &DialError, now: Instant) {
        if !matches!(
            error,
            DialError::Transport(_) | DialError::WrongPeerId { .. }
        ) {
            return;
        }
        if self.failed.len() >= MAX_PEERS && !self.failed.contains_key(&peer) {
            self.failed
                .retain(|_, at| now.saturating_duration_since(*at) < REMEMBER);
            if self.failed.len() >= MAX_PEERS {
                let oldest = self
                    .failed
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(p, _)| *p);
                oldest.map(|p| self.failed.remove(&p));
            }
        }
        self.failed.insert(peer, now);
    }

    /// A connection to `peer` is open: it is reachable.
    pub(crate) fn handle_connected(&mut self, peer: &PeerId) {
        self.failed.remove(peer);
    }

    /// Whether the last dial to `peer` failed at or after `since` (and no
    /// connection opened after it).
    pub(crate) fn failed_since(&self, peer: &PeerId, since: Instant) -> bool {
        self.failed.get(peer).is_some_and(|at| *at >= since)
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use libp2p::{core::transport::TransportError, Multiaddr};

    use super::*;

    fn refused() -> DialError {
        let addr: Multiaddr = "/memory/1".parse().unwrap();
        DialError::Transport(vec![(
            addr,
            TransportError::Other(io::Error::from(io::ErrorKind::ConnectionRefused)),
        )])
    }

    #[test]
    fn a_failed_dial_marks_a_peer_until_it_connects() {
        let (mut book, now, peer) = (Unreachable::default(), Instant::now(), PeerId::random());
        book.handle_dial_failure(peer, &DialError::Aborted, now);
        assert!(
            !book.failed_since(&peer, now),
            "an abort says nothing of the peer"
        );
        book.handle_dial_failure(peer, &refused(), now);
        assert!(book.failed_since(&peer, now));
        let later = now + Duration::from_secs(1);
        assert!(
            !book.failed_since(&peer, later),
            "a later lookup judges afresh"
        );
        book.handle_connected(&peer);
        assert!(
            !book.failed_since(&peer, now),
            "a connection clears the mark"
        );
    }

    #[test]
    fn the_book_stays_bounded() {
        let (mut book, now) = (Unreachable::default(), Instant::now());
        let first = PeerId::random();
        book.handle_dial_failure(first, &refused(), now);
        for i in 0..MAX_PEERS + 10 {
            book.handle_dial_failure(
                PeerId::random(),
                &refused(),
                now + Duration::from_millis(i as u64 + 1),
            );
        }
        assert!(book.failed.len() <= MAX_PEERS);
        assert!(
            !book.failed_since(&first, now),
            "the oldest mark went first"
        );
    }
}
