//! The directory component as a `NetworkBehaviour`: the JSON protocol
//! [`DIRECTORY_PROTOCOL`] and the rendezvous client (and, on a directory
//! server, the rendezvous server), driven by a [`DirectoryClient`] and, on a
//! server, an [`Index`]; with its own 1 s tick.

use std::{
    collections::{HashMap, VecDeque},
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use libp2p::{
    identity::Keypair,
    rendezvous,
    request_response::{self, json, InboundRequestId, Message, OutboundRequestId, ProtocolSupport},
    swarm::{
        behaviour::{toggle::Toggle, ListenAddresses},
        derive_prelude::Either,
        dial_opts::DialOpts,
        FromSwarm, NetworkBehaviour, THandlerInEvent, THandlerOutEvent, ToSwarm,
    },
    Multiaddr, PeerId,
};
use tokio::time::Interval;

use super::{
    client::{Action, DirectoryClient, MAX_DISCOVERED},
    index::{Index, IndexConfig},
    protocol::{MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES},
    server, DirRequest, DirResponse, Event, DIRECTORY_PROTOCOL, NAMESPACE,
};
use crate::{
    content::SignedRecord,
    discovery,
    guard::guarded,
    metrics::{Metered, Traffic},
    wrap::forward_to_inner,
};

/// Whether `value`'s `Debug` form is longer than `max` characters; stops
/// formatting as soon as it is, so it costs at most `max` characters of work.
fn debug_longer_than(value: &impl std::fmt::Debug, max: usize) -> bool {
    struct Count(usize, usize);
    impl std::fmt::Write for Count {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0 += s.len();
            if self.0 > self.1 {
                Err(std::fmt::Error)
            } else {
                Ok(())
            }
        }
    }
    let mut count = Count(0, max);
    std::fmt::write(&mut count, format_args!("{value:?}")).is_err()
}

/// How often renewals, redials and index expiry are checked.
const TICK: Duration = Duration::from_secs(1);

/// Longest a directory request may take, sending to answer; also how long
/// one inbound stream may stay open.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Most directory streams open at once on one connection, inbound and
/// outbound together (libp2p's default is 100); more inbound ones are
/// dropped, more outbound ones fail. With [`MAX_REQUEST_BYTES`] this bounds
/// what one connection can make a server buffer.
const STREAMS_PER_CONNECTION: usize = 32;

/// Most rendezvous registrations a directory server keeps (libp2p's
/// default); each peer may hold 4 (one per namespace).
const MAX_REGISTRATIONS: usize = 10_000;

/// Largest rendezvous request a directory server handles, measured on its
/// `Debug` form (about 4 characters per byte of the signed peer record;
/// libp2p keeps the message type private, so this is the one view we
/// have). An honest registration with 20 addresses (libp2p registers no
/// more) stays under 8,000; one with thousands of addresses is refused
/// before libp2p stores it, so one peer cannot make every later discovery
/// answer too long to read.
const MAX_REGISTRATION_DEBUG_LEN: usize = 16 * 1024;

/// The inner behaviours, in the order they were composed in the node.
#[derive(libp2p::swarm::NetworkBehaviour)]
pub(crate) struct Inner {
    /// Publishing records to, and searching, a directory server.
    rpc: request_response::Behaviour<Metered<json::codec::Codec<DirRequest, DirResponse>>>,
    /// Registering with directory servers and discovering peers there.
    rendezvous: rendezvous::client::Behaviour,
    /// The directory side of rendezvous; only on directory servers.
    rendezvous_server: Toggle<rendezvous::server::Behaviour>,
}

/// Directory client and server.
pub(crate) struct Behaviour {
    inner: Inner,
    client: DirectoryClient,
    /// The record index, on a directory server.
    index: Option<Index>,
    /// Directory searches under way, by the local query they feed.
    searches: HashMap<OutboundRequestId, u64>,
    /// Rendezvous requests dropped by `screen_rendezvous`, oldest first.
    screened: VecDeque<InboundRequestId>,
    me: PeerId,
    listen: ListenAddresses,
    /// Armed by [`Behaviour::start`].
    tick: Option<Interval>,
    waker: Option<Waker>,
}

impl Behaviour {
    /// The directory component of node `key`: a client of `directories`
    /// asking for registrations and records to live `ttl`, and a server
    /// (granting `ttl`) when `server` is set.
    pub(crate) fn new(
        key: &Keypair,
        directories: Vec<(PeerId, Multiaddr)>,
        ttl: Duration,
        server: bool,
        traffic: Traffic,
    ) -> Self {
        let me = key.public().to_peer_id();
        let codec = json::codec::Codec::default()
            .set_request_size_maximum(MAX_REQUEST_BYTES)
            .set_response_size_maximum(MAX_RESPONSE_BYTES);
        let rpc = request_response::Behaviour::with_codec(
            Metered::new(codec, traffic),
            [(
                DIRECTORY_PROTOCOL,
                if server {
                    ProtocolSupport::Full
                } else {
                    ProtocolSupport::Outbound
                },
            )],
            request_response::Config::default()
                .with_request_timeout(REQUEST_TIMEOUT)
                .with_max_concurrent_streams(STREAMS_PER_CONNECTION),
        );
        let rendezvous_server = server.then(|| {
            // Clients pick their registration lifetime and renew it;
            // records expire by the directory's own TTL.
            rendezvous::server::Behaviour::new(
                rendezvous::server::Config::default()
                    .with_min_ttl(1)
                    .with_max_registration_per_peer(4)
                    .with_max_registration_total(MAX_REGISTRATIONS),
            )
        });
        Self {
            inner: Inner {
                rpc,
                rendezvous: rendezvous::client::Behaviour::new(key.clone()),
                rendezvous_server: rendezvous_server.into(),
            },
            client: DirectoryClient::new(me, directories, ttl, Instant::now()),
            index: server.then(|| {
                Index::new(IndexConfig {
                    ttl,
                    ..IndexConfig::default()
                })
            }),
            searches: HashMap::new(),
            screened: VecDeque::new(),
            me,
            listen: ListenAddresses::default(),
            tick: None,
            waker: None,
        }
    }

    /// Starts the 1 s tick (renewals, redials, index expiry) if it is not
    /// running yet, and renews or redials the directories that are due now.
    pub(crate) fn start(&mut self) {
        // Nothing to renew or expire without directories or an index: no
        // tick waking the swarm every second (it adds up with many nodes
        // in one process).
        let needed = self.client.is_client() || self.index.is_some();
        if self.tick.is_none() && needed {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            self.tick = Some(tick);
        }
        if self.client.is_client() {
            self.on_tick(Instant::now());
        }
        self.wake();
    }

    /// How many directories are configured.
    pub(crate) fn count(&self) -> usize {
        self.client.count()
    }

    /// This node's records changed: publish them to connected directories.
    pub(crate) fn set_own_records(&mut self, records: Vec<SignedRecord>) {
        self.client.set_own_records(records);
        self.wake();
    }

    /// Sends local search `query` to every connected directory; hits come
    /// back as [`Event::Hits`].
    pub(crate) fn search(&mut self, query: u64, words: Vec<String>) {
        self.client.search(query, words);
        self.wake();
    }

    fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    fn on_tick(&mut self, now: Instant) {
        if let Some(index) = self.index.as_mut() {
            index.expire(now);
        }
        self.client.handle_tick(now);
    }

    /// Carries out the client's actions up to the first one the swarm must
    /// see.
    fn next_action(&mut self) -> Option<ToSwarm<Event, THandlerInEvent<Self>>> {
        while let Some(action) = self.client.poll_action() {
            match action {
                Action::Register { peer, ttl_secs } => {
                    let namespace = rendezvous::Namespace::from_static(NAMESPACE);
                    let rendezvous = &mut self.inner.rendezvous;
                    if let Err(e) = rendezvous.register(namespace, peer, Some(ttl_secs)) {
                        tracing::warn!(%peer, "cannot register with directory: {e}");
                    }
                }
                Action::Discover { peer } => {
                    let namespace = rendezvous::Namespace::from_static(NAMESPACE);
                    let limit = Some(MAX_DISCOVERED as u64);
                    self.inner
                        .rendezvous
                        .discover(Some(namespace), None, limit, peer);
                }
                Action::Send {
                    peer,
                    request,
                    query,
                } => {
                    let id = self.inner.rpc.send_request(&peer, request);
                    if let Some(query) = query {
                        self.searches.insert(id, query);
                    }
                }
                Action::DialDirectory { addr } => {
                    return Some(ToSwarm::Dial { opts: addr.into() });
                }
                Action::DialPeer { peer, addrs } => {
                    let opts = DialOpts::peer_id(peer).addresses(addrs).build();
                    return Some(ToSwarm::Dial { opts });
                }
                Action::ConfirmExternal(addr) => {
                    return Some(ToSwarm::ExternalAddrConfirmed(addr));
                }
                Action::Emit(event) => return Some(ToSwarm::GenerateEvent(event)),
            }
        }
        None
    }

    fn on_inner_event(&mut self, event: InnerEvent) {
        let now = Instant::now();
        match event {
            InnerEvent::Rpc(request_response::Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            }) => {
                let response = server::serve(self.index.as_mut(), peer, request, now);
                let _ = self.inner.rpc.send_response(channel, response);
            }
            InnerEvent::Rpc(request_response::Event::Message {
                peer,
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            }) => {
                let query = self.searches.remove(&request_id);
                self.client.handle_response(peer, query, response, now);
            }
            InnerEvent::Rpc(request_response::Event::OutboundFailure {
                request_id,
                peer,
                error,
                ..
            }) => {
                self.searches.remove(&request_id);
                tracing::debug!(%peer, "directory request failed: {error}");
            }
            InnerEvent::Rendezvous(event) => self.on_rendezvous_event(event),
            _ => {}
        }
    }

    fn on_rendezvous_event(&mut self, event: rendezvous::client::Event) {
        match event {
            rendezvous::client::Event::Discovered { registrations, .. } => {
                let found = registrations
                    .into_iter()
                    .map(|r| (r.record.peer_id(), r.record.addresses().to_vec()))
                    .collect();
                self.client.handle_discovered(found);
            }
            rendezvous::client::Event::Registered {
                rendezvous_node,
                ttl,
                ..
            } => {
                tracing::debug!(%rendezvous_node, ttl, "registered with directory");
            }
            rendezvous::client::Event::RegisterFailed {
                rendezvous_node,
                error,
                ..
            } => {
                tracing::warn!(%rendezvous_node, ?error, "directory refused registration");
            }
            _ => {}
        }
    }
}

/// Most screened-out rendezvous requests remembered until their handler
/// reports them unanswered (within a moment: the stream just closes).
const MAX_SCREENED: usize = 1024;

/// What the rendezvous server's connection handler reports.
type RendezvousServerEvent = THandlerOutEvent<rendezvous::server::Behaviour>;

impl Behaviour {
    /// Passes on what a connection handler reports, except rendezvous
    /// requests to this server longer than [`MAX_REGISTRATION_DEBUG_LEN`]:
    /// those are dropped unanswered (the stream closes), so libp2p never
    /// stores them; so is the handler's note that they went unanswered
    /// (libp2p never saw them, and checks that it did in debug builds).
    fn screen_rendezvous(
        &mut self,
        peer: PeerId,
        event: THandlerOutEvent<Inner>,
    ) -> Option<THandlerOutEvent<Inner>> {
        match &event {
            Either::Right(RendezvousServerEvent::Request {
                request,
                request_id,
                ..
            }) if debug_longer_than(request, MAX_REGISTRATION_DEBUG_LEN) => {
                tracing::debug!(%peer, "refused an oversized rendezvous request");
                if self.screened.len() >= MAX_SCREENED {
                    self.screened.pop_front();
                }
                self.screened.push_back(*request_id);
                None
            }
            Either::Right(RendezvousServerEvent::ResponseOmission(id)) => {
                match self.screened.iter().position(|s| s == id) {
                    Some(at) => {
                        self.screened.remove(at);
                        None
                    }
                    None => Some(event),
                }
            }
            _ => Some(event),
        }
    }

    /// What the component learns from the swarm's own events.
    fn observe(&mut self, event: &FromSwarm) {
        if self.listen.on_swarm_event(event) {
            self.client
                .set_listen_addrs(discovery::own_addrs(self.listen.iter(), self.me));
        }
        match event {
            FromSwarm::NewListenAddr(e) => self.client.handle_new_listen_addr(e.addr),
            FromSwarm::ConnectionEstablished(e) if e.other_established == 0 => {
                self.client.handle_connected(e.peer_id, Instant::now());
            }
            FromSwarm::ConnectionClosed(e) if e.remaining_established == 0 => {
                self.client.handle_disconnected(e.peer_id);
            }
            _ => return,
        }
        self.wake();
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = <Inner as NetworkBehaviour>::ConnectionHandler;
    type ToSwarm = Event;

    forward_to_inner!(
        inner,
        |this, event| { this.observe(event) },
        |this, peer, event| { this.screen_rendezvous(peer, event) }
    );

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Event, THandlerInEvent<Self>>> {
        self.waker = Some(cx.waker().clone());
        while self
            .tick
            .as_mut()
            .is_some_and(|tick| tick.poll_tick(cx).is_ready())
        {
            self.on_tick(Instant::now());
        }
        loop {
            if let Some(action) = self.next_action() {
                return Poll::Ready(action);
            }
            match self.inner.poll(cx) {
                Poll::Ready(ToSwarm::GenerateEvent(event)) => {
                    guarded("a directory message", || self.on_inner_event(event));
                }
                Poll::Ready(other) => {
                    return Poll::Ready(other.map_out(|_| unreachable!("handled above")))
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::debug_longer_than;

    #[test]
    fn debug_length_is_measured_without_formatting_it_all() {
        let short = vec![0u8; 10];
        assert!(!debug_longer_than(&short, 100));
        let long = vec![0u8; 1_000_000];
        assert!(debug_longer_than(&long, 100));
        assert!(!debug_longer_than(&"abc", 5), "\"abc\" is 5 characters");
        assert!(debug_longer_than(&"abcd", 5));
    }
}
