//! The holder list of an object as a mergeable value: one entry per shard
//! index, each with a generation that a repair raises by one when it moves
//! the shard. Two lists merge index by index: the higher generation wins;
//! two different holders at the same generation (two repairs of the same
//! shard that did not hear of each other) are ordered by peer id, so every
//! holder picks the same one. Merging is commutative, associative and
//! idempotent, so holders told lists in any order, by any number of
//! concurrent repairs, end with the same list, and a list never loses a
//! repair it has heard of (no last writer wins). No I/O here.

use std::collections::BTreeMap;

use libp2p::{Multiaddr, PeerId};

use super::protocol::HolderInfo;

/// Whether entry `a` beats entry `b` for the same index.
fn beats(a: &HolderInfo, b: &HolderInfo) -> bool {
    (a.generation, b.peer.to_bytes()) > (b.generation, a.peer.to_bytes())
}

/// `a` and `b` merged: per shard index the entry with the highest
/// generation, ties between peers to the lowest peer id; sorted by index.
pub(crate) fn merge(a: &[HolderInfo], b: &[HolderInfo]) -> Vec<HolderInfo> {
    let mut by_index: BTreeMap<u8, HolderInfo> = BTreeMap::new();
    for h in a.iter().chain(b) {
        match by_index.get_mut(&h.index) {
            None => {
                by_index.insert(h.index, h.clone());
            }
            Some(kept) if beats(h, kept) => *kept = h.clone(),
            Some(kept) if kept.peer == h.peer && kept.generation == h.generation => {
                // The same entry: keep whichever knows addresses.
                if kept.addrs.is_empty() {
                    kept.addrs = h.addrs.clone();
                }
            }
            Some(_) => {}
        }
    }
    by_index.into_values().collect()
}

/// `list` with shard `index` moved to `peer` by a repair of the entry of
/// generation `from`: the new entry has generation `from + 1`, so it beats
/// the lost holder's entry everywhere it is merged.
pub(crate) fn moved(
    list: &[HolderInfo],
    index: u8,
    from: u32,
    peer: PeerId,
    addrs: Vec<Multiaddr>,
) -> Vec<HolderInfo> {
    let new = HolderInfo {
        index,
        peer,
        addrs,
        generation: from.saturating_add(1),
    };
    merge(list, &[new])
}

/// Whether `peer` holds any shard in `list`.
pub(crate) fn lists(list: &[HolderInfo], peer: &PeerId) -> bool {
    list.iter().any(|h| h.peer == *peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u8, peer: PeerId, generation: u32) -> HolderInfo {
        HolderInfo {
            index,
            peer,
            addrs: Vec::new(),
            generation,
        }
    }

    #[test]
    fn concurrent_repairs_of_different_shards_both_survive_in_any_order() {
        let peers: Vec<PeerId> = (0..6).map(|_| PeerId::random()).collect();
        let start: Vec<_> = (0..4).map(|i| entry(i, peers[i as usize], 0)).collect();
        // Holder 0 repairs shard 2 onto peer 4, holder 1 shard 3 onto peer 5,
        // each from the starting list (neither heard of the other).
        let a = moved(&start, 2, 0, peers[4], Vec::new());
        let b = moved(&start, 3, 0, peers[5], Vec::new());
        let ab = merge(&a, &b);
        assert_eq!(ab, merge(&b, &a), "commutative");
        assert_eq!(merge(&ab, &start), ab, "an old list changes nothing");
        assert_eq!(merge(&ab, &ab), ab, "idempotent");
        let holders: Vec<PeerId> = ab.iter().map(|h| h.peer).collect();
        assert_eq!(holders, vec![peers[0], peers[1], peers[4], peers[5]]);
        // Last writer wins would have lost one of the two repairs.
        assert_ne!(ab, a);
        assert_ne!(ab, b);
    }

    #[test]
    fn two_repairs_of_the_same_shard_agree_on_one_winner_everywhere() {
        let peers: Vec<PeerId> = (0..5).map(|_| PeerId::random()).collect();
        let start: Vec<_> = (0..3).map(|i| entry(i, peers[i as usize], 0)).collect();
        let a = moved(&start, 1, 0, peers[3], Vec::new());
        let b = moved(&start, 1, 0, peers[4], Vec::new());
        let ab = merge(&a, &b);
        assert_eq!(ab, merge(&b, &a));
        assert_eq!(ab.len(), 3);
        let winner = ab[1].peer;
        assert!(winner == peers[3] || winner == peers[4]);
        let loser = if winner == peers[3] {
            peers[4]
        } else {
            peers[3]
        };
        assert!(!lists(&ab, &loser), "the other new holder is not counted");
        assert!(!lists(&ab, &peers[1]), "nor the lost one");
        // A later repair of the winner's shard beats both.
        let c = moved(&ab, 1, ab[1].generation, peers[1], Vec::new());
        assert_eq!(merge(&c, &a)[1].peer, peers[1]);
        assert_eq!(merge(&b, &c)[1].generation, 2);
    }

    #[test]
    fn a_returning_holder_s_old_list_does_not_bring_it_back() {
        let peers: Vec<PeerId> = (0..4).map(|_| PeerId::random()).collect();
        let old: Vec<_> = (0..3).map(|i| entry(i, peers[i as usize], 0)).collect();
        let now = moved(&old, 0, 0, peers[3], Vec::new());
        // Peer 0 comes back and shares its old list: it stays replaced.
        let merged = merge(&old, &now);
        assert!(!lists(&merged, &peers[0]));
        assert_eq!(merged.len(), 3, "one entry per shard, not four");
        // Addresses learnt for the same entry are kept.
        let addr: Multiaddr = "/ip4/192.0.2.1/tcp/1".parse().unwrap();
        let mut with = now.clone();
        with[1].addrs = vec![addr.clone()];
        assert_eq!(merge(&now, &with)[1].addrs, vec![addr]);
    }
}
