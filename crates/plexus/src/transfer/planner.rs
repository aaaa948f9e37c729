//! Which peer fetches which range next: a state machine with no I/O, driven
//! by the download loop and tested directly.
//!
//! The blob is cut into pieces of [`PIECE_GROUPS`] chunk groups. A peer gets
//! the rarest missing piece it has; each peer keeps a window of requests in
//! flight that grows while it answers and shrinks when it stalls. When no
//! piece is left unassigned, idle fast peers duplicate the slowest in-flight
//! pieces (end game), so a slow peer never holds up the end. A peer that
//! sends data failing verification is banned for this download.

use std::{collections::HashMap, time::Duration};

use bao_tree::{ChunkNum, ChunkRanges};
use libp2p::PeerId;

use crate::content::{group_count, group_ranges};

/// Chunk groups per piece: 64 x 16 KiB = 1 MiB.
pub const PIECE_GROUPS: u64 = 64;
/// Most requests in flight to one peer.
pub const MAX_WINDOW: usize = 8;
/// Transient failures after which a peer is given up.
pub const MAX_FAILURES: u32 = 5;

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
    InFlight(Vec<PeerId>),
    Done,
}

#[derive(Debug)]
struct Piece {
    needed: ChunkRanges,
    state: State,
}

/// What the planner knows of one peer.
#[derive(Debug, Clone)]
pub struct PeerStats {
    /// Ranges it has; `None` means the whole blob.
    pub have: Option<ChunkRanges>,
    /// Requests in flight now.
    pub in_flight: usize,
    /// Requests it may have in flight.
    pub window: usize,
    /// Verified bytes received from it.
    pub bytes: u64,
    /// Smoothed rate in bytes per second.
    pub rate: f64,
    /// Transient failures so far.
    pub failures: u32,
    /// Sent bad data or failed too often: no more requests.
    pub banned: bool,
}

/// The download plan for one blob.
#[derive(Debug)]
pub struct Planner {
    pieces: Vec<Piece>,
    peers: HashMap<PeerId, PeerStats>,
}

impl Planner {
    /// A plan for a blob of `size` bytes of which `present` is already stored.
    pub fn new(size: u64, present: &ChunkRanges) -> Self {
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
                Piece { needed, state }
            })
            .collect();
        Self {
            pieces,
            peers: HashMap::new(),
        }
    }

    /// Adds a peer (or updates what it has).
    pub fn add_peer(&mut self, peer: PeerId, have: Option<ChunkRanges>) {
        let stats = self.peers.entry(peer).or_insert(PeerStats {
            have: None,
            in_flight: 0,
            window: 2,
            bytes: 0,
            rate: 0.0,
            failures: 0,
            banned: false,
        });
        stats.have = have;
    }

    /// The peers and what the planner knows of them.
    pub fn peers(&self) -> &HashMap<PeerId, PeerStats> {
        &self.peers
    }

    /// Peers that may still be asked.
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

    /// Whether piece `i` is already stored (a duplicate answer can be dropped).
    pub fn is_piece_done(&self, i: usize) -> bool {
        self.pieces[i].state == State::Done
    }

    fn peer_has(stats: &PeerStats, needed: &ChunkRanges) -> bool {
        stats.have.as_ref().is_none_or(|h| needed.is_subset(h))
    }

    /// The next request for `peer`, if its window has room and there is
    /// something it can serve: `(piece, ranges)`.
    pub fn next_request(&mut self, peer: PeerId) -> Option<(usize, ChunkRanges)> {
        let stats = self.peers.get(&peer)?;
        if stats.banned || stats.in_flight >= stats.window {
            return None;
        }
        let choice = self
            .rarest_missing(&peer)
            .or_else(|| self.end_game_piece(&peer))?;
        let piece = &mut self.pieces[choice];
        match &mut piece.state {
            State::InFlight(peers) => peers.push(peer),
            state => *state = State::InFlight(vec![peer]),
        }
        let ranges = piece.needed.clone();
        self.peers.get_mut(&peer).expect("known").in_flight += 1;
        Some((choice, ranges))
    }

    fn rarest_missing(&self, peer: &PeerId) -> Option<usize> {
        let stats = &self.peers[peer];
        self.pieces
            .iter()
            .enumerate()
            .filter(|(_, p)| p.state == State::Missing && Self::peer_has(stats, &p.needed))
            .min_by_key(|(i, p)| {
                let holders = self
                    .peers
                    .values()
                    .filter(|s| !s.banned && Self::peer_has(s, &p.needed))
                    .count();
                (holders, *i)
            })
            .map(|(i, _)| i)
    }

    /// End game: an in-flight piece this peer could also fetch, held by the
    /// slowest requesters, duplicated at most once.
    fn end_game_piece(&self, peer: &PeerId) -> Option<usize> {
        let stats = &self.peers[peer];
        self.pieces
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match &p.state {
                State::InFlight(peers)
                    if peers.len() < 2
                        && !peers.contains(peer)
                        && Self::peer_has(stats, &p.needed) =>
                {
                    let fastest = peers.iter().map(|q| self.peers[q].rate).fold(0.0, f64::max);
                    (fastest < stats.rate || stats.rate == 0.0 && fastest == 0.0)
                        .then_some((i, fastest))
                }
                _ => None,
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }

    fn release(&mut self, peer: &PeerId, piece: usize) {
        if let Some(s) = self.peers.get_mut(peer) {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
        let p = &mut self.pieces[piece];
        if let State::InFlight(peers) = &mut p.state {
            peers.retain(|q| q != peer);
            if peers.is_empty() {
                p.state = State::Missing;
            }
        }
    }

    /// `peer` answered piece `piece` with `bytes` verified bytes in `elapsed`;
    /// `present` is everything now stored.
    pub fn on_success(
        &mut self,
        peer: PeerId,
        piece: usize,
        bytes: u64,
        elapsed: Duration,
        present: &ChunkRanges,
    ) {
        self.release(&peer, piece);
        if let Some(s) = self.peers.get_mut(&peer) {
            s.bytes += bytes;
            let sample = bytes as f64 / elapsed.as_secs_f64().max(1e-6);
            s.rate = if s.rate == 0.0 {
                sample
            } else {
                0.7 * s.rate + 0.3 * sample
            };
            s.failures = 0;
            s.window = (s.window + 1).min(MAX_WINDOW);
        }
        self.mark_present(present);
    }

    /// A request failed; `present` is everything now stored (a lying peer's
    /// response may have carried some valid groups before the bad one).
    pub fn on_failure(
        &mut self,
        peer: PeerId,
        piece: usize,
        failure: Failure,
        present: &ChunkRanges,
    ) {
        self.release(&peer, piece);
        if let Some(s) = self.peers.get_mut(&peer) {
            match failure {
                Failure::Lied => s.banned = true,
                Failure::Transient => {
                    s.failures += 1;
                    s.window = (s.window / 2).max(1);
                    s.banned |= s.failures >= MAX_FAILURES;
                }
                Failure::Missing => {
                    let needed = &self.pieces[piece].needed;
                    let have = s
                        .have
                        .take()
                        .unwrap_or_else(|| ChunkRanges::from(ChunkNum(0)..));
                    s.have = Some(have.difference(needed));
                }
            }
        }
        self.mark_present(present);
    }

    /// A peer left: give its pieces back.
    pub fn remove_peer(&mut self, peer: &PeerId) {
        for i in 0..self.pieces.len() {
            if matches!(&self.pieces[i].state, State::InFlight(p) if p.contains(peer)) {
                self.release(peer, i);
            }
        }
        if let Some(s) = self.peers.get_mut(peer) {
            s.banned = true;
        }
    }

    fn mark_present(&mut self, present: &ChunkRanges) {
        for p in &mut self.pieces {
            if p.state != State::Done {
                p.needed = p.needed.difference(present);
                if p.needed.is_empty() {
                    p.state = State::Done;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn all_of(size: u64) -> ChunkRanges {
        ChunkRanges::from(..ChunkNum::chunks(size))
    }

    #[test]
    fn present_ranges_are_never_requested_again() {
        let size = 3 * MIB + 5;
        let present = group_ranges(0, 64) | group_ranges(100, 120);
        let mut plan = Planner::new(size, &present);
        let peer = PeerId::random();
        plan.add_peer(peer, None);
        plan.peers.get_mut(&peer).unwrap().window = 100;
        let mut asked = ChunkRanges::empty();
        while let Some((_, r)) = plan.next_request(peer) {
            assert!((r.clone() & present.clone()).is_empty());
            asked |= r;
        }
        assert_eq!(asked | present, all_of(size));
    }

    #[test]
    fn a_liar_is_banned_and_its_piece_goes_to_an_honest_peer() {
        let mut plan = Planner::new(2 * MIB, &ChunkRanges::empty());
        let (liar, honest) = (PeerId::random(), PeerId::random());
        plan.add_peer(liar, None);
        let (piece, _) = plan.next_request(liar).unwrap();
        plan.on_failure(liar, piece, Failure::Lied, &ChunkRanges::empty());
        assert!(plan.next_request(liar).is_none());
        plan.add_peer(honest, None);
        let mut present = ChunkRanges::empty();
        while let Some((p, r)) = plan.next_request(honest) {
            present |= r;
            plan.on_success(honest, p, MIB, Duration::from_millis(10), &present);
        }
        assert!(plan.is_done());
        assert_eq!(plan.usable_peers(), vec![honest]);
    }

    #[test]
    fn window_limits_requests_in_flight_and_grows_on_success() {
        let mut plan = Planner::new(20 * MIB, &ChunkRanges::empty());
        let peer = PeerId::random();
        plan.add_peer(peer, None);
        let a = plan.next_request(peer).unwrap();
        let _b = plan.next_request(peer).unwrap();
        assert!(plan.next_request(peer).is_none(), "window of 2");
        plan.on_success(peer, a.0, MIB, Duration::from_millis(5), &a.1);
        assert_eq!(plan.peers()[&peer].window, 3);
        assert!(plan.next_request(peer).is_some());
    }

    #[test]
    fn departed_peer_pieces_are_reassigned() {
        let mut plan = Planner::new(MIB, &ChunkRanges::empty());
        let (gone, other) = (PeerId::random(), PeerId::random());
        plan.add_peer(gone, None);
        plan.add_peer(other, None);
        let (piece, _) = plan.next_request(gone).unwrap();
        plan.remove_peer(&gone);
        let (again, _) = plan.next_request(other).unwrap();
        assert_eq!(piece, again);
    }

    #[test]
    fn partial_peers_get_only_pieces_they_have_and_rarest_goes_first() {
        let size = 4 * MIB;
        let mut plan = Planner::new(size, &ChunkRanges::empty());
        let (full, half) = (PeerId::random(), PeerId::random());
        plan.add_peer(full, None);
        plan.add_peer(half, Some(group_ranges(0, 128)));
        // Pieces 2 and 3 only `full` has: rarest, so it takes those first.
        let (p, _) = plan.next_request(full).unwrap();
        assert!(p >= 2, "rarest first, got {p}");
        let (q, _) = plan.next_request(half).unwrap();
        assert!(q < 2);
    }

    #[test]
    fn end_game_duplicates_a_slow_peers_last_piece() {
        let mut plan = Planner::new(2 * MIB, &ChunkRanges::empty());
        let (slow, fast) = (PeerId::random(), PeerId::random());
        plan.add_peer(slow, None);
        plan.add_peer(fast, None);
        let (p0, r0) = plan.next_request(fast).unwrap();
        plan.on_success(fast, p0, MIB, Duration::from_millis(1), &r0);
        let (p1, _) = plan.next_request(slow).unwrap();
        assert_ne!(p0, p1);
        // Nothing missing is left: the fast peer duplicates the slow one's piece.
        let (dup, _) = plan.next_request(fast).unwrap();
        assert_eq!(dup, p1);
        let present = all_of(2 * MIB);
        plan.on_success(fast, dup, MIB, Duration::from_millis(1), &present);
        assert!(plan.is_done());
        assert!(plan.is_piece_done(p1));
    }
}
