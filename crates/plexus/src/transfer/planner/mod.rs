//! Which peer fetches which range next: a state machine with no I/O, driven
//! by the download loop (which passes in the time) and tested directly.
//!
//! The blob is cut into pieces of [`PIECE_GROUPS`] chunk groups (128 KiB).
//! A request is a run of consecutive pieces starting at the rarest missing
//! piece the peer has. Each peer's delivery rate is measured over the time
//! it was busy; the bytes in flight to it are kept near [`QUEUE_TIME`] of
//! data at that rate (at least one piece), in about two requests: small requests to slow peers,
//! up to 4 MiB to fast ones. A window caps the requests in flight; it grows
//! while the peer answers and halves when it fails. When no
//! missing piece is left that any peer has, an idle peer duplicates an
//! in-flight piece it would deliver sooner than the peer holding it (end
//! game), so neither a slow peer nor a stalled one (a cut link) holds up
//! the end. Before that, a partial peer (another getter) with nothing new
//! is left idle: duplicating what the seeder is sending would only waste
//! the seeder's upload, the scarcest link of a flash crowd. A peer that
//! sends data failing verification is banned for this download.

use std::{
    collections::HashMap,
    ops::Range,
    time::{Duration, Instant},
};

use bao_tree::{ChunkNum, ChunkRanges};
use libp2p::PeerId;

use crate::content::{group_count, group_ranges, range_bytes, GROUP_BYTES};
pub use peer::PeerStats;

mod peer;

/// Chunk groups per piece: 8 x 16 KiB = 128 KiB. A getter passes a piece
/// on only once it is whole, so in a flash crowd, where each uploader
/// shares its link among some 20 getters, a smaller piece moves on sooner
/// (`plexus-testbed crowd-full`, 24 getters on 20 Mbit/s links: the last
/// finished at 1.43-1.44 x the bound with 256 KiB pieces, 1.39-1.40 x with
/// 128 KiB, four runs each); with 64 KiB the requests and `Have` answers
/// cost more than that gains (1.64 x; 1.15 bytes crossed a getter's link
/// per byte of the file, against 1.12).
pub const PIECE_GROUPS: u64 = 8;
/// Bytes per piece.
pub const PIECE_BYTES: u64 = PIECE_GROUPS * GROUP_BYTES;
// A seeder's offers (`blobs::seeding`) are whole pieces of this size.
const _: () = assert!(PIECE_BYTES == crate::blobs::seeding::PIECE_CHUNKS * 1024);
/// Most pieces in one request (4 MiB, the protocol's limit).
pub const MAX_REQUEST_PIECES: usize =
    (crate::blobs::protocol::MAX_REQUEST_BYTES / PIECE_BYTES) as usize;
/// Data kept in flight to a peer, in time at its rate: enough that its
/// link never idles between two answers, little enough that the last
/// requests end together.
pub const QUEUE_TIME: Duration = Duration::from_millis(500);
/// Most requests in flight to one peer.
pub const MAX_WINDOW: usize = 4;
/// Transient failures in a row after which a peer is given up.
pub const MAX_FAILURES: u32 = 5;
/// `Missing` answers in a row (for ranges the peer said it had) after which
/// a peer is given up: it claims what it does not serve.
pub const MAX_MISSING: u32 = 3;

/// How a request ended badly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The data failed verification: the peer lied or is corrupt.
    Lied,
    /// Timeout, closed connection, busy: try again elsewhere.
    Transient,
    /// The peer does not have that range after all.
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Missing,
    /// Requested by these requests (two at most: one duplicate in end game).
    InFlight(Vec<u64>),
    Done,
}

#[derive(Debug)]
struct Piece {
    needed: ChunkRanges,
    state: State,
    /// Random rank breaking ties between equally rare pieces, so that
    /// getters of the same blob start at different places and have
    /// something to trade.
    rank: u64,
}

/// Ranges the download loop should ask one peer for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Identifies the request in [`Planner::on_success`] / [`Planner::on_failure`].
    pub id: u64,
    /// Chunk ranges to ask for.
    pub ranges: ChunkRanges,
}

#[derive(Debug)]
struct Sent {
    peer: PeerId,
    pieces: Range<usize>,
    bytes: u64,
    at: Instant,
}

/// The download plan for one blob.
#[derive(Debug)]
pub struct Planner {
    size: u64,
    pieces: Vec<Piece>,
    peers: HashMap<PeerId, PeerStats>,
    sent: HashMap<u64, Sent>,
    next_id: u64,
}

impl Planner {
    /// A plan for a blob of `size` bytes of which `present` is already
    /// stored, with a random order among equally rare pieces.
    pub fn new(size: u64, present: &ChunkRanges) -> Self {
        use std::hash::{BuildHasher, RandomState};
        Self::with_seed(size, present, RandomState::new().hash_one(0u8))
    }

    /// [`Planner::new`] with the tie-break order fixed by `seed`.
    pub fn with_seed(size: u64, present: &ChunkRanges, seed: u64) -> Self {
        let groups = group_count(size);
        let pieces = (0..groups.div_ceil(PIECE_GROUPS))
            .map(|i| {
                let end = ((i + 1) * PIECE_GROUPS).min(groups);
                let all = group_ranges(i * PIECE_GROUPS, end)
                    & ChunkRanges::from(..ChunkNum::chunks(size));
                let needed = all.difference(present);
                let state = if needed.is_empty() {
                    State::Done
                } else {
                    State::Missing
                };
                // splitmix64 of (seed, index): a cheap, well-spread rank.
                let rank = crate::blobs::seeding::mix(
                    seed.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                );
                Piece {
                    needed,
                    state,
                    rank,
                }
            })
            .collect();
        Self {
            size,
            pieces,
            peers: HashMap::new(),
            sent: HashMap::new(),
            next_id: 0,
        }
    }

    /// Adds a peer, or updates what it has (`None`: everything).
    pub fn add_peer(&mut self, peer: PeerId, have: Option<ChunkRanges>) {
        let stats = self.peers.entry(peer).or_insert_with(PeerStats::new);
        stats.have = have;
    }

    /// The peers and what the planner knows of them.
    pub fn peers(&self) -> &HashMap<PeerId, PeerStats> {
        &self.peers
    }

    /// Peers that may still be asked, in a stable order.
    pub fn usable_peers(&self) -> Vec<PeerId> {
        let mut v: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, s)| !s.banned)
            .map(|(p, _)| *p)
            .collect();
        v.sort();
        v
    }

    /// Every piece is stored.
    pub fn is_done(&self) -> bool {
        self.pieces.iter().all(|p| p.state == State::Done)
    }

    fn peer_has(stats: &PeerStats, needed: &ChunkRanges) -> bool {
        stats.have.as_ref().is_none_or(|h| needed.is_subset(h))
    }

    /// The next request for `peer`, if its window has room and there is
    /// something it can serve.
    pub fn next_request(&mut self, peer: PeerId, now: Instant) -> Option<Assignment> {
        let stats = self.peers.get(&peer)?;
        if stats.banned
            || stats.in_flight >= stats.window
            || stats.in_flight_bytes >= stats.budget(now)
        {
            return None;
        }
        let pieces = match self.rarest_missing(&peer) {
            Some(start) => start..self.run_end(&peer, start, now),
            // End game only once nothing missing is left that anyone
            // could send: a partial peer with nothing new must not
            // duplicate what others (the seeder) are sending.
            None if self.fetchable_missing() => return None,
            None => {
                let i = self.end_game_piece(&peer, now)?;
                i..i + 1
            }
        };
        let id = self.next_id;
        self.next_id += 1;
        let mut ranges = ChunkRanges::empty();
        for piece in &mut self.pieces[pieces.clone()] {
            ranges |= piece.needed.clone();
            match &mut piece.state {
                State::InFlight(ids) => ids.push(id),
                state => *state = State::InFlight(vec![id]),
            }
        }
        let bytes = range_bytes(&ranges, self.size);
        self.sent.insert(
            id,
            Sent {
                peer,
                pieces,
                bytes,
                at: now,
            },
        );
        let stats = self.peers.get_mut(&peer).expect("known");
        stats.in_flight += 1;
        stats.in_flight_bytes += bytes;
        stats.busy_since.get_or_insert(now);
        Some(Assignment { id, ranges })
    }

    fn rarest_missing(&self, peer: &PeerId) -> Option<usize> {
        let stats = &self.peers[peer];
        let holders: Vec<&PeerStats> = self.peers.values().filter(|s| !s.banned).collect();
        self.pieces
            .iter()
            .enumerate()
            .filter(|(_, p)| p.state == State::Missing && Self::peer_has(stats, &p.needed))
            .min_by_key(|(i, p)| {
                let n = holders
                    .iter()
                    .filter(|s| Self::peer_has(s, &p.needed))
                    .count();
                (n, p.rank, *i)
            })
            .map(|(i, _)| i)
    }

    /// Whether a missing piece is left that some usable peer has.
    fn fetchable_missing(&self) -> bool {
        let usable: Vec<&PeerStats> = self.peers.values().filter(|s| !s.banned).collect();
        self.pieces.iter().any(|p| {
            p.state == State::Missing && usable.iter().any(|s| Self::peer_has(s, &p.needed))
        })
    }

    /// End of a run of missing pieces from `start` that `peer` has: half
    /// of its budget, so about two requests are in flight.
    fn run_end(&self, peer: &PeerId, start: usize, now: Instant) -> usize {
        let stats = &self.peers[peer];
        let want = (stats.budget(now) / 2 / PIECE_BYTES) as usize;
        let want = want.clamp(1, MAX_REQUEST_PIECES);
        let mut end = start + 1;
        while end < self.pieces.len()
            && end - start < want
            && self.pieces[end].state == State::Missing
            && Self::peer_has(stats, &self.pieces[end].needed)
        {
            end += 1;
        }
        end
    }

    /// When `peer`'s requests sent at or before `at` should all be in.
    fn eta(&self, peer: &PeerId, at: Instant, now: Instant) -> Option<Instant> {
        let rate = self.peers[peer].rate(now);
        let queued: u64 = self
            .sent
            .values()
            .filter(|s| s.peer == *peer && s.at <= at)
            .map(|s| s.bytes)
            .sum();
        let expected = (rate > 0.0).then(|| at + Duration::from_secs_f64(queued as f64 / rate));
        // A request past its expected time is assumed to need half as long
        // again as it has taken so far (a stalled peer falls further behind).
        let overdue = now + now.saturating_duration_since(at) / 2;
        Some(expected.map_or(overdue, |e| e.max(overdue)))
    }

    /// End game: the in-flight piece this peer would deliver soonest
    /// compared to its holder, duplicated at most once.
    fn end_game_piece(&self, peer: &PeerId, now: Instant) -> Option<usize> {
        let me = &self.peers[peer];
        let rate = me.rate(now);
        if rate <= 0.0 {
            return None;
        }
        let mine = now + Duration::from_secs_f64((me.in_flight_bytes + PIECE_BYTES) as f64 / rate);
        self.pieces
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match &p.state {
                State::InFlight(ids) if ids.len() == 1 && Self::peer_has(me, &p.needed) => {
                    let sent = &self.sent[&ids[0]];
                    if sent.peer == *peer {
                        return None;
                    }
                    let theirs = self.eta(&sent.peer, sent.at, now)?;
                    (mine < theirs).then_some((i, theirs))
                }
                _ => None,
            })
            .max_by_key(|(_, theirs)| *theirs)
            .map(|(i, _)| i)
    }

    /// Forgets request `id`: its pieces not yet in `present` become missing
    /// again unless another request holds them.
    fn release(&mut self, id: u64, present: &ChunkRanges, now: Instant) -> Option<Sent> {
        let sent = self.sent.remove(&id)?;
        if let Some(s) = self.peers.get_mut(&sent.peer) {
            s.in_flight = s.in_flight.saturating_sub(1);
            s.in_flight_bytes = s.in_flight_bytes.saturating_sub(sent.bytes);
            if s.in_flight == 0 {
                if let Some(since) = s.busy_since.take() {
                    s.busy += now.saturating_duration_since(since);
                }
            }
        }
        for piece in &mut self.pieces[sent.pieces.clone()] {
            if piece.state == State::Done {
                continue;
            }
            piece.needed = piece.needed.difference(present);
            if piece.needed.is_empty() {
                piece.state = State::Done;
            } else if let State::InFlight(ids) = &mut piece.state {
                ids.retain(|i| *i != id);
                if ids.is_empty() {
                    piece.state = State::Missing;
                }
            }
        }
        Some(sent)
    }

    /// Request `id` was answered with `bytes` verified bytes at `now`;
    /// `present` is everything now stored.
    pub fn on_success(&mut self, id: u64, bytes: u64, now: Instant, present: &ChunkRanges) {
        let Some(sent) = self.release(id, present, now) else {
            return;
        };
        let Some(s) = self.peers.get_mut(&sent.peer) else {
            return;
        };
        s.bytes += bytes;
        s.failures = 0;
        s.missing = 0;
        s.window = (s.window + 1).min(MAX_WINDOW);
    }

    /// Request `id` failed; `present` is everything now stored (a lying
    /// peer's response may have carried some valid groups before the bad one).
    pub fn on_failure(&mut self, id: u64, failure: Failure, now: Instant, present: &ChunkRanges) {
        let Some(sent) = self.release(id, present, now) else {
            return;
        };
        let pieces: Vec<ChunkRanges> = self.pieces[sent.pieces.clone()]
            .iter()
            .map(|p| p.needed.clone())
            .collect();
        let Some(s) = self.peers.get_mut(&sent.peer) else {
            return;
        };
        match failure {
            Failure::Lied => s.banned = true,
            Failure::Transient => {
                s.failures += 1;
                s.window = (s.window / 2).max(1);
                s.banned |= s.failures >= MAX_FAILURES;
            }
            Failure::Missing => {
                s.missing += 1;
                s.banned |= s.missing >= MAX_MISSING;
                let mut have = s
                    .have
                    .take()
                    .unwrap_or_else(|| ChunkRanges::from(ChunkNum(0)..));
                for needed in &pieces {
                    have = have.difference(needed);
                }
                s.have = Some(have);
            }
        }
    }

    /// A peer left: give its requests back and ask it nothing more.
    pub fn remove_peer(&mut self, peer: &PeerId, now: Instant, present: &ChunkRanges) {
        let ids: Vec<u64> = self
            .sent
            .iter()
            .filter(|(_, s)| s.peer == *peer)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.release(id, present, now);
        }
        if let Some(s) = self.peers.get_mut(peer) {
            s.banned = true;
        }
    }
}

#[cfg(test)]
mod tests;
