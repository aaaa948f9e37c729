//! The compute component as a libp2p behaviour: request-response on
//! `/plexus/compute/1`. This node's requests come in as [`Command`]s;
//! peers' requests go out on a channel to the worker (which
//! needs the node to fetch blobs) and its answers come back here.

use std::{
    collections::HashMap,
    task::{Context, Poll},
    time::Duration,
};

use futures::{future::BoxFuture, stream::FuturesUnordered, FutureExt, StreamExt};
use libp2p::{
    request_response::{self, Message, OutboundRequestId, ProtocolSupport, ResponseChannel},
    swarm::{NetworkBehaviour, THandler, THandlerInEvent, ToSwarm},
    PeerId,
};
use tokio::sync::{mpsc, oneshot};

use super::{
    protocol::{codec, Request, Response, PROTOCOL},
    Command,
};
use crate::{guard::guarded, wrap::forward_to_inner, Error};

type Inner = request_response::Behaviour<request_response::json::codec::Codec<Request, Response>>;

/// Peers' requests waiting for the service; more are answered "busy".
const INBOUND_QUEUE: usize = 64;
/// A unit is fetched and run before it is answered; the runner keeps its
/// own, shorter, deadline per unit.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3600);

/// Nothing the rest of the node must react to.
#[derive(Debug)]
pub(crate) enum Event {}

/// A peer's request for the worker, with the way to answer it.
pub(crate) struct Inbound {
    /// Who asked.
    pub(crate) peer: PeerId,
    /// What it asked.
    pub(crate) request: Request,
    /// Where the answer goes.
    pub(crate) reply: oneshot::Sender<Response>,
}

type Answer = BoxFuture<'static, (ResponseChannel<Response>, Option<Response>)>;

/// Carries compute requests both ways.
pub(crate) struct Behaviour {
    inner: Inner,
    pending: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, Error>>>,
    inbound: mpsc::Sender<Inbound>,
    /// Taken once by the node, which runs the service.
    inbound_rx: Option<mpsc::Receiver<Inbound>>,
    answers: FuturesUnordered<Answer>,
}

impl Behaviour {
    pub(crate) fn new() -> Self {
        let (inbound, rx) = mpsc::channel(INBOUND_QUEUE);
        Self {
            inner: Inner::with_codec(
                codec(),
                [(PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(REQUEST_TIMEOUT),
            ),
            pending: HashMap::new(),
            inbound,
            inbound_rx: Some(rx),
            answers: FuturesUnordered::new(),
        }
    }

    /// The peers' requests, for the worker (once).
    pub(crate) fn take_inbound(&mut self) -> Option<mpsc::Receiver<Inbound>> {
        self.inbound_rx.take()
    }

    /// Handles a command from the node.
    pub(crate) fn on_command(&mut self, command: Command) {
        match command {
            Command::Request {
                peer,
                addrs,
                request,
                reply,
            } => {
                let id = self
                    .inner
                    .send_request_with_addresses(&peer, request, addrs);
                self.pending.insert(id, reply);
            }
        }
    }

    fn on_inner_event(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let (reply, answer) = oneshot::channel();
                match self.inbound.try_send(Inbound {
                    peer,
                    request,
                    reply,
                }) {
                    Ok(()) => self
                        .answers
                        .push(async move { (channel, answer.await.ok()) }.boxed()),
                    Err(_) => {
                        let busy = Response::Refused("busy, try again later".into());
                        let _ = self.inner.send_response(channel, busy);
                    }
                }
            }
            request_response::Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            } => {
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(Error::Request {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, "inbound compute request failed: {error}");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = THandler<Inner>;
    type ToSwarm = Event;

    forward_to_inner!(inner);

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Event, THandlerInEvent<Self>>> {
        loop {
            // Polled every round, so answers to requests that arrived in
            // this call register their wakers too.
            let mut answered = false;
            while let Poll::Ready(Some((channel, answer))) = self.answers.poll_next_unpin(cx) {
                // No answer: the worker dropped the request (the node stops).
                if let Some(response) = answer {
                    let _ = self.inner.send_response(channel, response);
                    answered = true;
                }
            }
            match self.inner.poll(cx) {
                Poll::Ready(ToSwarm::GenerateEvent(event)) => {
                    guarded("a compute protocol event", || self.on_inner_event(event));
                }
                Poll::Ready(other) => return Poll::Ready(other.map_out(|_| unreachable!())),
                Poll::Pending if answered => {}
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
