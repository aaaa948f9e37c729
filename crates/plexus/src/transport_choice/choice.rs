//! The transport decision, without I/O: connections and addresses in,
//! [`Action`]s out.

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    net::IpAddr,
    str::FromStr,
};

use libp2p::{multiaddr::Protocol, swarm::ConnectionId, Multiaddr, PeerId};

/// A direct transport a connection can run over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP with Noise and Yamux.
    Tcp,
    /// QUIC (`/quic-v1`).
    Quic,
}

impl Transport {
    /// The transport of a direct connection to `addr`; `None` for relayed
    /// circuits and anything else (memory, websocket).
    pub fn of(addr: &Multiaddr) -> Option<Self> {
        let mut found = None;
        for p in addr.iter() {
            match p {
                Protocol::P2pCircuit | Protocol::Ws(_) | Protocol::Wss(_) => return None,
                Protocol::Tcp(_) => found = Some(Self::Tcp),
                Protocol::QuicV1 => found = Some(Self::Quic),
                _ => {}
            }
        }
        found
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "tcp",
            Self::Quic => "quic",
        })
    }
}

impl FromStr for Transport {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Self::Tcp),
            "quic" => Ok(Self::Quic),
            other => Err(format!(
                "unknown transport {other:?}: use \"tcp\" or \"quic\" (or \"any\" to keep whichever connects first)"
            )),
        }
    }
}

/// What the node should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Dial `peer` at `addr`, over the preferred transport.
    Dial {
        /// The peer.
        peer: PeerId,
        /// Its address over the preferred transport.
        addr: Multiaddr,
    },
    /// Close this node's own connection to `peer` over the other transport:
    /// one over the preferred transport is up.
    Close {
        /// The peer.
        peer: PeerId,
        /// The connection to close.
        connection: ConnectionId,
    },
}

/// One direct connection this node dialled.
#[derive(Debug, Clone, Copy)]
struct Outbound {
    id: ConnectionId,
    transport: Transport,
    ip: Option<IpAddr>,
    closing: bool,
}

/// A connected peer's connections this node dialled, and the dial tried.
#[derive(Debug, Default)]
struct PeerState {
    outbound: Vec<Outbound>,
    /// The preferred transport was dialled while this state lived.
    tried: bool,
}

/// Keeps this node's own connections on the preferred transport (see the
/// module docs). Holds only peers with an open connection this node
/// dialled, so it is bounded by the node's connection limit.
#[derive(Debug)]
pub(crate) struct TransportChoice {
    prefer: Transport,
    peers: HashMap<PeerId, PeerState>,
    actions: VecDeque<Action>,
}

impl TransportChoice {
    /// Prefers `prefer`.
    pub(crate) fn new(prefer: Transport) -> Self {
        Self {
            prefer,
            peers: HashMap::new(),
            actions: VecDeque::new(),
        }
    }

    /// This node dialled `peer` at `addr` and the connection is up. The
    /// peer's listen addresses follow from identify on this connection
    /// ([`TransportChoice::handle_address`]).
    pub(crate) fn handle_outbound(&mut self, peer: PeerId, id: ConnectionId, addr: &Multiaddr) {
        let Some(transport) = Transport::of(addr) else {
            return;
        };
        let state = self.peers.entry(peer).or_default();
        state.outbound.push(Outbound {
            id,
            transport,
            ip: ip_of(addr),
            closing: false,
        });
        if state.outbound.iter().any(|c| c.transport == self.prefer) {
            self.close_others(peer);
        }
    }

    /// Connection `id` to `peer` closed (either direction).
    pub(crate) fn handle_closed(&mut self, peer: PeerId, id: ConnectionId) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.outbound.retain(|c| c.id != id);
            if state.outbound.is_empty() {
                self.peers.remove(&peer);
            }
        }
    }

    /// `peer` listens on `addr` (identify). Dials it when it is over the
    /// preferred transport, on the IP of a connection this node made over
    /// the other one, and nothing was tried yet.
    pub(crate) fn handle_address(&mut self, peer: PeerId, addr: &Multiaddr) {
        let prefer = self.prefer;
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        if state.tried
            || Transport::of(addr) != Some(prefer)
            || state.outbound.iter().any(|c| c.transport == prefer)
        {
            return;
        }
        let ip = ip_of(addr);
        if ip.is_none() || !state.outbound.iter().any(|c| c.ip == ip) {
            return;
        }
        state.tried = true;
        self.actions.push_back(Action::Dial {
            peer,
            addr: addr.clone(),
        });
    }

    /// The next thing to do, if any.
    pub(crate) fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Closes `peer`'s outbound connections over the other transport.
    fn close_others(&mut self, peer: PeerId) {
        let prefer = self.prefer;
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        for c in &mut state.outbound {
            if c.transport != prefer && !c.closing {
                c.closing = true;
                self.actions.push_back(Action::Close {
                    peer,
                    connection: c.id,
                });
            }
        }
    }
}

/// The IP address in `addr`, if it has one.
fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}
