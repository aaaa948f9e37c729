//! This node's own blob requests, for the download loop: sent at once
//! over a direct connection, held until one comes (see [`super::direct`])
//! or sent over a relay when the getter allows it, and their answers and
//! failures handed back to the caller. A request cut by its relay's
//! circuit limit says so; one whose connection closed under it is
//! [`Error::ConnectionLost`].

use std::{
    collections::{HashMap, HashSet, VecDeque},
    task::Context,
    time::{Duration, Instant},
};

use libp2p::{
    request_response::{self, OutboundRequestId},
    swarm::{
        dial_opts::{DialOpts, PeerCondition},
        ConnectionId, FromSwarm, ToSwarm,
    },
    Multiaddr, PeerId,
};
use tokio::sync::oneshot;

use super::{
    behaviour::Inner,
    direct::{is_relayed, relay_of, Admit, DirectFirst, Release},
    protocol::{Request, Response},
};
use crate::{guard::guarded, Error};

/// Closed relayed connections remembered for their requests' failures.
const CLOSED_CIRCUITS_KEPT: usize = 64;

/// How often held requests are checked (released or failed).
const HELD_CHECK: Duration = Duration::from_millis(250);

/// Where a request's answer goes.
type Reply = oneshot::Sender<Result<Response, Error>>;

/// One of this node's requests, waiting for a direct connection.
struct Held {
    peer: PeerId,
    addrs: Vec<Multiaddr>,
    request: Request,
    reply: Reply,
}

/// The asking side of the blob component.
#[derive(Default)]
pub(super) struct Requests {
    pending: HashMap<OutboundRequestId, Reply>,
    /// Addresses of peers asked for, to tell the swarm (and so identify
    /// and the dialer) about.
    learned: VecDeque<(PeerId, Multiaddr)>,
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

impl Requests {
    /// Circuits through `relay` carry at most `limit` (in words).
    pub(super) fn set_circuit_limit(&mut self, relay: PeerId, limit: String) {
        self.circuit_limits.insert(relay, limit);
    }

    /// Sends `request` to `peer` (dialling `addrs` if needed), or holds it
    /// for a direct connection; the answer goes to `reply`.
    pub(super) fn handle_request(
        &mut self,
        inner: &mut Inner,
        (peer, addrs): (PeerId, Vec<Multiaddr>),
        request: Request,
        allow_relay: bool,
        reply: Reply,
    ) {
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
                self.send(inner, held);
            }
            Admit::SendRelayed(held) => {
                let id = self.send(inner, held);
                self.relayed.insert(id);
            }
            Admit::Held { dial } => {
                tracing::debug!(%peer, "blob request waits for a direct connection");
                // A peer with relayed addresses is behind a NAT: its
                // direct ones are private and the dial would wait for
                // them to time out. The relayed connection leads to the
                // hole punch. One relayed address is enough (each costs a
                // circuit, and relays rate-limit circuits per peer). The
                // dial goes ahead even while another one (Kademlia's, to
                // stale direct addresses) still runs.
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

    fn send(&mut self, inner: &mut Inner, held: Held) -> OutboundRequestId {
        let Held {
            peer,
            addrs,
            request,
            reply,
        } = held;
        let id = inner.send_request_with_addresses(&peer, request, addrs);
        self.pending.insert(id, reply);
        id
    }

    /// Held requests that can go now, or must fail.
    fn release(&mut self, inner: &mut Inner, now: Instant) {
        while let Some(release) = self.direct.poll(now) {
            match release {
                Release::Send(held) => {
                    self.send(inner, held);
                }
                Release::SendRelayed(held) => {
                    tracing::info!(peer = %held.peer, "no direct connection: blob request goes over the relay (allowed)");
                    let id = self.send(inner, held);
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

    /// Connections coming and going, and failed dials.
    pub(super) fn observe(&mut self, event: &FromSwarm) {
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

    /// The answer to request `id` came.
    pub(super) fn handle_response(&mut self, id: OutboundRequestId, response: Response) {
        self.relayed.remove(&id);
        if let Some(reply) = self.pending.remove(&id) {
            let _ = reply.send(Ok(response));
        }
    }

    /// Request `id` to `peer`, sent on `connection`, failed.
    pub(super) fn handle_failure(
        &mut self,
        id: OutboundRequestId,
        (peer, connection): (PeerId, ConnectionId),
        error: request_response::OutboundFailure,
    ) {
        let relayed = self.relayed.remove(&id);
        let cut = matches!(
            error,
            request_response::OutboundFailure::ConnectionClosed
                | request_response::OutboundFailure::Io(_)
        );
        let err = match self.circuits.get(&connection) {
            // The relay ended the circuit under a request it carried: its
            // limit, most likely.
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
        if let Some(reply) = self.pending.remove(&id) {
            let _ = reply.send(Err(err));
        }
    }

    /// What the swarm should do for these requests (tell it a peer's
    /// address, dial), if anything; releases held requests that can go.
    pub(super) fn poll(
        &mut self,
        inner: &mut Inner,
        cx: &mut Context<'_>,
    ) -> Option<ToSwarm<super::behaviour::Event, libp2p::swarm::THandlerInEvent<Inner>>> {
        if let Some((peer_id, address)) = self.learned.pop_front() {
            return Some(ToSwarm::NewExternalAddrOfPeer { peer_id, address });
        }
        if let Some(opts) = self.dials.pop_front() {
            return Some(ToSwarm::Dial { opts });
        }
        let tick = self.tick.get_or_insert_with(|| {
            let mut t = tokio::time::interval(HELD_CHECK);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        while tick.poll_tick(cx).is_ready() {}
        guarded("held blob requests", || self.release(inner, Instant::now()));
        None
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
