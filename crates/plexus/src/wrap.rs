//! The plumbing every component's behaviour shares: a component wraps an
//! inner libp2p behaviour (request-response, gossipsub, Kademlia...) and
//! uses the inner connection handler as its own, so all it adds is state and
//! a `poll` that handles the inner events. [`forward_to_inner!`] writes the
//! six [`libp2p::swarm::NetworkBehaviour`] methods that only pass through.

/// Inside `impl NetworkBehaviour for X`, forwards connection set-up and
/// handler events to `self.$inner`. Use with
/// `type ConnectionHandler = THandler<Inner>;`. The second form also lets
/// the component see each swarm event (`|this, event| ...`) after the inner
/// behaviour has; the third also screens each connection handler event
/// (`|this, peer, event| ...` answers `Some(event)` to pass it on, `None` to
/// drop it); the fourth (`own_on_swarm_event`) leaves `on_swarm_event` to
/// the component (to keep some events from the inner behaviour).
macro_rules! forward_to_inner {
    ($inner:ident) => {
        forward_to_inner!($inner, |_this, _event| {});
    };
    ($inner:ident, |$this:ident, $event:ident| $observe:block) => {
        forward_to_inner!($inner, |$this, $event| $observe, |_this, _peer, event| {
            Some(event)
        });
    };
    (
        $inner:ident,
        |$this:ident, $event:ident| $observe:block,
        |$sthis:ident, $speer:ident, $sevent:ident| $screen:block
    ) => {
        forward_to_inner!(@connections $inner);

        fn on_swarm_event(&mut self, event: libp2p::swarm::FromSwarm) {
            self.$inner.on_swarm_event(event);
            let $this = &mut *self;
            let $event = &event;
            $observe
        }

        fn on_connection_handler_event(
            &mut self,
            peer: libp2p::PeerId,
            id: libp2p::swarm::ConnectionId,
            event: libp2p::swarm::THandlerOutEvent<Self>,
        ) {
            let $sthis = &mut *self;
            let $speer = peer;
            let $sevent = event;
            if let Some(event) = $screen {
                self.$inner.on_connection_handler_event(peer, id, event);
            }
        }
    };
    // All but `on_swarm_event`, which the component writes itself.
    ($inner:ident, own_on_swarm_event) => {
        forward_to_inner!(@connections $inner);

        fn on_connection_handler_event(
            &mut self,
            peer: libp2p::PeerId,
            id: libp2p::swarm::ConnectionId,
            event: libp2p::swarm::THandlerOutEvent<Self>,
        ) {
            self.$inner.on_connection_handler_event(peer, id, event);
        }
    };
    // The four connection set-up methods.
    (@connections $inner:ident) => {
        fn handle_pending_inbound_connection(
            &mut self,
            id: libp2p::swarm::ConnectionId,
            local: &libp2p::Multiaddr,
            remote: &libp2p::Multiaddr,
        ) -> Result<(), libp2p::swarm::ConnectionDenied> {
            self.$inner
                .handle_pending_inbound_connection(id, local, remote)
        }

        fn handle_established_inbound_connection(
            &mut self,
            id: libp2p::swarm::ConnectionId,
            peer: libp2p::PeerId,
            local: &libp2p::Multiaddr,
            remote: &libp2p::Multiaddr,
        ) -> Result<libp2p::swarm::THandler<Self>, libp2p::swarm::ConnectionDenied> {
            self.$inner
                .handle_established_inbound_connection(id, peer, local, remote)
        }

        fn handle_pending_outbound_connection(
            &mut self,
            id: libp2p::swarm::ConnectionId,
            peer: Option<libp2p::PeerId>,
            addrs: &[libp2p::Multiaddr],
            role: libp2p::core::Endpoint,
        ) -> Result<Vec<libp2p::Multiaddr>, libp2p::swarm::ConnectionDenied> {
            self.$inner
                .handle_pending_outbound_connection(id, peer, addrs, role)
        }

        fn handle_established_outbound_connection(
            &mut self,
            id: libp2p::swarm::ConnectionId,
            peer: libp2p::PeerId,
            addr: &libp2p::Multiaddr,
            role: libp2p::core::Endpoint,
            port_use: libp2p::core::transport::PortUse,
        ) -> Result<libp2p::swarm::THandler<Self>, libp2p::swarm::ConnectionDenied> {
            self.$inner
                .handle_established_outbound_connection(id, peer, addr, role, port_use)
        }
    };
}

pub(crate) use forward_to_inner;
