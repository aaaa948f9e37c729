//! The `NetworkBehaviour` that applies [`TransportChoice`]: no protocol of
//! its own, only dials and closes.

use std::{
    convert::Infallible,
    task::{Context, Poll, Waker},
};

use libp2p::{
    core::{transport::PortUse, Endpoint},
    swarm::{
        dial_opts::{DialOpts, PeerCondition},
        dummy, CloseConnection, ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm,
        NetworkBehaviour, NewExternalAddrOfPeer, THandler, THandlerInEvent, THandlerOutEvent,
        ToSwarm,
    },
    Multiaddr, PeerId,
};

use super::choice::{Action, Transport, TransportChoice};

/// Moves this node's own connections to the preferred transport; does
/// nothing without a preference.
pub(crate) struct Behaviour {
    choice: Option<TransportChoice>,
    waker: Option<Waker>,
}

impl Behaviour {
    /// Prefers `prefer`, or keeps whatever connects first when `None`.
    pub(crate) fn new(prefer: Option<Transport>) -> Self {
        Self {
            choice: prefer.map(TransportChoice::new),
            waker: None,
        }
    }

    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if let Some(choice) = &mut self.choice {
            choice.handle_outbound(peer, id, addr);
            self.wake();
        }
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        let Some(choice) = &mut self.choice else {
            return;
        };
        match event {
            FromSwarm::ConnectionClosed(ConnectionClosed {
                peer_id,
                connection_id,
                ..
            }) => choice.handle_closed(peer_id, connection_id),
            FromSwarm::NewExternalAddrOfPeer(NewExternalAddrOfPeer { peer_id, addr }) => {
                choice.handle_address(peer_id, addr);
                self.wake();
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

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        let Some(choice) = &mut self.choice else {
            return Poll::Pending;
        };
        match choice.poll_action() {
            Some(Action::Dial { peer, addr }) => {
                tracing::debug!(%peer, %addr, "dialling the preferred transport too");
                let opts = DialOpts::peer_id(peer)
                    .addresses(vec![addr])
                    .condition(PeerCondition::Always)
                    .build();
                Poll::Ready(ToSwarm::Dial { opts })
            }
            Some(Action::Close { peer, connection }) => {
                tracing::debug!(%peer, ?connection, "closing the connection over the other transport");
                Poll::Ready(ToSwarm::CloseConnection {
                    peer_id: peer,
                    connection: CloseConnection::One(connection),
                })
            }
            None => {
                self.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
