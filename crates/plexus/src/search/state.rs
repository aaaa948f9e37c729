//! Flooding search without I/O: neighbours (hello and keep-alive), queries
//! answered and forwarded as [`Flood`] decides, hits routed back, the
//! super-peer's index of its leaves' records, this node's own records and
//! the searches started here.
//!
//! What arrives goes in through `handle_*` (with the current time); what
//! the node must send comes out of [`SearchState::poll_out`].

use std::{
    collections::{HashMap, HashSet, VecDeque},
    time::Instant,
};

use libp2p::{Multiaddr, PeerId};
use tokio::sync::mpsc;

use super::{
    flood::{Decision, Flood, FloodConfig, Origin, MAX_LOCAL_SEARCHES, MAX_OPEN_PER_PEER},
    leaves::Leaves,
    queries::Queries,
    Hit, SearchAck, SearchHit, SearchMessage, SearchStats, MAX_HITS_PER_MESSAGE, MAX_WORDS,
};
use crate::{
    content::{Hash, Metadata, SignedRecord},
    Error,
};

/// Most peers remembered as wanted neighbours until they connect.
pub(crate) const MAX_WANTED: usize = 1024;

/// A message the node must send.
#[derive(Debug, Clone)]
pub(crate) enum Out {
    /// Greet this peer as a neighbour (its answer goes to
    /// [`SearchState::handle_hello_ack`]).
    Hello(PeerId),
    /// Send this message (a query, hits, or this node's index).
    Send(PeerId, SearchMessage),
}

/// Everything a node keeps for flooding search.
pub(crate) struct SearchState {
    me: PeerId,
    flood: Flood,
    super_peer: bool,
    /// Neighbours and whether each is a super-peer.
    neighbours: HashMap<PeerId, bool>,
    /// Peers to greet as neighbours once connected.
    want_neighbour: HashSet<PeerId>,
    /// Peers with at least one open connection.
    connected: HashSet<PeerId>,
    /// Super-peers this node has sent its records to.
    indexed_at: HashSet<PeerId>,
    /// The super-peer's index of its leaves' records.
    leaves: Leaves,
    /// This node's own records.
    records: Vec<(Metadata, SignedRecord)>,
    local: Queries,
    /// Where this node listens, each ending in `/p2p/PEERID`.
    listen_addrs: Vec<Multiaddr>,
    stats: SearchStats,
    out: VecDeque<Out>,
}

impl SearchState {
    /// A node `me` with no neighbours and no records yet.
    pub(crate) fn new(me: PeerId, config: FloodConfig, super_peer: bool) -> Self {
        Self {
            me,
            flood: Flood::new(config),
            super_peer,
            neighbours: HashMap::new(),
            want_neighbour: HashSet::new(),
            connected: HashSet::new(),
            indexed_at: HashSet::new(),
            leaves: Leaves::default(),
            records: Vec::new(),
            local: Queries::new(me),
            listen_addrs: Vec::new(),
            stats: SearchStats::default(),
            out: VecDeque::new(),
        }
    }

    /// Whether this node indexes its neighbours' records.
    pub(crate) fn super_peer(&self) -> bool {
        self.super_peer
    }

    /// The next message to send.
    pub(crate) fn poll_out(&mut self) -> Option<Out> {
        self.out.pop_front()
    }

    /// Makes `peer` a neighbour: greets it now if it is connected (and not a
    /// neighbour yet), else once it connects. At most [`MAX_WANTED`] peers
    /// wait to connect; more are not remembered (a directory or the local
    /// network may name any number of peers).
    pub(crate) fn want(&mut self, peer: PeerId) {
        if self.want_neighbour.len() >= MAX_WANTED && !self.connected.contains(&peer) {
            tracing::debug!(%peer, "too many peers waiting to become neighbours");
            return;
        }
        self.want_neighbour.insert(peer);
        if self.connected.contains(&peer) {
            self.greet_if_wanted(peer);
        }
    }

    fn greet_if_wanted(&mut self, peer: PeerId) {
        if self.want_neighbour.remove(&peer) && !self.neighbours.contains_key(&peer) {
            self.out.push_back(Out::Hello(peer));
        }
    }

    /// A first connection to `peer` is up: greet it if it is wanted.
    pub(crate) fn handle_connected(&mut self, peer: PeerId) {
        self.connected.insert(peer);
        self.greet_if_wanted(peer);
    }

    /// Every connection to `peer` closed.
    pub(crate) fn handle_disconnected(&mut self, peer: PeerId) {
        self.connected.remove(&peer);
        self.neighbours.remove(&peer);
        self.leaves.remove(&peer);
        self.indexed_at.remove(&peer);
        self.flood.forget_peer(&peer);
    }

    /// Where this node listens now (sent with its index and its hits).
    pub(crate) fn set_listen_addrs(&mut self, addrs: Vec<Multiaddr>) {
        self.listen_addrs = addrs;
    }

    /// The records this node publishes.
    pub(crate) fn own_records(&self) -> Vec<SignedRecord> {
        self.records.iter().map(|(_, r)| r.clone()).collect()
    }

    /// A new or changed own record (one that fails its signature check is
    /// ignored): index it and re-send the records to super-peers.
    pub(crate) fn set_own_record(&mut self, record: SignedRecord) {
        let Ok(meta) = record.verify() else {
            return;
        };
        self.records.retain(|(m, _)| m.hash != meta.hash);
        self.records.push((meta, record));
        self.send_index_to_supers();
    }

    /// Content was removed: forget its record and tell super-peers.
    pub(crate) fn remove_own_record(&mut self, hash: Hash) {
        self.records.retain(|(m, _)| m.hash != hash);
        self.send_index_to_supers();
    }

    fn send_index_to_supers(&mut self) {
        let mut supers: Vec<PeerId> = self.indexed_at.iter().copied().collect();
        supers.sort();
        for peer in supers {
            self.send_index(peer);
        }
    }

    fn send_index(&mut self, peer: PeerId) {
        let message = SearchMessage::Index {
            records: self.own_records(),
            addrs: self.listen_addrs.clone(),
        };
        self.out.push_back(Out::Send(peer, message));
        self.indexed_at.insert(peer);
    }

    /// A query or hits message: counted in [`SearchStats::messages_sent`].
    fn send_search(&mut self, peer: PeerId, message: SearchMessage) {
        self.stats.messages_sent += 1;
        self.out.push_back(Out::Send(peer, message));
    }

    /// Local (and, on a super-peer, indexed leaves') records matching `words`.
    fn matches(&self, words: &[String], my_addrs: &[Multiaddr]) -> Vec<Hit> {
        let own = self
            .records
            .iter()
            .filter(|(m, _)| m.matches(words))
            .map(|(_, r)| Hit {
                record: r.clone(),
                addrs: my_addrs.to_vec(),
            });
        own.chain(self.leaves.matches(words)).collect()
    }

    /// Neighbours a query may be forwarded to: a super-peer answers for the
    /// leaves it indexes, so it does not forward to them.
    fn forward_candidates(&self) -> Vec<PeerId> {
        let mut peers: Vec<PeerId> = self
            .neighbours
            .keys()
            .filter(|p| !self.leaves.contains(p))
            .copied()
            .collect();
        peers.sort();
        peers
    }

    /// Starts local search `id`: floods it with `ttl` (at most
    /// [`super::flood::MAX_TTL`]) and feeds verified, new hits to `tx`.
    pub(crate) fn start(
        &mut self,
        id: u64,
        words: Vec<String>,
        ttl: u8,
        tx: mpsc::Sender<SearchHit>,
        now: Instant,
    ) -> Result<(), Error> {
        if words.is_empty() || words.len() > MAX_WORDS {
            return Err(Error::BadInput(format!(
                "give 1 to {MAX_WORDS} search words"
            )));
        }
        self.close_ended();
        let candidates = self.forward_candidates();
        let (targets, ttl) = self.flood.start(id, ttl, &candidates, now).ok_or_else(|| {
            Error::Busy(format!(
                "too many searches running (at most {MAX_LOCAL_SEARCHES}); \
                 wait for one to end and retry"
            ))
        })?;
        self.local.open(id, tx);
        // A super-peer already knows its leaves' records.
        let me = self.me;
        let hits = self
            .matches(&words, &[])
            .into_iter()
            .filter(|h| h.record.verify().is_ok_and(|m| m.publisher != me))
            .collect();
        self.deliver(id, hits, "flood");
        for peer in targets {
            self.send_search(
                peer,
                SearchMessage::Query {
                    id,
                    words: words.clone(),
                    ttl,
                },
            );
        }
        Ok(())
    }

    /// Feeds verified, new hits to local query `id` (from `source`: "flood"
    /// or "directory"); hits for an unknown or ended query are dropped.
    pub(crate) fn deliver(&mut self, id: u64, hits: Vec<Hit>, source: &str) {
        self.local.deliver(id, hits, source);
    }

    /// Keep-alive: a hello to every neighbour keeps the connections in use;
    /// also forgets old queries and drops local ones whose callers stopped
    /// listening.
    pub(crate) fn handle_tick(&mut self, now: Instant) {
        let mut neighbours: Vec<PeerId> = self.neighbours.keys().copied().collect();
        neighbours.sort();
        self.out.extend(neighbours.into_iter().map(Out::Hello));
        self.flood.expire(now);
        self.close_ended();
    }

    /// Closes the local searches that are over; those whose callers stopped
    /// listening free their slot at once.
    fn close_ended(&mut self) {
        let flood = &self.flood;
        for id in self.local.close_ended(|id| flood.route(id).is_some()) {
            self.flood.end_local(id);
        }
    }

    /// The figures, with the current neighbour and leaf counts.
    pub(crate) fn stats(&self) -> SearchStats {
        SearchStats {
            neighbours: self.neighbours.len(),
            indexed_leaves: self.leaves.len(),
            indexed_records: self.leaves.records(),
            evicted: self.flood.evicted(),
            ..self.stats.clone()
        }
    }

    /// `peer` answered our hello.
    pub(crate) fn handle_hello_ack(&mut self, peer: PeerId, ack: SearchAck) {
        match ack {
            SearchAck::Ok { super_peer } => {
                self.neighbours.insert(peer, super_peer);
                if super_peer && !self.super_peer && !self.indexed_at.contains(&peer) {
                    self.send_index(peer);
                }
            }
            refused => self.handle_ack(peer, refused),
        }
    }

    /// `peer` answered a message other than a hello.
    pub(crate) fn handle_ack(&mut self, peer: PeerId, ack: SearchAck) {
        if let SearchAck::Refused(why) = ack {
            tracing::debug!(%peer, "search message refused: {why}");
        }
    }

    /// A message from `peer`; the returned ack is its answer.
    pub(crate) fn handle_message(
        &mut self,
        peer: PeerId,
        message: SearchMessage,
        now: Instant,
    ) -> SearchAck {
        let me = self.super_peer;
        match message {
            SearchMessage::Hello { super_peer } => {
                self.neighbours.insert(peer, super_peer);
                SearchAck::Ok { super_peer: me }
            }
            SearchMessage::Index { records, addrs } => {
                match self.index_leaf(peer, records, addrs) {
                    Ok(()) => SearchAck::Ok { super_peer: me },
                    Err(why) => SearchAck::Refused(why),
                }
            }
            SearchMessage::Query { id, words, ttl } => self.handle_query(peer, id, words, ttl, now),
            SearchMessage::Hits { id, hits } => {
                if hits.len() > MAX_HITS_PER_MESSAGE {
                    return SearchAck::Refused(format!(
                        "at most {MAX_HITS_PER_MESSAGE} hits per message"
                    ));
                }
                match self.flood.route_hits(id, hits.len()) {
                    Some(Origin::Local) => self.deliver(id, hits, "flood"),
                    Some(Origin::Peer(back)) => {
                        self.send_search(back, SearchMessage::Hits { id, hits });
                    }
                    None => {}
                }
                SearchAck::Ok { super_peer: me }
            }
        }
    }

    /// Indexes leaf `peer`'s records (super-peers only), within the caps
    /// of [`Leaves::index`].
    fn index_leaf(
        &mut self,
        peer: PeerId,
        records: Vec<SignedRecord>,
        addrs: Vec<Multiaddr>,
    ) -> Result<(), String> {
        if !self.super_peer {
            return Err("not a super-peer".into());
        }
        self.leaves.index(peer, records, addrs)
    }

    fn handle_query(
        &mut self,
        peer: PeerId,
        id: u64,
        words: Vec<String>,
        ttl: u8,
        now: Instant,
    ) -> SearchAck {
        let super_peer = self.super_peer;
        if words.is_empty() || words.len() > MAX_WORDS {
            return SearchAck::Refused(format!("give 1 to {MAX_WORDS} search words"));
        }
        let candidates = self.forward_candidates();
        let (forward, ttl) = match self.flood.on_query(peer, id, ttl, &candidates, now) {
            Decision::Handle { forward, ttl } => (forward, ttl),
            Decision::Duplicate => {
                self.stats.duplicates += 1;
                return SearchAck::Ok { super_peer };
            }
            Decision::RateLimited => {
                self.stats.refused += 1;
                return SearchAck::Refused("rate limited: too many queries".into());
            }
            Decision::Busy => {
                self.stats.refused += 1;
                return SearchAck::Refused(format!(
                    "too many open queries from you (at most {MAX_OPEN_PER_PEER}); try later"
                ));
            }
        };
        self.stats.queries_handled += 1;
        self.stats.queries_forwarded += forward.len() as u64;
        let hits = self.matches(&words, &self.listen_addrs);
        for chunk in hits.chunks(MAX_HITS_PER_MESSAGE) {
            self.send_search(
                peer,
                SearchMessage::Hits {
                    id,
                    hits: chunk.to_vec(),
                },
            );
        }
        for next in forward {
            self.send_search(
                next,
                SearchMessage::Query {
                    id,
                    words: words.clone(),
                    ttl,
                },
            );
        }
        SearchAck::Ok { super_peer }
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
