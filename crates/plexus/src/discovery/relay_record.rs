//! How a private node is found: its relay addresses in a signed record in
//! the DHT.
//!
//! A private node is a Kademlia client, so it is in nobody's routing table
//! and a peer lookup (`dht find-peer`) never meets it. Instead it puts
//! libp2p's signed peer record (a `PeerRecord` in a `SignedEnvelope`,
//! signed with the node's own identity key) holding its `/p2p-circuit`
//! addresses under a key derived from its peer id ([`key`]), again each
//! time its reservations change. Every node that stores such a record, and
//! every node that reads one, checks it ([`verify`]): the envelope's
//! signature, that the signer is the peer the key names, and that every
//! address is a relay address of that peer. Nobody can so put addresses
//! under another peer's key, and a node that answers a lookup with a forged
//! or altered record is not believed. Of two valid records the one with the
//! higher sequence number (the signing time in seconds) wins, so an old one
//! replayed cannot replace a newer one ([`replaces`]). Plexus stores no
//! other kind of plain DHT record: the record store refuses anything else.

use libp2p::{
    core::{PeerRecord, SignedEnvelope},
    identity::Keypair,
    kad::{Record, RecordKey},
    multiaddr::Protocol,
    Multiaddr, PeerId,
};

/// What the key of a relay-address record starts with.
const PREFIX: &[u8] = b"/plexus/relay-addrs/";

/// Most addresses a record may hold (a node keeps two or three
/// reservations, each with an address per transport).
pub const MAX_ADDRS: usize = 16;

/// Largest record value accepted, in bytes.
pub const MAX_BYTES: usize = 4096;

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// The key is not a relay-address key.
    #[error("not a relay-address record key")]
    Key,
    /// The value is larger than [`MAX_BYTES`].
    #[error("record of {0} bytes, more than {MAX_BYTES}")]
    TooLarge(usize),
    /// The value is no signed peer record, or its signature does not hold.
    #[error("not a validly signed peer record: {0}")]
    Signature(String),
    /// The record is signed by this peer, not the one its key names.
    #[error("signed by {0}, not by the peer its key names")]
    WrongPeer(PeerId),
    /// An address is no relay address of the signer, or there are none or
    /// too many.
    #[error(
        "addresses must be 1 to {MAX_ADDRS} relay (/p2p-circuit) addresses of the signer: {0}"
    )]
    Addresses(String),
}

/// The DHT key under which `peer` keeps its relay addresses.
pub fn key(peer: &PeerId) -> RecordKey {
    let mut bytes = PREFIX.to_vec();
    bytes.extend_from_slice(&peer.to_bytes());
    RecordKey::new(&bytes)
}

/// The peer a relay-address key names, if it is one.
pub fn peer_of(key: &RecordKey) -> Option<PeerId> {
    let rest = key.as_ref().strip_prefix(PREFIX)?;
    PeerId::from_bytes(rest).ok()
}

/// The signed record of `addrs` (each gets `/p2p/<own id>` appended),
/// published by the owner of `keypair`.
pub fn signed(keypair: &Keypair, addrs: &[Multiaddr]) -> Result<Record, String> {
    let me = keypair.public().to_peer_id();
    let addrs = addrs.iter().map(|a| super::with_peer_id(a, me)).collect();
    let record = PeerRecord::new(keypair, addrs).map_err(|e| e.to_string())?;
    let value = record.into_signed_envelope().into_protobuf_encoding();
    let mut record = Record::new(key(&me), value);
    record.publisher = Some(me);
    Ok(record)
}

/// The peer record in `record`, if it is a valid relay-address record (see
/// the module documentation).
pub fn verify(record: &Record) -> Result<PeerRecord, Invalid> {
    let named = peer_of(&record.key).ok_or(Invalid::Key)?;
    if record.value.len() > MAX_BYTES {
        return Err(Invalid::TooLarge(record.value.len()));
    }
    let envelope = SignedEnvelope::from_protobuf_encoding(&record.value)
        .map_err(|e| Invalid::Signature(e.to_string()))?;
    let peer_record = PeerRecord::from_signed_envelope(envelope)
        .map_err(|e| Invalid::Signature(e.to_string()))?;
    let signer = peer_record.peer_id();
    if signer != named {
        return Err(Invalid::WrongPeer(signer));
    }
    let addrs = peer_record.addresses();
    if addrs.is_empty() || addrs.len() > MAX_ADDRS {
        return Err(Invalid::Addresses(format!("{} addresses", addrs.len())));
    }
    if let Some(bad) = addrs.iter().find(|a| !is_relay_addr_of(a, &signer)) {
        return Err(Invalid::Addresses(bad.to_string()));
    }
    Ok(peer_record)
}

/// Whether a valid record `new` may replace the valid record `old`: it is
/// not older (equal sequence numbers: the later arrival wins).
pub fn replaces(new: &PeerRecord, old: &PeerRecord) -> bool {
    new.seq() >= old.seq()
}

/// `/…/p2p/<relay>/p2p-circuit/p2p/<peer>`: a circuit through a relay
/// reached at a dialable address, ending in `peer`.
fn is_relay_addr_of(addr: &Multiaddr, peer: &PeerId) -> bool {
    let parts: Vec<Protocol> = addr.iter().collect();
    let Some(circuit) = parts.iter().position(|p| *p == Protocol::P2pCircuit) else {
        return false;
    };
    let relay: Multiaddr = parts[..circuit].iter().cloned().collect();
    let ends_in_peer = parts[circuit + 1..] == [Protocol::P2p(*peer)];
    let relay_named = matches!(relay.iter().last(), Some(Protocol::P2p(_)));
    ends_in_peer && relay_named && super::is_dialable(&relay)
}

#[cfg(test)]
#[path = "relay_record_tests.rs"]
mod tests;
