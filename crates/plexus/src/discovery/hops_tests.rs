use libp2p::{kad, Multiaddr, PeerId};

use super::*;

/// A real `QueryId` (its field is private): one from a Kademlia behaviour.
fn query_ids(n: usize) -> Vec<kad::QueryId> {
    let me = PeerId::random();
    let mut kad = crate::discovery::kademlia(me);
    (0..n).map(|_| kad.get_closest_peers(me)).collect()
}

fn lookup(ids: &[kad::QueryId]) -> impl Fn(&str) -> Option<kad::QueryId> + '_ {
    |text| ids.iter().copied().find(|id| format!("{id:?}") == text)
}

fn kad_peer(peer: PeerId) -> kad::KadPeer {
    let addr: Multiaddr = "/memory/7".parse().unwrap();
    kad::KadPeer {
        node_id: peer,
        multiaddrs: vec![addr],
        connection_ty: kad::ConnectionType::Connected,
    }
}

#[test]
fn answers_are_read_from_the_debug_text() {
    let ids = query_ids(3);
    let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
    // The shapes of libp2p-kad's handler events (`HandlerEvent`).
    let find = format!(
        "FindNodeRes {{ closer_peers: {:?}, query_id: {:?} }}",
        vec![kad_peer(a), kad_peer(b)],
        ids[2]
    );
    let got = parse_response(&find, lookup(&ids)).unwrap();
    assert_eq!(got.query, ids[2]);
    assert_eq!((got.closer, got.providers), (vec![a, b], vec![]));
    let providers = format!(
        "GetProvidersRes {{ closer_peers: {:?}, provider_peers: {:?}, query_id: {:?} }}",
        vec![kad_peer(a)],
        vec![kad_peer(c)],
        ids[1]
    );
    let got = parse_response(&providers, lookup(&ids)).unwrap();
    assert_eq!(got.query, ids[1]);
    assert_eq!((got.closer, got.providers), (vec![a], vec![c]));
    assert_eq!(
        parse_response("FindNodeReq { key: [1], request_id: 3 }", lookup(&ids)),
        None
    );
    // An answer to a query nobody traces.
    let other = format!("FindNodeRes {{ closer_peers: [], query_id: {:?} }}", ids[0]);
    assert_eq!(parse_response(&other, lookup(&ids[1..])), None);
}

#[test]
fn hops_follow_the_chain_of_introductions() {
    let ids = query_ids(1);
    let q = ids[0];
    let (t1, t2, d2, d3, target) = (
        PeerId::random(),
        PeerId::random(),
        PeerId::random(),
        PeerId::random(),
        PeerId::random(),
    );
    let mut tracer = HopTracer::default();
    tracer.start(q, Goal::Peer(target), [t1, t2]);
    assert!(tracer.is_active());
    let answer = |closer: Vec<PeerId>| Response {
        query: q,
        closer,
        providers: vec![],
    };
    // t1 (depth 1) names d2; d2 (depth 2) names d3; d3 (depth 3) names the
    // target: 3 hops, unless a shallower peer names it too.
    tracer.on_response(t1, answer(vec![d2]));
    tracer.on_response(d2, answer(vec![d3, t2]));
    tracer.on_response(d3, answer(vec![target]));
    assert_eq!(tracer.traces[&q].hops, Some(3));
    // t2 stays at depth 1 though d2 named it: it was in the table.
    tracer.on_response(t2, answer(vec![target]));
    assert_eq!(tracer.finish(&q), Some(1));
    assert!(!tracer.is_active());
    assert_eq!(tracer.finish(&q), None);
}

#[test]
fn a_target_in_the_table_needs_no_hop_and_a_miss_has_none() {
    let ids = query_ids(2);
    let target = PeerId::random();
    let mut tracer = HopTracer::default();
    tracer.start(ids[0], Goal::Peer(target), [target]);
    assert_eq!(tracer.finish(&ids[0]), Some(0));
    tracer.start(ids[1], Goal::Providers, [PeerId::random()]);
    let nothing = Response {
        query: ids[1],
        closer: vec![PeerId::random()],
        providers: vec![],
    };
    tracer.on_response(PeerId::random(), nothing);
    assert_eq!(tracer.finish(&ids[1]), None);
}

#[test]
fn providers_count_at_the_depth_of_the_record_holder() {
    let ids = query_ids(1);
    let (t1, holder, provider) = (PeerId::random(), PeerId::random(), PeerId::random());
    let mut tracer = HopTracer::default();
    tracer.start(ids[0], Goal::Providers, [t1]);
    tracer.on_response(
        t1,
        Response {
            query: ids[0],
            closer: vec![holder],
            providers: vec![],
        },
    );
    tracer.on_response(
        holder,
        Response {
            query: ids[0],
            closer: vec![],
            providers: vec![provider],
        },
    );
    assert_eq!(tracer.finish(&ids[0]), Some(2));
}

#[test]
fn a_provider_record_in_the_own_store_needs_no_hop() {
    let ids = query_ids(1);
    let mut tracer = HopTracer::default();
    tracer.start(ids[0], Goal::Providers, [PeerId::random()]);
    tracer.found_locally(&ids[0]);
    assert_eq!(tracer.finish(&ids[0]), Some(0));
}
