//! Whether others can dial this node, and the relay reservations it keeps
//! while they cannot: a sans-IO state machine. AutoNAT results come in
//! through [`Reachability::handle_probe`], relays found through identify in
//! [`Reachability::handle_relay`], reservation outcomes in
//! `handle_reserved` / `handle_reservation_failed`; [`Reachability::poll`]
//! says what to do, with the time passed in.
//!
//! Reachability expires: every probe result is dated, the node asks for a
//! new round of probes ([`Decision::Reprobe`]) every `recheck`, and a
//! result older than [`STALE_AFTER`] rechecks is dropped (a confirmed
//! address with it: [`Decision::Expire`]). libp2p's AutoNAT v2 client
//! tests each address once and never again, neither a failed one nor a
//! confirmed one (rust-libp2p issue #6203, fix proposed in PR #6207, not
//! released for libp2p 0.57); `super::autonat` starts it afresh on
//! `Reprobe`. So a node unreachable once (an outage, a firewall) becomes
//! public again at most `recheck` plus one probe (about 10 s) after it is
//! dialable again, and a public node that can no longer be dialed turns
//! private at the next recheck that reaches an AutoNAT server, or unknown
//! once its results are [`STALE_AFTER`] rechecks old (cut off: no server
//! answers).
//!
//! A private verdict is retested sooner: while no address is confirmed,
//! rounds come [`DOUBT_RECHECK`] after the first failure, then twice as
//! far apart each time, up to `recheck`. One dial-back that failed in a
//! passing outage (a server reached just before a partition) would
//! otherwise make a public node a Kademlia client for a whole `recheck`.

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    time::{Duration, Instant},
};

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

/// How long a reservation request may stay unanswered before the relay
/// counts as failed.
pub(crate) const RESERVE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a relay that failed is left alone before it is asked again.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(60);
/// A probe result counts for this many rechecks; older, it is dropped.
pub(crate) const STALE_AFTER: u32 = 3;
/// The first retest after a node finds itself private (doubled each
/// round it stays private, up to the normal recheck).
pub(crate) const DOUBT_RECHECK: Duration = Duration::from_secs(15);

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
    /// Test the addresses again: start AutoNAT afresh.
    Reprobe,
    /// `addr` is no longer confirmed (failed its retest, or its result is
    /// stale): the swarm must drop it from its external addresses.
    Expire(Multiaddr),
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
    /// Addresses dialed back, with when they last were.
    confirmed: HashMap<Multiaddr, Instant>,
    /// Addresses not dialed back, with when they last failed.
    failed: HashMap<Multiaddr, Instant>,
    /// Addresses the operator declared public: confirmed for good.
    declared: HashSet<Multiaddr>,
    relays: BTreeMap<PeerId, Relay>,
    wanted: usize,
    recheck: Duration,
    /// When the next round of probes is due; `None` before any result.
    next_recheck: Option<Instant>,
    /// The gap to the next round while private: [`DOUBT_RECHECK`],
    /// doubled each private round, at most `recheck`.
    doubt: Duration,
    out: VecDeque<Decision>,
}

impl Reachability {
    /// Unknown reachability; keeps `wanted` reservations while private,
    /// probes again every `recheck` once it had a result.
    pub(crate) fn new(wanted: usize, recheck: Duration) -> Self {
        Self {
            reach: Reach::Unknown,
            confirmed: HashMap::new(),
            failed: HashMap::new(),
            declared: HashSet::new(),
            relays: BTreeMap::new(),
            wanted,
            recheck,
            next_recheck: None,
            doubt: DOUBT_RECHECK.min(recheck),
            out: VecDeque::new(),
        }
    }

    /// The operator declares `addr` dialable: public for good.
    pub(crate) fn handle_declared(&mut self, addr: Multiaddr) {
        self.declared.insert(addr);
        self.update();
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

    /// An AutoNAT test of `addr` at `now`: dialed back (`reachable`) or not.
    pub(crate) fn handle_probe(&mut self, addr: Multiaddr, reachable: bool, now: Instant) {
        if reachable {
            self.failed.remove(&addr);
            self.confirmed.insert(addr, now);
        } else {
            if self.confirmed.remove(&addr).is_some() {
                self.out.push_back(Decision::Expire(addr.clone()));
            }
            self.failed.insert(addr, now);
        }
        self.next_recheck.get_or_insert(now + self.recheck);
        self.update();
        match self.reach {
            // Doubt a private verdict: retest soon (see the module docs).
            Reach::Private => {
                let soon = now + self.doubt;
                if self.next_recheck.is_some_and(|due| due > soon) {
                    self.next_recheck = Some(soon);
                }
            }
            _ => self.doubt = DOUBT_RECHECK.min(self.recheck),
        }
    }

    /// `addr` is no longer an external address (expired or removed).
    pub(crate) fn handle_expired(&mut self, addr: &Multiaddr) {
        self.confirmed.remove(addr);
        self.update();
    }

    /// Drops results older than [`STALE_AFTER`] rechecks at `now`, and asks
    /// for a new round of probes when one is due.
    fn age(&mut self, now: Instant) {
        let stale = self.recheck * STALE_AFTER;
        let old = |at: &Instant| now.saturating_duration_since(*at) >= stale;
        let expired: Vec<Multiaddr> = self
            .confirmed
            .iter()
            .filter(|(_, at)| old(at))
            .map(|(a, _)| a.clone())
            .collect();
        for addr in expired {
            self.confirmed.remove(&addr);
            self.out.push_back(Decision::Expire(addr));
        }
        self.failed.retain(|_, at| !old(at));
        self.update();
        if let Some(due) = self.next_recheck {
            if now >= due {
                let gap = if self.reach == Reach::Private {
                    self.doubt = (self.doubt * 2).min(self.recheck);
                    self.doubt
                } else {
                    self.recheck
                };
                self.next_recheck = Some(now + gap);
                self.out.push_back(Decision::Reprobe);
            }
        }
    }

    fn update(&mut self) {
        let reach = if !self.confirmed.is_empty() || !self.declared.is_empty() {
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

    /// The next thing to do at `now`: reachability changes, expired
    /// addresses and rechecks first, then, while private, reservations
    /// until `wanted` are held or asked for.
    pub(crate) fn poll(&mut self, now: Instant) -> Option<Decision> {
        if self.out.is_empty() {
            self.age(now);
        }
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
