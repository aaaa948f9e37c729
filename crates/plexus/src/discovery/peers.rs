//! What the node knows of other peers beyond the swarm's own state, and the
//! lookups waiting for Kademlia: a book with no I/O.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use libp2p::{
    core::PeerRecord,
    kad,
    swarm::{ConnectionId, DialError},
    Multiaddr, PeerId,
};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::unreachable::Unreachable;
use crate::Error;

mod providers;

use providers::PendingProviders;
#[cfg(doc)]
pub(crate) use providers::PROVIDER_GRACE;

/// One peer the node knows: connected, in the routing table, or both.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerEntry {
    /// The peer's id.
    pub peer_id: PeerId,
    /// Whether a connection is open now.
    pub connected: bool,
    /// Whether the peer is in the Kademlia routing table.
    pub in_routing_table: bool,
    /// Known addresses of the peer.
    pub addrs: Vec<Multiaddr>,
    /// The agent string it announced over identify.
    pub agent: Option<String>,
    /// Last measured round-trip time in milliseconds.
    pub rtt_ms: Option<f64>,
    /// The pub/sub (gossipsub) score this node gives the peer; negative
    /// means it misbehaved (invalid or flooded messages).
    #[serde(default)]
    pub pubsub_score: Option<f64>,
    /// The remote address of each open connection: one with
    /// `/p2p-circuit` runs through a relay, the others are direct.
    #[serde(default)]
    pub connections: Vec<Multiaddr>,
}

/// The answer to a DHT peer lookup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FoundPeer {
    /// The peer that was looked up.
    pub peer_id: PeerId,
    /// Its addresses as the DHT reported them.
    pub addrs: Vec<Multiaddr>,
    /// Whether it was connected to this node when the lookup began.
    pub was_connected: bool,
    /// How many peers the lookup asked.
    pub requests: u32,
    /// How long the lookup took, in milliseconds.
    pub millis: u64,
    /// Whether the addresses came from the peer's signed relay-address
    /// record (a private peer, in no routing table: its `/p2p-circuit`
    /// addresses) rather than from a routing table.
    #[serde(default)]
    pub from_relay_record: bool,
    /// Relay-address records for the peer that were refused (a bad
    /// signature, another signer, foreign addresses): some peer lied.
    #[serde(default)]
    pub refused_records: u32,
    /// Request rounds along the chain of peers that led to the answer (see
    /// the `hops` definition in the docs; 0: the peer was in the routing
    /// table); `None` when not known.
    #[serde(default)]
    pub hops: Option<u32>,
}

/// The answer to a DHT provider lookup, with what it cost.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProviderLookup {
    /// Peers that announced the key (never this node), except those below.
    pub providers: Vec<PeerId>,
    /// Peers that announced the key, not connected, whose dial failed
    /// during this lookup: gone, most likely (their records stay in the
    /// DHT until their TTL runs out).
    #[serde(default)]
    pub unreachable: Vec<PeerId>,
    /// How many requests the lookup sent until it was answered.
    pub requests: u32,
    /// How long the lookup took until it was answered (at the end of the
    /// query, or 500 ms (`PROVIDER_GRACE`) after a first provider was found), in
    /// milliseconds.
    pub millis: u64,
    /// Request rounds along the chain of peers that led to the first
    /// record holder that named a provider; `None` when none did.
    pub hops: Option<u32>,
}

#[derive(Default)]
struct PeerInfo {
    connected_addr: Option<Multiaddr>,
    /// Every open connection's remote address.
    connections: Vec<(ConnectionId, Multiaddr)>,
    agent: Option<String>,
    rtt: Option<Duration>,
}

/// A peer lookup waiting for its queries to finish: one for the closest
/// peers (a public peer is among them), one for the peer's relay-address
/// record (a private one has it).
struct PendingFind {
    peer: PeerId,
    was_connected: bool,
    started: Instant,
    reply: oneshot::Sender<Result<FoundPeer, Error>>,
    /// The record query, while it runs.
    record_query: Option<kad::QueryId>,
    /// Whether the closest-peers query has ended (without the peer).
    closest_done: bool,
    requests: u32,
    /// The newest valid relay-address record found so far.
    record: Option<PeerRecord>,
    refused: u32,
    /// Hops of the closest-peers query (see `hops.rs`).
    hops: Option<u32>,
}

impl PendingFind {
    fn answer(&self, addrs: Vec<Multiaddr>, from_relay_record: bool, now: Instant) -> FoundPeer {
        FoundPeer {
            peer_id: self.peer,
            addrs,
            was_connected: self.was_connected,
            requests: self.requests,
            millis: now.saturating_duration_since(self.started).as_millis() as u64,
            from_relay_record,
            refused_records: self.refused,
            hops: self.hops,
        }
    }
}

/// Peers' addresses, agents and round-trip times, and open lookups.
#[derive(Default)]
pub(crate) struct PeerBook {
    peers: HashMap<PeerId, PeerInfo>,
    connected: HashSet<PeerId>,
    /// By the closest-peers query.
    finds: HashMap<kad::QueryId, PendingFind>,
    /// Record query to its closest-peers query.
    record_finds: HashMap<kad::QueryId, kad::QueryId>,
    providers: HashMap<kad::QueryId, PendingProviders>,
    unreachable: Unreachable,
}

impl PeerBook {
    /// A first connection to `peer` is open, reached at `addr`.
    pub(crate) fn handle_connected(&mut self, peer: PeerId, addr: Multiaddr) {
        self.connected.insert(peer);
        self.unreachable.handle_connected(&peer);
        self.peers.entry(peer).or_default().connected_addr = Some(addr);
    }

    /// A dial to `peer` failed (see [`Unreachable`]).
    pub(crate) fn handle_dial_failure(&mut self, peer: PeerId, error: &DialError, now: Instant) {
        self.unreachable.handle_dial_failure(peer, error, now);
    }

    /// A connection to `peer` (any, not only the first) opened at `addr`.
    pub(crate) fn handle_connection(&mut self, peer: PeerId, id: ConnectionId, addr: Multiaddr) {
        self.peers
            .entry(peer)
            .or_default()
            .connections
            .push((id, addr));
    }

    /// Connection `id` to `peer` closed.
    pub(crate) fn handle_connection_closed(&mut self, peer: PeerId, id: ConnectionId) {
        if let Some(info) = self.peers.get_mut(&peer) {
            info.connections.retain(|(c, _)| *c != id);
        }
    }

    /// The last connection to `peer` closed.
    pub(crate) fn handle_disconnected(&mut self, peer: PeerId) {
        self.connected.remove(&peer);
        if let Some(info) = self.peers.get_mut(&peer) {
            info.connected_addr = None;
        }
    }

    /// Whether a connection to `peer` is open.
    pub(crate) fn is_connected(&self, peer: &PeerId) -> bool {
        self.connected.contains(peer)
    }

    /// Where `peer` was reached, while connected.
    pub(crate) fn seen_at(&self, peer: &PeerId) -> Option<&Multiaddr> {
        self.peers.get(peer)?.connected_addr.as_ref()
    }

    /// `peer` announced itself over identify.
    pub(crate) fn handle_agent(&mut self, peer: PeerId, agent: String) {
        self.peers.entry(peer).or_default().agent = Some(agent);
    }

    /// A ping to `peer` took `rtt`.
    pub(crate) fn handle_rtt(&mut self, peer: PeerId, rtt: Duration) {
        self.peers.entry(peer).or_default().rtt = Some(rtt);
    }

    /// A peer lookup started as `query` (closest peers) and
    /// `record_query` (its relay-address record).
    pub(crate) fn start_find(
        &mut self,
        (query, record_query): (kad::QueryId, kad::QueryId),
        peer: PeerId,
        now: Instant,
        reply: oneshot::Sender<Result<FoundPeer, Error>>,
    ) {
        let was_connected = self.is_connected(&peer);
        let pending = PendingFind {
            peer,
            was_connected,
            started: now,
            reply,
            record_query: Some(record_query),
            closest_done: false,
            requests: 0,
            record: None,
            refused: 0,
            hops: None,
        };
        self.finds.insert(query, pending);
        self.record_finds.insert(record_query, query);
    }

    /// A peer lookup's closest-peers query ended with `closest` peers after
    /// `requests` requests: the answer if the peer is among them, else the
    /// record query decides.
    pub(crate) fn handle_closest(
        &mut self,
        query: kad::QueryId,
        closest: Vec<kad::PeerInfo>,
        requests: u32,
        hops: Option<u32>,
        now: Instant,
    ) {
        let Some(pending) = self.finds.get_mut(&query) else {
            return;
        };
        pending.requests += requests;
        pending.hops = hops;
        pending.closest_done = true;
        let found = closest
            .into_iter()
            .find(|p| p.peer_id == pending.peer && !p.addrs.is_empty());
        let record_running = pending.record_query.is_some();
        if let Some(found) = found {
            let pending = self.finds.remove(&query).expect("present");
            if let Some(q) = pending.record_query {
                self.record_finds.remove(&q);
            }
            let answer = pending.answer(found.addrs, false, now);
            let _ = pending.reply.send(Ok(answer));
        } else if !record_running {
            self.finish(query, now);
        }
    }

    /// A lookup's record query `query` returned `record`: kept if it is a
    /// valid relay-address record of the peer looked up and the newest yet.
    pub(crate) fn handle_record(&mut self, query: kad::QueryId, record: &kad::Record) {
        let Some(pending) = self
            .record_finds
            .get(&query)
            .and_then(|q| self.finds.get_mut(q))
        else {
            return;
        };
        let checked = super::relay_record::verify(record).and_then(|r| {
            if r.peer_id() == pending.peer {
                Ok(r)
            } else {
                Err(super::relay_record::Invalid::Key)
            }
        });
        match checked {
            Ok(r) => {
                if pending
                    .record
                    .as_ref()
                    .is_none_or(|old| super::relay_record::replaces(&r, old))
                {
                    pending.record = Some(r);
                }
            }
            Err(why) => {
                tracing::info!(peer = %pending.peer, publisher = ?record.publisher, "refused a relay-address record: {why}");
                pending.refused += 1;
            }
        }
    }

    /// A lookup's record query `query` ended after `requests` requests.
    pub(crate) fn handle_record_done(&mut self, query: kad::QueryId, requests: u32, now: Instant) {
        let Some(closest) = self.record_finds.remove(&query) else {
            return;
        };
        let Some(pending) = self.finds.get_mut(&closest) else {
            return;
        };
        pending.record_query = None;
        pending.requests += requests;
        if pending.closest_done {
            self.finish(closest, now);
        }
    }

    /// Both queries of lookup `query` ended without the peer among the
    /// closest: its record's addresses, or not found.
    fn finish(&mut self, query: kad::QueryId, now: Instant) {
        let Some(mut pending) = self.finds.remove(&query) else {
            return;
        };
        let answer = match pending.record.take() {
            Some(record) => Ok(pending.answer(record.addresses().to_vec(), true, now)),
            None => Err(Error::PeerNotFound(pending.peer)),
        };
        let _ = pending.reply.send(answer);
    }

    /// Every peer connected or in `table` (the routing table), sorted.
    pub(crate) fn entries(&self, table: &HashMap<PeerId, Vec<Multiaddr>>) -> Vec<PeerEntry> {
        let mut ids: Vec<PeerId> = table.keys().chain(self.connected.iter()).copied().collect();
        ids.sort();
        ids.dedup();
        ids.into_iter()
            .map(|id| {
                let info = self.peers.get(&id);
                let mut addrs = table.get(&id).cloned().unwrap_or_default();
                if let Some(addr) = info.and_then(|i| i.connected_addr.clone()) {
                    if !addrs.contains(&addr) {
                        addrs.push(addr);
                    }
                }
                PeerEntry {
                    peer_id: id,
                    connected: self.connected.contains(&id),
                    in_routing_table: table.contains_key(&id),
                    addrs,
                    agent: info.and_then(|i| i.agent.clone()),
                    rtt_ms: info.and_then(|i| i.rtt).map(|d| d.as_secs_f64() * 1000.0),
                    pubsub_score: None,
                    connections: info
                        .map(|i| i.connections.iter().map(|(_, a)| a.clone()).collect())
                        .unwrap_or_default(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_merge_the_routing_table_and_connections() {
        let mut book = PeerBook::default();
        let (a, b) = (PeerId::random(), PeerId::random());
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        book.handle_connected(a, addr.clone());
        book.handle_agent(a, "plexus/x".into());
        book.handle_rtt(a, Duration::from_millis(3));
        let table = HashMap::from([(b, vec![addr.clone()])]);
        let entries = book.entries(&table);
        assert_eq!(entries.len(), 2);
        let ea = entries.iter().find(|e| e.peer_id == a).unwrap();
        assert!(ea.connected && !ea.in_routing_table);
        assert_eq!(ea.addrs, vec![addr.clone()]);
        assert_eq!(ea.rtt_ms, Some(3.0));
        let eb = entries.iter().find(|e| e.peer_id == b).unwrap();
        assert!(!eb.connected && eb.in_routing_table);
        book.handle_disconnected(a);
        assert!(!book.is_connected(&a));
        assert_eq!(book.seen_at(&a), None);
    }
}
