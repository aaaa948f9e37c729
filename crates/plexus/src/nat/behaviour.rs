//! The NAT component as a libp2p behaviour: relay server and client, DCUtR,
//! AutoNAT v2 client and server, driven by [`Reachability`].

use std::{
    collections::{HashMap, VecDeque},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use libp2p::{
    autonat, dcutr,
    multiaddr::Protocol,
    relay,
    swarm::{
        behaviour::toggle::Toggle,
        dial_opts::{DialOpts, PeerCondition},
        CloseConnection, ConnectionId, FromSwarm, ListenOpts, NetworkBehaviour, THandler,
        THandlerInEvent, ToSwarm,
    },
    Multiaddr, PeerId,
};

use super::{
    autonat::Prober,
    punch_retry::Retries,
    reachability::{Decision, Reach, Reachability},
    reversal::Reversals,
    NatConfig, NatStatus,
};
use crate::{guard::guarded, wrap::forward_to_inner};

/// How often reservations are checked (timeouts, retries).
const TICK: Duration = Duration::from_secs(1);

/// The libp2p behaviours NAT traversal is made of.
#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
pub(crate) struct Inner {
    relay: Toggle<relay::Behaviour>,
    client: Toggle<relay::client::Behaviour>,
    dcutr: Toggle<dcutr::Behaviour>,
    autonat: Toggle<Prober>,
    autonat_server: Toggle<autonat::v2::server::Behaviour>,
}

/// What other components must hear about.
#[derive(Debug)]
pub(crate) enum Event {
    /// Reachability changed (for now only logged: see the event loop).
    Reachability(Reach),
    /// A circuit this node opened through `relay` may carry `limit`
    /// ("128 KiB and 120 s"), as the relay announced.
    CircuitLimit {
        /// The relay.
        relay: PeerId,
        /// Its limit per circuit, in words.
        limit: String,
    },
}

/// NAT traversal for one node.
pub(crate) struct Behaviour {
    inner: Inner,
    state: Reachability,
    /// Circuit listeners asked for, by the relay they reserve on.
    listeners: HashMap<libp2p::core::transport::ListenerId, PeerId>,
    punched: (u64, u64),
    /// Open connections per peer: relayed ones, and how many direct ones.
    conns: HashMap<PeerId, (Vec<ConnectionId>, usize)>,
    out: VecDeque<ToSwarm<Event, THandlerInEvent<Inner>>>,
    tick: Option<tokio::time::Interval>,
    /// Relay service status not yet given to the relay server (see
    /// [`Behaviour::apply_relay_status`]).
    relay_status: Option<relay::Status>,
    /// Hole punches to try again on a new relayed connection.
    retries: Retries,
    /// Peers that came through a relay, to dial directly.
    reversals: Reversals,
}

impl Behaviour {
    /// NAT traversal for `me` with `config`; `client` is the relay client
    /// the swarm builder made (none with a swarm key: then nothing runs).
    pub(crate) fn new(
        me: PeerId,
        config: &NatConfig,
        client: Option<relay::client::Behaviour>,
    ) -> Self {
        let on = client.is_some();
        let mut state = Reachability::new(config.reservations_wanted, config.recheck);
        let mut out = VecDeque::new();
        for addr in &config.external_addrs {
            state.handle_declared(addr.clone());
            out.push_back(ToSwarm::ExternalAddrConfirmed(addr.clone()));
        }
        let relay = (on && config.relay_service).then(|| {
            let mut relay = relay::Behaviour::new(me, config.relay());
            // Not libp2p's automatic status: that counts the node's own
            // relayed addresses as external, so a private node would offer
            // relaying. It follows this node's reachability instead.
            relay.set_status(Some(relay_status(state.reach())));
            relay
        });
        Self {
            inner: Inner {
                relay: relay.into(),
                client: client.into(),
                dcutr: on.then(|| dcutr::Behaviour::new(me)).into(),
                autonat: on.then(Prober::default).into(),
                autonat_server: on.then(autonat::v2::server::Behaviour::default).into(),
            },
            state,
            listeners: HashMap::new(),
            punched: (0, 0),
            conns: HashMap::new(),
            out,
            tick: None,
            relay_status: None,
            retries: Retries::default(),
            reversals: Reversals::default(),
        }
    }

    /// Gives the relay server its new status once no relayed connection is
    /// open: libp2p relay 0.22 sends the status to every connection's
    /// handler, and a relayed connection's is the dummy one, which panics
    /// on it (entered unreachable code in `either.rs`), killing that
    /// connection's task. Seen here when reachability changed while a peer
    /// was connected through a relay.
    fn apply_relay_status(&mut self) {
        let relayed = self.conns.values().any(|(r, _)| !r.is_empty());
        if relayed {
            return;
        }
        if let (Some(status), Some(relay)) = (self.relay_status, self.inner.relay.as_mut()) {
            relay.set_status(Some(status));
            self.relay_status = None;
        }
    }

    /// Identify says `peer` listens at `addrs`: a peer that reached this
    /// node only through a relay is dialed there ([`Reversals`]).
    pub(crate) fn handle_identified(&mut self, peer: PeerId, addrs: &[Multiaddr]) {
        if !self.inner.client.is_enabled() {
            return;
        }
        self.reversals.handle_identified(peer, addrs);
        while let Some((peer, addrs)) = self.reversals.poll() {
            tracing::debug!(%peer, ?addrs, "came through a relay: dialing it directly too");
            let opts = DialOpts::peer_id(peer)
                .addresses(addrs)
                .condition(PeerCondition::Always)
                .allocate_new_port()
                .build();
            self.out.push_back(ToSwarm::Dial { opts });
        }
    }

    /// `relay` offers the hop protocol and was reached at `addr`.
    pub(crate) fn add_relay(&mut self, relay: PeerId, addr: Multiaddr) {
        self.state.handle_relay(relay, addr);
    }

    /// Reachability, reservations and hole punches; `external` from the swarm.
    pub(crate) fn status(&self, external: Vec<Multiaddr>) -> NatStatus {
        NatStatus {
            reachability: self.state.reach(),
            external_addrs: external,
            relay_reservations: self.state.reservations(),
            hole_punches_ok: self.punched.0,
            hole_punches_failed: self.punched.1,
            traversal_off: (!self.inner.client.is_enabled())
                .then(|| super::TRAVERSAL_OFF_PNET.to_string()),
        }
    }

    fn on_inner_event(&mut self, event: InnerEvent) {
        match event {
            InnerEvent::Autonat(e) => {
                tracing::debug!(addr = %e.tested_addr, server = %e.server, ok = e.result.is_ok(), error = ?e.result.as_ref().err(), "autonat test");
                self.state
                    .handle_probe(e.tested_addr, e.result.is_ok(), Instant::now());
            }
            InnerEvent::Client(relay::client::Event::ReservationReqAccepted {
                relay_peer_id,
                ..
            }) => {
                tracing::info!(relay = %relay_peer_id, "relay reservation accepted");
                self.state.handle_reserved(relay_peer_id);
            }
            InnerEvent::Client(relay::client::Event::OutboundCircuitEstablished {
                relay_peer_id,
                limit,
            }) => {
                tracing::debug!(relay = %relay_peer_id, ?limit, "relayed connection");
                let bytes = limit.and_then(|l| l.data_in_bytes());
                let secs = limit.and_then(|l| l.duration()).map(|d| d.as_secs());
                let limit = match (bytes, secs) {
                    (Some(b), Some(s)) => format!("{} KiB and {s} s", b / 1024),
                    (Some(b), None) => format!("{} KiB", b / 1024),
                    (None, Some(s)) => format!("{s} s"),
                    (None, None) => "no announced limit".to_string(),
                };
                self.out
                    .push_back(ToSwarm::GenerateEvent(Event::CircuitLimit {
                        relay: relay_peer_id,
                        limit,
                    }));
            }
            InnerEvent::Client(e) => tracing::debug!("relay client: {e:?}"),
            InnerEvent::Dcutr(e) => match e.result {
                Ok(_) => {
                    tracing::info!(peer = %e.remote_peer_id, "hole punch: direct connection");
                    self.punched.0 += 1;
                }
                Err(err) => {
                    tracing::info!(peer = %e.remote_peer_id, "hole punch failed: {err}");
                    self.punched.1 += 1;
                    let direct = self.conns.get(&e.remote_peer_id).is_some_and(|c| c.1 > 0);
                    self.retries
                        .handle_failed(e.remote_peer_id, direct, Instant::now());
                }
            },
            InnerEvent::Relay(e) => tracing::debug!("relay service: {e:?}"),
            InnerEvent::AutonatServer(e) => {
                tracing::debug!(client = %e.client, addr = %e.tested_addr, ok = e.result.is_ok(), "autonat dial-back");
            }
        }
    }

    /// Once a peer is connected directly, its relayed connections (the
    /// relay's limited circuits, used for the hole punch) are closed, so no
    /// protocol sends anything over them.
    fn track(&mut self, event: &FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                let (relayed, direct) = self.conns.entry(e.peer_id).or_default();
                if e.endpoint.is_relayed() {
                    relayed.push(e.connection_id);
                    if e.endpoint.is_dialer() {
                        let addr = e.endpoint.get_remote_address().clone();
                        self.retries.handle_relayed_dialed(e.peer_id, addr);
                    } else {
                        self.reversals
                            .handle_relayed_inbound(e.peer_id, *direct > 0);
                    }
                } else {
                    *direct += 1;
                    self.retries.handle_direct(e.peer_id);
                    self.reversals.handle_gone(e.peer_id);
                }
                if *direct > 0 {
                    for connection in relayed.drain(..) {
                        tracing::debug!(peer = %e.peer_id, "direct connection: closing the relayed one");
                        self.out.push_back(ToSwarm::CloseConnection {
                            peer_id: e.peer_id,
                            connection: CloseConnection::One(connection),
                        });
                    }
                }
            }
            FromSwarm::ConnectionClosed(e) => {
                if let Some((relayed, direct)) = self.conns.get_mut(&e.peer_id) {
                    if e.endpoint.is_relayed() {
                        relayed.retain(|c| *c != e.connection_id);
                    } else {
                        *direct = direct.saturating_sub(1);
                    }
                    if relayed.is_empty() {
                        self.reversals.handle_gone(e.peer_id);
                    }
                    if relayed.is_empty() && *direct == 0 {
                        self.conns.remove(&e.peer_id);
                    }
                }
                self.apply_relay_status();
            }
            _ => {}
        }
    }

    fn observe(&mut self, event: &FromSwarm) {
        if self.inner.client.is_enabled() {
            self.track(event);
        }
        let closed = match event {
            FromSwarm::ListenerClosed(e) => Some(e.listener_id),
            FromSwarm::ListenerError(e) => Some(e.listener_id),
            FromSwarm::ExternalAddrExpired(e) => {
                self.state.handle_expired(e.addr);
                None
            }
            _ => None,
        };
        if let Some(relay) = closed.and_then(|id| self.listeners.remove(&id)) {
            tracing::info!(%relay, "relay reservation ended");
            self.state.handle_reservation_failed(relay, Instant::now());
        }
    }

    /// Dials again, through the relay, peers whose hole punch failed
    /// ([`Retries`]).
    fn retry(&mut self, now: Instant) {
        while let Some((peer, addr)) = self.retries.poll(now) {
            tracing::info!(%peer, %addr, "hole punch failed: dialing again through the relay for another one");
            let opts = DialOpts::peer_id(peer)
                .addresses(vec![addr])
                .condition(PeerCondition::Always)
                .build();
            self.out.push_back(ToSwarm::Dial { opts });
        }
    }

    fn decide(&mut self, now: Instant) {
        self.retry(now);
        while let Some(decision) = self.state.poll(now) {
            match decision {
                Decision::Changed(reach) => {
                    tracing::info!(?reach, "reachability");
                    self.relay_status = Some(relay_status(reach));
                    self.apply_relay_status();
                    self.out
                        .push_back(ToSwarm::GenerateEvent(Event::Reachability(reach)));
                }
                Decision::Reprobe => {
                    if let Some(prober) = self.inner.autonat.as_mut() {
                        prober.restart();
                    }
                }
                Decision::Expire(addr) => {
                    tracing::info!(%addr, "external address no longer confirmed");
                    self.out.push_back(ToSwarm::ExternalAddrExpired(addr));
                }
                Decision::Reserve { relay, addr } => {
                    let mut circuit = crate::discovery::with_peer_id(&addr, relay);
                    circuit.push(Protocol::P2pCircuit);
                    tracing::info!(%circuit, "asking for a relay reservation");
                    let opts = ListenOpts::new(circuit);
                    self.listeners.insert(opts.listener_id(), relay);
                    self.out.push_back(ToSwarm::ListenOn { opts });
                }
            }
        }
    }
}

fn is_loopback(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_loopback(),
        Some(Protocol::Ip6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// Relay service is offered only by public nodes.
fn relay_status(reach: Reach) -> relay::Status {
    if reach == Reach::Public {
        relay::Status::Enable
    } else {
        relay::Status::Disable
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = THandler<Inner>;
    type ToSwarm = Event;

    forward_to_inner!(inner, own_on_swarm_event);

    /// Loopback addresses others observed are no candidates for an external
    /// address (AutoNAT would test them again and again, each test a new
    /// dial-back connection that keeps peers connected), nor are relayed
    /// ones (a peer that reached this node through a relay observes the
    /// circuit; the relay client confirms those itself), nor ones without
    /// an IP address or DNS name (a bare `/p2p/ID` was seen): dropped here.
    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::NewExternalAddrCandidate(c) = &event {
            let relayed = c.addr.iter().any(|p| p == Protocol::P2pCircuit);
            if is_loopback(c.addr) || relayed || !crate::discovery::is_dialable(c.addr) {
                return;
            }
            tracing::debug!(addr = %c.addr, "external address candidate");
            self.retries.handle_candidate();
        }
        self.inner.on_swarm_event(event);
        self.observe(&event);
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Event, THandlerInEvent<Self>>> {
        let mut due = false;
        // Without a relay client (swarm key, memory transport) nothing here
        // runs: no tick waking the swarm every second.
        if self.inner.client.is_enabled() {
            let tick = self.tick.get_or_insert_with(|| {
                let mut t = tokio::time::interval(TICK);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            while tick.poll_tick(cx).is_ready() {
                due = true;
            }
        }
        if due {
            guarded("a NAT tick", || self.decide(Instant::now()));
        } else {
            // A retry waiting for an address candidate goes as soon as one
            // came (candidates arrive as swarm events, not on a tick).
            self.retry(Instant::now());
        }
        loop {
            if let Some(out) = self.out.pop_front() {
                return Poll::Ready(out);
            }
            match self.inner.poll(cx) {
                Poll::Ready(ToSwarm::GenerateEvent(event)) => {
                    guarded("a NAT event", || self.on_inner_event(event));
                    guarded("a NAT decision", || self.decide(Instant::now()));
                }
                Poll::Ready(other) => return Poll::Ready(other.map_out(|_| unreachable!())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
