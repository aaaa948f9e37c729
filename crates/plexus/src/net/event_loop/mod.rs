//! The task that owns the swarm. Everything else reaches it through
//! [`Command`]s with reply channels; no lock ever guards the swarm.

mod command;
mod providers;

use std::{
    collections::{HashMap, HashSet},
    fs::File,
    time::{Duration, Instant},
};

use futures::StreamExt;
use libp2p::{
    core::transport::ListenerId,
    identify, kad, mdns, ping,
    swarm::{dial_opts::DialOpts, ConnectionId, SwarmEvent},
    Multiaddr, PeerId, Swarm,
};
use tokio::sync::{mpsc, oneshot};

use super::{
    behaviour::{Behaviour, BehaviourEvent},
    FoundPeer, NodeStatus, PeerEntry,
};
use crate::{discovery, guard::guarded, Error};
pub(crate) use command::Command;
use providers::PendingProviders;

/// How often the node checks that it still has peers and redials its
/// bootstrap list when it has none.
const RECONNECT_CHECK: Duration = Duration::from_secs(30);

/// A DHT lookup waiting for its query to finish.
struct PendingFind {
    peer: PeerId,
    was_connected: bool,
    started: Instant,
    reply: oneshot::Sender<Result<FoundPeer, Error>>,
}

/// What the node remembers about a peer beyond the swarm's own state.
#[derive(Default)]
struct PeerInfo {
    connected_addr: Option<Multiaddr>,
    agent: Option<String>,
    rtt: Option<Duration>,
}

pub(crate) struct EventLoop {
    swarm: Swarm<Behaviour>,
    mdns: bool,
    bootstrap: Vec<(PeerId, Multiaddr)>,
    started: Instant,
    peers: HashMap<PeerId, PeerInfo>,
    dials: HashMap<ConnectionId, (Multiaddr, oneshot::Sender<Result<PeerId, Error>>)>,
    finds: HashMap<kad::QueryId, PendingFind>,
    /// Listeners that have reported an address, and the first one that failed.
    listeners_up: HashSet<ListenerId>,
    listener_failed: Option<(ListenerId, String)>,
    providers: HashMap<kad::QueryId, PendingProviders>,
    /// Held for the node's lifetime: the data directory's exclusive lock.
    _lock: File,
}

impl EventLoop {
    pub(crate) fn new(
        swarm: Swarm<Behaviour>,
        mdns: bool,
        bootstrap: Vec<(PeerId, Multiaddr)>,
        lock: File,
    ) -> Self {
        Self {
            providers: HashMap::new(),
            swarm,
            mdns,
            bootstrap,
            started: Instant::now(),
            peers: HashMap::new(),
            dials: HashMap::new(),
            finds: HashMap::new(),
            listeners_up: HashSet::new(),
            listener_failed: None,
            _lock: lock,
        }
    }

    pub(crate) fn peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    /// Listen addresses with `/p2p/PEERID` appended.
    pub(crate) fn listen_addrs(&self) -> Vec<Multiaddr> {
        let me = self.peer_id();
        let mut addrs: Vec<Multiaddr> = self
            .swarm
            .listeners()
            .map(|a| discovery::with_peer_id(a, me))
            .collect();
        addrs.sort_by_key(|a| a.to_string());
        addrs
    }

    /// Binds every address and drives the swarm until each listener has
    /// reported at least one address.
    pub(crate) async fn listen(
        &mut self,
        addrs: &[Multiaddr],
        timeout: Duration,
    ) -> Result<(), Error> {
        let mut ids = HashMap::new();
        for addr in addrs {
            check_port_free(addr)?;
            let id = self
                .swarm
                .listen_on(addr.clone())
                .map_err(|e| Error::Listen {
                    addr: addr.clone(),
                    reason: transport_error(&e),
                })?;
            ids.insert(id, addr.clone());
        }
        let deadline = tokio::time::Instant::now() + timeout;
        while !ids.keys().all(|id| self.listeners_up.contains(id)) {
            if let Some((id, reason)) = self.listener_failed.take() {
                if let Some(addr) = ids.remove(&id) {
                    return Err(Error::Listen { addr, reason });
                }
            }
            match tokio::time::timeout_at(deadline, self.swarm.select_next_some()).await {
                Ok(event) => self.on_swarm_event(event),
                Err(_) => {
                    let addr = ids
                        .iter()
                        .find(|(id, _)| !self.listeners_up.contains(id))
                        .map(|(_, a)| a.clone())
                        .expect("some listener is not up");
                    return Err(Error::Listen {
                        addr,
                        reason: "no address reported in time".into(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Dials the bootstrap peers and starts a Kademlia bootstrap.
    pub(crate) fn bootstrap(&mut self) {
        for (peer, addr) in self.bootstrap.clone() {
            self.swarm.behaviour_mut().search.want(peer);
            self.swarm
                .behaviour_mut()
                .kad
                .add_address(&peer, addr.clone());
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::warn!(%addr, "cannot dial bootstrap peer: {e}");
            }
        }
        if !self.bootstrap.is_empty() {
            // Fails only when the routing table is empty; nothing to do then.
            let _ = self.swarm.behaviour_mut().kad.bootstrap();
        }
        self.swarm.behaviour_mut().directory.start();
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
        match command {
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
                            reason: e.to_string(),
                        }));
                    }
                }
            }
            Command::FindPeer { peer, reply } => {
                if peer == self.peer_id() {
                    let _ = reply.send(Ok(FoundPeer {
                        peer_id: peer,
                        addrs: self.listen_addrs(),
                        was_connected: false,
                        requests: 0,
                        millis: 0,
                    }));
                    return;
                }
                let query = self.swarm.behaviour_mut().kad.get_closest_peers(peer);
                let pending = PendingFind {
                    peer,
                    was_connected: self.swarm.is_connected(&peer),
                    started: Instant::now(),
                    reply,
                };
                self.finds.insert(query, pending);
            }
            Command::Blobs(command) => self.swarm.behaviour_mut().blobs.on_command(command),
            Command::Provide { hash } => self.provide(hash),
            Command::FindProviders { hash, reply } => self.find_providers(hash, reply),
            Command::PublishRecord { record, reply } => {
                let behaviour = self.swarm.behaviour_mut();
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
                    self.stop_providing(blob);
                }
                let behaviour = self.swarm.behaviour_mut();
                behaviour.search.remove_own_record(hash);
                let records = behaviour.search.own_records();
                behaviour.directory.set_own_records(records);
                let _ = reply.send(());
            }
            Command::StartSearch {
                words,
                ttl,
                hits,
                reply,
            } => {
                let behaviour = self.swarm.behaviour_mut();
                let started = behaviour.search.start(words.clone(), ttl, hits);
                if let Ok(query) = started {
                    behaviour.directory.search(query, words);
                }
                let _ = reply.send(started.map(drop));
            }
            Command::Search(command) => self.swarm.behaviour_mut().search.on_command(command),
            Command::Pubsub(c) => self.swarm.behaviour_mut().pubsub.on_command(c),
            Command::Shutdown { .. } => unreachable!("handled by run"),
        }
    }

    fn status(&mut self) -> NodeStatus {
        let search = &self.swarm.behaviour().search;
        let (stats, super_peer) = (search.stats(), search.super_peer());
        NodeStatus {
            peer_id: self.peer_id(),
            listen_addrs: self.listen_addrs(),
            connected_peers: self.swarm.connected_peers().count(),
            routing_table_peers: self.routing_table().len(),
            mdns: self.mdns,
            search_neighbours: stats.neighbours,
            super_peer,
            indexed_leaves: stats.indexed_leaves,
            directories: self.swarm.behaviour().directory.count(),
            uptime_secs: self.started.elapsed().as_secs(),
        }
    }

    /// Every peer in the Kademlia routing table, with its addresses.
    fn routing_table(&mut self) -> HashMap<PeerId, Vec<Multiaddr>> {
        let mut table = HashMap::new();
        for bucket in self.swarm.behaviour_mut().kad.kbuckets() {
            for entry in bucket.iter() {
                let addrs = entry.node.value.iter().cloned().collect();
                table.insert(*entry.node.key.preimage(), addrs);
            }
        }
        table
    }

    fn peer_entries(&mut self) -> Vec<PeerEntry> {
        let table = self.routing_table();
        let connected: HashSet<PeerId> = self.swarm.connected_peers().copied().collect();
        let mut ids: Vec<PeerId> = table.keys().chain(connected.iter()).copied().collect();
        ids.sort();
        ids.dedup();
        ids.into_iter()
            .map(|id| {
                let info = self.peers.get(&id);
                let mut addrs = table.get(&id).cloned().unwrap_or_default();
                if let Some(addr) = info.and_then(|i| i.connected_addr.clone()) {
                    if !addrs.contains(&addr) {
                        addrs.push(addr);
                    }
                }
                PeerEntry {
                    peer_id: id,
                    connected: connected.contains(&id),
                    in_routing_table: table.contains_key(&id),
                    addrs,
                    agent: info.and_then(|i| i.agent.clone()),
                    rtt_ms: info.and_then(|i| i.rtt).map(|d| d.as_secs_f64() * 1000.0),
                    pubsub_score: self.swarm.behaviour().pubsub.peer_score(&id),
                }
            })
            .collect()
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
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
                let addr = endpoint.get_remote_address().clone();
                tracing::debug!(%peer_id, %addr, "connected");
                self.peers.entry(peer_id).or_default().connected_addr = Some(addr);
                if let Some((_, reply)) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Ok(peer_id));
                    // An explicit connect makes a search neighbour.
                    self.swarm.behaviour_mut().search.want(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                if let Some(info) = self.peers.get_mut(&peer_id) {
                    info.connected_addr = None;
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
                        reason: error.to_string(),
                    }));
                }
            }
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                // Kademlia does not learn addresses from identify by itself.
                if info.protocols.contains(&discovery::KAD_PROTOCOL) {
                    let seen_at = self
                        .peers
                        .get(&peer_id)
                        .and_then(|p| p.connected_addr.clone());
                    for addr in info
                        .listen_addrs
                        .iter()
                        .filter(|a| discovery::is_useful_from(a, seen_at.as_ref()))
                    {
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .add_address(&peer_id, addr.clone());
                    }
                }
                self.peers.entry(peer_id).or_default().agent = Some(info.agent_version);
            }
            BehaviourEvent::Ping(ping::Event {
                peer,
                result: Ok(rtt),
                ..
            }) => {
                self.peers.entry(peer).or_default().rtt = Some(rtt);
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                let mut by_peer: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
                for (peer, addr) in found {
                    by_peer.entry(peer).or_default().push(addr);
                }
                for (peer, addrs) in by_peer {
                    tracing::info!(%peer, "found on the local network");
                    self.swarm.behaviour_mut().search.want(peer);
                    for addr in &addrs {
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .add_address(&peer, addr.clone());
                    }
                    if !self.swarm.is_connected(&peer) {
                        let opts = DialOpts::peer_id(peer).addresses(addrs).build();
                        if let Err(e) = self.swarm.dial(opts) {
                            tracing::debug!(%peer, "cannot dial mDNS peer: {e}");
                        }
                    }
                }
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetProviders(result),
                step,
                ..
            }) => self.on_providers(id, result, step.last),
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id, result, stats, ..
            }) => self.on_query_result(id, result, stats),
            BehaviourEvent::Blobs(event) => match event {},
            BehaviourEvent::Directory(event) => self.on_directory_event(event),
            _ => {}
        }
    }

    /// Routes what the directory component found to Kademlia and search.
    fn on_directory_event(&mut self, event: crate::directory::Event) {
        use crate::directory::Event;
        let behaviour = self.swarm.behaviour_mut();
        match event {
            Event::Hits { query, hits } => behaviour.search.deliver(query, hits, "directory"),
            Event::Discovered { peer, addrs } => {
                for addr in addrs {
                    behaviour.kad.add_address(&peer, addr);
                }
                behaviour.search.want(peer);
            }
            Event::Redialing { peer, addr } => {
                behaviour.kad.add_address(&peer, addr);
            }
        }
    }

    fn on_query_result(
        &mut self,
        id: kad::QueryId,
        result: kad::QueryResult,
        stats: kad::QueryStats,
    ) {
        let kad::QueryResult::GetClosestPeers(result) = result else {
            return;
        };
        let Some(pending) = self.finds.remove(&id) else {
            return;
        };
        let peers = match result {
            Ok(ok) => ok.peers,
            Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
        };
        let answer = peers
            .into_iter()
            .find(|p| p.peer_id == pending.peer)
            .map(|p| FoundPeer {
                peer_id: p.peer_id,
                addrs: p.addrs,
                was_connected: pending.was_connected,
                requests: stats.num_requests(),
                millis: pending.started.elapsed().as_millis() as u64,
            })
            .ok_or(Error::PeerNotFound(pending.peer));
        let _ = pending.reply.send(answer);
    }
}

/// A readable reason for a failed `listen_on`.
fn transport_error(e: &libp2p::TransportError<std::io::Error>) -> String {
    match e {
        libp2p::TransportError::MultiaddrNotSupported(_) => {
            "unsupported address (use /ip4/HOST/tcp/PORT or /ip4/HOST/udp/PORT/quic-v1)".into()
        }
        libp2p::TransportError::Other(e) => e.to_string(),
    }
}

/// Fails when a fixed TCP or UDP port is already bound by anyone.
///
/// libp2p binds its listeners with `SO_REUSEPORT`, so a second node on the
/// same port would silently share it; a plain bind without that flag tells
/// the truth.
fn check_port_free(addr: &Multiaddr) -> Result<(), Error> {
    use libp2p::multiaddr::Protocol;
    let mut parts = addr.iter();
    let ip: std::net::IpAddr = match parts.next() {
        Some(Protocol::Ip4(ip)) => ip.into(),
        Some(Protocol::Ip6(ip)) => ip.into(),
        _ => return Ok(()),
    };
    let result = match parts.next() {
        Some(Protocol::Tcp(port)) if port != 0 => std::net::TcpListener::bind((ip, port)).map(drop),
        Some(Protocol::Udp(port)) if port != 0 => std::net::UdpSocket::bind((ip, port)).map(drop),
        _ => Ok(()),
    };
    result.map_err(|e| Error::Listen {
        addr: addr.clone(),
        reason: e.to_string(),
    })
}
