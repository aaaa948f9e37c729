//! Addresses for provider records that arrive without any.
//!
//! rust-libp2p's Kademlia puts only this node's *confirmed external*
//! addresses into its provider announcements. A node with none (on a LAN
//! where no AutoNAT server answers, or in the memory-transport simulation)
//! announces records with an empty address list. A record holder answering
//! a lookup then names such a provider only if the provider sits in its own
//! routing table (libp2p-kad's `provider_peers` treats an address-less
//! record as a legacy one); otherwise the provider is left out of the
//! answer. In `plexus-testbed dht-sim` that lost 13% of provider finds at
//! 300 nodes and 11% at 500, with every announcement reported done.
//! (go-libp2p-kad-dht announces the host's listen addresses instead.)
//!
//! A holder knows where the announcing peer listens: identify told it, on
//! the connection the announcement came over. [`ProviderAddrs`] keeps those
//! addresses (filtered as for the routing table, so a peer's private
//! addresses are not handed to others who saw it at a public one) while the
//! peer is connected, fills them into records that come without addresses,
//! and fills the records that arrived before identify did. No I/O.

use std::collections::HashMap;

use libp2p::{kad::RecordKey, Multiaddr, PeerId};

/// Connected peers' listen addresses, and the keys of records stored
/// without addresses before those were known.
#[derive(Debug, Default)]
pub(crate) struct ProviderAddrs {
    /// Useful listen addresses of connected peers, from identify.
    known: HashMap<PeerId, Vec<Multiaddr>>,
    /// Keys of records stored with no address, by provider, waiting for
    /// that provider's identify.
    waiting: HashMap<PeerId, Vec<RecordKey>>,
}

impl ProviderAddrs {
    /// The addresses to store with a record of `provider` for `key` that
    /// came with none: the known ones, or none yet (the key then waits for
    /// [`Self::handle_listen_addrs`]).
    pub(crate) fn for_record(&mut self, provider: PeerId, key: &RecordKey) -> Vec<Multiaddr> {
        match self.known.get(&provider) {
            Some(addrs) => addrs.clone(),
            None => {
                let keys = self.waiting.entry(provider).or_default();
                if !keys.contains(key) {
                    keys.push(key.clone());
                }
                Vec::new()
            }
        }
    }

    /// Identify says connected `peer` listens at `addrs` (already
    /// filtered). Returns the keys of its records stored without addresses,
    /// to fill with `addrs` now.
    pub(crate) fn handle_listen_addrs(
        &mut self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    ) -> Vec<RecordKey> {
        if addrs.is_empty() {
            return Vec::new();
        }
        self.known.insert(peer, addrs);
        self.waiting.remove(&peer).unwrap_or_default()
    }

    /// `peer`'s last connection closed: its addresses are no longer
    /// vouched for by a live identify.
    pub(crate) fn handle_disconnected(&mut self, peer: &PeerId) {
        self.known.remove(peer);
    }

    /// `provider` has no records left here.
    pub(crate) fn handle_forgotten(&mut self, provider: &PeerId) {
        self.waiting.remove(provider);
    }

    /// The addresses known for `peer`.
    #[cfg(test)]
    pub(crate) fn known(&self, peer: &PeerId) -> Option<&[Multiaddr]> {
        self.known.get(peer).map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> Multiaddr {
        format!("/ip4/10.0.0.1/tcp/{port}").parse().unwrap()
    }

    #[test]
    fn a_record_after_identify_gets_the_addresses_at_once() {
        let mut a = ProviderAddrs::default();
        let peer = PeerId::random();
        assert!(a.handle_listen_addrs(peer, vec![addr(1)]).is_empty());
        let key = RecordKey::new(&"k");
        assert_eq!(a.for_record(peer, &key), vec![addr(1)]);
    }

    #[test]
    fn a_record_before_identify_waits_and_is_named_once_identify_comes() {
        let mut a = ProviderAddrs::default();
        let peer = PeerId::random();
        let (k1, k2) = (RecordKey::new(&"k1"), RecordKey::new(&"k2"));
        assert!(a.for_record(peer, &k1).is_empty());
        assert!(a.for_record(peer, &k2).is_empty());
        assert!(a.for_record(peer, &k1).is_empty());
        assert_eq!(a.handle_listen_addrs(peer, vec![addr(1)]), vec![k1, k2]);
        // Named once: a second identify has nothing left to fill.
        assert!(a.handle_listen_addrs(peer, vec![addr(2)]).is_empty());
        assert_eq!(a.known(&peer), Some(&[addr(2)][..]));
    }

    #[test]
    fn addresses_go_with_the_last_connection_and_an_empty_list_teaches_nothing() {
        let mut a = ProviderAddrs::default();
        let peer = PeerId::random();
        a.handle_listen_addrs(peer, vec![addr(1)]);
        a.handle_disconnected(&peer);
        assert_eq!(a.known(&peer), None);
        let key = RecordKey::new(&"k");
        assert!(a.for_record(peer, &key).is_empty());
        assert!(a.handle_listen_addrs(peer, Vec::new()).is_empty());
        a.handle_forgotten(&peer);
        assert!(a.handle_listen_addrs(peer, vec![addr(1)]).is_empty());
    }
}
