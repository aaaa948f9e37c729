//! Who may be served how much: the rules for one inbound request, without
//! I/O. The behaviour reads the store for what is admitted.
//!
//! An admitted request holds memory from admission until its response has
//! been sent (or the request failed): first while the store encodes it, then
//! while it waits in the connection for the peer to read it. A peer that
//! asks and never reads would keep that memory for the 30 s request timeout,
//! so a request counts against its peer's slots and bytes, and against a
//! total for all peers, until the behaviour reports it sent
//! ([`Serving::handle_sent`]) or failed ([`Serving::handle_done`]).
//!
//! When the total ([`MAX_TOTAL_BYTES`]) is used up, a peer holding nothing
//! still gets a small request (a `Have`, the size proof) served at once, so
//! a new getter can always start. A *reader* under its guarantee (a peer that read
//! a data response in the last [`READER_FOR`] and has none waiting for
//! [`EVICT_AFTER`]) also gets larger ones: the connections holding the
//! oldest responses of non-readers, or any unsent for [`EVICT_AFTER`], are
//! closed to make room, which frees them. Others get `Busy`. So peers that
//! ask and never read cannot lock out one that reads, nor make the node
//! encode for them over and over (they never cut each other), and what
//! waits is never more than [`HARD_TOTAL_BYTES`].

use std::{
    collections::{BTreeMap, HashMap},
    hash::Hash as StdHash,
    time::{Duration, Instant},
};

use libp2p::{swarm::ConnectionId, PeerId};

use super::protocol::{Request, Response, MAX_BATCH_BYTES, MAX_FRAME, MAX_REQUEST_BYTES};
use crate::content::{range_bytes, ChunkRanges, Hash};

/// Requests one peer may have being served at once; more get `Busy`.
pub(crate) const MAX_SERVING_PER_PEER: usize = 16;
/// Bytes of responses one peer may have being encoded or waiting to be
/// sent: four full-size responses (a downloader keeps about two in flight).
pub(crate) const MAX_PEER_BYTES: u64 = 4 * MAX_FRAME as u64;
/// A peer holding less than this (two full-size responses) may still be
/// served when the total is used up (see the module docs).
pub(crate) const GUARANTEED_PEER_BYTES: u64 = 2 * MAX_FRAME as u64;
/// Bytes of responses all peers together may have being encoded or waiting
/// to be sent, not counting those on connections being closed.
pub(crate) const MAX_TOTAL_BYTES: u64 = 64 * 1024 * 1024;
/// Bytes never exceeded, counting those on connections being closed and
/// small requests admitted over [`MAX_TOTAL_BYTES`].
pub(crate) const HARD_TOTAL_BYTES: u64 = 2 * MAX_TOTAL_BYTES;
/// A request at most this large (a `Have`, the size proof) from a peer
/// holding nothing is admitted over [`MAX_TOTAL_BYTES`], cutting nothing:
/// with at most 512 connected peers that adds at most 32 MiB.
pub(crate) const SMALL_BYTES: u64 = 64 * 1024;
/// A reader's response unsent for this long may be cut (its connection
/// closed) to serve another reader; a peer that reads takes far less for
/// the largest response. A non-reader's may be cut at any age.
pub(crate) const EVICT_AFTER: Duration = Duration::from_secs(2);
/// How long a peer counts as a reader after it read a data response.
pub(crate) const READER_FOR: Duration = Duration::from_secs(60);
/// Readers remembered at most.
const MAX_READERS: usize = 4096;
/// Memory counted for a `Have` until its answer's size is known.
const HAVE_COST: u64 = 4 * 1024;

/// What to do with one inbound request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Answer at once with this (holds nothing).
    Answer(Response),
    /// Look up what the store has of `hash` (holds a serving slot).
    Have(Hash),
    /// `Have`, for a getter that wants `wanted`: what to offer it
    /// (`blobs::seeding`), then as `Have` (holds a serving slot).
    Offer { hash: Hash, wanted: ChunkRanges },
    /// Encode these ranges from the store (holds a serving slot).
    Encode { hash: Hash, ranges: ChunkRanges },
    /// Encode each of these whole blobs (hash and the size asked for)
    /// from the store, into one answer (holds one serving slot and the
    /// bytes of all of them).
    EncodeMany(Vec<(Hash, u64)>),
}

/// One admitted request, until it is done.
#[derive(Debug)]
struct Held {
    peer: PeerId,
    connection: ConnectionId,
    bytes: u64,
    /// Whether its response carries data (then sending it makes a reader).
    data: bool,
    /// Its key in `order` (admission order); `None` once its connection
    /// is being closed.
    seq: Option<u64>,
    since: Instant,
}

/// What one peer holds.
#[derive(Debug)]
struct Load<K> {
    requests: Vec<K>,
    bytes: u64,
}

/// Serving slots and response bytes per peer and in total; `K` identifies
/// one inbound request (libp2p's `InboundRequestId`).
#[derive(Debug)]
pub(crate) struct Serving<K> {
    held: HashMap<K, Held>,
    per_peer: HashMap<PeerId, Load<K>>,
    /// Requests not being closed, oldest admission first.
    order: BTreeMap<u64, K>,
    next_seq: u64,
    /// Bytes of all held requests.
    total: u64,
    /// Bytes of held requests on connections being closed.
    closing: u64,
    /// When each reader last read a data response.
    readers: HashMap<PeerId, Instant>,
}

impl<K> Default for Serving<K> {
    fn default() -> Self {
        Self {
            held: HashMap::new(),
            per_peer: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            total: 0,
            closing: 0,
            readers: HashMap::new(),
        }
    }
}

/// Bytes a response takes while it waits to be sent.
pub(crate) fn response_bytes(response: &Response) -> u64 {
    match response {
        Response::Data(bytes) => bytes.len() as u64,
        Response::Many(items) => items.iter().map(|i| 5 + response_bytes(i)).sum(),
        Response::Have { present, .. } => 16 + 8 * present.boundaries().len() as u64,
        Response::Refused(why) => why.len() as u64,
        _ => 0,
    }
}

impl<K: Copy + Eq + StdHash> Serving<K> {
    /// Decides what to do with request `id` from `peer` on `connection`;
    /// also returns connections to close to make room for it. Sizes are
    /// computed with saturating arithmetic (see [`range_bytes`]), so a
    /// request whose byte count overflows is refused, never wrapped.
    pub(crate) fn handle_request(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        id: K,
        request: Request,
        now: Instant,
    ) -> (Admission, Vec<(PeerId, ConnectionId)>) {
        let cost = match &request {
            Request::Get { ranges, .. } => {
                let bytes = range_bytes(ranges, u64::MAX);
                if bytes > MAX_REQUEST_BYTES {
                    let why = format!("ask for at most {MAX_REQUEST_BYTES} bytes at once");
                    return (Admission::Answer(Response::Refused(why)), Vec::new());
                }
                // The data, its proof nodes (64 bytes per 16 KiB group,
                // and per tree level above each range: at most 64 levels)
                // and the frame: an upper bound, replaced by the real size
                // once encoded.
                let ranges = ranges.boundaries().len().div_ceil(2) as u64;
                bytes + bytes / 128 + ranges * 64 * 64 + 8 * 1024
            }
            Request::Have(_) | Request::Wants { .. } => HAVE_COST,
            Request::GetMany(items) => {
                let asked = items
                    .iter()
                    .fold(0u64, |sum, (_, size)| sum.saturating_add(*size));
                if asked > MAX_BATCH_BYTES {
                    let why = format!("ask for at most {MAX_BATCH_BYTES} bytes in one batch");
                    return (Admission::Answer(Response::Refused(why)), Vec::new());
                }
                // Each blob's chunks rounded up to whole 16 KiB groups (a
                // blob larger than asked answers with whole groups), its
                // proof nodes (at most 64 levels) and its item header.
                let each: u64 = items
                    .iter()
                    .map(|(_, size)| size.div_ceil(16 * 1024) * 16 * 1024 + 64 * 64 + 5)
                    .sum();
                each + asked / 128 + 8 * 1024
            }
        };
        let busy = (Admission::Answer(Response::Busy), Vec::new());
        let (slots, held) = self
            .per_peer
            .get(&peer)
            .map_or((0, 0), |l| (l.requests.len(), l.bytes));
        if slots >= MAX_SERVING_PER_PEER
            || held + cost > MAX_PEER_BYTES
            || self.total + cost > HARD_TOTAL_BYTES
        {
            return busy;
        }
        let guaranteed = held + cost <= GUARANTEED_PEER_BYTES;
        let open = self.total - self.closing;
        let mut close = Vec::new();
        if open + cost > MAX_TOTAL_BYTES && !(held == 0 && cost <= SMALL_BYTES) {
            if !guaranteed {
                return busy;
            }
            if !self.is_reader(peer, now) {
                return busy;
            }
            match self.victims(peer, open + cost - MAX_TOTAL_BYTES, now) {
                Some(victims) => {
                    for (p, c) in &victims {
                        self.mark_closing(*p, *c);
                    }
                    close = victims;
                }
                None => return busy,
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, id);
        self.held.insert(
            id,
            Held {
                peer,
                connection,
                bytes: cost,
                data: false,
                seq: Some(seq),
                since: now,
            },
        );
        let load = self.per_peer.entry(peer).or_insert_with(|| Load {
            requests: Vec::new(),
            bytes: 0,
        });
        load.requests.push(id);
        load.bytes += cost;
        self.total += cost;
        let admission = match request {
            Request::Have(hash) => Admission::Have(hash),
            Request::Wants { hash, wanted } => Admission::Offer { hash, wanted },
            Request::Get { hash, ranges } => Admission::Encode { hash, ranges },
            Request::GetMany(items) => Admission::EncodeMany(items),
        };
        (admission, close)
    }

    /// Whether `peer` read a data response lately and has none waiting
    /// for [`EVICT_AFTER`].
    fn is_reader(&self, peer: PeerId, now: Instant) -> bool {
        let lately = self
            .readers
            .get(&peer)
            .is_some_and(|t| now.saturating_duration_since(*t) < READER_FOR);
        lately
            && !self.per_peer.get(&peer).is_some_and(|l| {
                l.requests
                    .iter()
                    .any(|r| now.saturating_duration_since(self.held[r].since) >= EVICT_AFTER)
            })
    }

    /// Connections (not `peer`'s) whose closing frees at least `need`
    /// bytes, oldest response first: those of non-readers, and those
    /// unsent for [`EVICT_AFTER`]. `None` if they do not add up.
    fn victims(
        &self,
        peer: PeerId,
        need: u64,
        now: Instant,
    ) -> Option<Vec<(PeerId, ConnectionId)>> {
        let mut victims: Vec<(PeerId, ConnectionId)> = Vec::new();
        let mut freed = 0;
        for id in self.order.values() {
            let h = &self.held[id];
            let old = now.saturating_duration_since(h.since) >= EVICT_AFTER;
            if h.peer == peer
                || victims.contains(&(h.peer, h.connection))
                || (!old && self.is_reader(h.peer, now))
            {
                continue;
            }
            victims.push((h.peer, h.connection));
            freed += self.per_peer[&h.peer]
                .requests
                .iter()
                .map(|r| &self.held[r])
                .filter(|r| r.connection == h.connection && r.seq.is_some())
                .map(|r| r.bytes)
                .sum::<u64>();
            if freed >= need {
                return Some(victims);
            }
        }
        None
    }

    /// `connection` of `peer` is being closed: its requests no longer
    /// count against the open total (their memory goes with it).
    fn mark_closing(&mut self, peer: PeerId, connection: ConnectionId) {
        for id in &self.per_peer[&peer].requests {
            let h = self.held.get_mut(id).expect("a peer's requests are held");
            if h.connection == connection {
                if let Some(seq) = h.seq.take() {
                    self.order.remove(&seq);
                    self.closing += h.bytes;
                }
            }
        }
    }

    /// Request `id` was answered with `response`: it counts that response's
    /// size from now on. Returns false if the request is done already (its
    /// connection closed or it timed out): then the response is not sent.
    pub(crate) fn handle_encoded(&mut self, id: K, response: &Response) -> bool {
        let Some(h) = self.held.get_mut(&id) else {
            return false;
        };
        let bytes = response_bytes(response);
        let load = self.per_peer.get_mut(&h.peer).expect("held for a peer");
        load.bytes = load.bytes - h.bytes + bytes;
        self.total = self.total - h.bytes + bytes;
        if h.seq.is_none() {
            self.closing = self.closing - h.bytes + bytes;
        }
        h.bytes = bytes;
        h.data = matches!(response, Response::Data(_));
        true
    }

    /// Request `id`'s response was sent in full: as [`Self::handle_done`],
    /// and a data response makes its peer a reader.
    pub(crate) fn handle_sent(&mut self, id: K, now: Instant) {
        let Some(h) = self.held.get(&id) else {
            return;
        };
        if h.data {
            if self.readers.len() >= MAX_READERS {
                self.readers
                    .retain(|_, t| now.saturating_duration_since(*t) < READER_FOR);
            }
            if self.readers.len() < MAX_READERS || self.readers.contains_key(&h.peer) {
                self.readers.insert(h.peer, now);
            }
        }
        self.handle_done(id);
    }

    /// Request `id` is done: its response was sent, or it failed (timed
    /// out, connection closed, response dropped). Frees its slot and bytes;
    /// a second call for the same request does nothing.
    pub(crate) fn handle_done(&mut self, id: K) {
        let Some(h) = self.held.remove(&id) else {
            return;
        };
        self.total -= h.bytes;
        match h.seq {
            Some(seq) => {
                self.order.remove(&seq);
            }
            None => self.closing -= h.bytes,
        }
        if let Some(load) = self.per_peer.get_mut(&h.peer) {
            load.requests.retain(|r| *r != id);
            load.bytes -= h.bytes;
            if load.requests.is_empty() {
                self.per_peer.remove(&h.peer);
            }
        }
    }

    /// Bytes held in all (encoding or waiting to be sent).
    pub(crate) fn total_bytes(&self) -> u64 {
        self.total
    }

    /// Peers with requests being served.
    #[cfg(test)]
    pub(crate) fn busy_peers(&self) -> usize {
        self.per_peer.len()
    }
}
