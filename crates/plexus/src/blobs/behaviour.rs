//! The blob component as a libp2p behaviour: request-response on
//! `/plexus/blobs/1.1.0` and `1.0.0`. One inner request-response behaviour carries
//! both sides: peers' requests go to [`Answers`] (answered from the store
//! on the blocking pool), this node's own to [`Requests`] (over direct
//! connections only unless allowed: see [`super::direct`]).

use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use libp2p::{
    request_response::{self, Message, ProtocolSupport},
    swarm::{CloseConnection, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent, ToSwarm},
    PeerId,
};

use super::{
    answers::Answers,
    protocol::{Codec, Request, Response, PROTOCOL, PROTOCOL_COMPACT},
    requests::Requests,
    Command,
};
use crate::{
    bandwidth::Bandwidth,
    content::Store,
    guard::guarded,
    metrics::{Metered, Traffic},
    wrap::forward_to_inner,
};

/// The request-response behaviour both sides share.
pub(super) type Inner = request_response::Behaviour<Metered<Codec>>;

/// Streams of this protocol one connection may have open at once, inbound
/// and outbound: the peer's serving slots, room for quick `Busy` answers,
/// and this node's own requests (a download keeps a few in flight). Each
/// inbound one holds at most a request frame while it is read.
const MAX_STREAMS_PER_CONNECTION: usize = 64;

/// Nothing the rest of the node must react to: the component answers
/// peers and its callers by itself.
#[derive(Debug)]
pub(crate) enum Event {}

/// Serves blobs from the store and sends this node's blob requests.
pub(crate) struct Behaviour {
    inner: Inner,
    answers: Answers,
    requests: Requests,
}

impl Behaviour {
    /// Serves from `store`, sending and reading response bodies within
    /// the caps of `bandwidth`, counting stream bytes in `traffic`.
    pub(crate) fn new(store: Arc<Store>, bandwidth: Arc<Bandwidth>, traffic: Traffic) -> Self {
        Self {
            inner: Inner::with_codec(
                Metered::new(Codec::limited(bandwidth), traffic),
                [
                    (PROTOCOL_COMPACT, ProtocolSupport::Full),
                    (PROTOCOL, ProtocolSupport::Full),
                ],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(30))
                    .with_max_concurrent_streams(MAX_STREAMS_PER_CONNECTION),
            ),
            answers: Answers::new(store),
            requests: Requests::default(),
        }
    }

    /// Circuits through `relay` carry at most `limit` (in words).
    pub(crate) fn set_circuit_limit(&mut self, relay: PeerId, limit: String) {
        self.requests.set_circuit_limit(relay, limit);
    }

    /// Bytes of responses being encoded or waiting to be sent.
    pub(crate) fn serving_bytes(&self) -> u64 {
        self.answers.serving_bytes()
    }

    /// Handles a command from the node.
    pub(crate) fn on_command(&mut self, command: Command) {
        match command {
            Command::Request {
                peer,
                addrs,
                request,
                allow_relay,
                reply,
            } => self.requests.handle_request(
                &mut self.inner,
                (peer, addrs),
                request,
                allow_relay,
                reply,
            ),
        }
    }

    fn observe(&mut self, event: &FromSwarm) {
        self.requests.observe(event);
        if let FromSwarm::ConnectionClosed(e) = event {
            if e.remaining_established == 0 {
                self.answers.handle_gone(e.peer_id);
            }
        }
    }

    fn on_inner_event(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message {
                peer,
                connection_id,
                message:
                    Message::Request {
                        request_id,
                        request,
                        channel,
                    },
            } => self.answers.handle_request(
                &mut self.inner,
                (peer, connection_id),
                request_id,
                request,
                channel,
            ),
            request_response::Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => self.requests.handle_response(request_id, response),
            request_response::Event::OutboundFailure {
                request_id,
                error,
                peer,
                connection_id,
            } => self
                .requests
                .handle_failure(request_id, (peer, connection_id), error),
            request_response::Event::InboundFailure {
                peer,
                error,
                request_id,
                ..
            } => {
                tracing::debug!(%peer, "inbound blob request failed: {error}");
                self.answers.handle_failed(request_id);
            }
            request_response::Event::ResponseSent { request_id, .. } => {
                self.answers.handle_sent(request_id);
            }
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = THandler<Inner>;
    type ToSwarm = Event;

    forward_to_inner!(inner, |this, event| { this.observe(event) });

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Event, THandlerInEvent<Self>>> {
        if let Some((peer_id, connection)) = self.answers.poll_close() {
            return Poll::Ready(ToSwarm::CloseConnection {
                peer_id,
                connection: CloseConnection::One(connection),
            });
        }
        if let Some(action) = self.requests.poll(&mut self.inner, cx) {
            return Poll::Ready(action);
        }
        self.answers.poll_served(&mut self.inner, cx);
        loop {
            match self.inner.poll(cx) {
                Poll::Ready(ToSwarm::GenerateEvent(event)) => {
                    guarded("a blob protocol event", || self.on_inner_event(event));
                }
                Poll::Ready(other) => return Poll::Ready(other.map_out(|_| unreachable!())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
