//! Node settings: [`NodeConfig`] for the library, [`FileConfig`] for the
//! optional `config.toml` in the data directory.

use std::{path::PathBuf, time::Duration};

use libp2p::Multiaddr;

mod file;
pub use file::{parse_size, FileConfig};

/// Name of the optional config file inside the data directory.
pub const CONFIG_FILE: &str = "config.toml";

/// Default TCP listen address.
pub const DEFAULT_TCP_LISTEN: &str = "/ip4/0.0.0.0/tcp/4001";
/// Default QUIC listen address.
pub const DEFAULT_QUIC_LISTEN: &str = "/ip4/0.0.0.0/udp/4001/quic-v1";

/// Everything a [`crate::Node`] needs to start ([`crate::Node::start`]):
/// [`NodeConfig::new`] for a node on the network, [`NodeConfig::loopback`]
/// for one on 127.0.0.1 (tests, examples).
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where the identity (and later the store) live.
    pub data_dir: PathBuf,
    /// Addresses to listen on; port 0 picks a free port.
    pub listen: Vec<Multiaddr>,
    /// Peers to join the network through (`.../p2p/PEERID`).
    pub bootstrap: Vec<Multiaddr>,
    /// Find peers on the local network by multicast DNS.
    pub mdns: bool,
    /// Close connections nothing has used for this long.
    pub idle_timeout: Duration,
    /// Most established connections in total.
    pub max_connections: u32,
    /// Most established connections to one peer.
    pub max_connections_per_peer: u32,
    /// Most established inbound connections (default 448). Never more than
    /// `max_connections` less the room kept for dialling out (a quarter of
    /// it, at most 64; see [`NodeConfig::inbound_cap`]), so a flood of
    /// inbound connections cannot stop the node from dialling providers.
    pub max_inbound: u32,
    /// Most inbound connections, pending or established, from one IP address
    /// (one /64 for IPv6); default 8 ([`NodeConfig::loopback`]: no limit
    /// below `max_connections`, as all its peers share 127.0.0.1). Outbound
    /// connections are not counted.
    pub max_inbound_per_ip: u32,
    /// Refuse new connections once the process uses this share of system memory.
    pub max_memory_fraction: f64,
    /// How often the DHT routing table is refreshed: a lookup of this
    /// node's own id and one of a random key (`discovery/refresh.rs`;
    /// default 5 minutes, at least 1 s). Kademlia's full bootstrap runs at
    /// start-up and while the table holds fewer than 20 peers.
    pub dht_refresh: Duration,
    /// Directory servers to register with, publish to and search
    /// (`.../p2p/PEERID`).
    pub directories: Vec<Multiaddr>,
    /// Run as a directory server: accept rendezvous registrations and
    /// index published records.
    pub directory_server: bool,
    /// How long directory registrations and records live unless renewed;
    /// clients renew at half of it.
    pub directory_ttl: Duration,
    /// Index neighbours' records and answer for them (a super-peer), so
    /// queries need fewer messages.
    pub super_peer: bool,
    /// Limits of the flooding search.
    pub flood: crate::search::FloodConfig,
    /// Pub/sub messages a second accepted (and relayed) from one author.
    pub pubsub_rate: u32,
    /// Pub/sub messages accepted from one author in a burst.
    pub pubsub_burst: u32,
    /// Pub/sub messages a second accepted from one delivering peer, whoever
    /// their authors (a fresh key per message does not get around it).
    /// Default 4 x `pubsub_rate`: a relay passes on several authors at once.
    /// Never below `pubsub_rate`. Messages over it are rejected and lower
    /// the peer's gossipsub score.
    pub pubsub_peer_rate: u32,
    /// Pub/sub messages accepted from one delivering peer in a burst
    /// (default 4 x `pubsub_burst`; never below it).
    pub pubsub_peer_burst: u32,
    /// A swarm key file (IPFS `swarm.key` format): only nodes with the same
    /// key can connect (a private network). TCP only: QUIC listen
    /// addresses are dropped, since pnet cannot protect QUIC. See
    /// [`crate::swarm_key`].
    pub swarm_key: Option<PathBuf>,
    /// NAT traversal: relay service limits, reservations kept while private.
    pub nat: crate::nat::NatConfig,
    /// Bytes of disk offered to store other peers' shards (0: none).
    pub offer_storage: u64,
    /// How often a holder asks the other holders of its objects whether
    /// they still hold their shards.
    pub storage_probe_every: Duration,
    /// How long a holder may be unreachable before its shard is rebuilt
    /// and placed elsewhere.
    pub storage_repair_after: Duration,
    /// Run on libp2p's in-process memory transport (`/memory/PORT`
    /// addresses) instead of TCP and QUIC: **only for tests and
    /// simulations** of many nodes in one process ([`NodeConfig::memory`]).
    /// Such a node binds no socket, runs no mDNS and no NAT traversal
    /// (relay, hole punching, AutoNAT), and reaches only nodes of the same
    /// process. Not available with a swarm key.
    pub memory_transport: bool,
    /// Caps on blob traffic, across all peers (default: none).
    pub rate_limits: crate::RateLimits,
    /// The transport this node keeps to a peer reachable over both TCP
    /// and QUIC: once it knows the peer's address over this one, it dials
    /// it too and closes its own connection over the other (see
    /// [`crate::Transport`]). Default `Some(Tcp)`, the faster of the two
    /// here: `plexus bench` moves 0.76-1.08x as much over QUIC as over TCP
    /// (below 1 in most runs), and QUIC costs more CPU per byte. `None`
    /// keeps whichever connects first.
    pub prefer_transport: Option<crate::Transport>,
    /// Compute for others (off by default) and its limits.
    pub compute: crate::compute::ComputeConfig,
}

impl NodeConfig {
    /// Defaults for a node whose data lives in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen: vec![
                DEFAULT_TCP_LISTEN.parse().expect("valid"),
                DEFAULT_QUIC_LISTEN.parse().expect("valid"),
            ],
            bootstrap: Vec::new(),
            mdns: true,
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
            max_connections_per_peer: 4,
            max_inbound: 512 - 64,
            max_inbound_per_ip: 8,
            max_memory_fraction: 0.9,
            dht_refresh: Duration::from_secs(5 * 60),
            directories: Vec::new(),
            directory_server: false,
            directory_ttl: Duration::from_secs(10 * 60),
            super_peer: false,
            flood: Default::default(),
            pubsub_rate: 50,
            pubsub_burst: 100,
            pubsub_peer_rate: 200,
            pubsub_peer_burst: 400,
            swarm_key: None,
            prefer_transport: Some(crate::Transport::Tcp),
            nat: crate::nat::NatConfig::default(),
            offer_storage: 0,
            storage_probe_every: Duration::from_secs(60),
            storage_repair_after: Duration::from_secs(15 * 60),
            memory_transport: false,
            rate_limits: crate::RateLimits::default(),
            compute: crate::compute::ComputeConfig::default(),
        }
    }

    /// The established inbound connections allowed: `max_inbound`, but
    /// never more than `max_connections` less a quarter of it (at most 64),
    /// which stays free for outbound connections.
    pub fn inbound_cap(&self) -> u32 {
        let reserved = (self.max_connections / 4).clamp(1, 64);
        self.max_inbound
            .min(self.max_connections.saturating_sub(reserved))
    }

    /// A node on 127.0.0.1 with OS-chosen ports, no mDNS and no per-IP
    /// inbound limit: handy for tests and in-process demos.
    pub fn loopback(data_dir: impl Into<PathBuf>) -> Self {
        let mut config = Self::new(data_dir);
        config.listen = vec![
            "/ip4/127.0.0.1/tcp/0".parse().expect("valid"),
            "/ip4/127.0.0.1/udp/0/quic-v1".parse().expect("valid"),
        ];
        config.mdns = false;
        // Every peer of such a node is on 127.0.0.1 too.
        config.max_inbound_per_ip = config.max_connections;
        config
    }
}

impl NodeConfig {
    /// A node on libp2p's in-process memory transport (`/memory/0`: a free
    /// port is picked), for tests and simulations only: no socket, no
    /// mDNS, no NAT traversal, no per-IP inbound limit (see
    /// [`NodeConfig::memory_transport`]).
    pub fn memory(data_dir: impl Into<PathBuf>) -> Self {
        let mut config = Self::new(data_dir);
        config.listen = vec!["/memory/0".parse().expect("valid")];
        config.mdns = false;
        config.memory_transport = true;
        config.max_inbound_per_ip = config.max_connections;
        config
    }
}

/// The platform data directory for Plexus (e.g. `~/.local/share/plexus`).
pub fn default_data_dir() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("plexus")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_leaves_room_for_outbound() {
        let mut config = NodeConfig::new("x");
        assert_eq!(config.inbound_cap(), 448);
        config.max_connections = 100;
        assert_eq!(config.inbound_cap(), 75);
        config.max_inbound = 20;
        assert_eq!(config.inbound_cap(), 20);
        config.max_connections = 4000;
        config.max_inbound = 10_000;
        assert_eq!(config.inbound_cap(), 4000 - 64);
        config.max_connections = 1;
        assert_eq!(config.inbound_cap(), 0);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "max_inbound = 30\nmax_inbound_per_ip = 2\n",
        )
        .unwrap();
        FileConfig::load(dir.path()).unwrap().apply(&mut config);
        assert_eq!((config.max_inbound, config.max_inbound_per_ip), (30, 2));
    }
}
