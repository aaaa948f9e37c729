//! NAT traversal: whether this node can be dialed (AutoNAT v2), relay
//! service for others when it can (circuit relay v2 with limits), relay
//! reservations when it cannot (at least two, on relays that identify shows
//! offering the hop protocol), and hole punching (DCUtR) to turn relayed
//! connections into direct ones; a hole punch that failed over a relayed
//! connection this node dialed is tried again on a new one
//! ([`punch_retry`]), and a peer that came through a relay is also dialed
//! directly at the addresses it lists ([`reversal`]).
//!
//! The policy is the sans-IO [`reachability::Reachability`]; the behaviour
//! ([`behaviour::Behaviour`]) wraps libp2p's relay server and client, DCUtR
//! and the AutoNAT v2 client and server. The relay server advertises the hop
//! protocol only while the node has a confirmed external address (libp2p
//! relay's own status), so only public nodes offer relaying. Reachability
//! is tested again every [`NatConfig::recheck`] (`autonat::Prober`
//! restarts libp2p's AutoNAT v2 client, which never retests an address by
//! itself), and results nobody renews expire. A node with a
//! swarm key (private network) has no relay client and so none of this.

pub(crate) mod autonat;
pub(crate) mod behaviour;
pub(crate) mod punch_retry;
pub(crate) mod reachability;
pub(crate) mod reversal;

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

pub(crate) use behaviour::{Behaviour, Event};
pub use reachability::Reach;

/// Relay service limits and how many reservations a private node keeps.
#[derive(Debug, Clone)]
pub struct NatConfig {
    /// Offer relay service when this node is public (`--no-relay-service`
    /// turns it off).
    pub relay_service: bool,
    /// Most reservations this relay holds for others.
    pub max_reservations: usize,
    /// Most reservations one peer may hold here.
    pub max_reservations_per_peer: usize,
    /// How long a reservation lasts unless renewed.
    pub reservation_duration: Duration,
    /// Most circuits relayed at once.
    pub max_circuits: usize,
    /// Most circuits relayed at once for one source peer.
    pub max_circuits_per_peer: usize,
    /// Most bytes one circuit may carry (each direction).
    pub max_circuit_bytes: u64,
    /// Longest a circuit may stay open.
    pub max_circuit_duration: Duration,
    /// Circuits and reservations one source peer, and one source IP, may
    /// open per minute; `None` keeps libp2p's limits (30 per peer per 2
    /// minutes, 60 per IP per minute).
    pub rate_per_minute: Option<std::num::NonZeroU32>,
    /// Reservations a private node keeps.
    pub reservations_wanted: usize,
    /// How often AutoNAT tests this node's addresses again once it had an
    /// answer (`--reachability-recheck`): a node dialable again after an
    /// outage is public at most this long plus one round of tests (up to
    /// about 15 s) later; results not renewed for three rechecks are
    /// dropped. Shorter than a round, no round would ever finish.
    pub recheck: Duration,
    /// Addresses the operator declares dialable from outside
    /// (`--external-address`): the node is public from the start. A
    /// network's first node needs this, as AutoNAT servers only answer
    /// over connections the asking node dialed itself.
    pub external_addrs: Vec<Multiaddr>,
}

impl Default for NatConfig {
    /// libp2p's relay defaults, but fewer circuits (enough for hole
    /// punching and small control traffic, not bulk transfers).
    fn default() -> Self {
        Self {
            relay_service: true,
            max_reservations: 128,
            max_reservations_per_peer: 4,
            reservation_duration: Duration::from_secs(60 * 60),
            max_circuits: 16,
            max_circuits_per_peer: 4,
            max_circuit_bytes: 1 << 17,
            max_circuit_duration: Duration::from_secs(2 * 60),
            rate_per_minute: None,
            reservations_wanted: 2,
            recheck: Duration::from_secs(5 * 60),
            external_addrs: Vec::new(),
        }
    }
}

impl NatConfig {
    pub(crate) fn relay(&self) -> libp2p::relay::Config {
        let config = libp2p::relay::Config {
            max_reservations: self.max_reservations,
            max_reservations_per_peer: self.max_reservations_per_peer,
            reservation_duration: self.reservation_duration,
            max_circuits: self.max_circuits,
            max_circuits_per_peer: self.max_circuits_per_peer,
            max_circuit_bytes: self.max_circuit_bytes,
            max_circuit_duration: self.max_circuit_duration,
            ..Default::default()
        };
        let Some(n) = self.rate_per_minute else {
            return config;
        };
        let minute = Duration::from_secs(60);
        libp2p::relay::Config {
            reservation_rate_limiters: Vec::new(),
            circuit_src_rate_limiters: Vec::new(),
            ..config
        }
        .reservation_rate_per_peer(n, minute)
        .reservation_rate_per_ip(n, minute)
        .circuit_src_per_peer(n, minute)
        .circuit_src_per_ip(n, minute)
    }
}

/// What `plexus status` shows about reachability.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NatStatus {
    /// Public, private or unknown (AutoNAT).
    pub reachability: Reach,
    /// Addresses others confirmed they can dial.
    pub external_addrs: Vec<Multiaddr>,
    /// Relays holding a reservation for this node.
    pub relay_reservations: Vec<PeerId>,
    /// Hole punches (DCUtR) that gave a direct connection.
    pub hole_punches_ok: u64,
    /// Hole punches that failed.
    pub hole_punches_failed: u64,
    /// Why NAT traversal is off, if it is: a node with a swarm key
    /// (private network) has no AutoNAT, relays or hole punching, so its
    /// peers must be able to dial it directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traversal_off: Option<String>,
}

/// What `status` says on a node with a swarm key.
pub(crate) const TRAVERSAL_OFF_PNET: &str = "private network (swarm key): no AutoNAT, relays or hole punching; nodes behind NATs reach only peers that are publicly reachable or on their LAN";

impl Default for NatStatus {
    fn default() -> Self {
        Self {
            reachability: Reach::Unknown,
            external_addrs: Vec::new(),
            relay_reservations: Vec::new(),
            hole_punches_ok: 0,
            hole_punches_failed: 0,
            traversal_off: None,
        }
    }
}
