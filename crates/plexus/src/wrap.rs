//! The plumbing every component's behaviour shares: a component wraps an
//! inner libp2p behaviour (request-response, gossipsub, Kademlia...) and
//! uses the inner connection handler as its own, so all it adds is state and
//! a `poll` that handles the inner events. [`forward_to_inner!`] writes the
//! six [`libp2p::swarm::NetworkBehaviour`] methods that only pass through.

/// Inside `impl NetworkBehaviour for X`, forwards connection set-up and
/// handler events to `self.$inner`. Use with
/// `type ConnectionHandler = THandler<Inner>;`. The second form also lets
/// the component see each swarm event (`|this, event| ...`) after the inner
/// behaviour has; the third (`own_on_swarm_event`) leaves `on_swarm_event`
/// to the component (to keep some events from the inner behaviour).
macro_rules! forward_to_inner {
    ($inner:ident) => {
        forward_to_inner!($inner, |_this, _event| {});
    };
    ($inner:ident, |$this:ident, $event:ident| $observe:block) => {
        forward_to_inner!($inner, own_on_swarm_event);

        fn on_swarm_event(&mut self, event: libp2p::swarm::FromSwarm) {
            self.$inner.on_swarm_event(event);
            let $this = &mut *self;
            let $event = &event;
            $observe
        }
    };
    // All but `on_swarm_event`, which the component writes itself.
    ($inner:ident, own_on_swarm_event) => {
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

        fn on_connection_handler_event(
            &mut self,
            peer: libp2p::PeerId,
            id: libp2p::swarm::ConnectionId,
            event: libp2p::swarm::THandlerOutEvent<Self>,
        ) {
            self.$inner.on_connection_handler_event(peer, id, event);
        }
    };
}

pub(crate) use forward_to_inner;
