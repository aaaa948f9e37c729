//! What the Kademlia routing table holds, as the rest of the node sees it.

use std::{collections::HashMap, task::Context, time::Instant};

use libp2p::{kad, Multiaddr, PeerId};

use super::{
    super::{refresh::Decision, BucketFill, PeerEntry},
    Behaviour,
};

impl Behaviour {
    /// Starts the routing table's refresh when due ([`super::super::refresh`]):
    /// a lookup of this node's own id and one of a random key; wakes the
    /// behaviour when the next is due.
    pub(super) fn refresh_table(&mut self, cx: &mut Context<'_>) {
        let (refresh, alarm) = &mut self.refresh;
        if refresh.poll(Instant::now()) == Decision::Lookup {
            tracing::debug!("refreshing the routing table");
            self.inner.kad.get_closest_peers(self.me);
            self.inner.kad.get_closest_peers(PeerId::random());
        }
        alarm.set(Some(refresh.due()), cx);
    }

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
