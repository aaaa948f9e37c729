//! Choosing holders: N distinct peers (never this node) whose free quota
//! takes a shard, the roomiest first so space fills evenly, the rest kept
//! as spares for storers that refuse or fail. No I/O.

use libp2p::{Multiaddr, PeerId};

/// One peer's answer to `Offer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Offer {
    /// The storer.
    pub(crate) peer: PeerId,
    /// Bytes free there.
    pub(crate) free: u64,
    /// Where it listens.
    pub(crate) addrs: Vec<Multiaddr>,
}

/// The chosen holders and the spares, in order of preference.
#[derive(Debug)]
pub(crate) struct Plan {
    /// First choice for shard `i` at index `i`.
    pub(crate) holders: Vec<Offer>,
    /// Others with room, to try when a first choice fails.
    pub(crate) spares: Vec<Offer>,
}

/// Picks `n` holders for shards of `bytes` bytes from `offers`, never
/// `me` nor one of `exclude`; on failure returns how many peers had room.
pub(crate) fn plan(
    mut offers: Vec<Offer>,
    me: PeerId,
    exclude: &[PeerId],
    n: usize,
    bytes: u64,
) -> Result<Plan, usize> {
    offers.retain(|o| o.peer != me && !exclude.contains(&o.peer) && o.free >= bytes);
    offers.sort_by(|a, b| b.free.cmp(&a.free).then(a.peer.cmp(&b.peer)));
    offers.dedup_by(|a, b| a.peer == b.peer);
    if offers.len() < n {
        return Err(offers.len());
    }
    let spares = offers.split_off(n);
    Ok(Plan {
        holders: offers,
        spares,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(peer: PeerId, free: u64) -> Offer {
        Offer {
            peer,
            free,
            addrs: Vec::new(),
        }
    }

    #[test]
    fn full_peers_duplicates_and_self_are_skipped() {
        let me = PeerId::random();
        let peers: Vec<PeerId> = (0..5).map(|_| PeerId::random()).collect();
        let offers = vec![
            offer(me, 1000),
            offer(peers[0], 50),
            offer(peers[1], 100),
            offer(peers[1], 100),
            offer(peers[2], 300),
            offer(peers[3], 200),
            offer(peers[4], 99),
        ];
        let plan = plan(offers.clone(), me, &[], 3, 100).unwrap();
        let chosen: Vec<PeerId> = plan.holders.iter().map(|o| o.peer).collect();
        assert_eq!(chosen, vec![peers[2], peers[3], peers[1]]);
        assert!(plan.spares.is_empty());
        assert_eq!(super::plan(offers.clone(), me, &[], 4, 100).unwrap_err(), 3);
        assert_eq!(super::plan(offers, me, &[peers[2]], 3, 100).unwrap_err(), 2);
    }
}
