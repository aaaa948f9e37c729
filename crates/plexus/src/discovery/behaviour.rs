//! The discovery component as a libp2p behaviour: identify, ping, Kademlia
//! and mDNS, with the [`PeerBook`] of what they taught, and the policy of
//! this module's [`super`] applied (which addresses Kademlia keeps, server
//! mode, bootstrap).

use std::{
    collections::{HashMap, VecDeque},
    task::{Context, Poll},
    time::Instant,
};

use libp2p::{
    identify,
    identity::Keypair,
    kad, mdns, ping,
    swarm::{
        behaviour::toggle::Toggle,
        dial_opts::{DialOpts, PeerCondition},
        FromSwarm, NetworkBehaviour, THandler, THandlerInEvent, ToSwarm,
    },
    Multiaddr, PeerId,
};

use super::{
    alarm::Alarm,
    announce::{Announcer, Counts, Origin, MAX_IN_FLIGHT},
    hops::{Goal, HopTracer},
    peers::PeerBook,
    refresh::Refresh,
    relay_publish::Publisher,
    relay_record, Command,
};
use crate::{content::Hash, guard::guarded, wrap::forward_to_inner};

mod lookups;
mod metrics;
mod relay;
mod table;

/// The libp2p behaviours discovery is made of, in the order they were
/// composed before (events and connection set-up go in this order).
#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
pub(crate) struct Inner {
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<super::ProviderStore>,
    mdns: Toggle<mdns::tokio::Behaviour>,
}

/// What other components must hear about.
#[derive(Debug)]
pub(crate) enum Event {
    /// A peer found on the local network (mDNS): a search neighbour.
    LocalPeer(PeerId),
    /// A peer reached over a direct connection at `addr` offers relay
    /// service (identify lists the relay hop protocol): for NAT traversal.
    Relay { peer: PeerId, addr: Multiaddr },
    /// Identify says `peer` listens at `addrs` (for NAT traversal's
    /// connection reversal).
    Identified { peer: PeerId, addrs: Vec<Multiaddr> },
}

/// Peer discovery and routing: Kademlia, identify, ping, mDNS.
pub(crate) struct Behaviour {
    inner: Inner,
    book: PeerBook,
    me: PeerId,
    bootstrap: Vec<(PeerId, Multiaddr)>,
    out: VecDeque<ToSwarm<Event, THandlerInEvent<Inner>>>,
    /// Provider records waiting to be announced, a bounded number at a time.
    announcer: Announcer<kad::QueryId>,
    /// AutoNAT found this node cannot be dialed: Kademlia is a client.
    private: bool,
    /// Hop counts of this node's own peer and provider lookups.
    hops: HopTracer,
    /// Signs this node's relay-address record.
    key: Keypair,
    /// When to put that record.
    publisher: Publisher,
    /// Wakes the behaviour when the publisher's next decision is due.
    publish_timer: Alarm,
    /// Wakes it when a provider lookup is due its answer.
    lookup_timer: Alarm,
    /// The routing table's periodic refresh, and its wake-up.
    refresh: (Refresh, Alarm),
    /// libp2p's metrics: identify, ping and Kademlia events are recorded.
    pub(crate) metrics: Option<std::sync::Arc<libp2p::metrics::Metrics>>,
}

impl Behaviour {
    /// Discovery for `key`: Kademlia refreshing every `dht_refresh`, mDNS
    /// when `mdns`, bootstrapping from `bootstrap`.
    pub(crate) fn new(
        key: &Keypair,
        dht_refresh: std::time::Duration,
        mdns: bool,
        bootstrap: Vec<(PeerId, Multiaddr)>,
    ) -> std::io::Result<Self> {
        let me = key.public().to_peer_id();
        let identify = identify::Behaviour::new(
            identify::Config::new(super::IDENTIFY_PROTOCOL.to_string(), key.public())
                .with_agent_version(format!("plexus/{}", env!("CARGO_PKG_VERSION")))
                .with_push_listen_addr_updates(true),
        );
        let mdns = if mdns {
            Some(mdns::tokio::Behaviour::new(mdns::Config::default(), me)?)
        } else {
            None
        };
        Ok(Self {
            inner: Inner {
                identify,
                ping: ping::Behaviour::default(),
                kad: super::kademlia(me),
                mdns: mdns.into(),
            },
            book: PeerBook::default(),
            me,
            bootstrap,
            out: VecDeque::new(),
            announcer: Announcer::new(MAX_IN_FLIGHT),
            private: false,
            hops: HopTracer::default(),
            key: key.clone(),
            publisher: Publisher::default(),
            publish_timer: Alarm::default(),
            lookup_timer: Alarm::default(),
            refresh: (Refresh::new(dht_refresh, Instant::now()), Alarm::default()),
            metrics: None,
        })
    }

    /// The bootstrap peers.
    pub(crate) fn bootstrap_peers(&self) -> &[(PeerId, Multiaddr)] {
        &self.bootstrap
    }

    /// Dials the bootstrap peers and starts a Kademlia bootstrap.
    ///
    /// One connection per bootstrap peer: the bootstrap query dials the
    /// same peers, and a second connection each (as before) counted
    /// against the per-peer cap, which then refused the AutoNAT dial-backs
    /// of a busy bootstrap node, so it found itself private.
    pub(crate) fn bootstrap(&mut self) {
        for (peer, addr) in self.bootstrap.clone() {
            self.inner.kad.add_address(&peer, addr.clone());
            self.out.push_back(ToSwarm::Dial {
                opts: DialOpts::peer_id(peer)
                    .addresses(vec![addr])
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build(),
            });
        }
        if !self.bootstrap.is_empty() {
            // Fails only when the routing table is empty; nothing to do then.
            let _ = self.inner.kad.bootstrap();
        }
    }

    /// Teaches Kademlia addresses of `peer` learned elsewhere (a directory).
    pub(crate) fn add_addresses(&mut self, peer: PeerId, addrs: &[Multiaddr]) {
        for addr in addrs {
            self.inner.kad.add_address(&peer, addr.clone());
        }
    }

    /// Handles a command from the node.
    pub(crate) fn on_command(&mut self, command: Command) {
        match command {
            Command::FindPeer { peer, reply } => {
                let table = self.table_peers();
                let query = self.inner.kad.get_closest_peers(peer);
                self.hops.start(query, Goal::Peer(peer), table);
                let record = self.inner.kad.get_record(relay_record::key(&peer));
                self.book
                    .start_find((query, record), peer, Instant::now(), reply);
            }
            Command::Provide { hash } => self.provide(hash, Origin::Fresh),
            Command::ProvideStored { hashes } => {
                for hash in hashes {
                    self.provide(hash, Origin::Stored);
                }
            }
            Command::FindProviders { hash, reply } => self.find_providers(hash, reply),
        }
    }

    /// Records this node as provider of `hash` at once (lookups that reach
    /// this node find it) and queues its announcement to the DHT.
    fn provide(&mut self, hash: Hash, origin: Origin) {
        let key = super::provider_key(&hash);
        let record = kad::ProviderRecord::new(key, self.me, Vec::new());
        match kad::store::RecordStore::add_provider(self.inner.kad.store_mut(), record) {
            Ok(()) => self.announcer.push(hash, origin),
            Err(e) => tracing::warn!(%hash, "cannot announce content: {e}"),
        }
    }

    /// Starts the announcements there is room for.
    fn start_announcements(&mut self) {
        while let Some(hash) = self.announcer.next() {
            // Stores the record again (no change) and starts the query.
            match self.inner.kad.start_providing(super::provider_key(&hash)) {
                Ok(id) => self.announcer.started(id, hash),
                Err(e) => {
                    tracing::warn!(%hash, "cannot announce content: {e}");
                    self.announcer.refused();
                }
            }
        }
    }

    /// Stops announcing `hash`: drops this node's own provider record, so
    /// it is neither republished nor given out by this node, and withdraws
    /// its announcement if it is still waiting.
    pub(crate) fn stop_providing(&mut self, hash: Hash) {
        let key = super::provider_key(&hash);
        self.inner.kad.stop_providing(&key);
        self.announcer.withdraw(&hash);
    }

    /// Announcements waiting or under way, and those finished since start.
    pub(crate) fn announce_counts(&self) -> Counts {
        self.announcer.counts()
    }

    /// Reports `peer` as a relay when it offers the hop protocol and is
    /// connected directly (not through a relay itself).
    fn relay_offered(&mut self, peer: PeerId, protocols: &[libp2p::StreamProtocol]) {
        if !protocols.contains(&libp2p::relay::HOP_PROTOCOL_NAME) {
            return;
        }
        let Some(addr) = self.book.seen_at(&peer) else {
            return;
        };
        let relayed = addr
            .iter()
            .any(|p| p == libp2p::multiaddr::Protocol::P2pCircuit);
        if !relayed && super::is_dialable(addr) {
            let addr = addr.clone();
            self.out
                .push_back(ToSwarm::GenerateEvent(Event::Relay { peer, addr }));
        }
    }

    fn on_inner_event(&mut self, event: InnerEvent) {
        self.record(&event);
        match event {
            InnerEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                // Kademlia does not learn addresses from identify by itself.
                if info.protocols.contains(&super::KAD_PROTOCOL) {
                    let seen_at = self.book.seen_at(&peer_id).cloned();
                    let useful: Vec<Multiaddr> = info
                        .listen_addrs
                        .iter()
                        .filter(|a| super::is_useful_from(a, seen_at.as_ref()))
                        .cloned()
                        .collect();
                    for addr in &useful {
                        super::full_buckets::add_if_room(
                            &mut self.inner.kad,
                            &peer_id,
                            addr.clone(),
                        );
                    }
                    // For its provider records that came without addresses.
                    self.inner
                        .kad
                        .store_mut()
                        .handle_listen_addrs(peer_id, useful);
                } else if self.inner.kad.remove_peer(&peer_id).is_some() {
                    // It turned into a Kademlia client (private: identify
                    // pushes the change): its addresses go with it.
                    tracing::debug!(peer = %peer_id, "no longer a Kademlia server: out of the routing table");
                }
                self.relay_offered(peer_id, &info.protocols);
                self.book.handle_agent(peer_id, info.agent_version);
                self.out
                    .push_back(ToSwarm::GenerateEvent(Event::Identified {
                        peer: peer_id,
                        addrs: info.listen_addrs,
                    }));
            }
            InnerEvent::Ping(ping::Event {
                peer,
                result: Ok(rtt),
                ..
            }) => self.book.handle_rtt(peer, rtt),
            InnerEvent::Mdns(mdns::Event::Discovered(found)) => {
                let mut by_peer: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
                for (peer, addr) in found {
                    by_peer.entry(peer).or_default().push(addr);
                }
                for (peer, addrs) in by_peer {
                    tracing::info!(%peer, "found on the local network");
                    self.out
                        .push_back(ToSwarm::GenerateEvent(Event::LocalPeer(peer)));
                    self.add_addresses(peer, &addrs);
                    if !self.book.is_connected(&peer) {
                        let opts = DialOpts::peer_id(peer).addresses(addrs).build();
                        self.out.push_back(ToSwarm::Dial { opts });
                    }
                }
            }
            InnerEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetProviders(result),
                step,
                stats,
            }) => self.on_providers(id, result, step.last, stats),
            InnerEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::StartProviding(result),
                step,
                ..
            }) if step.last => {
                self.announcer.finished(&id, result.is_ok());
            }
            InnerEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetClosestPeers(result),
                stats,
                ..
            }) => {
                let peers = match result {
                    Ok(ok) => ok.peers,
                    Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
                };
                let hops = self.hops.finish(&id);
                self.book
                    .handle_closest(id, peers, stats.num_requests(), hops, Instant::now());
            }
            InnerEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetRecord(result),
                stats,
                step,
            }) => {
                if let Ok(kad::GetRecordOk::FoundRecord(found)) = &result {
                    self.book.handle_record(id, &found.record);
                }
                if step.last {
                    self.book
                        .handle_record_done(id, stats.num_requests(), Instant::now());
                }
            }
            InnerEvent::Kad(kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::PutRecord(result),
                ..
            }) => match result {
                Ok(_) => tracing::info!("relay-address record stored in the DHT"),
                Err(e) => tracing::info!("relay-address record not stored: {e}"),
            },
            _ => {}
        }
    }

    fn observe(&mut self, event: &FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                let addr = e.endpoint.get_remote_address().clone();
                self.book
                    .handle_connection(e.peer_id, e.connection_id, addr.clone());
                if e.other_established == 0 {
                    self.book.handle_connected(e.peer_id, addr);
                }
            }
            FromSwarm::ConnectionClosed(e) => {
                self.book
                    .handle_connection_closed(e.peer_id, e.connection_id);
                if e.remaining_established == 0 {
                    self.book.handle_disconnected(e.peer_id);
                    self.inner.kad.store_mut().handle_disconnected(&e.peer_id);
                }
            }
            FromSwarm::DialFailure(e) => {
                if let Some(peer) = e.peer_id {
                    self.book.handle_dial_failure(peer, e.error, Instant::now());
                }
            }
            FromSwarm::ExternalAddrConfirmed(e) => {
                self.publisher.handle_confirmed(e.addr, Instant::now());
                let circuit = e
                    .addr
                    .iter()
                    .any(|p| p == libp2p::multiaddr::Protocol::P2pCircuit);
                if self.private && circuit {
                    self.reannounce();
                }
            }
            FromSwarm::ExternalAddrExpired(e) => {
                self.publisher.handle_expired(e.addr, Instant::now());
            }
            _ => {}
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = THandler<Inner>;
    type ToSwarm = Event;

    forward_to_inner!(
        inner,
        |this, event| { this.observe(event) },
        |this, peer, event| {
            // Kademlia's handler events (third in `Inner`), read only while
            // a lookup of this node's is traced.
            use libp2p::swarm::derive_prelude::Either;
            if let Either::Left(Either::Right(kad_event)) = &event {
                if this.hops.is_active() {
                    this.trace_answer(peer, kad_event);
                }
            }
            Some(event)
        }
    );

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Event, THandlerInEvent<Self>>> {
        loop {
            if let Some(out) = self.out.pop_front() {
                return Poll::Ready(out);
            }
            guarded("starting announcements", || self.start_announcements());
            guarded("the relay-address record", || self.publish(cx));
            guarded("provider lookups", || self.answer_due_lookups(cx));
            guarded("the routing table refresh", || self.refresh_table(cx));
            match self.inner.poll(cx) {
                Poll::Ready(ToSwarm::GenerateEvent(event)) => {
                    guarded("a discovery event", || self.on_inner_event(event));
                }
                Poll::Ready(other) => return Poll::Ready(other.map_out(|_| unreachable!())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
