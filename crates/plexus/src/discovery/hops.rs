//! Hop counts of this node's own DHT lookups: libp2p's Kademlia reports
//! how many requests a query sent, not how far it had to go, so a
//! [`HopTracer`] records, per traced query, which peer's answer introduced
//! each peer the query heard of. No I/O; the discovery behaviour feeds it.
//!
//! **Definition.** A peer in this node's routing table when the query
//! starts is at depth 1 (one request reaches it); a peer first named in the
//! answer of a depth-`d` peer is at depth `d + 1` (the smallest such depth
//! when several name it). A lookup's *hops* is the depth of the shallowest
//! peer whose answer carried the result: the target's address for a peer
//! lookup, a provider record for a provider lookup. A peer lookup whose
//! target is already in the routing table, or a provider lookup that finds
//! a record in this node's own store, needs no hop (0). A lookup that
//! never got its result has no hop count.
//!
//! libp2p-kad keeps its handler events (the answers) in a private type, so
//! [`parse_response`] reads them from their `Debug` text; a libp2p upgrade
//! that changes that text makes every traced lookup report no hops, which
//! the simulation counts and its CI test fails on, rather than wrong hops.

use std::collections::HashMap;

use libp2p::{kad, PeerId};

/// What a traced lookup is looking for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Goal {
    /// The address of this peer.
    Peer(PeerId),
    /// Any provider record of the key.
    Providers,
}

/// One traced query.
#[derive(Debug)]
struct Trace {
    goal: Goal,
    /// Depth of every peer the query knows of.
    depth: HashMap<PeerId, u32>,
    /// Hops to the result so far.
    hops: Option<u32>,
}

/// The hop records of the traced queries under way.
#[derive(Debug, Default)]
pub(crate) struct HopTracer {
    traces: HashMap<kad::QueryId, Trace>,
}

/// One Kademlia answer, as read from the handler event.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Response {
    /// The query it answers.
    pub(crate) query: kad::QueryId,
    /// Peers it named as closer to the key.
    pub(crate) closer: Vec<PeerId>,
    /// Providers it named.
    pub(crate) providers: Vec<PeerId>,
}

impl HopTracer {
    /// Whether any query is traced (only then are answers worth reading).
    pub(crate) fn is_active(&self) -> bool {
        !self.traces.is_empty()
    }

    /// The traced query whose `Debug` text is `text` (`QueryId(n)`).
    pub(crate) fn query_named(&self, text: &str) -> Option<kad::QueryId> {
        self.traces
            .keys()
            .copied()
            .find(|id| format!("{id:?}") == text)
    }

    /// Starts tracing `query`, with `table` the peers in the routing table.
    pub(crate) fn start(
        &mut self,
        query: kad::QueryId,
        goal: Goal,
        table: impl IntoIterator<Item = PeerId>,
    ) {
        let depth: HashMap<PeerId, u32> = table.into_iter().map(|p| (p, 1)).collect();
        let hops = match goal {
            Goal::Peer(target) if depth.contains_key(&target) => Some(0),
            _ => None,
        };
        self.traces.insert(query, Trace { goal, depth, hops });
    }

    /// `from` answered with `response`.
    pub(crate) fn on_response(&mut self, from: PeerId, response: Response) {
        let Some(trace) = self.traces.get_mut(&response.query) else {
            return;
        };
        // Not introduced by anyone in this query: libp2p asked it because
        // it was in the routing table (depth 1).
        let depth = *trace.depth.entry(from).or_insert(1);
        for peer in &response.closer {
            let d = trace.depth.entry(*peer).or_insert(depth + 1);
            *d = (*d).min(depth + 1);
        }
        let answered = match trace.goal {
            Goal::Peer(target) => response.closer.contains(&target),
            Goal::Providers => !response.providers.is_empty(),
        };
        if answered {
            trace.hops = Some(trace.hops.map_or(depth, |h| h.min(depth)));
        }
    }

    /// `query` found its result in this node's own store: no hop.
    pub(crate) fn found_locally(&mut self, query: &kad::QueryId) {
        if let Some(trace) = self.traces.get_mut(query) {
            trace.hops = Some(0);
        }
    }

    /// Ends `query`'s trace: its hops (see the module documentation).
    pub(crate) fn finish(&mut self, query: &kad::QueryId) -> Option<u32> {
        self.traces.remove(query)?.hops
    }
}

/// Reads a Kademlia answer (`FindNodeRes` or `GetProvidersRes`) from the
/// `Debug` text of a libp2p-kad handler event; `query_id` maps libp2p's
/// `QueryId(n)` text back to the id (whose fields are private). `None` for
/// every other event.
pub(crate) fn parse_response(
    text: &str,
    query_id: impl Fn(&str) -> Option<kad::QueryId>,
) -> Option<Response> {
    let (closer_text, providers_text) = if text.starts_with("FindNodeRes ") {
        (text, "")
    } else if text.starts_with("GetProvidersRes ") {
        text.split_once("provider_peers:")?
    } else {
        return None;
    };
    let start = text.rfind("query_id: ")? + "query_id: ".len();
    let query = query_id(text[start..].trim_end_matches([' ', '}']))?;
    Some(Response {
        query,
        closer: peer_ids(closer_text),
        providers: peer_ids(providers_text),
    })
}

/// Every `PeerId("...")` in `text`, in order.
fn peer_ids(text: &str) -> Vec<PeerId> {
    text.split("PeerId(\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect()
}

#[cfg(test)]
#[path = "hops_tests.rs"]
mod tests;
