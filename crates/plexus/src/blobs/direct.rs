//! Blob transfers run over direct connections, not over a relay's limited
//! circuit: a request to a peer reached only through a relay waits
//! (bounded) for the hole punch to give a direct connection, and fails with
//! a reason when none comes, unless the getter allowed relayed transfers
//! (`get --allow-relay`): then it goes over the relayed connection. Sans-IO:
//! connections and time come in, what to send or fail comes out.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use libp2p::{multiaddr::Protocol, Multiaddr, PeerId};

/// How long a request waits for a direct connection to a peer reached only
/// through a relay (the hole punch usually takes well under a second; DCUtR
/// tries three times). Shorter than a download's wait for a peer's first
/// answer (`transfer::blob_fetch::Limits::have_timeout`, 10 s), so a held
/// request ends with its own reason, not a bare timeout.
pub(crate) const HOLE_PUNCH_WAIT: Duration = Duration::from_secs(8);

/// Whether `addr` goes through a relay.
pub(crate) fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| p == Protocol::P2pCircuit)
}

/// The relay a relayed address runs through: the peer id before
/// `/p2p-circuit`.
pub(crate) fn relay_of(addr: &Multiaddr) -> Option<PeerId> {
    let mut last = None;
    for p in addr.iter() {
        match p {
            Protocol::P2p(peer) => last = Some(peer),
            Protocol::P2pCircuit => return last,
            _ => {}
        }
    }
    None
}

/// What to do with a request now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit<T> {
    /// Send it (a direct connection exists, or only direct addresses are
    /// known and dialing them is the request's own business).
    Send(T),
    /// Send it over the relayed connection: an earlier request to the
    /// peer waited for a hole punch in vain, and this one allows a relay.
    SendRelayed(T),
    /// Held until a direct connection; `dial` says the peer is not
    /// connected at all and must be dialed (its addresses include relayed
    /// ones).
    Held { dial: bool },
}

/// What a held request comes to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Release<T> {
    /// A direct connection is up (and no relayed one is left to steal it).
    Send(T),
    /// No direct connection came in time; the request allows a relay and
    /// a relayed connection is up.
    SendRelayed(T),
    /// No direct connection came in time, or the peer could not be reached.
    Fail(T, String),
}

#[derive(Debug, Default, Clone, Copy)]
struct Conns {
    direct: usize,
    relayed: usize,
    /// A request already waited the whole [`HOLE_PUNCH_WAIT`] over these
    /// connections: the next ones do not wait again.
    waited: bool,
}

/// Connections per peer and the requests waiting for a direct one.
#[derive(Debug)]
pub(crate) struct DirectFirst<T> {
    conns: HashMap<PeerId, Conns>,
    /// Held requests: peer, deadline, whether a relay may carry it.
    held: Vec<(PeerId, Instant, bool, T)>,
    failed: Vec<(PeerId, String)>,
}

impl<T> Default for DirectFirst<T> {
    fn default() -> Self {
        Self {
            conns: HashMap::new(),
            held: Vec::new(),
            failed: Vec::new(),
        }
    }
}

impl<T> DirectFirst<T> {
    /// A request for `peer`, which may be dialed at `addrs`; `relay_ok`
    /// lets it run over a relayed connection once the wait is over.
    pub(crate) fn admit(
        &mut self,
        peer: PeerId,
        addrs: &[Multiaddr],
        relay_ok: bool,
        item: T,
        now: Instant,
    ) -> Admit<T> {
        let c = self.conns.get(&peer).copied().unwrap_or_default();
        if c.relayed == 0 && (c.direct > 0 || !addrs.iter().any(is_relayed)) {
            return Admit::Send(item);
        }
        if c.waited && c.direct == 0 && c.relayed > 0 {
            if relay_ok {
                return Admit::SendRelayed(item);
            }
            // Fails at the next poll, with the reason.
            self.held.push((peer, now, false, item));
            return Admit::Held { dial: false };
        }
        // One dial per peer: a second one would be refused while the first runs.
        let dialing = self.held.iter().any(|(p, ..)| *p == peer);
        self.held
            .push((peer, now + HOLE_PUNCH_WAIT, relay_ok, item));
        Admit::Held {
            dial: c.direct == 0 && c.relayed == 0 && !dialing,
        }
    }

    /// A connection to `peer` opened.
    pub(crate) fn handle_established(&mut self, peer: PeerId, relayed: bool) {
        let c = self.conns.entry(peer).or_default();
        if relayed {
            c.relayed += 1;
        } else {
            c.direct += 1;
        }
    }

    /// A connection to `peer` closed.
    pub(crate) fn handle_closed(&mut self, peer: PeerId, relayed: bool) {
        if let Some(c) = self.conns.get_mut(&peer) {
            if relayed {
                c.relayed = c.relayed.saturating_sub(1);
            } else {
                c.direct = c.direct.saturating_sub(1);
            }
            if c.direct == 0 && c.relayed == 0 {
                self.conns.remove(&peer);
            }
        }
    }

    /// Dialing `peer` failed: its held requests fail if it has no
    /// connection at all.
    pub(crate) fn handle_dial_failure(&mut self, peer: PeerId, error: String) {
        if !self.conns.contains_key(&peer) {
            self.failed.push((peer, error));
        }
    }

    /// The next held request that can go or must fail at `now`.
    pub(crate) fn poll(&mut self, now: Instant) -> Option<Release<T>> {
        while let Some((peer, error)) = self.failed.pop() {
            if let Some(i) = self.held.iter().position(|(p, ..)| *p == peer) {
                let (.., item) = self.held.remove(i);
                self.failed.push((peer, error.clone()));
                return Some(Release::Fail(
                    item,
                    format!("cannot reach the peer: {error}"),
                ));
            }
        }
        let i = self.held.iter().position(|(peer, deadline, ..)| {
            let c = self.conns.get(peer).copied().unwrap_or_default();
            (c.direct > 0 && c.relayed == 0) || now >= *deadline
        })?;
        let (peer, _, relay_ok, item) = self.held.remove(i);
        let c = self.conns.get(&peer).copied().unwrap_or_default();
        if c.direct == 0 {
            if let Some(c) = self.conns.get_mut(&peer) {
                c.waited = true;
            }
        }
        Some(if c.direct > 0 {
            Release::Send(item)
        } else if relay_ok && c.relayed > 0 {
            Release::SendRelayed(item)
        } else {
            Release::Fail(item, no_direct_connection(relay_ok))
        })
    }
}

/// Why a held request failed: no direct connection, and the relay was not
/// allowed (or there was no relayed connection either).
fn no_direct_connection(relay_ok: bool) -> String {
    let secs = HOLE_PUNCH_WAIT.as_secs();
    if relay_ok {
        return format!(
            "no direct connection to the peer after {secs} s, and no relayed one to fall back on"
        );
    }
    format!(
        "no direct connection to the peer after {secs} s: it is behind a NAT (reachable only \
         through a relay) and hole punching could not cross the NATs between you (a symmetric \
         NAT, which gives every destination another port, cannot be crossed). Blob transfers \
         do not run over relays unless asked: run `plexus get --allow-relay ...` (the relay \
         must allow the bytes: its operator raises the per-circuit limit, 128 KiB by default, \
         with `plexus daemon --relay-circuit-bytes`)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    fn drain(d: &mut DirectFirst<u32>, now: Instant) -> Vec<Release<u32>> {
        std::iter::from_fn(|| d.poll(now)).take(100).collect()
    }

    fn circuit() -> Multiaddr {
        addr("/ip4/10.0.0.1/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit")
    }

    #[test]
    fn direct_addresses_and_direct_connections_send_at_once() {
        let mut d = DirectFirst::default();
        let (p, now) = (PeerId::random(), Instant::now());
        assert_eq!(
            d.admit(p, &[addr("/ip4/1.2.3.4/tcp/1")], false, 1, now),
            Admit::Send(1)
        );
        d.handle_established(p, false);
        assert_eq!(d.admit(p, &[circuit()], false, 2, now), Admit::Send(2));
    }

    #[test]
    fn a_relay_only_peer_waits_for_the_hole_punch() {
        let mut d = DirectFirst::default();
        let (p, now) = (PeerId::random(), Instant::now());
        assert_eq!(
            d.admit(p, &[circuit()], false, 1, now),
            Admit::Held { dial: true }
        );
        assert_eq!(
            d.admit(p, &[circuit()], false, 3, now),
            Admit::Held { dial: false },
            "one dial"
        );
        d.handle_established(p, true);
        assert_eq!(d.admit(p, &[], false, 2, now), Admit::Held { dial: false });
        assert!(drain(&mut d, now).is_empty());
        // The direct connection is up, but the relayed one could still take
        // the request: wait until it is closed.
        d.handle_established(p, false);
        assert!(drain(&mut d, now).is_empty());
        d.handle_closed(p, true);
        assert_eq!(
            drain(&mut d, now),
            vec![Release::Send(1), Release::Send(3), Release::Send(2)]
        );
    }

    #[test]
    fn no_hole_punch_in_time_fails_with_the_reason() {
        let mut d = DirectFirst::default();
        let (p, now) = (PeerId::random(), Instant::now());
        d.handle_established(p, true);
        assert_eq!(d.admit(p, &[], false, 1, now), Admit::Held { dial: false });
        assert!(drain(&mut d, now + HOLE_PUNCH_WAIT / 2).is_empty());
        match &drain(&mut d, now + HOLE_PUNCH_WAIT)[..] {
            [Release::Fail(1, why)] => {
                assert!(why.contains("hole punching"), "{why}");
                assert!(why.contains("--allow-relay"), "says how to allow it: {why}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_request_that_allows_a_relay_goes_over_it_once_the_wait_is_over() {
        let mut d = DirectFirst::default();
        let (p, now) = (PeerId::random(), Instant::now());
        assert_eq!(
            d.admit(p, &[circuit()], true, 1, now),
            Admit::Held { dial: true }
        );
        d.handle_established(p, true);
        assert!(
            drain(&mut d, now + HOLE_PUNCH_WAIT / 2).is_empty(),
            "waits for the hole punch first"
        );
        assert_eq!(
            drain(&mut d, now + HOLE_PUNCH_WAIT),
            vec![Release::SendRelayed(1)]
        );
        // The next requests do not wait again; one that does not allow a
        // relay fails at once.
        let later = now + HOLE_PUNCH_WAIT;
        assert_eq!(d.admit(p, &[], true, 2, later), Admit::SendRelayed(2));
        assert_eq!(
            d.admit(p, &[], false, 3, later),
            Admit::Held { dial: false }
        );
        assert!(matches!(&drain(&mut d, later)[..], [Release::Fail(3, _)]));
        // A new connection later starts over.
        d.handle_closed(p, true);
        d.handle_established(p, true);
        assert_eq!(d.admit(p, &[], true, 4, later), Admit::Held { dial: false });
    }

    #[test]
    fn a_hole_punch_in_time_wins_over_an_allowed_relay() {
        let mut d = DirectFirst::default();
        let (p, now) = (PeerId::random(), Instant::now());
        d.admit(p, &[circuit()], true, 1, now);
        d.handle_established(p, true);
        d.handle_established(p, false);
        d.handle_closed(p, true);
        assert_eq!(drain(&mut d, now), vec![Release::Send(1)]);
    }

    #[test]
    fn an_allowed_relay_without_a_relayed_connection_still_fails() {
        let mut d = DirectFirst::default();
        let (p, now) = (PeerId::random(), Instant::now());
        d.admit(p, &[circuit()], true, 1, now);
        match &drain(&mut d, now + HOLE_PUNCH_WAIT)[..] {
            [Release::Fail(1, why)] => assert!(why.contains("no relayed one"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failed_dial_fails_every_held_request_for_the_peer() {
        let mut d = DirectFirst::default();
        let (p, q, now) = (PeerId::random(), PeerId::random(), Instant::now());
        d.admit(p, &[circuit()], false, 1, now);
        d.admit(p, &[circuit()], false, 2, now);
        d.admit(q, &[circuit()], false, 3, now);
        d.handle_dial_failure(p, "no route".into());
        let out = drain(&mut d, now);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out.iter().all(|r| matches!(r, Release::Fail(1 | 2, _))));
    }

    #[test]
    fn the_wait_ends_before_the_download_stops_waiting_for_an_answer() {
        let limits = crate::transfer::blob_fetch::Limits::default();
        assert!(
            HOLE_PUNCH_WAIT + Duration::from_secs(1) < limits.have_timeout,
            "a held request must fail with its reason, not time out first"
        );
    }
}
