//! The task that owns the swarm. Everything else reaches it through
//! [`Command`]s with reply channels; no lock ever guards the swarm.
//!
//! The loop only routes: each command to the component it is for, and the
//! few events one component raises for another (directory hits to the
//! search, peers found by the directory or mDNS to Kademlia and the search
//! neighbours). Each protocol's rules live in its component.

mod command;
mod listen;

use std::{
    collections::HashSet,
    fs::File,
    time::{Duration, Instant},
};

use futures::StreamExt;
use libp2p::{
    core::transport::ListenerId,
    swarm::{dial_opts::DialOpts, ConnectionId, SwarmEvent},
    Multiaddr, PeerId, Swarm,
};
use tokio::sync::{mpsc, oneshot};

use super::{
    behaviour::{Behaviour, BehaviourEvent},
    status::NodeStatus,
};
use crate::{
    directory,
    discovery::{self, FoundPeer, PeerEntry},
    guard::guarded,
    nat, Error,
};
pub(crate) use command::Command;

/// How often the node checks that it still has peers and redials its
/// bootstrap list when it has none.
const RECONNECT_CHECK: Duration = Duration::from_secs(30);

pub(crate) struct EventLoop {
    swarm: Swarm<Behaviour>,
    mdns: bool,
    /// The node has a swarm key (a private network); for dial errors.
    private: bool,
    started: Instant,
    /// Explicit connects waiting for their connection.
    dials: std::collections::HashMap<
        ConnectionId,
        (Multiaddr, oneshot::Sender<Result<PeerId, Error>>),
    >,
    /// Listeners that have reported an address, and the first one that failed.
    listeners_up: HashSet<ListenerId>,
    listener_failed: Option<(ListenerId, String)>,
    /// libp2p's metrics, where swarm events are recorded (see [`crate::metrics`]).
    metrics: Option<std::sync::Arc<libp2p::metrics::Metrics>>,
    /// Held for the node's lifetime: the data directory's exclusive lock.
    _lock: File,
}

impl EventLoop {
    pub(crate) fn new(swarm: Swarm<Behaviour>, mdns: bool, private: bool, lock: File) -> Self {
        Self {
            swarm,
            mdns,
            private,
            started: Instant::now(),
            dials: Default::default(),
            listeners_up: HashSet::new(),
            listener_failed: None,
            metrics: None,
            _lock: lock,
        }
    }

    /// Records swarm events (connections, dials, listeners) to `metrics`.
    pub(crate) fn record_to(&mut self, metrics: std::sync::Arc<libp2p::metrics::Metrics>) {
        self.metrics = Some(metrics);
    }

    pub(crate) fn peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    /// Listen addresses with `/p2p/PEERID` appended.
    pub(crate) fn listen_addrs(&self) -> Vec<Multiaddr> {
        discovery::own_addrs(self.swarm.listeners(), self.peer_id())
    }

    /// Dials the bootstrap peers (search neighbours too) and starts the
    /// Kademlia bootstrap and the directory client.
    pub(crate) fn bootstrap(&mut self) {
        let behaviour = self.swarm.behaviour_mut();
        for (peer, _) in behaviour.discovery.bootstrap_peers().to_vec() {
            behaviour.search.want(peer);
        }
        behaviour.discovery.bootstrap();
        behaviour.directory.start();
    }

    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut reconnect = tokio::time::interval(RECONNECT_CHECK);
        reconnect.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => guarded("a network event", || self.on_swarm_event(event)),
                command = commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        self.stop();
                        // Release the swarm's sockets and the data-dir lock
                        // before telling the caller the node is gone.
                        drop(self);
                        let _ = reply.send(());
                        return;
                    }
                    Some(command) => guarded("a command", || self.on_command(command)),
                    None => {
                        self.stop();
                        return;
                    }
                },
                _ = reconnect.tick() => {
                    if self.swarm.connected_peers().next().is_none() {
                        self.bootstrap();
                    }
                }
            }
        }
    }

    fn stop(&mut self) {
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        tracing::info!("node stopped");
    }

    fn on_command(&mut self, command: Command) {
        // Looking up this node itself needs no query.
        let command = match command {
            Command::Discovery(discovery::Command::FindPeer { peer, reply })
                if peer == self.peer_id() =>
            {
                let _ = reply.send(Ok(FoundPeer {
                    peer_id: peer,
                    addrs: self.listen_addrs(),
                    was_connected: false,
                    requests: 0,
                    millis: 0,
                    hops: Some(0),
                    from_relay_record: false,
                    refused_records: 0,
                }));
                return;
            }
            command => command,
        };
        let behaviour = self.swarm.behaviour_mut();
        match command {
            Command::Blobs(c) => behaviour.blobs.on_command(c),
            Command::Search(c) => behaviour.search.on_command(c),
            Command::Pubsub(c) => behaviour.pubsub.on_command(c),
            Command::Discovery(c) => behaviour.discovery.on_command(c),
            Command::Storage(c) => behaviour.storage.on_command(c),
            Command::Compute(c) => behaviour.compute.on_command(c),
            Command::StartSearch {
                words,
                ttl,
                hits,
                reply,
            } => {
                let started = behaviour.search.start(words.clone(), ttl, hits);
                if let Ok(query) = started {
                    behaviour.directory.search(query, words);
                }
                let _ = reply.send(started.map(drop));
            }
            Command::PublishRecord { record, reply } => {
                behaviour.search.set_own_record(record);
                let records = behaviour.search.own_records();
                behaviour.directory.set_own_records(records);
                let _ = reply.send(());
            }
            Command::Unpublish {
                hash,
                removed,
                reply,
            } => {
                for blob in removed {
                    behaviour.discovery.stop_providing(blob);
                }
                behaviour.search.remove_own_record(hash);
                let records = behaviour.search.own_records();
                behaviour.directory.set_own_records(records);
                let _ = reply.send(());
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peer_entries());
            }
            Command::Dial { addr, reply } => {
                let opts = DialOpts::from(addr.clone());
                let id = opts.connection_id();
                match self.swarm.dial(opts) {
                    Ok(()) => {
                        self.dials.insert(id, (addr, reply));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(Error::Dial {
                            addr,
                            reason: super::setup::dial_hint(e.to_string(), self.private),
                        }));
                    }
                }
            }
            Command::Shutdown { .. } => unreachable!("handled by run"),
        }
    }

    /// The node's figures, each from the component that keeps it.
    fn status(&mut self) -> NodeStatus {
        let connected_peers = self.swarm.connected_peers().count();
        let info = self.swarm.network_info();
        let (inbound, outbound) = (
            info.connection_counters().num_established_incoming(),
            info.connection_counters().num_established_outgoing(),
        );
        let (peer_id, listen_addrs) = (self.peer_id(), self.listen_addrs());
        let external = self.swarm.external_addresses().cloned().collect();
        let behaviour = self.swarm.behaviour_mut();
        let nat = behaviour.nat.status(external);
        let stats = behaviour.search.stats();
        let announce = behaviour.discovery.announce_counts();
        let routing_buckets = behaviour.discovery.routing_buckets();
        NodeStatus {
            peer_id,
            listen_addrs,
            connected_peers,
            inbound_connections: inbound as usize,
            outbound_connections: outbound as usize,
            routing_table_peers: routing_buckets.iter().map(|b| b.peers).sum(),
            routing_buckets,
            mdns: self.mdns,
            search_neighbours: stats.neighbours,
            super_peer: behaviour.search.super_peer(),
            indexed_leaves: stats.indexed_leaves,
            directories: behaviour.directory.count(),
            serving_bytes: behaviour.blobs.serving_bytes(),
            announcing: announce.pending,
            announcing_now: announce.running,
            announced: announce.done,
            announce_failures: announce.failed,
            storage_repairs: 0, // filled in by `Node::status`
            storage_repair_bytes: 0,
            rate_limits: Default::default(), // filled in by `Node::status`
            blob_bytes_sent: 0,
            blob_bytes_received: 0,
            compute: Default::default(), // filled in by `Node::status`
            uptime_secs: self.started.elapsed().as_secs(),
            nat,
        }
    }

    /// Known peers (discovery) with the pub/sub score each has here.
    fn peer_entries(&mut self) -> Vec<PeerEntry> {
        let behaviour = self.swarm.behaviour_mut();
        let mut entries = behaviour.discovery.peer_entries();
        for entry in &mut entries {
            entry.pubsub_score = behaviour.pubsub.peer_score(&entry.peer_id);
        }
        entries
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        if let Some(m) = &self.metrics {
            libp2p::metrics::Recorder::record(&**m, &event);
        }
        match event {
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                tracing::debug!(%address, "listening");
                self.listeners_up.insert(listener_id);
            }
            SwarmEvent::ListenerError { listener_id, error } => {
                tracing::warn!("listener error: {error}");
                self.listener_failed = Some((listener_id, error.to_string()));
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason: Err(error),
                ..
            } => {
                self.listener_failed = Some((listener_id, error.to_string()));
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                tracing::debug!(%peer_id, addr = %endpoint.get_remote_address(), "connected");
                if let Some((_, reply)) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Ok(peer_id));
                    // An explicit connect makes a search neighbour.
                    self.swarm.behaviour_mut().search.want(peer_id);
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                peer_id,
            } => {
                tracing::debug!(?peer_id, "dial failed: {error}");
                if let Some((addr, reply)) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Err(Error::Dial {
                        addr,
                        reason: super::setup::dial_hint(error.to_string(), self.private),
                    }));
                }
            }
            _ => {}
        }
    }

    /// Routes what one component raises for others.
    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        let behaviour = self.swarm.behaviour_mut();
        match event {
            BehaviourEvent::Discovery(discovery::behaviour::Event::LocalPeer(peer)) => {
                behaviour.search.want(peer);
            }
            BehaviourEvent::Directory(directory::Event::Hits { query, hits }) => {
                behaviour.search.deliver(query, hits, "directory");
            }
            BehaviourEvent::Directory(directory::Event::Discovered { peer, addrs }) => {
                behaviour.discovery.add_addresses(peer, &addrs);
                behaviour.search.want(peer);
            }
            BehaviourEvent::Directory(directory::Event::Redialing { peer, addr }) => {
                behaviour.discovery.add_addresses(peer, &[addr]);
            }
            BehaviourEvent::Discovery(discovery::behaviour::Event::Relay { peer, addr }) => {
                behaviour.nat.add_relay(peer, addr);
            }
            BehaviourEvent::Discovery(discovery::behaviour::Event::Identified { peer, addrs }) => {
                behaviour.nat.handle_identified(peer, &addrs);
            }
            BehaviourEvent::Nat(nat::Event::Reachability(reach)) => {
                behaviour
                    .discovery
                    .set_private(reach == nat::Reach::Private);
            }
            BehaviourEvent::Nat(nat::Event::CircuitLimit { relay, limit }) => {
                behaviour.blobs.set_circuit_limit(relay, limit);
            }
            BehaviourEvent::Blobs(event) => match event {},
            _ => {}
        }
    }
}
