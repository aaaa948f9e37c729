//! Connection reversal: a peer that reached this node through a relay and
//! lists direct addresses is dialed at them, a plain dial from a new port,
//! beside DCUtR's hole punch. Sans-IO: connections and identify's addresses
//! come in, dials come out.
//!
//! Why: when the peer is public, DCUtR's TCP hole punch can deadlock.
//! This node (behind a NAT, so the listener of the relayed connection)
//! dials the peer's observed address from its listen port as the
//! multistream *listener* (DCUtR's role override); the peer dials back at
//! the same moment as the multistream dialer, and the two SYNs are meant
//! to cross into one connection. But a public peer has no NAT to drop a
//! SYN that comes first: when this node's SYN arrives before the peer's
//! own connect, the peer's listening socket accepts it as an ordinary
//! inbound connection, where the peer is the listener too. Both wait for
//! the other to speak until the upgrade times out, and the peer's own dial
//! to the same four-tuple cannot connect. Seen in the test bed about once
//! in ten gets from a NATed sharer by a public getter (the get waited its
//! whole hole-punch wait and was refused). go-libp2p's hole puncher dials
//! a peer's public addresses directly before punching for the same kind
//! of reason. The reversal dial uses a new port, so its four-tuple never
//! meets the hole punch's; when the peer is behind a NAT too, the dial
//! fails and costs nothing but the attempt (one per relayed connection).

use std::collections::{HashMap, VecDeque};

use libp2p::{multiaddr::Protocol, Multiaddr, PeerId};

/// Peers connected to this node only through relays they dialed, and the
/// reversal dials due.
#[derive(Debug, Default)]
pub struct Reversals {
    /// Per such peer: whether it was dialed since its latest relayed
    /// connection came.
    inbound: HashMap<PeerId, bool>,
    dials: VecDeque<(PeerId, Vec<Multiaddr>)>,
}

impl Reversals {
    /// `peer` reached this node through a relay (this node is the
    /// listener of the relayed connection); `direct` says whether a direct
    /// connection to it is open anyway.
    pub fn handle_relayed_inbound(&mut self, peer: PeerId, direct: bool) {
        if !direct {
            self.inbound.insert(peer, false);
        }
    }

    /// A direct connection to `peer` is up, or it has no relayed one left.
    pub fn handle_gone(&mut self, peer: PeerId) {
        self.inbound.remove(&peer);
    }

    /// Identify says `peer` listens at `addrs`.
    pub fn handle_identified(&mut self, peer: PeerId, addrs: &[Multiaddr]) {
        let Some(dialed) = self.inbound.get_mut(&peer) else {
            return;
        };
        let direct: Vec<Multiaddr> = addrs.iter().filter(|a| is_direct(a)).cloned().collect();
        if *dialed || direct.is_empty() {
            return;
        }
        *dialed = true;
        self.dials.push_back((peer, direct));
    }

    /// The next peer to dial directly, at these addresses.
    pub fn poll(&mut self) -> Option<(PeerId, Vec<Multiaddr>)> {
        self.dials.pop_front()
    }
}

/// Neither relayed nor loopback, and with an IP address or DNS name.
fn is_direct(addr: &Multiaddr) -> bool {
    let loopback = match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_loopback(),
        Some(Protocol::Ip6(ip)) => ip.is_loopback(),
        _ => false,
    };
    !loopback
        && !addr.iter().any(|p| p == Protocol::P2pCircuit)
        && crate::discovery::is_dialable(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    fn drain(r: &mut Reversals) -> Vec<(PeerId, Vec<Multiaddr>)> {
        std::iter::from_fn(|| r.poll()).take(10).collect()
    }

    #[test]
    fn a_peer_that_came_through_a_relay_is_dialed_once_at_its_direct_addresses() {
        let mut r = Reversals::default();
        let peer = PeerId::random();
        r.handle_relayed_inbound(peer, false);
        let relay = PeerId::random();
        let listed = [
            addr("/ip4/127.0.0.1/tcp/4001"),
            addr("/ip4/10.77.0.2/tcp/4001"),
            addr(&format!("/ip4/10.77.0.1/tcp/4001/p2p/{relay}/p2p-circuit")),
            addr("/ip4/0.0.0.0/tcp/4001"),
        ];
        r.handle_identified(peer, &listed);
        assert_eq!(
            drain(&mut r),
            vec![(peer, vec![addr("/ip4/10.77.0.2/tcp/4001")])]
        );
        r.handle_identified(peer, &listed);
        assert!(drain(&mut r).is_empty(), "once per relayed connection");
        // A new relayed connection (the last one closed) brings a new dial.
        r.handle_gone(peer);
        r.handle_relayed_inbound(peer, false);
        r.handle_identified(peer, &listed);
        assert_eq!(drain(&mut r).len(), 1);
    }

    #[test]
    fn no_dial_for_peers_connected_directly_or_not_through_a_relay() {
        let mut r = Reversals::default();
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        let listed = [addr("/ip4/10.77.0.2/tcp/4001")];
        // Connected directly already.
        r.handle_relayed_inbound(a, true);
        // Went direct before identify answered.
        r.handle_relayed_inbound(b, false);
        r.handle_gone(b);
        for p in [a, b, c] {
            r.handle_identified(p, &listed);
        }
        assert!(drain(&mut r).is_empty());
    }

    #[test]
    fn a_peer_with_only_relayed_or_loopback_addresses_is_not_dialed() {
        let mut r = Reversals::default();
        let peer = PeerId::random();
        r.handle_relayed_inbound(peer, false);
        r.handle_identified(peer, &[addr("/ip4/127.0.0.1/udp/4001/quic-v1")]);
        assert!(drain(&mut r).is_empty());
        // Direct addresses learned later still count.
        r.handle_identified(peer, &[addr("/ip4/192.0.2.7/udp/4001/quic-v1")]);
        assert_eq!(drain(&mut r).len(), 1);
    }
}
