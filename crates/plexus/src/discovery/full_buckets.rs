//! Kademlia insertions that never dial.
//!
//! rust-libp2p's Kademlia (0.49) answers a new peer whose k-bucket is full
//! by dialling the bucket's oldest *disconnected* entry, to replace it if
//! the dial fails (`InsertResult::Pending`, in `add_address` and on every
//! connection that confirms the protocol). A node closes connections
//! nothing uses (`idle_timeout`), so nearly every entry of a full bucket
//! is disconnected, and that liveness dial is a new connection, on which
//! the dialled peer learns of this node and dials the oldest entry of its
//! own full bucket in turn. Once the far buckets fill (a few hundred
//! nodes), one new connection can so lead to others, each a handshake.
//! It was the suspect when 500 simulated nodes (`plexus-testbed dht-sim`)
//! kept two cores busy, Noise handshakes high in the profile, after their
//! tables filled, while 100 nodes, whose buckets are not full, went quiet
//! at 0.07% of a core each. With this module 500 nodes went quiet 250 s
//! after set-up (the run without it was stopped after 2 minutes, so the
//! two are not compared to the end).
//!
//! So Plexus turns Kademlia's own insertions off
//! ([`kad::BucketInserts::Manual`], see [`super::kademlia`]) and inserts
//! the peers identify names with [`add_if_room`]: into a bucket with room,
//! or as an address update of a peer already there; a full bucket keeps
//! its entries (Kademlia's preference for long-lived peers) until a failed
//! dial removes a dead one, which a lookup that meets it causes.

use libp2p::{
    kad::{self, store::RecordStore, K_VALUE},
    Multiaddr, PeerId,
};

/// Adds `addr` of `peer` to `kad`'s routing table when the peer is in it
/// already or its bucket has room; never evicts, so never dials. Whether
/// it was added.
pub(crate) fn add_if_room<S: RecordStore + Send + 'static>(
    kad: &mut kad::Behaviour<S>,
    peer: &PeerId,
    addr: Multiaddr,
) -> bool {
    let room = kad.kbucket(*peer).is_some_and(|bucket| {
        bucket.num_entries() < K_VALUE.get() || bucket.iter().any(|e| e.node.key.preimage() == peer)
    });
    room && matches!(kad.add_address(peer, addr), kad::RoutingUpdate::Success)
}

#[cfg(test)]
mod tests {
    use std::{
        task::{Context, Poll},
        time::Duration,
    };

    use libp2p::{
        core::{transport::PortUse, ConnectedPoint, Endpoint},
        kad::{self, store::MemoryStore},
        swarm::{
            behaviour::ConnectionEstablished, ConnectionId, FromSwarm, NetworkBehaviour, ToSwarm,
        },
        Multiaddr, PeerId,
    };

    use super::add_if_room;

    fn kad_with(local: PeerId, inserts: kad::BucketInserts) -> kad::Behaviour<MemoryStore> {
        let mut config = kad::Config::new(crate::discovery::KAD_PROTOCOL);
        config.set_kbucket_inserts(inserts);
        config.set_periodic_bootstrap_interval(None);
        config.set_query_timeout(Duration::from_secs(30));
        kad::Behaviour::with_config(local, MemoryStore::new(local), config)
    }

    /// 21 peers that fall into one bucket of `local`'s table (the farthest,
    /// half of all ids).
    fn same_bucket(local: PeerId) -> Vec<PeerId> {
        let me = kad::KBucketKey::from(local);
        let far = |p: &PeerId| me.distance(&kad::KBucketKey::from(*p)).ilog2() == Some(255);
        std::iter::repeat_with(PeerId::random)
            .filter(far)
            .take(21)
            .collect()
    }

    /// The dials `kad` asks of the swarm now.
    fn dials(kad: &mut kad::Behaviour<MemoryStore>) -> usize {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut n = 0;
        for _ in 0..100 {
            match kad.poll(&mut cx) {
                Poll::Ready(ToSwarm::Dial { .. }) => n += 1,
                Poll::Ready(_) => {}
                Poll::Pending => break,
            }
        }
        n
    }

    /// Tells `kad` a connection to `peer` is up (as identify's answer
    /// comes on one).
    fn connect(kad: &mut kad::Behaviour<MemoryStore>, peer: PeerId) {
        let endpoint = ConnectedPoint::Dialer {
            address: addr(0),
            role_override: Endpoint::Dialer,
            port_use: PortUse::Reuse,
        };
        kad.on_swarm_event(FromSwarm::ConnectionEstablished(ConnectionEstablished {
            peer_id: peer,
            connection_id: ConnectionId::new_unchecked(1),
            endpoint: &endpoint,
            failed_addresses: &[],
            other_established: 0,
        }));
    }

    fn addr(i: usize) -> Multiaddr {
        format!("/memory/{}", 1000 + i).parse().unwrap()
    }

    #[test]
    fn a_peer_for_a_full_bucket_is_not_added_and_dials_nothing() {
        let local = PeerId::random();
        let peers = same_bucket(local);
        let mut kad = kad_with(local, kad::BucketInserts::Manual);
        for (i, p) in peers[..20].iter().enumerate() {
            assert!(add_if_room(&mut kad, p, addr(i)), "room for the first 20");
        }
        assert_eq!(dials(&mut kad), 0);
        // The 21st, connected, finds the bucket full of disconnected entries.
        connect(&mut kad, peers[20]);
        assert!(!add_if_room(&mut kad, &peers[20], addr(20)));
        assert_eq!(dials(&mut kad), 0, "no liveness dial to the oldest entry");
        // A peer already in the table still gets its new address.
        assert!(add_if_room(&mut kad, &peers[3], addr(99)));
    }

    #[test]
    fn kademlias_own_add_address_dials_the_oldest_entry_of_a_full_bucket() {
        // What `add_if_room` avoids (and why): the same 21 peers added
        // with `add_address` make Kademlia dial the bucket's oldest entry.
        let local = PeerId::random();
        let peers = same_bucket(local);
        let mut kad = kad_with(local, kad::BucketInserts::OnConnected);
        for (i, p) in peers[..20].iter().enumerate() {
            kad.add_address(p, addr(i));
        }
        assert_eq!(dials(&mut kad), 0);
        connect(&mut kad, peers[20]);
        let update = kad.add_address(&peers[20], addr(20));
        assert!(matches!(update, kad::RoutingUpdate::Pending), "{update:?}");
        assert_eq!(dials(&mut kad), 1);
    }
}
