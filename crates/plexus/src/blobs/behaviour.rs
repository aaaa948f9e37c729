//! The blob component as a libp2p behaviour: request-response on
//! `/plexus/blobs/1.0.0`, answering from the store on the blocking pool and
//! carrying this node's own requests (over direct connections only: see
//! [`super::direct`]).

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use libp2p::{
    request_response::{
        self, InboundRequestId, Message, OutboundRequestId, ProtocolSupport, ResponseChannel,
    },
    swarm::{
        dial_opts::{DialOpts, PeerCondition},
        CloseConnection, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
        ToSwarm,
    },
    Multiaddr, PeerId,
};
use tokio::sync::{mpsc, oneshot};

use super::{
    answer,
    direct::{is_relayed, relay_of, Admit, DirectFirst, Release},
    protocol::{Codec, Request, Response, PROTOCOL},
    seeding::Seeding,
    serve::{Admission, Serving},
    Command,
};
use crate::{
    bandwidth::Bandwidth,
    content::{ChunkRanges, Hash, Store},
    guard::guarded,
    metrics::{Metered, Traffic},
    wrap::forward_to_inner,
    Error,
};

type Inner = request_response::Behaviour<Metered<Codec>>;

/// Streams of this protocol one connection may have open at once, inbound
/// and outbound: the peer's serving slots, room for quick `Busy` answers,
/// and this node's own requests (a download keeps a few in flight). Each
/// inbound one holds at most a request frame while it is read.
const MAX_STREAMS_PER_CONNECTION: usize = 64;

/// Closed relayed connections remembered for their requests' failures.
const CLOSED_CIRCUITS_KEPT: usize = 64;

/// Nothing the rest of the node must react to: the component answers
/// peers and its callers by itself.
#[derive(Debug)]
pub(crate) enum Event {}

/// A response computed on the blocking pool, to be sent from `poll`.
struct Served {
    id: InboundRequestId,
    channel: ResponseChannel<Response>,
    response: Response,
    /// For a `Get`: who asked for which ranges of what, for the offers.
    fetched: Option<(PeerId, Hash, ChunkRanges)>,
}

/// One of this node's requests, waiting for a direct connection.
struct Held {
    peer: PeerId,
    addrs: Vec<Multiaddr>,
    request: Request,
    reply: oneshot::Sender<Result<Response, Error>>,
}

/// Serves blobs from the store and sends this node's blob requests.
pub(crate) struct Behaviour {
    inner: Inner,
    store: Arc<Store>,
    serving: Serving<InboundRequestId>,
    /// What to offer getters of a blob many fetch at once.
    seeding: Seeding,
    pending: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, Error>>>,
    served_tx: mpsc::UnboundedSender<Served>,
    served_rx: mpsc::UnboundedReceiver<Served>,
    /// Addresses of peers asked for, to tell the swarm (and so identify
    /// and the dialer) about.
    learned: VecDeque<(PeerId, Multiaddr)>,
    /// Connections to close: they hold the oldest unsent responses and
    /// the memory is needed for a peer that reads.
    to_close: VecDeque<(PeerId, ConnectionId)>,
    /// Requests to peers reached only through a relay wait here.
    direct: DirectFirst<Held>,
    /// Requests sent over a relayed connection (allowed by the getter).
    relayed: HashSet<OutboundRequestId>,
    /// Relayed connections and the relay each runs through; closed ones
    /// stay a while (their requests' failures come after the close).
    circuits: HashMap<ConnectionId, Option<PeerId>>,
    closed_circuits: VecDeque<ConnectionId>,
    /// Each relay's limit per circuit, as it announced it.
    circuit_limits: HashMap<PeerId, String>,
    dials: VecDeque<DialOpts>,
    tick: Option<tokio::time::Interval>,
}

impl Behaviour {
    /// Serves from `store`, sending and reading response bodies within
    /// the caps of `bandwidth`, counting stream bytes in `traffic`.
    pub(crate) fn new(store: Arc<Store>, bandwidth: Arc<Bandwidth>, traffic: Traffic) -> Self {
        let (served_tx, served_rx) = mpsc::unbounded_channel();
        Self {
            inner: Inner::with_codec(
                Metered::new(Codec::limited(bandwidth), traffic),
                [(PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(30))
                    .with_max_concurrent_streams(MAX_STREAMS_PER_CONNECTION),
            ),
            store,
            serving: Serving::default(),
            seeding: Seeding::default(),
            pending: HashMap::new(),
            served_tx,
            served_rx,
            learned: VecDeque::new(),
            to_close: VecDeque::new(),
            direct: DirectFirst::default(),
            relayed: HashSet::new(),
            circuits: HashMap::new(),
            closed_circuits: VecDeque::new(),
            circuit_limits: HashMap::new(),
            dials: VecDeque::new(),
            tick: None,
        }
    }

    /// Circuits through `relay` carry at most `limit` (in words).
    pub(crate) fn set_circuit_limit(&mut self, relay: PeerId, limit: String) {
        self.circuit_limits.insert(relay, limit);
    }

    /// Bytes of responses being encoded or waiting to be sent.
    pub(crate) fn serving_bytes(&self) -> u64 {
        self.serving.total_bytes()
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
            } => {
                self.learned.extend(addrs.iter().map(|a| (peer, a.clone())));
                let held = Held {
                    peer,
                    addrs: addrs.clone(),
                    request,
                    reply,
                };
                match self
                    .direct
                    .admit(peer, &addrs, allow_relay, held, Instant::now())
                {
                    Admit::Send(held) => {
                        self.send(held);
                    }
                    Admit::SendRelayed(held) => {
                        let id = self.send(held);
                        self.relayed.insert(id);
                    }
                    Admit::Held { dial } => {
                        tracing::debug!(%peer, "blob request waits for a direct connection");
                        // A peer with relayed addresses is behind a NAT: its
                        // direct ones are private and the dial would wait for
                        // them to time out. The relayed connection leads to
                        // the hole punch. One relayed address is enough (each
                        // costs a circuit, and relays rate-limit circuits per
                        // peer). The dial goes ahead even while another one
                        // (Kademlia's, to stale direct addresses) still runs.
                        if dial {
                            let relayed = addrs.into_iter().filter(is_relayed).take(1).collect();
                            self.dials.push_back(
                                DialOpts::peer_id(peer)
                                    .condition(PeerCondition::Always)
                                    .addresses(relayed)
                                    .build(),
                            );
                        }
                    }
                }
            }
        }
    }

    fn send(&mut self, held: Held) -> OutboundRequestId {
        let Held {
            peer,
            addrs,
            request,
            reply,
        } = held;
        let id = self
            .inner
            .send_request_with_addresses(&peer, request, addrs);
        self.pending.insert(id, reply);
        id
    }

    /// Held requests that can go now, or must fail.
    fn release(&mut self, now: Instant) {
        while let Some(release) = self.direct.poll(now) {
            match release {
                Release::Send(held) => {
                    self.send(held);
                }
                Release::SendRelayed(held) => {
                    tracing::info!(peer = %held.peer, "no direct connection: blob request goes over the relay (allowed)");
                    let id = self.send(held);
                    self.relayed.insert(id);
                }
                Release::Fail(held, reason) => {
                    let _ = held.reply.send(Err(Error::Request {
                        peer: held.peer,
                        reason,
                    }));
                }
            }
        }
    }

    fn observe(&mut self, event: &FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                self.direct
                    .handle_established(e.peer_id, e.endpoint.is_relayed());
                if e.endpoint.is_relayed() {
                    let relay = relay_of(e.endpoint.get_remote_address());
                    self.circuits.insert(e.connection_id, relay);
                }
            }
            FromSwarm::ConnectionClosed(e) => {
                self.direct
                    .handle_closed(e.peer_id, e.endpoint.is_relayed());
                if e.remaining_established == 0 {
                    self.seeding.handle_gone(e.peer_id);
                }
                if self.circuits.contains_key(&e.connection_id) {
                    self.closed_circuits.push_back(e.connection_id);
                    if self.closed_circuits.len() > CLOSED_CIRCUITS_KEPT {
                        let old = self.closed_circuits.pop_front().expect("not empty");
                        self.circuits.remove(&old);
                    }
                }
            }
            // A dial refused because another one to the peer runs is no failure.
            FromSwarm::DialFailure(e)
                if !matches!(e.error, libp2p::swarm::DialError::DialPeerConditionFalse(_)) =>
            {
                if let Some(peer) = e.peer_id {
                    self.direct.handle_dial_failure(peer, e.error.to_string());
                }
            }
            _ => {}
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
            } => self.serve(peer, connection_id, request_id, request, channel),
            request_response::Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                self.relayed.remove(&request_id);
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                request_id,
                error,
                peer,
                connection_id,
            } => {
                let relayed = self.relayed.remove(&request_id);
                let cut = matches!(
                    error,
                    request_response::OutboundFailure::ConnectionClosed
                        | request_response::OutboundFailure::Io(_)
                );
                let err = match self.circuits.get(&connection_id) {
                    // The relay ended the circuit under a request it
                    // carried: its limit, most likely.
                    Some(relay) if relayed && cut => {
                        let limit = relay.and_then(|r| self.circuit_limits.get(&r));
                        Error::relay_limit(peer, *relay, limit.map_or("unknown", |l| l))
                    }
                    _ if is_lost(&error) => Error::ConnectionLost {
                        peer,
                        reason: error.to_string(),
                    },
                    _ => Error::Request {
                        peer,
                        reason: error.to_string(),
                    },
                };
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(err));
                }
            }
            request_response::Event::InboundFailure {
                peer,
                error,
                request_id,
                ..
            } => {
                tracing::debug!(%peer, "inbound blob request failed: {error}");
                self.serving.handle_done(request_id);
            }
            request_response::Event::ResponseSent { request_id, .. } => {
                self.serving.handle_sent(request_id, Instant::now());
            }
        }
    }

    /// Answers `request`: at once when the rules say so, otherwise from
    /// the store on the blocking pool (the answer comes back to `poll`).
    /// An admitted request holds its slot until `ResponseSent` or
    /// `InboundFailure` (every request gets one of them).
    fn serve(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        id: InboundRequestId,
        request: Request,
        channel: ResponseChannel<Response>,
    ) {
        let (admission, close) =
            self.serving
                .handle_request(peer, connection, id, request, Instant::now());
        if !close.is_empty() {
            tracing::debug!(%peer, "closing {} connections with unread blob responses", close.len());
        }
        self.to_close.extend(close);
        if let Admission::Answer(response) = admission {
            let _ = self.inner.send_response(channel, response);
            return;
        }
        let now = Instant::now();
        let (offer, fetched) = match &admission {
            Admission::Offer { hash, wanted } => {
                (self.seeding.offer(peer, *hash, wanted, now), None)
            }
            Admission::Encode { hash, ranges } => (None, Some((peer, *hash, ranges.clone()))),
            _ => (None, None),
        };
        let (store, served) = (self.store.clone(), self.served_tx.clone());
        tokio::task::spawn_blocking(move || {
            // A panic while reading must still hand the channel back, or
            // the peer's serving slot would leak.
            let read = || answer::read(&store, admission, offer);
            let response = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read))
                .unwrap_or(Response::Missing);
            let _ = served.send(Served {
                id,
                channel,
                response,
                fetched,
            });
        });
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = THandler<Inner>;
    type ToSwarm = Event;

    forward_to_inner!(inner, |this, event| { this.observe(event) });

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Event, THandlerInEvent<Self>>> {
        if let Some((peer_id, address)) = self.learned.pop_front() {
            return Poll::Ready(ToSwarm::NewExternalAddrOfPeer { peer_id, address });
        }
        if let Some((peer_id, connection)) = self.to_close.pop_front() {
            return Poll::Ready(ToSwarm::CloseConnection {
                peer_id,
                connection: CloseConnection::One(connection),
            });
        }
        if let Some(opts) = self.dials.pop_front() {
            return Poll::Ready(ToSwarm::Dial { opts });
        }
        let tick = self.tick.get_or_insert_with(|| {
            let mut t = tokio::time::interval(Duration::from_millis(250));
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        while tick.poll_tick(cx).is_ready() {}
        guarded("held blob requests", || self.release(Instant::now()));
        while let Poll::Ready(Some(served)) = self.served_rx.poll_recv(cx) {
            if let (Some((peer, hash, ranges)), Response::Data(_)) =
                (&served.fetched, &served.response)
            {
                self.seeding
                    .handle_get(*peer, *hash, ranges, Instant::now());
            }
            // The slot stays held until the response is sent or fails; a
            // request already done (timed out, connection closed) is not
            // answered, and its response is dropped here.
            if self.serving.handle_encoded(served.id, &served.response)
                && self
                    .inner
                    .send_response(served.channel, served.response)
                    .is_err()
            {
                self.serving.handle_done(served.id);
            }
        }
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

/// Whether `error` says the connection (or the stream with it) went away,
/// not that the peer answered badly or too late.
fn is_lost(error: &request_response::OutboundFailure) -> bool {
    use std::io::ErrorKind::*;
    match error {
        request_response::OutboundFailure::ConnectionClosed => true,
        request_response::OutboundFailure::Io(e) => matches!(
            e.kind(),
            NotConnected | ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
        ),
        _ => false,
    }
}
