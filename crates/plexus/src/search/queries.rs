//! The searches started on this node: each feeds verified, de-duplicated
//! hits to its caller's channel until the caller drops the receiver.

use std::collections::{HashMap, HashSet};

use libp2p::PeerId;
use tokio::sync::mpsc;

use super::{Hit, SearchHit, MAX_HITS_PER_QUERY};
use crate::content::Hash;

/// A search started by this node, fed until its caller drops the receiver.
struct LocalQuery {
    tx: mpsc::Sender<SearchHit>,
    seen: HashSet<(Hash, PeerId)>,
}

/// The open local searches of node `me`, by query id.
pub(crate) struct Queries {
    me: PeerId,
    open: HashMap<u64, LocalQuery>,
}

impl Queries {
    /// No searches yet.
    pub(crate) fn new(me: PeerId) -> Self {
        Self {
            me,
            open: HashMap::new(),
        }
    }

    /// Opens search `id`, whose hits go to `tx`.
    pub(crate) fn open(&mut self, id: u64, tx: mpsc::Sender<SearchHit>) {
        let seen = HashSet::new();
        self.open.insert(id, LocalQuery { tx, seen });
    }

    /// Feeds verified, new hits to search `id` (from `source`: "flood" or
    /// "directory"); hits for an unknown or ended search, hits whose
    /// signature fails, this node's own records and hits beyond
    /// [`MAX_HITS_PER_QUERY`] distinct ones (from all sources together)
    /// are dropped.
    pub(crate) fn deliver(&mut self, id: u64, hits: Vec<Hit>, source: &str) {
        let Some(query) = self.open.get_mut(&id) else {
            return;
        };
        for hit in hits {
            if query.seen.len() >= MAX_HITS_PER_QUERY {
                tracing::debug!(id, "search has its most hits; the rest are dropped");
                return;
            }
            let Some(hit) = SearchHit::from_hit(hit, source) else {
                tracing::debug!("dropped a search hit with a bad signature");
                continue;
            };
            if hit.holder == self.me || !query.seen.insert((hit.meta.hash, hit.holder)) {
                continue;
            }
            let _ = query.tx.try_send(hit);
        }
    }

    /// Closes the searches whose callers stopped listening and those
    /// `still_routed` says are over; answers the ids of the former.
    pub(crate) fn close_ended(&mut self, still_routed: impl Fn(u64) -> bool) -> Vec<u64> {
        let mut stopped = Vec::new();
        self.open.retain(|id, q| {
            if q.tx.is_closed() {
                stopped.push(*id);
                false
            } else {
                still_routed(*id)
            }
        });
        stopped
    }

    /// How many searches are open.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.open.len()
    }
}
