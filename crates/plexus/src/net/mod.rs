//! The running node: a [`Node`] handle that talks, through a command channel,
//! to the one task that owns the libp2p swarm (the event loop, which routes
//! each command to the protocol component it is for).
//!
//! The handle's methods are grouped by what they are about: content
//! (`content.rs`), search (`search.rs`), topics (`pubsub.rs`); the rest —
//! start, status, peers, lookups, shutdown — is here.

mod behaviour;
mod blob_network;
mod compute;
mod content;
mod event_loop;
mod pubsub;
mod search;
mod setup;
mod status;
mod storage;
mod subscription;

use std::{fs, time::Duration};

use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

pub(crate) use behaviour::Behaviour;
pub use content::{Download, Shared};
use event_loop::{Command, EventLoop};
pub use status::NodeStatus;
pub use subscription::Subscription;

use crate::{
    content::{Hash, Store},
    discovery::{self, FoundPeer, PeerEntry, ProviderLookup},
    identity, Error, NodeConfig,
};

/// How long start-up waits for the listeners to report their addresses.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Handle to a running node; clone it freely. The node stops when
/// [`Node::shutdown`] is called or every handle is dropped.
///
/// [`Node::start`] takes a [`NodeConfig`]. Content: [`Node::share`] gives a
/// [`Shared`] with its [`Ticket`](crate::content::Ticket); [`Node::get`] a
/// [`Download`]; what is held is in [`Node::store`] ([`Store`]). Topics:
/// [`Node::subscribe`] gives a [`Subscription`] of
/// [`Message`](crate::Message)s; [`Node::publish`] sends one. Search:
/// [`Node::search`] streams [`SearchHit`](crate::search::SearchHit)s.
/// Figures: [`Node::status`] gives a [`NodeStatus`]. Every failure is an
/// [`Error`].
#[derive(Debug, Clone)]
pub struct Node {
    peer_id: PeerId,
    key: libp2p::identity::Keypair,
    store: std::sync::Arc<Store>,
    listen_addrs: Vec<Multiaddr>,
    /// Has a swarm key (a private network).
    private: bool,
    /// Storage pins and quota.
    pins: std::sync::Arc<crate::storage::pins::Pins>,
    /// Caps on blob traffic and its counters.
    bandwidth: std::sync::Arc<crate::bandwidth::Bandwidth>,
    /// The node's metrics registry.
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// Compute for others, and jobs this node runs.
    compute: std::sync::Arc<crate::compute::service::Service>,
    commands: mpsc::Sender<Command>,
}

impl Node {
    /// Starts a node: loads (or creates) its identity, binds every listen
    /// address, dials the bootstrap peers and returns once listening.
    pub async fn start(config: NodeConfig) -> Result<Self, Error> {
        // A private network runs over TCP only (pnet cannot protect QUIC).
        let psk = config
            .swarm_key
            .as_deref()
            .map(crate::swarm_key::load)
            .transpose()?;
        let listen = match psk {
            Some(_) => crate::swarm_key::tcp_only(&config.listen)?,
            None => config.listen.clone(),
        };
        let bootstrap = discovery::bootstrap_peers(&config.bootstrap)?;
        // Checked here for a clear message; the directory component takes them from the config.
        discovery::bootstrap_peers(&config.directories).map_err(|e| match e {
            Error::BootstrapWithoutPeerId(addr) => Error::BadInput(format!(
                "directory address {addr} must end with /p2p/PEERID (the directory prints its full address when it starts)"
            )),
            e => e,
        })?;
        fs::create_dir_all(&config.data_dir).map_err(|source| Error::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let lock = setup::lock_data_dir(&config)?;
        let key = identity::load_or_create(&config.data_dir)?;
        let store = Store::open(&config.data_dir)?;
        let pins = std::sync::Arc::new(crate::storage::pins::Pins::open(
            &config.data_dir,
            config.offer_storage,
        )?);
        let bandwidth = crate::bandwidth::Bandwidth::new(config.rate_limits);
        let mut metrics = crate::metrics::Metrics::new();
        let mut swarm = setup::build_swarm(
            key.clone(),
            &config,
            psk,
            store.clone(),
            bandwidth.clone(),
            bootstrap,
            &mut metrics,
        )?;
        let metrics = std::sync::Arc::new(metrics);
        let behaviour = swarm.behaviour_mut();
        behaviour.discovery.metrics = Some(metrics.recorders().libp2p.clone());
        behaviour.pubsub.metrics = Some(metrics.recorders().clone());
        let inbound = behaviour.storage.take_inbound().expect("taken once");
        let compute_inbound = behaviour.compute.take_inbound().expect("taken once");
        for record in store.records()? {
            behaviour.search.set_own_record(record);
        }
        behaviour
            .directory
            .set_own_records(behaviour.search.own_records());
        let mdns = config.mdns && !config.memory_transport;
        let mut event_loop = EventLoop::new(swarm, mdns, config.swarm_key.is_some(), lock);
        event_loop.record_to(metrics.recorders().libp2p.clone());
        event_loop.listen(&listen, LISTEN_TIMEOUT).await?;
        event_loop.bootstrap();
        let peer_id = event_loop.peer_id();
        let listen_addrs = event_loop.listen_addrs();
        let (commands, rx) = mpsc::channel(64);
        tokio::spawn(event_loop.run(rx));
        let node = Self {
            peer_id,
            key,
            store,
            listen_addrs,
            private: config.swarm_key.is_some(),
            pins,
            bandwidth,
            metrics,
            compute: crate::compute::service::Service::new(config.compute.clone()),
            commands,
        };
        node.start_compute(compute_inbound).await;
        node.start_storage(
            inbound,
            config.storage_probe_every,
            config.storage_repair_after,
        )
        .await;
        // Announce what the store already holds (queued in discovery, a
        // bounded number at a time).
        let hashes = node.store.shares()?.into_iter().map(|(h, _)| h).collect();
        let _ = node
            .commands
            .send(Command::Discovery(discovery::Command::ProvideStored {
                hashes,
            }))
            .await;
        Ok(node)
    }

    /// Peers that announced `hash` in the DHT.
    pub async fn find_providers(&self, hash: Hash) -> Result<Vec<PeerId>, Error> {
        Ok(self.lookup_providers(hash).await?.providers)
    }

    /// Peers that announced `hash` in the DHT, with the requests, time and
    /// hops the lookup took.
    pub async fn lookup_providers(&self, hash: Hash) -> Result<ProviderLookup, Error> {
        self.ask(|reply| Command::Discovery(discovery::Command::FindProviders { hash, reply }))
            .await
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The addresses the node listened on at start, each ending in `/p2p/PEERID`.
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen_addrs
    }

    /// A snapshot of counts and addresses.
    pub async fn status(&self) -> Result<NodeStatus, Error> {
        let mut status: NodeStatus = self.ask(|reply| Command::Status { reply }).await?;
        (status.storage_repairs, status.storage_repair_bytes) = self.pins.repairs();
        status.rate_limits = self.bandwidth.limits();
        (status.blob_bytes_sent, status.blob_bytes_received) = self.bandwidth.totals();
        status.compute = self.compute.status();
        Ok(status)
    }

    /// Every metric in the Prometheus text format: libp2p's (connections,
    /// Kademlia, gossipsub, identify, ping, bytes per transport) and
    /// Plexus's (bytes served and fetched, verified and corrupt data,
    /// liars, downloads, store size, search, topics). See the README's
    /// "Metrics" section.
    pub async fn metrics_text(&self) -> Result<String, Error> {
        let (blob_bytes_served, blob_bytes_fetched) = self.bandwidth.totals();
        let store = self.store.clone();
        let blobs = crate::content::blocking(move || store.list()).await?;
        let search = self.search_stats().await?;
        Ok(self.metrics.encode(crate::metrics::Snapshot {
            blob_bytes_served,
            blob_bytes_fetched,
            store_bytes: blobs.iter().map(|b| b.present_bytes).sum(),
            store_blobs: blobs.len() as u64,
            search_handled: search.queries_handled,
            search_forwarded: search.queries_forwarded,
            search_duplicates: search.duplicates,
            search_refused: search.refused,
        }))
    }

    /// The caps on blob traffic now.
    pub fn rate_limits(&self) -> crate::RateLimits {
        self.bandwidth.limits()
    }

    /// Changes the caps on blob traffic; transfers under way follow at once.
    pub fn set_rate_limits(&self, limits: crate::RateLimits) {
        tracing::info!(?limits, "blob traffic caps changed");
        self.bandwidth.set_limits(limits);
    }

    /// Every peer the node is connected to or has in its routing table.
    pub async fn peers(&self) -> Result<Vec<PeerEntry>, Error> {
        self.ask(|reply| Command::Peers { reply }).await
    }

    /// Connects to `addr` and returns the peer id that answered.
    pub async fn connect(&self, addr: Multiaddr) -> Result<PeerId, Error> {
        self.ask(|reply| Command::Dial { addr, reply }).await?
    }

    /// Looks `peer` up in the DHT (an iterative Kademlia query) and returns
    /// the addresses found for it.
    pub async fn find_peer(&self, peer: PeerId) -> Result<FoundPeer, Error> {
        self.ask(|reply| Command::Discovery(discovery::Command::FindPeer { peer, reply }))
            .await?
    }

    /// Closes every connection and stops the event loop; waits until it has.
    pub async fn shutdown(&self) {
        let _ = self.ask(|reply| Command::Shutdown { reply }).await;
        self.store.close();
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)
    }
}
