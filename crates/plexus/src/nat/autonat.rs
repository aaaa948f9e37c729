//! libp2p's AutoNAT v2 client, restartable. The client tests each address
//! candidate once and keeps the outcome for good: it has no way to test an
//! address again (rust-libp2p issue #6203; PR #6207 would forget an address
//! when it expires, not released for libp2p 0.57). [`Prober::restart`]
//! replaces it with a fresh client that knows the recent candidates, so
//! they are all tested again.
//!
//! The fresh client has not seen the connections that were open before: it
//! hears nothing about them (their handlers belong to the old client), and
//! it learns which peers are AutoNAT servers from new connections only. So
//! a restart also dials a few peers this node had dialed directly before,
//! on a new port (AutoNAT v2 wants the test to run over a new connection,
//! not an existing NAT mapping); identify on those connections tells the
//! fresh client they serve AutoNAT, and its next tick tests the candidates.
//! The next restart closes those connections (they served the old client
//! only; left open, a short recheck would fill the per-peer connection cap
//! with them before the idle timeout closes them).

use std::{
    collections::{HashMap, HashSet, VecDeque},
    task::{Context, Poll},
};

use libp2p::{
    autonat::v2::client,
    core::{transport::PortUse, Endpoint},
    swarm::{
        dial_opts::{DialOpts, PeerCondition},
        CloseConnection, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour,
        NewExternalAddrCandidate, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
    },
    Multiaddr, PeerId,
};

/// Candidates remembered for the next restart (the most recent ones).
const MAX_CANDIDATES: usize = 16;
/// Peers dialed at a restart, to serve the fresh client's tests.
const SERVERS: usize = 3;

/// The AutoNAT v2 client, restarted on demand.
#[derive(Default)]
pub(crate) struct Prober {
    client: client::Behaviour,
    /// Connections the current client saw open (others are the old
    /// client's: their events are not for it).
    known: HashSet<ConnectionId>,
    /// Recent external address candidates, newest last.
    candidates: VecDeque<Multiaddr>,
    /// Open direct connections this node dialed: peer and address.
    dialed: HashMap<ConnectionId, (PeerId, Multiaddr)>,
    /// Connections the last restart dialed for its tests, by peer.
    probing: HashMap<ConnectionId, PeerId>,
    out: VecDeque<ToSwarm<client::Event, THandlerInEvent<client::Behaviour>>>,
}

impl Prober {
    /// A fresh client: every recent candidate is tested again, over new
    /// connections to up to [`SERVERS`] peers this node dialed before.
    pub(crate) fn restart(&mut self) {
        self.client = client::Behaviour::default();
        self.known.clear();
        for (connection, peer_id) in self.probing.drain() {
            self.out.push_back(ToSwarm::CloseConnection {
                peer_id,
                connection: CloseConnection::One(connection),
            });
        }
        for addr in &self.candidates {
            self.client
                .on_swarm_event(FromSwarm::NewExternalAddrCandidate(
                    NewExternalAddrCandidate { addr },
                ));
        }
        let mut peers: Vec<(PeerId, Multiaddr)> = self
            .dialed
            .iter()
            .filter(|(c, _)| !self.probing.contains_key(c))
            .map(|(_, p)| p.clone())
            .collect();
        peers.sort_by_key(|(p, _)| *p);
        peers.dedup_by_key(|(p, _)| *p);
        tracing::debug!(
            candidates = self.candidates.len(),
            servers = peers.len().min(SERVERS),
            "AutoNAT: testing the addresses again"
        );
        for (peer, addr) in peers.into_iter().take(SERVERS) {
            let opts = DialOpts::peer_id(peer)
                .addresses(vec![addr])
                .condition(PeerCondition::Always)
                .allocate_new_port()
                .build();
            self.probing.insert(opts.connection_id(), peer);
            self.out.push_back(ToSwarm::Dial { opts });
        }
    }

    fn remember(&mut self, addr: &Multiaddr) {
        self.candidates.retain(|a| a != addr);
        self.candidates.push_back(addr.clone());
        while self.candidates.len() > MAX_CANDIDATES {
            self.candidates.pop_front();
        }
    }
}

impl NetworkBehaviour for Prober {
    type ConnectionHandler = THandler<client::Behaviour>;
    type ToSwarm = client::Event;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.client
            .handle_pending_inbound_connection(id, local, remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.client
            .handle_established_inbound_connection(id, peer, local, remote)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: Option<PeerId>,
        addrs: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.client
            .handle_pending_outbound_connection(id, peer, addrs, role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.client
            .handle_established_outbound_connection(id, peer, addr, role, port_use)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match &event {
            FromSwarm::ConnectionEstablished(e) => {
                self.known.insert(e.connection_id);
                if e.endpoint.is_dialer() && !e.endpoint.is_relayed() {
                    let addr = e.endpoint.get_remote_address().clone();
                    self.dialed.insert(e.connection_id, (e.peer_id, addr));
                }
            }
            FromSwarm::DialFailure(e) => {
                self.probing.remove(&e.connection_id);
            }
            FromSwarm::ConnectionClosed(e) => {
                self.dialed.remove(&e.connection_id);
                self.probing.remove(&e.connection_id);
                if !self.known.remove(&e.connection_id) {
                    return;
                }
            }
            FromSwarm::NewExternalAddrCandidate(c) => self.remember(c.addr),
            _ => {}
        }
        self.client.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        if self.known.contains(&id) {
            self.client.on_connection_handler_event(peer, id, event);
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if let Some(out) = self.out.pop_front() {
            return Poll::Ready(out);
        }
        self.client.poll(cx)
    }
}
