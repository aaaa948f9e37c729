//! Which pieces a provider offers each getter when several fetch the same
//! blob from it at once (a flash crowd): the rules, without I/O.
//!
//! Getters choose pieces themselves, rarest first, but a getter cannot see
//! what the others are fetching from the seeder right now: their pieces are
//! announced only once whole. So two getters often ask the seeder for the
//! same piece, and in a crowd, where the seeder's upload is the scarcest
//! link, every such copy delays everyone (`plexus-testbed crowd`: the seeder
//! uploaded 1.7 copies of the file before the crowd had one).
//!
//! The seeder does see every request. When a getter asks [`Request::Wants`]
//! (what it still wants) while another peer has fetched the same blob from
//! this node lately, the answer names only some of the wanted pieces, as if
//! this node had only those: the ones asked for least so far, in an order of
//! its own for each getter, and none it never sent offered to another getter
//! within [`OFFER_HOLD`]; none sent more often than a wanted piece held for
//! another. A piece it has sent before is not held: at the end of a crowd
//! the last getters want the same few pieces, and each complete node held
//! them for whichever asked first (`plexus-testbed crowd-leave`: in 4 of 7
//! runs the last two getters asked for nothing for some 3 s and finished
//! that much after the others, at 1.46-1.52 x the bound against 1.36-1.37
//! x; not holding them, 7 runs of 7 at 1.36-1.38 x). An offer sticks (the
//! same pieces until they are fetched), so getters fetch different pieces
//! from the seeder and trade the rest among themselves, as BitTorrent's
//! super-seeding does (BEP 16). An offer is sized to what the getter
//! fetched from this node in the last [`RATE_WINDOW`], so a fast getter is
//! not slowed. A getter whose wanted
//! pieces are all held for others is offered nothing and fetches from them,
//! for at most [`STARVED_AFTER`]. Requests are still served for any range
//! this node has; an offer only steers.
//!
//! Answers travel behind the data already queued for the same peer: in the
//! crowd of `plexus-testbed crowd` (20 Mbit/s links, 24 getters) a getter
//! heard the seeder's answer 2 s after asking (median; 7 s at p90), so
//! offers are held for longer than that.
//!
//! [`Request::Wants`]: super::protocol::Request::Wants

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use bao_tree::{ChunkNum, ChunkRanges};
use libp2p::PeerId;

use super::protocol::MAX_CHUNK;
use crate::content::Hash;

/// Chunks (1 KiB) per piece: the download planner's 128 KiB piece
/// (`transfer::planner::PIECE_BYTES`, which asserts it is the same).
pub(crate) const PIECE_CHUNKS: u64 = 128;
/// Another getter fetched the blob within this: offers are made.
pub(crate) const CROWD_WINDOW: Duration = Duration::from_secs(5);
/// An offer holds what its getter fetched from this node in this long,
/// twice over: its requests for about two polls' time.
pub(crate) const RATE_WINDOW: Duration = Duration::from_secs(2);
/// Fewest pieces in an offer (256 KiB): what a getter with a small share
/// of this node's upload keeps in flight. Every getter's offer is held for
/// it alone, so together they must stay small next to the pieces left.
pub(crate) const MIN_OFFER: usize = 2;
/// Most pieces in an offer (128 MiB).
pub(crate) const MAX_OFFER: usize = 1024;
/// A piece offered to one getter stays its offer for this long (renewed by
/// each offer): it ranks first for that getter and, if this node never sent
/// it, is not offered to the others (unless starved). Longer than a loaded
/// link takes to carry an answer and the request that follows it (see the
/// module docs).
pub(crate) const OFFER_HOLD: Duration = Duration::from_secs(5);
/// A getter offered nothing for this long (all it wants is offered to
/// others, who are slow to fetch it or gone) is offered those pieces too.
pub(crate) const STARVED_AFTER: Duration = Duration::from_secs(5);
/// Pieces of the wanted ranges looked at for one offer.
const MAX_SCAN: u64 = 1 << 14;
/// Blobs followed at once; the least recently fetched is forgotten.
const MAX_BLOBS: usize = 64;
/// Getters followed per blob; the least recent is forgotten.
const MAX_GETTERS: usize = 1024;
/// Requests remembered per getter for its rate.
const MAX_RECENT: usize = 256;

/// One getter of one blob.
#[derive(Debug)]
struct Getter {
    /// Its recent requests: when, and how many pieces.
    recent: VecDeque<(Instant, u32)>,
    /// When it was first seen, and last offered something.
    seen: Instant,
    offered: Option<Instant>,
}

impl Getter {
    fn new(now: Instant) -> Self {
        Self {
            recent: VecDeque::new(),
            seen: now,
            offered: None,
        }
    }

    /// Its last request for data.
    fn fetched(&self) -> Option<Instant> {
        self.recent.back().map(|r| r.0)
    }

    fn last(&self) -> Instant {
        self.fetched()
            .into_iter()
            .chain(self.offered)
            .fold(self.seen, Instant::max)
    }

    fn pieces_since(&self, since: Instant) -> usize {
        self.recent
            .iter()
            .filter(|r| r.0 >= since)
            .map(|r| r.1 as usize)
            .sum()
    }
}

impl Crowd {
    /// `peer`'s entry, made if new (forgetting the least recent getter
    /// when full).
    fn getter(&mut self, peer: PeerId, now: Instant) -> &mut Getter {
        if !self.getters.contains_key(&peer) && self.getters.len() >= MAX_GETTERS {
            let oldest = self
                .getters
                .iter()
                .min_by_key(|(_, g)| g.last())
                .map(|(p, _)| *p);
            if let Some(p) = oldest {
                self.getters.remove(&p);
            }
        }
        self.getters.entry(peer).or_insert_with(|| Getter::new(now))
    }
}

/// What this node knows of one blob's getters.
#[derive(Debug, Default)]
struct Crowd {
    /// Times each piece was asked for (pieces never asked are absent).
    asked: HashMap<u64, u32>,
    /// When each piece was last offered, and to whom.
    offered: HashMap<u64, (PeerId, Instant)>,
    getters: HashMap<PeerId, Getter>,
    last: Option<Instant>,
}

/// The offers of this node as a provider, per blob.
#[derive(Debug, Default)]
pub(crate) struct Seeding {
    blobs: HashMap<Hash, Crowd>,
}

impl Seeding {
    /// `peer` was admitted a request for `ranges` of `hash` at `now`.
    pub(crate) fn handle_get(
        &mut self,
        peer: PeerId,
        hash: Hash,
        ranges: &ChunkRanges,
        now: Instant,
    ) {
        if !self.blobs.contains_key(&hash) && self.blobs.len() >= MAX_BLOBS {
            let oldest = self
                .blobs
                .iter()
                .min_by_key(|(_, c)| c.last)
                .map(|(h, _)| *h);
            if let Some(h) = oldest {
                self.blobs.remove(&h);
            }
        }
        let crowd = self.blobs.entry(hash).or_default();
        crowd.last = Some(now);
        let mut pieces = 0u32;
        for piece in mostly_covered(ranges) {
            let asked = crowd.asked.entry(piece).or_default();
            *asked += 1;
            pieces = pieces.saturating_add(1);
            let offered = crowd.offered.get(&piece).map(|(p, _)| *p == peer);
            tracing::debug!(%peer, %hash, piece, asked = *asked, ?offered, "piece sent");
        }
        let getter = crowd.getter(peer, now);
        if getter.recent.len() >= MAX_RECENT {
            getter.recent.pop_front();
        }
        getter.recent.push_back((now, pieces));
    }

    /// `peer` has no connection left to this node: it fetches nothing
    /// more here, so it no longer makes a crowd, and what was offered to
    /// it is free for the others at once (not after [`OFFER_HOLD`]). Left
    /// held, a getter that just finished and went kept the next getter of
    /// the blob to a trickle of offers for 5 s (`plexus bench`: a lone get
    /// from a provider the bench's previous getters had just left took
    /// 5.04 s at 256 MiB and at 512 MiB; 1.47 s at 512 MiB once freed).
    pub(crate) fn handle_gone(&mut self, peer: PeerId) {
        for crowd in self.blobs.values_mut() {
            crowd.getters.remove(&peer);
            crowd.offered.retain(|_, (p, _)| *p != peer);
        }
    }

    /// What to offer `peer`, which wants `wanted` of `hash`: `None` (offer
    /// everything) unless another peer fetched `hash` from this node within
    /// [`CROWD_WINDOW`]; otherwise whole pieces, each overlapping `wanted`
    /// and none offered to another getter lately. That may be nothing for
    /// a while (the others bring those pieces), but not for longer than
    /// [`STARVED_AFTER`]: then it is offered pieces held for others too.
    pub(crate) fn offer(
        &mut self,
        peer: PeerId,
        hash: Hash,
        wanted: &ChunkRanges,
        now: Instant,
    ) -> Option<ChunkRanges> {
        let crowd = self.blobs.get_mut(&hash)?;
        let lately = now.checked_sub(CROWD_WINDOW);
        crowd
            .getters
            .retain(|_, g| lately.is_none_or(|t| g.last() >= t));
        let others_fetch = crowd
            .getters
            .iter()
            .any(|(p, g)| *p != peer && g.fetched().is_some_and(|f| lately.is_none_or(|t| f >= t)));
        if !others_fetch {
            return None;
        }
        let getter = crowd.getter(peer, now);
        let since = now.checked_sub(RATE_WINDOW).unwrap_or(now);
        let size = (2 * getter.pieces_since(since)).clamp(MIN_OFFER, MAX_OFFER);
        let starved =
            now.saturating_duration_since(getter.offered.unwrap_or(getter.seen)) >= STARVED_AFTER;
        let seed = peer_seed(&peer);
        let hold = now.checked_sub(OFFER_HOLD);
        // The `size` best pieces by (times asked, whose offer it is lately:
        // this getter's, nobody's, another's; this getter's order), kept
        // sorted. Offers stick: a getter is offered the same pieces until
        // it fetches them, and the others are offered different ones.
        let mut best: Vec<((u32, u8, u64), u64)> = Vec::with_capacity(size + 1);
        let mut least = u32::MAX;
        for piece in pieces_of(wanted).take(MAX_SCAN as usize) {
            let asked = crowd.asked.get(&piece).copied().unwrap_or(0);
            least = least.min(asked);
            let whose = match crowd.offered.get(&piece) {
                Some((_, t)) if hold.is_some_and(|h| *t < h) => 1,
                Some((p, _)) if *p == peer => 0,
                // Held for another: only a piece never sent (see the
                // module docs).
                Some(_) if !starved && asked == 0 => continue,
                Some(_) => 2,
                None => 1,
            };
            let key = (asked, whose, mix(seed ^ piece));
            if best.len() == size && key >= best[size - 1].0 {
                continue;
            }
            let at = best.partition_point(|(k, _)| *k < key);
            best.insert(at, (key, piece));
            best.truncate(size);
        }
        // Only pieces sent least: while some wanted piece was sent fewer
        // times (held for another getter), a piece sent more waits.
        if !starved {
            best.retain(|((asked, _, _), _)| *asked == least);
        }
        if !best.is_empty() {
            crowd.getter(peer, now).offered = Some(now);
        }
        if crowd.offered.len() > 4 * MAX_OFFER {
            crowd
                .offered
                .retain(|_, (_, t)| hold.is_none_or(|h| *t >= h));
            if crowd.offered.len() > 8 * MAX_OFFER {
                crowd.offered.clear();
            }
        }
        let mut offer = ChunkRanges::empty();
        for (_, piece) in best {
            crowd.offered.insert(piece, (peer, now));
            offer |= ChunkRanges::from(
                ChunkNum(piece * PIECE_CHUNKS)..ChunkNum((piece + 1) * PIECE_CHUNKS),
            );
        }
        tracing::trace!(%peer, %hash, ?offer, "offer");
        Some(offer)
    }
}

/// The pieces at least half of which `ranges` cover, in order: a piece
/// sent, not a size proof (the last chunk group) or a leftover group.
fn mostly_covered(ranges: &ChunkRanges) -> Vec<u64> {
    let b = ranges.boundaries();
    let mut covered: Vec<(u64, u64)> = Vec::new();
    for i in 0..b.len().div_ceil(2) {
        let (mut start, end) = (b[2 * i].0, b.get(2 * i + 1).map_or(MAX_CHUNK, |c| c.0));
        // A request asks for at most 4 MiB; an open or huge range is
        // someone else's error, counted for its first pieces only.
        let end = end.min(start.saturating_add(64 * PIECE_CHUNKS));
        while start < end {
            let piece = start / PIECE_CHUNKS;
            let upto = ((piece + 1) * PIECE_CHUNKS).min(end);
            match covered.last_mut() {
                Some((p, n)) if *p == piece => *n += upto - start,
                _ => covered.push((piece, upto - start)),
            }
            start = upto;
        }
    }
    covered
        .into_iter()
        .filter(|(_, n)| 2 * n >= PIECE_CHUNKS)
        .map(|(p, _)| p)
        .collect()
}

/// The pieces `ranges` overlap, in order (each once); an open end runs
/// to the largest chunk a blob may have.
fn pieces_of(ranges: &ChunkRanges) -> impl Iterator<Item = u64> + '_ {
    let b = ranges.boundaries();
    let mut last: Option<u64> = None;
    (0..b.len().div_ceil(2))
        .filter_map(move |i| {
            let start = b[2 * i].0.min(MAX_CHUNK);
            let end = b.get(2 * i + 1).map_or(MAX_CHUNK, |c| c.0.min(MAX_CHUNK));
            (end > start).then(|| (start / PIECE_CHUNKS)..=((end - 1) / PIECE_CHUNKS))
        })
        .flatten()
        .filter(move |p| {
            let new = last != Some(*p);
            last = Some(*p);
            new
        })
}

/// A number of the peer's own, ordering pieces differently per getter.
fn peer_seed(peer: &PeerId) -> u64 {
    let bytes = peer.to_bytes();
    let tail = &bytes[bytes.len().saturating_sub(8)..];
    let mut b = [0u8; 8];
    b[..tail.len()].copy_from_slice(tail);
    u64::from_le_bytes(b)
}

/// splitmix64's step: a cheap, well-spread order (also the planner's
/// tie-break between equally rare pieces).
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
#[path = "seeding_tests.rs"]
mod tests;
