//! The composed libp2p behaviour of a Plexus node.

use libp2p::{
    connection_limits::{self, ConnectionLimits},
    identify,
    identity::Keypair,
    kad, mdns, memory_connection_limits, ping,
    swarm::{behaviour::toggle::Toggle, NetworkBehaviour},
};

use crate::{content::Store, discovery, pubsub, ratelimit::Rate, NodeConfig};

/// Every protocol a Plexus node speaks, one field per behaviour.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    /// Caps on connection counts.
    pub limits: connection_limits::Behaviour,
    /// Refuses new connections when memory runs short.
    pub memory: memory_connection_limits::Behaviour,
    /// Exchanges listen addresses and protocols with each peer.
    pub identify: identify::Behaviour,
    /// Measures round-trip times.
    pub ping: ping::Behaviour,
    /// The structured overlay: peer routing (and later provider records).
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    /// Local-network discovery; off with `--no-mdns`.
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// Blob transfer: range requests answered with verified chunk groups.
    pub(crate) blobs: crate::blobs::Behaviour,
    /// Flooding keyword search between neighbours.
    pub(crate) search: crate::search::Behaviour,
    /// Directory client (registering, publishing records, searching) and,
    /// on directory servers, the directory itself.
    pub(crate) directory: crate::directory::Behaviour,
    /// Publish/subscribe topics: signed messages, peer scoring, per-author
    /// limits, delivery to local subscribers.
    pub(crate) pubsub: pubsub::Behaviour,
}

impl Behaviour {
    /// Builds the behaviour for `key` from the node's settings, serving
    /// blobs from `store`.
    pub(crate) fn new(
        key: &Keypair,
        config: &NodeConfig,
        store: std::sync::Arc<Store>,
    ) -> std::io::Result<Self> {
        let local = key.public().to_peer_id();
        let limits = ConnectionLimits::default()
            .with_max_established(Some(config.max_connections))
            .with_max_established_per_peer(Some(config.max_connections_per_peer))
            .with_max_pending_incoming(Some(128))
            .with_max_pending_outgoing(Some(128));
        let identify = identify::Behaviour::new(
            identify::Config::new(discovery::IDENTIFY_PROTOCOL.to_string(), key.public())
                .with_agent_version(format!("plexus/{}", env!("CARGO_PKG_VERSION")))
                .with_push_listen_addr_updates(true),
        );
        let mdns = if config.mdns {
            Some(mdns::tokio::Behaviour::new(mdns::Config::default(), local)?)
        } else {
            None
        };
        Ok(Self {
            limits: connection_limits::Behaviour::new(limits),
            memory: memory_connection_limits::Behaviour::with_max_percentage(
                config.max_memory_fraction,
            ),
            identify,
            ping: ping::Behaviour::default(),
            kad: discovery::kademlia(local, config.dht_refresh),
            mdns: mdns.into(),
            blobs: crate::blobs::Behaviour::new(store),
            search: crate::search::Behaviour::new(
                local,
                config.flood.clone(),
                config.super_peer,
                config.idle_timeout,
            ),
            directory: crate::directory::Behaviour::new(
                key,
                discovery::bootstrap_peers(&config.directories).map_err(std::io::Error::other)?,
                config.directory_ttl,
                config.directory_server,
            ),
            pubsub: pubsub::Behaviour::new(
                key,
                Rate {
                    per_second: f64::from(config.pubsub_rate),
                    burst: config.pubsub_burst,
                },
                Rate {
                    per_second: f64::from(config.pubsub_peer_rate),
                    burst: config.pubsub_peer_burst,
                },
            )?,
        })
    }
}
