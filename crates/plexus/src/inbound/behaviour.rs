//! The `NetworkBehaviour` that applies [`InboundCounter`]: no protocol of
//! its own, only yes or no on each inbound connection.

use std::{
    convert::Infallible,
    task::{Context, Poll},
};

use libp2p::{
    core::{transport::PortUse, ConnectedPoint, Endpoint},
    swarm::{
        dummy, ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, ListenFailure,
        NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
    },
    Multiaddr, PeerId,
};

use super::counter::{ip_key, InboundCounter};

/// Refuses inbound connections over the per-IP or total inbound limit;
/// outbound connections pass untouched and uncounted.
pub(crate) struct Behaviour {
    counter: InboundCounter,
}

impl Behaviour {
    /// At most `max_inbound` established inbound connections and
    /// `max_per_ip` inbound connections from one IP.
    pub(crate) fn new(max_inbound: u32, max_per_ip: u32) -> Self {
        Self {
            counter: InboundCounter::new(max_inbound, max_per_ip),
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.counter
            .handle_pending(id, ip_key(remote))
            .map_err(|e| {
                tracing::debug!(%remote, "{e}");
                ConnectionDenied::new(e)
            })
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.counter
            .handle_established(id, ip_key(remote))
            .map_err(|e| {
                tracing::debug!(%remote, "{e}");
                ConnectionDenied::new(e)
            })?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionClosed(ConnectionClosed {
                connection_id,
                endpoint: ConnectedPoint::Listener { .. },
                ..
            })
            | FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                self.counter.handle_closed(connection_id)
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}
