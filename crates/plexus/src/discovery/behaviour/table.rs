//! What the Kademlia routing table holds, as the rest of the node sees it.

use std::collections::HashMap;

use libp2p::{kad, Multiaddr, PeerId};

use super::{
    super::{BucketFill, PeerEntry},
    Behaviour,
};

impl Behaviour {
    /// Every peer in the Kademlia routing table, with its addresses.
    pub(super) fn routing_table(&mut self) -> HashMap<PeerId, Vec<Multiaddr>> {
        let mut table = HashMap::new();
        for bucket in self.inner.kad.kbuckets() {
            for entry in bucket.iter() {
                let addrs = entry.node.value.iter().cloned().collect();
                table.insert(*entry.node.key.preimage(), addrs);
            }
        }
        table
    }

    /// The peer ids in the routing table.
    pub(super) fn table_peers(&mut self) -> Vec<PeerId> {
        let mut peers = Vec::new();
        for bucket in self.inner.kad.kbuckets() {
            peers.extend(bucket.iter().map(|e| *e.node.key.preimage()));
        }
        peers
    }

    /// The routing table's non-empty buckets and their peers.
    pub(crate) fn routing_buckets(&mut self) -> Vec<BucketFill> {
        let fill = |b: kad::KBucketRef<'_, _, _>| BucketFill {
            bucket: b.range().0.ilog2().unwrap_or(0),
            peers: b.num_entries(),
        };
        self.inner.kad.kbuckets().map(fill).collect()
    }

    /// Every peer connected or in the routing table (without pub/sub
    /// scores, which the pub/sub component knows).
    pub(crate) fn peer_entries(&mut self) -> Vec<PeerEntry> {
        let table = self.routing_table();
        self.book.entries(&table)
    }
}
