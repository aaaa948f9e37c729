//! A second hole punch after one failed, on a new relayed connection:
//! sans-IO, time passed in.
//!
//! libp2p's DCUtR tries once per relayed connection, with the addresses
//! this node had as candidates when the connection opened. A node that has
//! just started and dials a peer through a relay at once may have none yet
//! (identify's observed address from the relay arrives a few milliseconds
//! after the relayed connection is up, more often on QUIC, whose
//! connections open faster): it then sends DCUtR's CONNECT without
//! addresses, the other side fails with "Expected at least one address"
//! and the hole punch is over, though it would have worked (seen once in
//! 40 QUIC runs in the test bed). So when a hole punch over a connection
//! this node dialed through a relay fails and no direct connection exists,
//! the peer is dialed again through the same relay address, once this node
//! has an address candidate (or after [`CANDIDATE_WAIT`]): the new relayed
//! connection brings a new hole punch, now with addresses. At most
//! [`MAX_RETRIES`] per peer until a direct connection comes.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use libp2p::{Multiaddr, PeerId};

/// Retries per peer while no direct connection comes.
pub const MAX_RETRIES: u32 = 2;

/// Longest a retry waits for this node's first address candidate.
pub const CANDIDATE_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
struct PeerState {
    /// The relayed address this node dialed the peer at.
    relayed: Option<Multiaddr>,
    retries: u32,
    /// A retry waits since then.
    due: Option<Instant>,
}

/// Relayed connections this node dialed, and retries waiting.
#[derive(Debug, Default)]
pub struct Retries {
    peers: HashMap<PeerId, PeerState>,
    has_candidate: bool,
}

impl Retries {
    /// This node dialed `peer` through a relay at `addr`.
    pub fn handle_relayed_dialed(&mut self, peer: PeerId, addr: Multiaddr) {
        self.peers.entry(peer).or_default().relayed = Some(addr);
    }

    /// A direct connection to `peer` is up: nothing more to retry.
    pub fn handle_direct(&mut self, peer: PeerId) {
        self.peers.remove(&peer);
    }

    /// This node has an address others observed (a hole punch now has
    /// something to offer).
    pub fn handle_candidate(&mut self) {
        self.has_candidate = true;
    }

    /// A hole punch with `peer` failed; `direct` says whether a direct
    /// connection exists anyway.
    pub fn handle_failed(&mut self, peer: PeerId, direct: bool, now: Instant) {
        let Some(state) = self.peers.get_mut(&peer) else {
            // The peer dialed this node: it is the one to dial again.
            return;
        };
        if direct || state.relayed.is_none() || state.retries >= MAX_RETRIES {
            return;
        }
        state.retries += 1;
        state.due = Some(now);
    }

    /// The next peer to dial again at its relayed address, at `now`.
    pub fn poll(&mut self, now: Instant) -> Option<(PeerId, Multiaddr)> {
        let has_candidate = self.has_candidate;
        let (peer, state) = self.peers.iter_mut().find(|(_, s)| {
            s.due
                .is_some_and(|due| has_candidate || now >= due + CANDIDATE_WAIT)
        })?;
        state.due = None;
        Some((*peer, state.relayed.clone()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn circuit() -> Multiaddr {
        let relay = PeerId::random();
        format!("/ip4/192.0.2.1/udp/4001/quic-v1/p2p/{relay}/p2p-circuit")
            .parse()
            .unwrap()
    }

    #[test]
    fn a_failed_punch_is_retried_once_there_is_a_candidate() {
        let t = Instant::now();
        let mut r = Retries::default();
        let (peer, addr) = (PeerId::random(), circuit());
        r.handle_relayed_dialed(peer, addr.clone());
        r.handle_failed(peer, false, t);
        assert_eq!(r.poll(t), None, "no candidate yet");
        r.handle_candidate();
        assert_eq!(r.poll(t), Some((peer, addr.clone())));
        assert_eq!(r.poll(t), None, "once per failure");
        r.handle_failed(peer, false, t);
        assert!(r.poll(t).is_some());
        r.handle_failed(peer, false, t);
        assert_eq!(r.poll(t), None, "at most MAX_RETRIES");
    }

    #[test]
    fn without_a_candidate_the_retry_waits_a_bounded_time() {
        let t = Instant::now();
        let mut r = Retries::default();
        let (peer, addr) = (PeerId::random(), circuit());
        r.handle_relayed_dialed(peer, addr.clone());
        r.handle_failed(peer, false, t);
        assert_eq!(r.poll(t + CANDIDATE_WAIT / 2), None);
        assert_eq!(r.poll(t + CANDIDATE_WAIT), Some((peer, addr)));
    }

    #[test]
    fn no_retry_when_direct_or_when_the_peer_dialed_through_the_relay() {
        let t = Instant::now();
        let mut r = Retries::default();
        r.handle_candidate();
        let (a, b) = (PeerId::random(), PeerId::random());
        r.handle_relayed_dialed(a, circuit());
        r.handle_failed(a, true, t);
        r.handle_failed(b, false, t);
        assert_eq!(r.poll(t), None);
        r.handle_failed(a, false, t);
        r.handle_direct(a);
        assert_eq!(r.poll(t), None);
    }
}
