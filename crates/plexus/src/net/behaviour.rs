//! The composed libp2p behaviour of a Plexus node: connection limits
//! (overall, memory, inbound), then one field per protocol component. A new protocol adds one field here.

use libp2p::{
    connection_limits::{self, ConnectionLimits},
    identity::Keypair,
    memory_connection_limits,
    swarm::NetworkBehaviour,
    Multiaddr, PeerId,
};

use crate::{
    blobs, content::Store, directory, discovery, inbound, nat, pubsub, ratelimit::Rate, search,
    storage, NodeConfig,
};

/// Every protocol a Plexus node speaks, one field per component.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    /// Caps on connection counts.
    pub(crate) limits: connection_limits::Behaviour,
    /// Caps on inbound connections, per IP and in total, below the overall
    /// cap so outbound dials always have room.
    pub(crate) inbound: inbound::Behaviour,
    /// Refuses new connections when memory runs short.
    pub(crate) memory: memory_connection_limits::Behaviour,
    /// Notes each connection's path for the byte counts; before the
    /// protocols, whose codecs read the note.
    pub(crate) path_note: crate::metrics::PathNote,
    /// Moves this node's own connections to the preferred transport.
    pub(crate) transport_choice: crate::transport_choice::Behaviour,
    /// Identify, ping, Kademlia and mDNS: finding peers and providers.
    pub(crate) discovery: discovery::Behaviour,
    /// NAT traversal: AutoNAT, relay service and reservations, hole punching.
    pub(crate) nat: nat::Behaviour,
    /// Blob transfer: range requests answered with verified chunk groups.
    pub(crate) blobs: blobs::Behaviour,
    /// Flooding keyword search between neighbours.
    pub(crate) search: search::Behaviour,
    /// Directory client (registering, publishing records, searching) and,
    /// on directory servers, the directory itself.
    pub(crate) directory: directory::Behaviour,
    /// Publish/subscribe topics: signed messages, peer scoring, per-author
    /// limits, delivery to local subscribers.
    pub(crate) pubsub: pubsub::Behaviour,
    /// Storage for others: offers, shards handed over, releases.
    pub(crate) storage: storage::Behaviour,
    /// Compute for others: units asked of workers and answered.
    pub(crate) compute: crate::compute::Behaviour,
}

impl Behaviour {
    /// Builds the behaviour for `key` from the node's settings, serving
    /// blobs from `store` and bootstrapping from `bootstrap`; `relay_client`
    /// is the swarm builder's (none with a swarm key).
    pub(crate) fn new(
        key: &Keypair,
        config: &NodeConfig,
        store: std::sync::Arc<Store>,
        bandwidth: std::sync::Arc<crate::bandwidth::Bandwidth>,
        bootstrap: Vec<(PeerId, Multiaddr)>,
        relay_client: Option<libp2p::relay::client::Behaviour>,
        traffic: crate::metrics::Traffic,
    ) -> std::io::Result<Self> {
        let local = key.public().to_peer_id();
        let limits = ConnectionLimits::default()
            .with_max_established(Some(config.max_connections))
            .with_max_established_per_peer(Some(config.max_connections_per_peer))
            .with_max_pending_incoming(Some(128))
            .with_max_pending_outgoing(Some(128));
        Ok(Self {
            limits: connection_limits::Behaviour::new(limits),
            inbound: inbound::Behaviour::new(config.inbound_cap(), config.max_inbound_per_ip),
            memory: memory_connection_limits::Behaviour::with_max_percentage(
                config.max_memory_fraction,
            ),
            path_note: crate::metrics::PathNote::new(traffic.clone()),
            transport_choice: crate::transport_choice::Behaviour::new(config.prefer_transport),
            discovery: discovery::Behaviour::new(
                key,
                config.dht_refresh,
                config.mdns && !config.memory_transport,
                bootstrap,
            )?,
            nat: nat::Behaviour::new(local, &config.nat, relay_client),
            blobs: blobs::Behaviour::new(store, bandwidth, traffic.clone()),
            search: search::Behaviour::new(
                local,
                config.flood.clone(),
                config.super_peer,
                config.idle_timeout,
                traffic.clone(),
            ),
            directory: directory::Behaviour::new(
                key,
                discovery::bootstrap_peers(&config.directories).map_err(std::io::Error::other)?,
                config.directory_ttl,
                config.directory_server,
                traffic.clone(),
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
            storage: storage::Behaviour::new(traffic.clone()),
            compute: crate::compute::Behaviour::new(traffic),
        })
    }
}
