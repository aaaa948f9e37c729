//! One request-response protocol carried for a service that answers
//! elsewhere: this node's requests go out with a reply channel; peers'
//! requests go on a bounded channel to the service (a task that needs the
//! node, e.g. to fetch blobs), and its answers come back here. Storage
//! (`/plexus/storage/1`) and compute (`/plexus/compute/1`) are such
//! services; each names itself with a [`Service`].

use std::{
    collections::HashMap,
    task::{Context, Poll},
    time::Duration,
};

use futures::{future::BoxFuture, stream::FuturesUnordered, FutureExt, StreamExt};
use libp2p::{
    request_response::{
        self, json::codec::Codec, Message, OutboundRequestId, ProtocolSupport, ResponseChannel,
    },
    swarm::{NetworkBehaviour, THandler, THandlerInEvent, ToSwarm},
    Multiaddr, PeerId, StreamProtocol,
};
use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::{
    guard::guarded,
    metrics::{Metered, Traffic},
    wrap::forward_to_inner,
    Error,
};

/// Peers' requests waiting for the service; more are answered "busy".
const INBOUND_QUEUE: usize = 64;

/// A service carried by [`Carrier`]: its messages, protocol and deadline.
pub(crate) trait Service: 'static {
    /// What peers ask.
    type Request: Serialize + DeserializeOwned + Send + std::fmt::Debug + 'static;
    /// What they are answered.
    type Response: Serialize + DeserializeOwned + Send + std::fmt::Debug + 'static;
    /// Its name in logs ("storage").
    const NAME: &'static str;
    /// What a panic while handling its events is called in the log ("a
    /// storage protocol event").
    const EVENT: &'static str;
    /// Its protocol.
    const PROTOCOL: StreamProtocol;
    /// How long a request may take to be answered.
    const TIMEOUT: Duration;
    /// Its codec (frame limits).
    fn codec() -> Codec<Self::Request, Self::Response>;
    /// The answer to a request the service has no room for.
    fn busy() -> Self::Response;
}

/// Nothing the rest of the node must react to.
#[derive(Debug)]
pub(crate) enum Event {}

/// A peer's request for the service, with the way to answer it.
pub(crate) struct Inbound<S: Service> {
    /// Who asked.
    pub(crate) peer: PeerId,
    /// What it asked.
    pub(crate) request: S::Request,
    /// Where the answer goes.
    pub(crate) reply: oneshot::Sender<S::Response>,
}

type Inner<S> =
    request_response::Behaviour<Metered<Codec<<S as Service>::Request, <S as Service>::Response>>>;

type Answer<S> = BoxFuture<
    'static,
    (
        ResponseChannel<<S as Service>::Response>,
        Option<<S as Service>::Response>,
    ),
>;

/// Carries one service's requests both ways.
pub(crate) struct Carrier<S: Service> {
    inner: Inner<S>,
    pending: HashMap<OutboundRequestId, oneshot::Sender<Result<S::Response, Error>>>,
    inbound: mpsc::Sender<Inbound<S>>,
    /// Taken once by the node, which runs the service.
    inbound_rx: Option<mpsc::Receiver<Inbound<S>>>,
    answers: FuturesUnordered<Answer<S>>,
}

impl<S: Service> Carrier<S> {
    /// The carrier, its bytes counted in `traffic`.
    pub(crate) fn new(traffic: Traffic) -> Self {
        let (inbound, rx) = mpsc::channel(INBOUND_QUEUE);
        Self {
            inner: Inner::<S>::with_codec(
                Metered::new(S::codec(), traffic),
                [(S::PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(S::TIMEOUT),
            ),
            pending: HashMap::new(),
            inbound,
            inbound_rx: Some(rx),
            answers: FuturesUnordered::new(),
        }
    }

    /// The peers' requests, for the service (once).
    pub(crate) fn take_inbound(&mut self) -> Option<mpsc::Receiver<Inbound<S>>> {
        self.inbound_rx.take()
    }

    /// Sends `request` to `peer` (dialing `addrs` if needed); the answer
    /// or the failure goes to `reply`.
    pub(crate) fn send(
        &mut self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: S::Request,
        reply: oneshot::Sender<Result<S::Response, Error>>,
    ) {
        let id = self
            .inner
            .send_request_with_addresses(&peer, request, addrs);
        self.pending.insert(id, reply);
    }

    fn on_inner_event(&mut self, event: request_response::Event<S::Request, S::Response>) {
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
                        let _ = self.inner.send_response(channel, S::busy());
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
                tracing::debug!(%peer, "inbound {} request failed: {error}", S::NAME);
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}

impl<S: Service> NetworkBehaviour for Carrier<S> {
    type ConnectionHandler = THandler<Inner<S>>;
    type ToSwarm = Event;

    forward_to_inner!(inner);

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Event, THandlerInEvent<Self>>> {
        loop {
            // Polled every round, so answers to requests that arrived in
            // this call register their wakers too.
            let mut answered = false;
            while let Poll::Ready(Some((channel, answer))) = self.answers.poll_next_unpin(cx) {
                // No answer: the service dropped the request (the node stops).
                if let Some(response) = answer {
                    let _ = self.inner.send_response(channel, response);
                    answered = true;
                }
            }
            match self.inner.poll(cx) {
                Poll::Ready(ToSwarm::GenerateEvent(event)) => {
                    guarded(S::EVENT, || self.on_inner_event(event));
                }
                Poll::Ready(other) => return Poll::Ready(other.map_out(|_| unreachable!())),
                Poll::Pending if answered => {}
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
