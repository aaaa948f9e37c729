//! The event loop's share of flooding search: neighbours (hello and
//! keep-alive), queries answered and forwarded as [`Flood`] decides, hits
//! routed back, super-peer indexing of leaves' records.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use libp2p::{
    request_response::{self, Message, OutboundRequestId},
    Multiaddr, PeerId,
};
use tokio::sync::mpsc;

use super::EventLoop;
use crate::{
    content::{Hash, Metadata, SignedRecord},
    search::{
        flood::{Decision, Flood, FloodConfig, Origin},
        Hit, SearchAck, SearchHit, SearchMessage, SearchStats, MAX_HITS_PER_MESSAGE, MAX_WORDS,
    },
    Error,
};

/// A search started by this node, fed until its caller drops the receiver.
pub(crate) struct LocalQuery {
    tx: mpsc::Sender<SearchHit>,
    seen: HashSet<(Hash, PeerId)>,
}

/// A leaf's records as indexed by a super-peer.
struct Leaf {
    records: Vec<(Metadata, SignedRecord)>,
    addrs: Vec<Multiaddr>,
}

/// Everything the event loop keeps for flooding search.
pub(crate) struct SearchState {
    flood: Flood,
    pub(crate) super_peer: bool,
    /// Neighbours and whether each is a super-peer.
    neighbours: HashMap<PeerId, bool>,
    /// Peers to greet as neighbours once connected.
    want_neighbour: HashSet<PeerId>,
    /// Outstanding hellos.
    hellos: HashSet<OutboundRequestId>,
    /// Super-peers this node has sent its records to.
    indexed_at: HashSet<PeerId>,
    leaves: HashMap<PeerId, Leaf>,
    /// This node's own records.
    records: Vec<(Metadata, SignedRecord)>,
    pub(crate) local: HashMap<u64, LocalQuery>,
    stats: SearchStats,
    /// How often neighbours get a keep-alive hello.
    pub(crate) keepalive: Duration,
}

impl SearchState {
    pub(crate) fn new(
        config: FloodConfig,
        super_peer: bool,
        records: Vec<SignedRecord>,
        keepalive: Duration,
    ) -> Self {
        Self {
            keepalive,
            flood: Flood::new(config),
            super_peer,
            neighbours: HashMap::new(),
            want_neighbour: HashSet::new(),
            hellos: HashSet::new(),
            indexed_at: HashSet::new(),
            leaves: HashMap::new(),
            records: records
                .into_iter()
                .filter_map(|r| Some((r.verify().ok()?, r)))
                .collect(),
            local: HashMap::new(),
            stats: SearchStats::default(),
        }
    }

    /// Marks `peer` to be greeted as a neighbour when it connects.
    pub(crate) fn want(&mut self, peer: PeerId) {
        self.want_neighbour.insert(peer);
    }

    /// The records this node publishes.
    pub(crate) fn own_records(&self) -> Vec<SignedRecord> {
        self.records.iter().map(|(_, r)| r.clone()).collect()
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
        let leaves = self.leaves.values().flat_map(|leaf| {
            leaf.records
                .iter()
                .filter(|(m, _)| m.matches(words))
                .map(|(_, r)| Hit {
                    record: r.clone(),
                    addrs: leaf.addrs.clone(),
                })
        });
        own.chain(leaves).collect()
    }

    /// Neighbours a query may be forwarded to: a super-peer answers for the
    /// leaves it indexes, so it does not forward to them.
    fn forward_candidates(&self) -> Vec<PeerId> {
        let mut peers: Vec<PeerId> = self
            .neighbours
            .keys()
            .filter(|p| !self.leaves.contains_key(p))
            .copied()
            .collect();
        peers.sort();
        peers
    }

    /// Feeds verified, new hits to local query `id`.
    fn deliver(&mut self, id: u64, hits: Vec<Hit>, source: &str, me: PeerId) {
        let Some(query) = self.local.get_mut(&id) else {
            return;
        };
        for hit in hits {
            let Some(hit) = SearchHit::from_hit(hit, source) else {
                tracing::debug!("dropped a search hit with a bad signature");
                continue;
            };
            if hit.holder == me || !query.seen.insert((hit.meta.hash, hit.holder)) {
                continue;
            }
            let _ = query.tx.try_send(hit);
        }
    }
}

impl EventLoop {
    /// Greets `peer` as a neighbour.
    pub(super) fn send_hello(&mut self, peer: PeerId) {
        let super_peer = self.search.super_peer;
        let id = self
            .swarm
            .behaviour_mut()
            .search
            .send_request(&peer, SearchMessage::Hello { super_peer });
        self.search.hellos.insert(id);
    }

    /// A connection to `peer` is up: greet it if it is wanted as neighbour.
    pub(super) fn on_search_connected(&mut self, peer: PeerId) {
        if self.search.want_neighbour.remove(&peer) && !self.search.neighbours.contains_key(&peer) {
            self.send_hello(peer);
        }
    }

    /// Every connection to `peer` closed.
    pub(super) fn on_search_disconnected(&mut self, peer: PeerId) {
        self.search.neighbours.remove(&peer);
        self.search.leaves.remove(&peer);
        self.search.indexed_at.remove(&peer);
        self.search.flood.forget_peer(&peer);
    }

    /// Keep-alive: a hello to every neighbour keeps the connections in use;
    /// also drops local queries whose callers stopped listening.
    pub(super) fn search_tick(&mut self) {
        let neighbours: Vec<PeerId> = self.search.neighbours.keys().copied().collect();
        for peer in neighbours {
            self.send_hello(peer);
        }
        self.search.flood.expire(Instant::now());
        let flood = &self.search.flood;
        self.search
            .local
            .retain(|id, q| !q.tx.is_closed() && flood.route(*id).is_some());
    }

    /// Records this node publishes changed: re-send them to super-peers.
    pub(super) fn set_own_record(&mut self, record: SignedRecord) {
        let Ok(meta) = record.verify() else {
            return;
        };
        self.search.records.retain(|(m, _)| m.hash != meta.hash);
        self.search.records.push((meta, record));
        let supers: Vec<PeerId> = self.search.indexed_at.iter().copied().collect();
        for peer in supers {
            self.send_index(peer);
        }
    }

    /// Content was removed: forget its record and tell super-peers.
    pub(super) fn remove_own_record(&mut self, hash: Hash) {
        self.search.records.retain(|(m, _)| m.hash != hash);
        let supers: Vec<PeerId> = self.search.indexed_at.iter().copied().collect();
        for peer in supers {
            self.send_index(peer);
        }
    }

    fn send_index(&mut self, peer: PeerId) {
        let message = SearchMessage::Index {
            records: self.search.own_records(),
            addrs: self.listen_addrs(),
        };
        self.swarm
            .behaviour_mut()
            .search
            .send_request(&peer, message);
        self.search.indexed_at.insert(peer);
    }

    /// Starts a local search: floods it and asks the directories.
    pub(super) fn start_search(
        &mut self,
        words: Vec<String>,
        ttl: u8,
        tx: mpsc::Sender<SearchHit>,
    ) -> Result<(), Error> {
        if words.is_empty() || words.len() > MAX_WORDS {
            return Err(Error::BadInput(format!(
                "give 1 to {MAX_WORDS} search words"
            )));
        }
        let id: u64 = rand::random();
        let candidates = self.search.forward_candidates();
        let (targets, ttl) = self
            .search
            .flood
            .start(id, ttl, &candidates, Instant::now())
            .ok_or_else(|| {
                Error::Busy("too many searches are open; wait a minute and retry".into())
            })?;
        self.search.local.insert(
            id,
            LocalQuery {
                tx,
                seen: HashSet::new(),
            },
        );
        // A super-peer already knows its leaves' records.
        let me = self.peer_id();
        let hits = self.search.matches(&words, &[]);
        let hits = hits
            .into_iter()
            .filter(|h| h.record.verify().is_ok_and(|m| m.publisher != me))
            .collect();
        self.search.deliver(id, hits, "flood", me);
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
        self.search_directories(id, words);
        Ok(())
    }

    fn send_search(&mut self, peer: PeerId, message: SearchMessage) {
        self.search.stats.messages_sent += 1;
        self.swarm
            .behaviour_mut()
            .search
            .send_request(&peer, message);
    }

    /// Feeds directory results to local query `id`.
    pub(super) fn deliver_directory_hits(&mut self, id: u64, hits: Vec<Hit>) {
        let me = self.peer_id();
        self.search.deliver(id, hits, "directory", me);
    }

    pub(super) fn search_stats(&self) -> SearchStats {
        SearchStats {
            neighbours: self.search.neighbours.len(),
            indexed_leaves: self.search.leaves.len(),
            ..self.search.stats.clone()
        }
    }

    pub(super) fn on_search_event(
        &mut self,
        event: request_response::Event<SearchMessage, SearchAck>,
    ) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let ack = self.on_search_message(peer, request);
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .search
                    .send_response(channel, ack);
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
                let hello = self.search.hellos.remove(&request_id);
                match response {
                    SearchAck::Ok { super_peer } if hello => {
                        self.search.neighbours.insert(peer, super_peer);
                        if super_peer
                            && !self.search.super_peer
                            && !self.search.indexed_at.contains(&peer)
                        {
                            self.send_index(peer);
                        }
                    }
                    SearchAck::Ok { .. } => {}
                    SearchAck::Refused(why) => {
                        tracing::debug!(%peer, "search message refused: {why}");
                    }
                }
            }
            request_response::Event::OutboundFailure {
                request_id, peer, ..
            } if self.search.hellos.remove(&request_id) => {
                tracing::debug!(%peer, "peer does not take part in search");
            }
            _ => {}
        }
    }

    fn on_search_message(&mut self, peer: PeerId, message: SearchMessage) -> SearchAck {
        let me = self.search.super_peer;
        match message {
            SearchMessage::Hello { super_peer } => {
                self.search.neighbours.insert(peer, super_peer);
                SearchAck::Ok { super_peer: me }
            }
            SearchMessage::Index { records, addrs } => {
                if !self.search.super_peer {
                    return SearchAck::Refused("not a super-peer".into());
                }
                if records.len() > 1000 {
                    return SearchAck::Refused("at most 1000 records per leaf".into());
                }
                let mut checked = Vec::new();
                for r in records {
                    match r.verify() {
                        Ok(m) if m.publisher == peer => checked.push((m, r)),
                        _ => {
                            return SearchAck::Refused(
                                "a leaf may only index its own, validly signed records".into(),
                            )
                        }
                    }
                }
                self.search.leaves.insert(
                    peer,
                    Leaf {
                        records: checked,
                        addrs,
                    },
                );
                SearchAck::Ok { super_peer: me }
            }
            SearchMessage::Query { id, words, ttl } => self.on_query(peer, id, words, ttl),
            SearchMessage::Hits { id, hits } => {
                if hits.len() > MAX_HITS_PER_MESSAGE {
                    return SearchAck::Refused(format!(
                        "at most {MAX_HITS_PER_MESSAGE} hits per message"
                    ));
                }
                match self.search.flood.route_hits(id, hits.len()) {
                    Some(Origin::Local) => {
                        let own = self.peer_id();
                        self.search.deliver(id, hits, "flood", own);
                    }
                    Some(Origin::Peer(back)) => {
                        self.send_search(back, SearchMessage::Hits { id, hits });
                    }
                    None => {}
                }
                SearchAck::Ok { super_peer: me }
            }
        }
    }

    fn on_query(&mut self, peer: PeerId, id: u64, words: Vec<String>, ttl: u8) -> SearchAck {
        let super_peer = self.search.super_peer;
        if words.is_empty() || words.len() > MAX_WORDS {
            return SearchAck::Refused(format!("give 1 to {MAX_WORDS} search words"));
        }
        let candidates = self.search.forward_candidates();
        let decision = self
            .search
            .flood
            .on_query(peer, id, ttl, &candidates, Instant::now());
        let (forward, ttl) = match decision {
            Decision::Handle { forward, ttl } => (forward, ttl),
            Decision::Duplicate => {
                self.search.stats.duplicates += 1;
                return SearchAck::Ok { super_peer };
            }
            Decision::RateLimited => {
                self.search.stats.refused += 1;
                return SearchAck::Refused("rate limited: too many queries".into());
            }
            Decision::Busy => {
                self.search.stats.refused += 1;
                return SearchAck::Refused("too many open queries".into());
            }
        };
        self.search.stats.queries_handled += 1;
        let addrs = self.listen_addrs();
        let hits = self.search.matches(&words, &addrs);
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
