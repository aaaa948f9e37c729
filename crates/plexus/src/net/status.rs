//! The node's figures as `plexus status` shows them.

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

/// A snapshot of the node's state, from [`Node::status`](crate::Node::status).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeStatus {
    /// This node's peer id.
    pub peer_id: PeerId,
    /// Addresses the node listens on, each ending in `/p2p/PEERID`.
    pub listen_addrs: Vec<Multiaddr>,
    /// Peers with at least one open connection.
    pub connected_peers: usize,
    /// Established inbound connections (capped by `max_inbound`).
    #[serde(default)]
    pub inbound_connections: usize,
    /// Established outbound connections.
    #[serde(default)]
    pub outbound_connections: usize,
    /// Peers in the Kademlia routing table.
    pub routing_table_peers: usize,
    /// Its non-empty buckets, nearest first.
    #[serde(default)]
    pub routing_buckets: Vec<crate::discovery::BucketFill>,
    /// Whether mDNS discovery is on.
    pub mdns: bool,
    /// Flooding-search neighbours.
    #[serde(default)]
    pub search_neighbours: usize,
    /// Whether this node is a super-peer.
    #[serde(default)]
    pub super_peer: bool,
    /// Leaves whose records this super-peer indexes.
    #[serde(default)]
    pub indexed_leaves: usize,
    /// Directory servers configured.
    #[serde(default)]
    pub directories: usize,
    /// Bytes of blob responses being encoded or waiting for their peer to
    /// read them (at most 128 MiB; see `blobs/serve.rs`).
    #[serde(default)]
    pub serving_bytes: u64,
    /// DHT announcements (provider records) waiting or under way.
    #[serde(default)]
    pub announcing: usize,
    /// Of those, how many are under way (Kademlia queries running).
    #[serde(default)]
    pub announcing_now: usize,
    /// DHT announcements finished since start.
    #[serde(default)]
    pub announced: u64,
    /// Of those, how many failed (timed out).
    #[serde(default)]
    pub announce_failures: u64,
    /// Lost shards this node rebuilt and placed elsewhere since start.
    #[serde(default)]
    pub storage_repairs: u64,
    /// Bytes those repairs moved: the K shards fetched to rebuild plus the
    /// shard the new holder fetched.
    #[serde(default)]
    pub storage_repair_bytes: u64,
    /// Caps on blob traffic (bytes per second; none: no cap).
    #[serde(default)]
    pub rate_limits: crate::RateLimits,
    /// Blob response bytes sent to peers since start.
    #[serde(default)]
    pub blob_bytes_sent: u64,
    /// Blob response bytes read from peers since start.
    #[serde(default)]
    pub blob_bytes_received: u64,
    /// Compute for others: on or off, the units running now, counts.
    #[serde(default)]
    pub compute: crate::compute::ComputeStatus,
    /// Seconds since the node started.
    pub uptime_secs: u64,
    /// Reachability, external addresses, relay reservations, hole punches.
    #[serde(default)]
    pub nat: crate::nat::NatStatus,
}
