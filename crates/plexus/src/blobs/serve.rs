//! Who may be served how much: the rules for one inbound request, without
//! I/O. The behaviour reads the store for what is admitted.

use std::collections::HashMap;

use libp2p::PeerId;

use super::protocol::{Request, Response, MAX_REQUEST_BYTES};
use crate::content::{range_bytes, ChunkRanges, Hash};

/// Requests one peer may have being served at once; more get `Busy`.
pub(crate) const MAX_SERVING_PER_PEER: usize = 16;

/// What to do with one inbound request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Answer at once with this.
    Answer(Response),
    /// Look up what the store has of `hash` (counts as a serving slot).
    Have(Hash),
    /// Encode these ranges from the store (counts as a serving slot).
    Encode { hash: Hash, ranges: ChunkRanges },
}

/// Serving slots per peer.
#[derive(Debug, Default)]
pub(crate) struct Serving {
    per_peer: HashMap<PeerId, usize>,
}

impl Serving {
    /// Decides what to do with `request` from `peer`. Sizes are computed
    /// with saturating arithmetic (see [`range_bytes`]), so a request whose
    /// byte count overflows is refused, never wrapped.
    pub(crate) fn handle_request(&mut self, peer: PeerId, request: Request) -> Admission {
        if let Request::Get { ranges, .. } = &request {
            if range_bytes(ranges, u64::MAX) > MAX_REQUEST_BYTES {
                return Admission::Answer(Response::Refused(format!(
                    "ask for at most {MAX_REQUEST_BYTES} bytes at once"
                )));
            }
        }
        let serving = self.per_peer.entry(peer).or_default();
        if *serving >= MAX_SERVING_PER_PEER {
            return Admission::Answer(Response::Busy);
        }
        *serving += 1;
        match request {
            Request::Have(hash) => Admission::Have(hash),
            Request::Get { hash, ranges } => Admission::Encode { hash, ranges },
        }
    }

    /// A slot of `peer`'s was answered.
    pub(crate) fn handle_served(&mut self, peer: PeerId) {
        if let Some(n) = self.per_peer.get_mut(&peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_peer.remove(&peer);
            }
        }
    }

    /// Peers with requests being served.
    #[cfg(test)]
    fn busy_peers(&self) -> usize {
        self.per_peer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::ChunkNum;

    fn get(ranges: ChunkRanges) -> Request {
        Request::Get {
            hash: Hash([1; 32]),
            ranges,
        }
    }

    #[test]
    fn oversized_and_overflowing_requests_are_refused() {
        let mut serving = Serving::default();
        let peer = PeerId::random();
        for ranges in [
            ChunkRanges::from(ChunkNum(0)..ChunkNum(4097)),
            ChunkRanges::from(ChunkNum(0)..ChunkNum(1 << 54)),
            ChunkRanges::from(ChunkNum(0)..),
        ] {
            assert!(matches!(
                serving.handle_request(peer, get(ranges)),
                Admission::Answer(Response::Refused(_))
            ));
        }
        let ok = ChunkRanges::from(ChunkNum(0)..ChunkNum(4096));
        assert!(matches!(
            serving.handle_request(peer, get(ok)),
            Admission::Encode { .. }
        ));
    }

    #[test]
    fn each_peer_has_its_slots_and_gets_them_back() {
        let mut serving = Serving::default();
        let (a, b) = (PeerId::random(), PeerId::random());
        for _ in 0..MAX_SERVING_PER_PEER {
            assert_eq!(
                serving.handle_request(a, Request::Have(Hash([0; 32]))),
                Admission::Have(Hash([0; 32]))
            );
        }
        assert_eq!(
            serving.handle_request(a, Request::Have(Hash([0; 32]))),
            Admission::Answer(Response::Busy)
        );
        assert_eq!(
            serving.handle_request(b, Request::Have(Hash([0; 32]))),
            Admission::Have(Hash([0; 32])),
            "b is not held back by a"
        );
        for _ in 0..MAX_SERVING_PER_PEER {
            serving.handle_served(a);
        }
        serving.handle_served(b);
        assert_eq!(serving.busy_peers(), 0);
    }
}
