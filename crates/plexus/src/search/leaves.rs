//! A super-peer's index of its leaves' records, without I/O, bounded per
//! leaf ([`MAX_LEAF_RECORDS`], [`MAX_LEAF_ADDRS`]) and in total
//! ([`MAX_LEAVES`], [`MAX_INDEXED_RECORDS`]). The node's own records are
//! kept elsewhere (`state.rs`), so no leaf can push them out.

use std::collections::HashMap;

use libp2p::{Multiaddr, PeerId};

use super::{protocol::MAX_LEAF_RECORDS, Hit};
use crate::{
    content::{Metadata, SignedRecord},
    discovery,
};

/// Most leaves a super-peer indexes; a new leaf beyond is refused (one
/// already indexed may still replace its records).
pub(crate) const MAX_LEAVES: usize = 128;

/// Most leaf records a super-peer indexes in all (about 1 KiB each); an
/// index that would go beyond is refused.
pub(crate) const MAX_INDEXED_RECORDS: usize = 32_768;

/// Most addresses kept for one leaf (the first dialable ones it sent).
pub(crate) const MAX_LEAF_ADDRS: usize = 16;

/// A leaf's records as indexed by a super-peer.
struct Leaf {
    records: Vec<(Metadata, SignedRecord)>,
    addrs: Vec<Multiaddr>,
}

/// The leaves' records, by leaf.
#[derive(Default)]
pub(crate) struct Leaves {
    leaves: HashMap<PeerId, Leaf>,
    /// Records over all leaves.
    records: usize,
}

impl Leaves {
    /// Leaves indexed now.
    pub(crate) fn len(&self) -> usize {
        self.leaves.len()
    }

    /// Records indexed now, over all leaves.
    pub(crate) fn records(&self) -> usize {
        self.records
    }

    /// Whether `peer`'s records are indexed.
    pub(crate) fn contains(&self, peer: &PeerId) -> bool {
        self.leaves.contains_key(peer)
    }

    /// Forgets `peer`'s records.
    pub(crate) fn remove(&mut self, peer: &PeerId) {
        if let Some(leaf) = self.leaves.remove(peer) {
            self.records -= leaf.records.len();
        }
    }

    /// Replaces leaf `peer`'s records: at most [`MAX_LEAF_RECORDS`], each
    /// validly signed by `peer` itself, within the totals; only its first
    /// [`MAX_LEAF_ADDRS`] dialable addresses are kept. A refused index
    /// leaves the earlier one in place.
    pub(crate) fn index(
        &mut self,
        peer: PeerId,
        records: Vec<SignedRecord>,
        addrs: Vec<Multiaddr>,
    ) -> Result<(), String> {
        if records.len() > MAX_LEAF_RECORDS {
            return Err(format!("at most {MAX_LEAF_RECORDS} records per leaf"));
        }
        let old = self.leaves.get(&peer).map(|l| l.records.len());
        if old.is_none() && self.leaves.len() >= MAX_LEAVES {
            return Err(format!(
                "this super-peer indexes {MAX_LEAVES} leaves, its most; try another"
            ));
        }
        if self.records - old.unwrap_or(0) + records.len() > MAX_INDEXED_RECORDS {
            return Err(format!(
                "this super-peer indexes {} records of at most {MAX_INDEXED_RECORDS}; try another",
                self.records
            ));
        }
        let mut checked = Vec::with_capacity(records.len());
        for r in records {
            match r.verify() {
                Ok(m) if m.publisher == peer => checked.push((m, r)),
                _ => return Err("a leaf may only index its own, validly signed records".into()),
            }
        }
        let addrs = addrs
            .into_iter()
            .filter(discovery::is_dialable)
            .take(MAX_LEAF_ADDRS)
            .collect();
        self.remove(&peer);
        self.records += checked.len();
        let leaf = Leaf {
            records: checked,
            addrs,
        };
        self.leaves.insert(peer, leaf);
        Ok(())
    }

    /// The indexed records matching `words`, with their leaf's addresses.
    pub(crate) fn matches<'a>(&'a self, words: &'a [String]) -> impl Iterator<Item = Hit> + 'a {
        self.leaves.values().flat_map(move |leaf| {
            leaf.records
                .iter()
                .filter(move |(m, _)| m.matches(words))
                .map(|(_, r)| Hit {
                    record: r.clone(),
                    addrs: leaf.addrs.clone(),
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use libp2p::identity::Keypair;

    use super::*;

    fn records(key: &Keypair, n: usize) -> Vec<SignedRecord> {
        (0..n)
            .map(|i| crate::content::meta::test_record(key, &format!("f{i}")))
            .collect()
    }

    #[test]
    fn leaves_are_capped_in_number_and_a_known_leaf_may_replace_its_records() {
        let mut index = Leaves::default();
        let keys: Vec<Keypair> = (0..=MAX_LEAVES)
            .map(|_| Keypair::generate_ed25519())
            .collect();
        for key in &keys[..MAX_LEAVES] {
            let peer = key.public().to_peer_id();
            index.index(peer, records(key, 1), vec![]).unwrap();
        }
        let last = &keys[MAX_LEAVES];
        let err = index
            .index(last.public().to_peer_id(), records(last, 1), vec![])
            .unwrap_err();
        assert!(err.contains("indexes 128 leaves"), "{err}");
        assert_eq!(index.len(), MAX_LEAVES);
        let first = keys[0].public().to_peer_id();
        index.index(first, records(&keys[0], 3), vec![]).unwrap();
        assert_eq!(index.records(), MAX_LEAVES + 2);
        index.remove(&first);
        assert_eq!(
            (index.len(), index.records()),
            (MAX_LEAVES - 1, MAX_LEAVES - 1)
        );
    }

    #[test]
    fn records_are_capped_in_total_and_addresses_per_leaf() {
        let mut index = Leaves::default();
        let full = MAX_INDEXED_RECORDS / MAX_LEAF_RECORDS;
        let key = Keypair::generate_ed25519();
        let batch = records(&key, MAX_LEAF_RECORDS);
        // As if 32 other leaves held 1,000 records each (signing that many
        // takes long in a debug build); only the total counts here.
        index.records = full * MAX_LEAF_RECORDS;
        let me = key.public().to_peer_id();
        let room = MAX_INDEXED_RECORDS - index.records;
        let err = index
            .index(me, batch[..room + 1].to_vec(), vec![])
            .unwrap_err();
        assert!(err.contains("of at most 32768"), "{err}");
        let addrs: Vec<Multiaddr> = (0..100)
            .map(|i| format!("/ip4/192.0.2.1/tcp/{}", 1000 + i).parse().unwrap())
            .collect();
        index.index(me, batch[..room].to_vec(), addrs).unwrap();
        assert_eq!(index.records(), MAX_INDEXED_RECORDS);
        let hits: Vec<Hit> = index
            .matches(&crate::content::meta::query_words(&["f1"]))
            .collect();
        assert_eq!(hits[0].addrs.len(), MAX_LEAF_ADDRS);
    }
}
