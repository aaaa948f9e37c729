//! When a private node puts its relay-address record
//! ([`super::relay_record`]) into the DHT: a state machine with no I/O,
//! time passed in.
//!
//! The record is put again each time the node's relay addresses change,
//! [`SETTLE`] after the last change (a node reserves on two relays at
//! once: one record with both, not two racing each other; and each record
//! is signed at least a second after the one before, so its sequence
//! number is higher). Once the node is no longer private, or holds no
//! reservation, it stops republishing its record (the copies others hold
//! expire, [`RECORD_TTL`]). Kademlia itself republishes the record while
//! it is held ([`REPUBLISH`]).

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use libp2p::{multiaddr::Protocol, Multiaddr};

/// How long after a change of relay addresses the record is put.
pub const SETTLE: Duration = Duration::from_millis(1500);

/// How long others keep a relay-address record (reservations last an
/// hour; a relay that went away leaves a stale record no longer than
/// this).
pub const RECORD_TTL: Duration = Duration::from_secs(2 * 60 * 60);

/// How often Kademlia puts the node's own record again while it holds it.
pub const REPUBLISH: Duration = Duration::from_secs(60 * 60);

/// What to do with the DHT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Put a record of these relay addresses.
    Put(Vec<Multiaddr>),
    /// Stop publishing the record (drop it from the own store).
    Withdraw,
}

/// The relay addresses this node has and whether it should publish them.
#[derive(Debug, Default)]
pub struct Publisher {
    circuits: BTreeSet<Multiaddr>,
    private: bool,
    /// When the next decision is due, after a change.
    due: Option<Instant>,
    /// Whether a record is out (put and not withdrawn).
    published: bool,
}

impl Publisher {
    /// The swarm confirmed `addr` as external (kept if it is a relay address).
    pub fn handle_confirmed(&mut self, addr: &Multiaddr, now: Instant) {
        if is_circuit(addr) && self.circuits.insert(addr.clone()) {
            self.changed(now);
        }
    }

    /// The external address `addr` expired.
    pub fn handle_expired(&mut self, addr: &Multiaddr, now: Instant) {
        if self.circuits.remove(addr) {
            self.changed(now);
        }
    }

    /// Reachability says the node is `private` or not.
    pub fn set_private(&mut self, private: bool, now: Instant) {
        if private != self.private {
            self.private = private;
            self.changed(now);
        }
    }

    /// When [`Publisher::poll`] next has something to say.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// The decision due at `now`, if any.
    pub fn poll(&mut self, now: Instant) -> Option<Decision> {
        if self.due.is_none_or(|due| now < due) {
            return None;
        }
        self.due = None;
        if self.private && !self.circuits.is_empty() {
            self.published = true;
            return Some(Decision::Put(self.circuits.iter().cloned().collect()));
        }
        if std::mem::take(&mut self.published) {
            return Some(Decision::Withdraw);
        }
        None
    }

    fn changed(&mut self, now: Instant) {
        self.due = Some(now + SETTLE);
    }
}

fn is_circuit(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| p == Protocol::P2pCircuit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn circuit(n: u8) -> Multiaddr {
        let relay = libp2p::PeerId::random();
        format!("/ip4/192.0.2.{n}/tcp/4001/p2p/{relay}/p2p-circuit")
            .parse()
            .unwrap()
    }

    #[test]
    fn changes_settle_into_one_put_with_every_relay_address() {
        let t = Instant::now();
        let mut p = Publisher::default();
        p.set_private(true, t);
        let (a, b) = (circuit(1), circuit(2));
        p.handle_confirmed(&a, t);
        p.handle_confirmed(&"/ip4/192.0.2.9/tcp/1".parse().unwrap(), t);
        p.handle_confirmed(&b, t + Duration::from_millis(500));
        assert_eq!(p.poll(t + SETTLE), None, "the last change was later");
        let due = p.due().unwrap();
        let mut both = vec![a.clone(), b.clone()];
        both.sort();
        assert_eq!(p.poll(due), Some(Decision::Put(both)));
        assert_eq!(p.poll(due + SETTLE), None, "nothing changed");
        p.handle_expired(&a, due);
        assert_eq!(p.poll(due + SETTLE), Some(Decision::Put(vec![b])));
    }

    #[test]
    fn a_node_no_longer_private_withdraws_its_record() {
        let t = Instant::now();
        let mut p = Publisher::default();
        p.handle_confirmed(&circuit(1), t);
        assert_eq!(p.poll(t + SETTLE), None, "not private: nothing to publish");
        p.set_private(true, t + SETTLE);
        assert!(matches!(p.poll(t + SETTLE * 2), Some(Decision::Put(_))));
        p.set_private(false, t + SETTLE * 2);
        assert_eq!(p.poll(t + SETTLE * 3), Some(Decision::Withdraw));
        p.set_private(true, t + SETTLE * 3);
        p.set_private(false, t + SETTLE * 3);
        assert_eq!(p.poll(t + SETTLE * 4), None, "nothing out to withdraw");
    }
}
