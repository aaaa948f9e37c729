//! The flooding-search component as a `NetworkBehaviour`: the JSON
//! request-response protocol [`SEARCH_PROTOCOL`] driven by a
//! [`SearchState`], with its own keep-alive timer.

use std::{
    collections::HashSet,
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use libp2p::{
    request_response::{self, json, Message, OutboundRequestId, ProtocolSupport},
    swarm::{behaviour::ListenAddresses, FromSwarm, NetworkBehaviour, THandlerInEvent, ToSwarm},
    PeerId,
};
use tokio::{sync::mpsc, time::Interval};

use super::{
    flood::FloodConfig,
    protocol::{MAX_ACK_BYTES, MAX_MESSAGE_BYTES},
    state::{Out, SearchState},
    Command, Event, SearchAck, SearchHit, SearchMessage, SearchStats, SEARCH_PROTOCOL,
};
use crate::{
    content::{Hash, SignedRecord},
    discovery,
    guard::guarded,
    metrics::{Metered, Traffic},
    wrap::forward_to_inner,
    Error,
};

/// Longest pause between keep-alive hellos to search neighbours.
const KEEPALIVE: Duration = Duration::from_secs(20);

/// Longest a search message may take, sending to ack; also how long one
/// inbound stream may stay open.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Most search streams open at once on one connection, inbound and outbound
/// together (libp2p's default is 100); more inbound ones are dropped, more
/// outbound ones fail. With [`MAX_MESSAGE_BYTES`] this bounds what one
/// connection can make a node buffer (32 MiB). Messages are acked at once,
/// so a neighbour within its query rate never has many open.
const STREAMS_PER_CONNECTION: usize = 32;

type Inner = request_response::Behaviour<Metered<json::codec::Codec<SearchMessage, SearchAck>>>;

/// Flooding search between neighbours.
pub(crate) struct Behaviour {
    inner: Inner,
    state: SearchState,
    me: PeerId,
    /// Outstanding hellos.
    hellos: HashSet<OutboundRequestId>,
    listen: ListenAddresses,
    /// How often neighbours get a keep-alive hello.
    keepalive: Duration,
    /// Armed at the first poll.
    timer: Option<Interval>,
    waker: Option<Waker>,
}

impl Behaviour {
    /// Node `me`'s search: a super-peer or not, with `flood`'s limits;
    /// neighbours get a hello often enough that `idle_timeout` does not
    /// close their connections.
    pub(crate) fn new(
        me: PeerId,
        flood: FloodConfig,
        super_peer: bool,
        idle_timeout: Duration,
        traffic: Traffic,
    ) -> Self {
        Self {
            inner: Inner::with_codec(
                Metered::new(
                    json::codec::Codec::default()
                        .set_request_size_maximum(MAX_MESSAGE_BYTES)
                        .set_response_size_maximum(MAX_ACK_BYTES),
                    traffic,
                ),
                [(SEARCH_PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(REQUEST_TIMEOUT)
                    .with_max_concurrent_streams(STREAMS_PER_CONNECTION),
            ),
            state: SearchState::new(me, flood, super_peer),
            me,
            hellos: HashSet::new(),
            listen: ListenAddresses::default(),
            keepalive: (idle_timeout / 3).clamp(Duration::from_secs(1), KEEPALIVE),
            timer: None,
            waker: None,
        }
    }

    /// Handles a request from a [`crate::Node`] handle.
    pub(crate) fn on_command(&mut self, command: Command) {
        match command {
            Command::Stats { reply } => {
                let _ = reply.send(self.stats());
            }
        }
    }

    /// Makes `peer` a neighbour: greeted now if connected, else once it is.
    pub(crate) fn want(&mut self, peer: PeerId) {
        self.state.want(peer);
        self.wake();
    }

    /// Starts a local search for `words` flooded with `ttl`; verified,
    /// de-duplicated hits go to `hits`. Returns the query id, under which
    /// hits found elsewhere are handed in with [`Behaviour::deliver`].
    pub(crate) fn start(
        &mut self,
        words: Vec<String>,
        ttl: u8,
        hits: mpsc::Sender<SearchHit>,
    ) -> Result<u64, Error> {
        let id: u64 = rand::random();
        self.state.start(id, words, ttl, hits, Instant::now())?;
        self.wake();
        Ok(id)
    }

    /// Feeds hits found by `source` (e.g. "directory") to local query `query`.
    pub(crate) fn deliver(&mut self, query: u64, hits: Vec<super::Hit>, source: &str) {
        self.state.deliver(query, hits, source);
    }

    /// A new or changed own record: answer searches with it and re-send
    /// the records to super-peers.
    pub(crate) fn set_own_record(&mut self, record: SignedRecord) {
        self.state.set_own_record(record);
        self.wake();
    }

    /// Content was removed: stop answering searches for it.
    pub(crate) fn remove_own_record(&mut self, hash: Hash) {
        self.state.remove_own_record(hash);
        self.wake();
    }

    /// The records this node publishes.
    pub(crate) fn own_records(&self) -> Vec<SignedRecord> {
        self.state.own_records()
    }

    /// The figures of this node's flooding search.
    pub(crate) fn stats(&self) -> SearchStats {
        self.state.stats()
    }

    /// Whether this node indexes its neighbours' records.
    pub(crate) fn super_peer(&self) -> bool {
        self.state.super_peer()
    }

    fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// Hands what the state wants sent to the request-response behaviour.
    fn flush(&mut self) {
        while let Some(out) = self.state.poll_out() {
            match out {
                Out::Hello(peer) => {
                    let super_peer = self.state.super_peer();
                    let id = self
                        .inner
                        .send_request(&peer, SearchMessage::Hello { super_peer });
                    self.hellos.insert(id);
                }
                Out::Send(peer, message) => {
                    self.inner.send_request(&peer, message);
                }
            }
        }
    }

    fn on_inner_event(&mut self, event: request_response::Event<SearchMessage, SearchAck>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let ack = self.state.handle_message(peer, request, Instant::now());
                let _ = self.inner.send_response(channel, ack);
            }
            request_response::Event::Message {
                peer,
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if self.hellos.remove(&request_id) {
                    self.state.handle_hello_ack(peer, response);
                } else {
                    self.state.handle_ack(peer, response);
                }
            }
            request_response::Event::OutboundFailure {
                request_id, peer, ..
            } if self.hellos.remove(&request_id) => {
                tracing::debug!(%peer, "peer does not take part in search");
            }
            _ => {}
        }
    }
}

impl Behaviour {
    /// What the component learns from the swarm's own events.
    fn observe(&mut self, event: &FromSwarm) {
        if self.listen.on_swarm_event(event) {
            self.state
                .set_listen_addrs(discovery::own_addrs(self.listen.iter(), self.me));
        }
        match event {
            FromSwarm::ConnectionEstablished(e) if e.other_established == 0 => {
                self.state.handle_connected(e.peer_id);
                self.wake();
            }
            FromSwarm::ConnectionClosed(e) if e.remaining_established == 0 => {
                self.state.handle_disconnected(e.peer_id);
            }
            _ => {}
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = <Inner as NetworkBehaviour>::ConnectionHandler;
    type ToSwarm = Event;

    forward_to_inner!(inner, |this, event| { this.observe(event) });

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Event, THandlerInEvent<Self>>> {
        self.waker = Some(cx.waker().clone());
        let keepalive = self.keepalive;
        let timer = self.timer.get_or_insert_with(|| {
            let mut timer = tokio::time::interval(keepalive);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            timer
        });
        while timer.poll_tick(cx).is_ready() {
            self.state.handle_tick(Instant::now());
        }
        loop {
            self.flush();
            match self.inner.poll(cx) {
                Poll::Ready(ToSwarm::GenerateEvent(event)) => {
                    guarded("a search message", || self.on_inner_event(event));
                }
                Poll::Ready(other) => {
                    return Poll::Ready(other.map_out(|_| unreachable!("handled above")))
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
