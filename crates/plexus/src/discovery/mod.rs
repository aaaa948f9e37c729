//! How peers find each other: Kademlia with Plexus's own protocol name,
//! bootstrap addresses, and mDNS on the local network.
//!
//! This module holds the decisions (which protocol, which addresses are worth
//! keeping); its [`behaviour::Behaviour`] applies them, and [`peers`] keeps
//! what was learned.

mod alarm;
pub(crate) mod announce;
pub(crate) mod behaviour;
mod full_buckets;
pub(crate) mod hops;
pub(crate) mod peers;
mod provider_addrs;
mod refresh;
pub(crate) mod relay_publish;
pub(crate) mod relay_record;
pub(crate) mod store;
pub(crate) mod unreachable;

use std::time::Duration;

use libp2p::{kad, multiaddr::Protocol, Multiaddr, PeerId, StreamProtocol};

use tokio::sync::oneshot;

use crate::{content::Hash, Error};
pub(crate) use behaviour::Behaviour;
pub use peers::{FoundPeer, PeerEntry, ProviderLookup};
pub(crate) use store::ProviderStore;

/// One k-bucket of the Kademlia routing table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BucketFill {
    /// Its index `i`: the peers' XOR distance from this node is at least
    /// 2^i and below 2^(i+1) (255 is the farthest half of the key space).
    pub bucket: u32,
    /// Peers in it (at most K, 20).
    pub peers: usize,
}

/// What the node asks of discovery.
pub(crate) enum Command {
    /// Look `peer` up in the DHT.
    FindPeer {
        peer: PeerId,
        reply: oneshot::Sender<Result<FoundPeer, Error>>,
    },
    /// Announce that this node provides `hash` (shared or fetched now):
    /// ahead of the stored backlog.
    Provide { hash: Hash },
    /// Announce everything the store shared at start.
    ProvideStored { hashes: Vec<Hash> },
    /// Peers that announced `hash`.
    FindProviders {
        hash: Hash,
        reply: oneshot::Sender<peers::ProviderLookup>,
    },
}

/// Kademlia protocol name: Plexus never merges into another network's DHT.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/plexus/kad/1.0.0");

/// Protocol version announced by identify; peers of other networks differ.
pub const IDENTIFY_PROTOCOL: &str = "/plexus/1.0.0";

/// The DHT key of `hash`'s provider records: its multihash's bytes
/// ([`Hash::multihash`]), the key other libp2p implementations use for a
/// CID, so their `findProviders(cid)` finds Plexus content.
pub(crate) fn provider_key(hash: &Hash) -> kad::RecordKey {
    kad::RecordKey::new(&hash.multihash().to_bytes())
}

/// The hash whose provider records have `key` ([`provider_key`]), if it is
/// such a key.
pub(crate) fn provided_hash(key: &kad::RecordKey) -> Option<Hash> {
    let multihash = libp2p::multihash::Multihash::<64>::from_bytes(key.as_ref()).ok()?;
    Hash::from_multihash(&multihash)
}

/// The Kademlia mode for a node that is `private` (AutoNAT found it cannot
/// be dialed) or not: a client while private, so others' routing tables
/// never hold addresses nobody can dial; a server otherwise, also while
/// reachability is unknown (a LAN or loopback node gets no AutoNAT answer,
/// and Kademlia's own rule, server once an external address is confirmed,
/// would make it a client for good; a private node's relay addresses count
/// as external for that rule too).
pub(crate) fn kad_mode(private: bool) -> kad::Mode {
    if private {
        kad::Mode::Client
    } else {
        kad::Mode::Server
    }
}

/// Builds the Kademlia behaviour, in server mode until reachability says
/// otherwise ([`kad_mode`]). Its routing table is refreshed by
/// [`Behaviour`] ([`refresh`]), not by Kademlia's periodic bootstrap.
pub fn kademlia(local: PeerId) -> kad::Behaviour<ProviderStore> {
    let mut config = kad::Config::new(KAD_PROTOCOL);
    // The periodic refresh is this crate's, two lookups per interval
    // ([`refresh`]); Kademlia's automatic bootstrap on a thin table stays.
    config.set_periodic_bootstrap_interval(None);
    // Peers go in through `full_buckets::add_if_room` only (identify):
    // Kademlia's own inserts dial a full bucket's oldest entry.
    config.set_kbucket_inserts(kad::BucketInserts::Manual);
    config.set_query_timeout(Duration::from_secs(30));
    // Provider records: re-announced hourly while the content is kept, and
    // forgotten 6 h after a provider stops announcing.
    config.set_provider_publication_interval(Some(Duration::from_secs(60 * 60)));
    config.set_provider_record_ttl(Some(Duration::from_secs(6 * 60 * 60)));
    // The only plain records are private nodes' relay addresses
    // (relay_record): short-lived, republished while held.
    config.set_record_ttl(Some(relay_publish::RECORD_TTL));
    config.set_publication_interval(Some(relay_publish::REPUBLISH));
    let mut kad = kad::Behaviour::with_config(local, ProviderStore::new(local), config);
    kad.set_mode(Some(kad_mode(false)));
    kad
}

/// Splits bootstrap addresses into `(peer, address)` pairs; every address
/// must end in `/p2p/PEERID`.
pub fn bootstrap_peers(addrs: &[Multiaddr]) -> Result<Vec<(PeerId, Multiaddr)>, Error> {
    addrs
        .iter()
        .map(|addr| match addr.iter().last() {
            Some(Protocol::P2p(peer)) => Ok((peer, addr.clone())),
            _ => Err(Error::BootstrapWithoutPeerId(addr.clone())),
        })
        .collect()
}

/// Whether an address a peer announces is worth putting in the routing table:
/// not unspecified (`0.0.0.0`, `::`) and not a relayed or empty address.
pub fn is_dialable(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => !ip.is_unspecified(),
        Some(Protocol::Ip6(ip)) => !ip.is_unspecified(),
        Some(Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_)) => true,
        // The in-process memory transport of tests and simulations.
        Some(Protocol::Memory(port)) => port != 0,
        _ => false,
    }
}

/// Whether `addr`, announced by a peer reached at `seen_at`, is worth
/// putting in the routing table: dialable, and loopback only when the peer
/// itself was reached over loopback (a peer on another host announcing
/// 127.0.0.1 would make others dial themselves).
pub fn is_useful_from(addr: &Multiaddr, seen_at: Option<&Multiaddr>) -> bool {
    let loopback = |a: &Multiaddr| match a.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_loopback(),
        Some(Protocol::Ip6(ip)) => ip.is_loopback(),
        _ => false,
    };
    is_dialable(addr) && (!loopback(addr) || seen_at.is_none_or(loopback))
}

/// This node's addresses as others should see them: each with
/// `/p2p/PEERID` appended, sorted.
pub(crate) fn own_addrs<'a>(
    listen: impl IntoIterator<Item = &'a Multiaddr>,
    me: PeerId,
) -> Vec<Multiaddr> {
    let mut addrs: Vec<Multiaddr> = listen.into_iter().map(|a| with_peer_id(a, me)).collect();
    addrs.sort_by_key(|a| a.to_string());
    addrs
}

/// `addr` with `/p2p/PEERID` appended unless it already ends with it.
pub fn with_peer_id(addr: &Multiaddr, peer: PeerId) -> Multiaddr {
    match addr.iter().last() {
        Some(Protocol::P2p(_)) => addr.clone(),
        _ => addr.clone().with(Protocol::P2p(peer)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_count_only_from_loopback_peers() {
        let lo: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        let lan: Multiaddr = "/ip4/10.77.0.2/tcp/4001".parse().unwrap();
        assert!(is_useful_from(
            &lo,
            Some(&"/ip4/127.0.0.1/tcp/5".parse().unwrap())
        ));
        assert!(!is_useful_from(&lo, Some(&lan)));
        assert!(is_useful_from(&lan, Some(&lan)));
        assert!(is_useful_from(&lo, None), "unknown origin: keep it");
        assert!(!is_useful_from(
            &"/ip4/0.0.0.0/tcp/1".parse().unwrap(),
            None
        ));
    }

    #[test]
    fn provider_keys_are_multihashes_and_map_back() {
        let hash = Hash::of(b"content");
        let key = provider_key(&hash);
        assert_eq!(key.as_ref()[..2], [0x1e, 0x20]);
        assert_eq!(key.as_ref()[2..], hash.0);
        assert_eq!(provided_hash(&key), Some(hash));
        // The raw 32-byte key of old, and other records' keys, name no hash.
        assert_eq!(provided_hash(&kad::RecordKey::new(&hash.0)), None);
        assert_eq!(
            provided_hash(&kad::RecordKey::new(b"/plexus/relay-addrs/x")),
            None
        );
    }

    #[test]
    fn kademlia_is_a_client_only_while_private() {
        assert_eq!(kad_mode(true), kad::Mode::Client);
        assert_eq!(kad_mode(false), kad::Mode::Server);
    }

    #[test]
    fn bootstrap_needs_peer_id() {
        let peer = PeerId::random();
        let good: Multiaddr = format!("/ip4/127.0.0.1/tcp/1/p2p/{peer}").parse().unwrap();
        let bad: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        assert_eq!(
            bootstrap_peers(std::slice::from_ref(&good)).unwrap()[0].0,
            peer
        );
        let err = bootstrap_peers(&[good, bad]).unwrap_err().to_string();
        assert!(err.contains("/p2p/PEERID"), "{err}");
    }

    #[test]
    fn unspecified_addresses_are_not_dialable() {
        assert!(!is_dialable(&"/ip4/0.0.0.0/tcp/1".parse().unwrap()));
        assert!(is_dialable(&"/ip4/127.0.0.2/tcp/1".parse().unwrap()));
        assert!(!is_dialable(&"/p2p-circuit".parse().unwrap()));
        assert!(is_dialable(&"/memory/17".parse().unwrap()));
        assert!(!is_dialable(&"/memory/0".parse().unwrap()));
    }

    #[test]
    fn peer_id_is_appended_once() {
        let peer = PeerId::random();
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let full = with_peer_id(&addr, peer);
        assert_eq!(with_peer_id(&full, peer), full);
    }
}
