//! Whether others can dial this node, and the relay reservations it keeps
//! while they cannot: a sans-IO state machine. AutoNAT results come in
//! through [`Reachability::handle_probe`], relays found through identify in
//! [`Reachability::handle_relay`], reservation outcomes in
//! `handle_reserved` / `handle_reservation_failed`; [`Reachability::poll`]
//! says what to do, with the time passed in.

use std::{
    collections::{BTreeMap, HashSet, VecDeque},
    time::{Duration, Instant},
};

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

/// How long a reservation request may stay unanswered before the relay
/// counts as failed.
pub(crate) const RESERVE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a relay that failed is left alone before it is asked again.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(60);

/// What the node knows about being dialable from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reach {
    /// No AutoNAT answer yet.
    Unknown,
    /// An AutoNAT server dialed one of this node's addresses back.
    Public,
    /// AutoNAT servers could not dial any address back: behind a NAT or a
    /// firewall, reachable only through relays (and hole punching).
    Private,
}

/// What the component must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Reachability changed (Kademlia mode follows it).
    Changed(Reach),
    /// Ask `relay` at `addr` for a reservation (listen on its circuit).
    Reserve { relay: PeerId, addr: Multiaddr },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Not asked, or asked and failed: not again before `not_before`.
    Idle { not_before: Option<Instant> },
    /// Asked at `since`, no answer yet.
    Pending { since: Instant },
    /// Holding a reservation.
    Active,
}

#[derive(Debug, Clone)]
struct Relay {
    addr: Multiaddr,
    slot: Slot,
}

/// The reachability state and the relays of one node.
#[derive(Debug)]
pub(crate) struct Reachability {
    reach: Reach,
    confirmed: HashSet<Multiaddr>,
    failed: HashSet<Multiaddr>,
    relays: BTreeMap<PeerId, Relay>,
    wanted: usize,
    out: VecDeque<Decision>,
}

impl Reachability {
    /// Unknown reachability; keeps `wanted` reservations while private.
    pub(crate) fn new(wanted: usize) -> Self {
        Self {
            reach: Reach::Unknown,
            confirmed: HashSet::new(),
            failed: HashSet::new(),
            relays: BTreeMap::new(),
            wanted,
            out: VecDeque::new(),
        }
    }

    /// The current reachability.
    pub(crate) fn reach(&self) -> Reach {
        self.reach
    }

    /// Relays holding a reservation for this node.
    pub(crate) fn reservations(&self) -> Vec<PeerId> {
        self.relays
            .iter()
            .filter(|(_, r)| r.slot == Slot::Active)
            .map(|(p, _)| *p)
            .collect()
    }

    /// An AutoNAT test of `addr`: dialed back (`reachable`) or not.
    pub(crate) fn handle_probe(&mut self, addr: Multiaddr, reachable: bool) {
        if reachable {
            self.failed.remove(&addr);
            self.confirmed.insert(addr);
        } else {
            self.confirmed.remove(&addr);
            self.failed.insert(addr);
        }
        self.update();
    }

    /// `addr` is no longer an external address (expired or removed).
    pub(crate) fn handle_expired(&mut self, addr: &Multiaddr) {
        self.confirmed.remove(addr);
        self.update();
    }

    fn update(&mut self) {
        let reach = if !self.confirmed.is_empty() {
            Reach::Public
        } else if !self.failed.is_empty() {
            Reach::Private
        } else {
            Reach::Unknown
        };
        if reach != self.reach {
            self.reach = reach;
            self.out.push_back(Decision::Changed(reach));
        }
    }

    /// `relay` offers relay service (identify lists the hop protocol) and
    /// was reached at `addr` (a direct, dialable address).
    pub(crate) fn handle_relay(&mut self, relay: PeerId, addr: Multiaddr) {
        self.relays
            .entry(relay)
            .and_modify(|r| r.addr = addr.clone())
            .or_insert(Relay {
                addr,
                slot: Slot::Idle { not_before: None },
            });
    }

    /// `relay` accepted (or renewed) the reservation.
    pub(crate) fn handle_reserved(&mut self, relay: PeerId) {
        if let Some(r) = self.relays.get_mut(&relay) {
            r.slot = Slot::Active;
        }
    }

    /// The reservation on `relay` was refused, failed or ended.
    pub(crate) fn handle_reservation_failed(&mut self, relay: PeerId, now: Instant) {
        if let Some(r) = self.relays.get_mut(&relay) {
            r.slot = Slot::Idle {
                not_before: Some(now + RETRY_AFTER),
            };
        }
    }

    /// The next thing to do at `now`: reachability changes first, then,
    /// while private, reservations until `wanted` are held or asked for.
    pub(crate) fn poll(&mut self, now: Instant) -> Option<Decision> {
        if let Some(d) = self.out.pop_front() {
            return Some(d);
        }
        for r in self.relays.values_mut() {
            if let Slot::Pending { since } = r.slot {
                if now.saturating_duration_since(since) >= RESERVE_TIMEOUT {
                    r.slot = Slot::Idle {
                        not_before: Some(now + RETRY_AFTER),
                    };
                }
            }
        }
        if self.reach != Reach::Private {
            return None;
        }
        let held = self
            .relays
            .values()
            .filter(|r| matches!(r.slot, Slot::Active | Slot::Pending { .. }))
            .count();
        if held >= self.wanted {
            return None;
        }
        let (peer, relay) = self.relays.iter_mut().find(|(_, r)| {
            matches!(r.slot, Slot::Idle { not_before } if not_before.is_none_or(|t| t <= now))
        })?;
        relay.slot = Slot::Pending { since: now };
        Some(Decision::Reserve {
            relay: *peer,
            addr: relay.addr.clone(),
        })
    }
}

#[cfg(test)]
#[path = "reachability_tests.rs"]
mod tests;
