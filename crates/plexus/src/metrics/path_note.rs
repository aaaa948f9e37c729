//! [`PathNote`]: a behaviour with no protocol of its own that notes each
//! new connection's path (direct or relayed) in the node's [`Traffic`],
//! just before the protocols' handlers for it are made, so their codecs
//! count bytes under that path (see [`super::traffic`]).

use std::{
    convert::Infallible,
    task::{Context, Poll},
};

use libp2p::{
    core::{transport::PortUse, Endpoint},
    swarm::{
        dummy, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler,
        THandlerInEvent, THandlerOutEvent, ToSwarm,
    },
    Multiaddr, PeerId,
};

use super::traffic::{Path, Traffic};

/// Notes each connection's path; must come before the protocols in the
/// node's behaviour (fields are set up in order).
#[derive(Debug)]
pub(crate) struct PathNote(Traffic);

impl PathNote {
    /// Notes into `traffic`.
    pub(crate) fn new(traffic: Traffic) -> Self {
        Self(traffic)
    }
}

impl NetworkBehaviour for PathNote {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.0.note(Path::of(remote));
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        addr: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.0.note(Path::of(addr));
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        e: THandlerOutEvent<Self>,
    ) {
        match e {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}
