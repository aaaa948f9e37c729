//! The running node: a [`Node`] handle that talks, through a command channel,
//! to the one task that owns the libp2p swarm (see [`event_loop`]).

mod behaviour;
mod blob_network;
mod event_loop;
mod subscription;

use std::{fs, time::Duration};

use libp2p::{noise, tcp, yamux, Multiaddr, PeerId};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

pub(crate) use behaviour::Behaviour;
use event_loop::{Command, EventLoop};
pub use subscription::Subscription;

use crate::{
    content::{self, publish, BlobFormat, Hash, Metadata, Store, Ticket},
    discovery, identity, pubsub,
    search::{self, SearchHit, SearchStats},
    transfer::{download, DownloadStats, GetOptions, Progress},
    Error, NodeConfig,
};

/// How long start-up waits for the listeners to report their addresses.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// A snapshot of the node's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeStatus {
    /// This node's peer id.
    pub peer_id: PeerId,
    /// Addresses the node listens on, each ending in `/p2p/PEERID`.
    pub listen_addrs: Vec<Multiaddr>,
    /// Peers with at least one open connection.
    pub connected_peers: usize,
    /// Peers in the Kademlia routing table.
    pub routing_table_peers: usize,
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
    /// Seconds since the node started.
    pub uptime_secs: u64,
}

/// One peer the node knows: connected, in the routing table, or both.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerEntry {
    /// The peer's id.
    pub peer_id: PeerId,
    /// Whether a connection is open now.
    pub connected: bool,
    /// Whether the peer is in the Kademlia routing table.
    pub in_routing_table: bool,
    /// Known addresses of the peer.
    pub addrs: Vec<Multiaddr>,
    /// The agent string it announced over identify.
    pub agent: Option<String>,
    /// Last measured round-trip time in milliseconds.
    pub rtt_ms: Option<f64>,
    /// The pub/sub (gossipsub) score this node gives the peer; negative
    /// means it misbehaved (invalid or flooded messages).
    #[serde(default)]
    pub pubsub_score: Option<f64>,
}

/// The answer to a DHT peer lookup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FoundPeer {
    /// The peer that was looked up.
    pub peer_id: PeerId,
    /// Its addresses as the DHT reported them.
    pub addrs: Vec<Multiaddr>,
    /// Whether it was connected to this node when the lookup began.
    pub was_connected: bool,
    /// How many peers the lookup asked.
    pub requests: u32,
    /// How long the lookup took, in milliseconds.
    pub millis: u64,
}

/// Content that was shared: its ticket, name and size.
#[derive(Debug, Clone)]
pub struct Shared {
    /// Everything a peer needs to fetch it.
    pub ticket: Ticket,
    /// The file or folder name.
    pub name: String,
    /// Total bytes.
    pub size: u64,
    /// Tags recorded with it.
    pub tags: Vec<String>,
}

/// A download under way: watch [`Download::progress`], await [`Download::finish`].
pub struct Download {
    /// Live figures.
    pub progress: tokio::sync::watch::Receiver<Progress>,
    task: tokio::task::JoinHandle<Result<DownloadStats, Error>>,
}

impl Download {
    /// Stops the download; verified ranges already committed stay stored.
    pub fn abort(self) {
        self.task.abort();
    }

    /// Waits for the end and returns the figures.
    pub async fn finish(self) -> Result<DownloadStats, Error> {
        self.task
            .await
            .map_err(|e| Error::Store(format!("download task failed: {e}")))?
    }
}

/// Handle to a running node; clone it freely. The node stops when
/// [`Node::shutdown`] is called or every handle is dropped.
#[derive(Debug, Clone)]
pub struct Node {
    peer_id: PeerId,
    key: libp2p::identity::Keypair,
    store: std::sync::Arc<Store>,
    listen_addrs: Vec<Multiaddr>,
    commands: mpsc::Sender<Command>,
}

impl Node {
    /// Starts a node: loads (or creates) its identity, binds every listen
    /// address, dials the bootstrap peers and returns once listening.
    pub async fn start(config: NodeConfig) -> Result<Self, Error> {
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
        let lock = lock_data_dir(&config)?;
        let key = identity::load_or_create(&config.data_dir)?;
        let store = Store::open(&config.data_dir)?;
        let mut swarm = build_swarm(key.clone(), &config, store.clone())?;
        let behaviour = swarm.behaviour_mut();
        for record in store.records()? {
            behaviour.search.set_own_record(record);
        }
        behaviour
            .directory
            .set_own_records(behaviour.search.own_records());
        let mut event_loop = EventLoop::new(swarm, config.mdns, bootstrap, lock);
        event_loop.listen(&config.listen, LISTEN_TIMEOUT).await?;
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
            commands,
        };
        // Announce what the store already holds.
        for (hash, _) in node.store.shares()? {
            crate::transfer::network::BlobNetwork::provide(&node, hash).await;
        }
        Ok(node)
    }

    /// Imports a file or folder, records its name, announces it, and
    /// returns what a peer needs to fetch it.
    pub async fn share(&self, path: &std::path::Path) -> Result<Shared, Error> {
        self.share_with(path, None, Vec::new()).await
    }

    /// Like [`Node::share`], with a name (default: the file or folder name)
    /// and tags recorded in a signed metadata record that searches find.
    pub async fn share_with(
        &self,
        path: &std::path::Path,
        name: Option<String>,
        tags: Vec<String>,
    ) -> Result<Shared, Error> {
        publish::check_meta(name.as_deref().unwrap_or("x"), &tags)?;
        let store = self.store.clone();
        let owned = path.to_path_buf();
        let (hash, format, size) =
            content::blocking(move || content::share::import_path(&store, &owned)).await?;
        let name = name.unwrap_or_else(|| {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| hash.to_string())
        });
        self.sign_and_publish(hash, format, size, name.clone(), tags.clone())
            .await?;
        Ok(Shared {
            tags,
            ticket: Ticket {
                hash,
                format,
                provider: self.peer_id,
                addrs: self.listen_addrs.clone(),
                name: Some(name.clone()),
            },
            name,
            size,
        })
    }

    /// Records a name and tags for content already in the store, signs
    /// them and publishes them (to super-peers and directories).
    pub async fn publish_meta(
        &self,
        hash: Hash,
        name: String,
        tags: Vec<String>,
    ) -> Result<Metadata, Error> {
        publish::check_meta(&name, &tags)?;
        let store = self.store.clone();
        let (format, size) = content::blocking(move || publish::describe(&store, &hash)).await?;
        self.sign_and_publish(hash, format, size, name, tags).await
    }

    /// Records the name, announces the hash in the DHT, and signs and
    /// publishes the metadata record.
    async fn sign_and_publish(
        &self,
        hash: Hash,
        format: BlobFormat,
        size: u64,
        name: String,
        tags: Vec<String>,
    ) -> Result<Metadata, Error> {
        let (store, key) = (self.store.clone(), self.key.clone());
        let (meta, record) = content::blocking(move || {
            publish::record(&store, &key, hash, format, size, name, tags)
        })
        .await?;
        crate::transfer::network::BlobNetwork::provide(self, hash).await;
        // Answered once the event loop uses the record, so a search that
        // starts after this returns sees it.
        self.ask(|reply| Command::PublishRecord { record, reply })
            .await?;
        Ok(meta)
    }

    /// Removes content from the store (for a folder, also its files that no
    /// other share uses), stops announcing and serving it, and stops
    /// publishing its record; returns whether it was there.
    pub async fn remove(&self, hash: Hash) -> Result<bool, Error> {
        let store = self.store.clone();
        let removed = content::blocking(move || content::share::remove(&store, &hash)).await?;
        let existed = removed.contains(&hash);
        self.ask(|reply| Command::Unpublish {
            hash,
            removed,
            reply,
        })
        .await?;
        Ok(existed)
    }

    /// Searches by keywords: floods the query to neighbours with `ttl`
    /// (at most 7; 0 floods to nobody) and asks the configured directories. Verified,
    /// de-duplicated hits arrive on the receiver as they come; drop it to
    /// end the search.
    pub async fn search(
        &self,
        words: Vec<String>,
        ttl: u8,
    ) -> Result<mpsc::Receiver<SearchHit>, Error> {
        let (hits, rx) = mpsc::channel(1024);
        self.ask(|reply| Command::StartSearch {
            words,
            ttl,
            hits,
            reply,
        })
        .await??;
        Ok(rx)
    }

    /// Figures of the flooding search on this node.
    pub async fn search_stats(&self) -> Result<SearchStats, Error> {
        self.ask(|reply| Command::Search(search::Command::Stats { reply }))
            .await
    }

    /// Starts fetching `hash` from the given providers and the DHT; the
    /// handle reports progress and resolves to the download's figures.
    pub fn get(&self, hash: Hash, format: Option<BlobFormat>, options: GetOptions) -> Download {
        let (tx, rx) = tokio::sync::watch::channel(Progress::default());
        let node = self.clone();
        let task = tokio::spawn(async move {
            let stats = download::fetch(&node, &node.store, hash, format, &options, &tx).await?;
            // Remember what was fetched so it is served and listed by name.
            let (store, format) = (node.store.clone(), stats.format);
            content::blocking(move || publish::remember_fetched(&store, &hash, format)).await?;
            Ok(stats)
        });
        Download { progress: rx, task }
    }

    /// The node's content store.
    pub fn store(&self) -> &std::sync::Arc<Store> {
        &self.store
    }

    /// Peers that announced `hash` in the DHT.
    pub async fn find_providers(&self, hash: Hash) -> Result<Vec<PeerId>, Error> {
        self.ask(|reply| Command::FindProviders { hash, reply })
            .await
    }

    /// Subscribes to `topic` (1 to 64 letters, digits, `.`, `_`, `-`): the
    /// returned [`Subscription`] yields every message published on it from
    /// now on, each exactly once. Dropping it unsubscribes.
    pub async fn subscribe(&self, topic: &str) -> Result<Subscription, Error> {
        let (id, rx) = self
            .ask(|reply| {
                Command::Pubsub(pubsub::Command::Subscribe {
                    topic: topic.to_string(),
                    reply,
                })
            })
            .await??;
        Ok(Subscription::new(
            topic.to_string(),
            id,
            rx,
            self.commands.clone(),
        ))
    }

    /// Publishes `data` (at most [`crate::pubsub::MAX_MESSAGE_BYTES`]) on
    /// `topic`, signed by this node; returns how many subscribed peers it
    /// knows. Fails with [`Error::NoTopicPeers`] when it knows none.
    pub async fn publish(&self, topic: &str, data: impl Into<Vec<u8>>) -> Result<usize, Error> {
        let data = data.into();
        self.ask(|reply| {
            Command::Pubsub(pubsub::Command::Publish {
                topic: topic.to_string(),
                data,
                reply,
            })
        })
        .await?
    }

    /// Peers known to be subscribed to `topic`.
    pub async fn topic_peers(&self, topic: &str) -> Result<Vec<PeerId>, Error> {
        self.ask(|reply| {
            Command::Pubsub(pubsub::Command::TopicPeers {
                topic: topic.to_string(),
                mesh: false,
                reply,
            })
        })
        .await
    }

    /// Peers this node forwards full messages to on `topic` (its gossipsub
    /// mesh, built at each heartbeat from the subscribed peers).
    pub async fn mesh_peers(&self, topic: &str) -> Result<Vec<PeerId>, Error> {
        self.ask(|reply| {
            Command::Pubsub(pubsub::Command::TopicPeers {
                topic: topic.to_string(),
                mesh: true,
                reply,
            })
        })
        .await
    }

    /// The gossipsub score this node gives `peer` (negative: misbehaving),
    /// if it has one.
    pub async fn peer_score(&self, peer: PeerId) -> Result<Option<f64>, Error> {
        self.ask(|reply| Command::Pubsub(pubsub::Command::PeerScore { peer, reply }))
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
        self.ask(|reply| Command::Status { reply }).await
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
        self.ask(|reply| Command::FindPeer { peer, reply }).await?
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

/// Takes an exclusive lock on `data_dir/node.lock` so two nodes never share
/// one identity and store. The lock is released when the file is dropped.
fn lock_data_dir(config: &NodeConfig) -> Result<fs::File, Error> {
    let path = config.data_dir.join("node.lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| Error::DataDir {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(Error::DataDirLocked(config.data_dir.clone())),
        Err(fs::TryLockError::Error(source)) => Err(Error::DataDir { path, source }),
    }
}

fn build_swarm(
    key: libp2p::identity::Keypair,
    config: &NodeConfig,
    store: std::sync::Arc<Store>,
) -> Result<libp2p::Swarm<Behaviour>, Error> {
    let setup = |e: &dyn std::fmt::Display| Error::Setup(e.to_string());
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| setup(&e))?
        // Larger QUIC flow-control windows than the defaults so one connection
        // can carry a bulk transfer at loopback speed (checked by the
        // transfer benchmark).
        .with_quic_config(|mut quic| {
            quic.max_stream_data = 16 * 1024 * 1024;
            quic.max_connection_data = 64 * 1024 * 1024;
            quic
        })
        .with_behaviour(|key| {
            Behaviour::new(key, config, store.clone())
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })
        })
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_timeout))
        .build();
    Ok(swarm)
}
