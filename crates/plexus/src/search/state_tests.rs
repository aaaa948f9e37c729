//! Unit tests of [`SearchState`], without a swarm.

use std::time::{Duration, Instant};

use libp2p::{identity::Keypair, Multiaddr, PeerId};
use tokio::sync::mpsc;

use super::{Out, SearchState};
use crate::{
    content::{meta::query_words, Hash, SignedRecord},
    search::{flood::FloodConfig, Hit, SearchAck, SearchMessage, MAX_HITS_PER_MESSAGE},
    Error,
};

fn record(key: &Keypair, name: &str) -> SignedRecord {
    crate::content::meta::test_record(key, name)
}

fn words(s: &str) -> Vec<String> {
    query_words(&[s])
}

fn state(super_peer: bool) -> SearchState {
    SearchState::new(PeerId::random(), FloodConfig::default(), super_peer)
}

fn drain(state: &mut SearchState) -> Vec<Out> {
    std::iter::from_fn(|| state.poll_out()).collect()
}

fn hellos(out: &[Out]) -> Vec<PeerId> {
    out.iter()
        .filter_map(|o| match o {
            Out::Hello(p) => Some(*p),
            Out::Send(..) => None,
        })
        .collect()
}

fn is_ok(ack: &SearchAck) -> bool {
    matches!(ack, SearchAck::Ok { .. })
}

fn refusal(ack: SearchAck) -> String {
    match ack {
        SearchAck::Refused(why) => why,
        SearchAck::Ok { .. } => panic!("accepted"),
    }
}

#[test]
fn wanted_peers_are_greeted_once_connected_or_at_once_when_connected() {
    let mut s = state(false);
    let (a, b) = (PeerId::random(), PeerId::random());
    s.want(a);
    assert!(drain(&mut s).is_empty(), "not connected yet");
    s.handle_connected(a);
    assert_eq!(hellos(&drain(&mut s)), vec![a]);
    s.handle_connected(b);
    assert!(drain(&mut s).is_empty(), "b is not wanted");
    s.want(b);
    assert_eq!(
        hellos(&drain(&mut s)),
        vec![b],
        "b is connected: greeted now"
    );
}

#[test]
fn hellos_make_neighbours_and_disconnects_drop_them() {
    let mut s = state(true);
    let (a, b) = (PeerId::random(), PeerId::random());
    let ack = s.handle_message(
        a,
        SearchMessage::Hello { super_peer: false },
        Instant::now(),
    );
    assert!(matches!(ack, SearchAck::Ok { super_peer: true }));
    s.handle_connected(b);
    s.handle_hello_ack(b, SearchAck::Ok { super_peer: false });
    assert_eq!(s.stats().neighbours, 2);
    s.want(b);
    assert!(drain(&mut s).is_empty(), "already a neighbour");
    s.handle_tick(Instant::now());
    let mut greeted = hellos(&drain(&mut s));
    greeted.sort();
    let mut both = vec![a, b];
    both.sort();
    assert_eq!(greeted, both, "keep-alive hellos to every neighbour");
    s.handle_disconnected(a);
    assert_eq!(s.stats().neighbours, 1);
}

#[test]
fn a_leaf_sends_its_records_to_a_super_peer_that_answers_its_hello() {
    let key = Keypair::generate_ed25519();
    let mut s = SearchState::new(key.public().to_peer_id(), FloodConfig::default(), false);
    let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
    s.set_listen_addrs(vec![addr.clone()]);
    s.set_own_record(record(&key, "alpha.txt"));
    let sp = PeerId::random();
    s.handle_hello_ack(sp, SearchAck::Ok { super_peer: true });
    let out = drain(&mut s);
    let [Out::Send(to, SearchMessage::Index { records, addrs })] = out.as_slice() else {
        panic!("expected one index message, got {out:?}");
    };
    assert_eq!((*to, records.len(), addrs.clone()), (sp, 1, vec![addr]));
    // Changes are sent again; a removed record is gone from the index.
    s.remove_own_record(Hash::of(b"alpha.txt"));
    let out = drain(&mut s);
    assert!(matches!(
        out.as_slice(),
        [Out::Send(_, SearchMessage::Index { records, .. })] if records.is_empty()
    ));
    assert_eq!(s.stats().messages_sent, 0, "index messages are not counted");
}

#[test]
fn a_super_peer_indexes_only_a_leafs_own_signed_records_up_to_1000() {
    let key = Keypair::generate_ed25519();
    let leaf = key.public().to_peer_id();
    let now = Instant::now();
    let index = |records| SearchMessage::Index {
        records,
        addrs: vec![],
    };

    let mut plain = state(false);
    let why = refusal(plain.handle_message(leaf, index(vec![record(&key, "a")]), now));
    assert!(why.contains("not a super-peer"), "{why}");

    let mut s = state(true);
    let too_many = (0..1001).map(|i| record(&key, &format!("f{i}"))).collect();
    let why = refusal(s.handle_message(leaf, index(too_many), now));
    assert!(why.contains("at most 1000"), "{why}");

    let other = Keypair::generate_ed25519();
    let why = refusal(s.handle_message(leaf, index(vec![record(&other, "b")]), now));
    assert!(why.contains("own, validly signed"), "{why}");

    let mut forged = record(&key, "c");
    forged.payload = forged.payload.replace("\"c\"", "\"d\"");
    let why = refusal(s.handle_message(leaf, index(vec![forged]), now));
    assert!(why.contains("own, validly signed"), "{why}");
    assert_eq!(s.stats().indexed_leaves, 0);

    let ok = (0..1000).map(|i| record(&key, &format!("f{i}"))).collect();
    assert!(is_ok(&s.handle_message(leaf, index(ok), now)));
    assert_eq!(s.stats().indexed_leaves, 1);
}

#[test]
fn a_query_is_answered_and_forwarded_once_but_not_to_indexed_leaves() {
    let key = Keypair::generate_ed25519();
    let mut s = SearchState::new(key.public().to_peer_id(), FloodConfig::default(), true);
    s.set_own_record(record(&key, "alpha.txt"));
    let (from, next, leaf) = (PeerId::random(), PeerId::random(), PeerId::random());
    let now = Instant::now();
    for p in [from, next, leaf] {
        s.handle_message(p, SearchMessage::Hello { super_peer: false }, now);
    }
    let leaf_index = SearchMessage::Index {
        records: vec![],
        addrs: vec![],
    };
    assert!(is_ok(&s.handle_message(leaf, leaf_index, now)));
    let query = || SearchMessage::Query {
        id: 7,
        words: words("alpha"),
        ttl: 3,
    };
    assert!(is_ok(&s.handle_message(from, query(), now)));
    let out = drain(&mut s);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(matches!(
        &out[0],
        Out::Send(to, SearchMessage::Hits { id: 7, hits }) if *to == from && hits.len() == 1
    ));
    assert!(matches!(
        &out[1],
        Out::Send(to, SearchMessage::Query { id: 7, ttl: 2, .. }) if *to == next
    ));
    // The copy coming back is dropped.
    assert!(is_ok(&s.handle_message(next, query(), now)));
    assert!(drain(&mut s).is_empty());
    let stats = s.stats();
    assert_eq!((stats.queries_handled, stats.duplicates), (1, 1));
    assert_eq!(stats.messages_sent, 2);
    // Bad word lists are refused.
    let empty = SearchMessage::Query {
        id: 8,
        words: vec![],
        ttl: 3,
    };
    assert!(refusal(s.handle_message(from, empty, now)).contains("search words"));
}

#[test]
fn hits_go_back_along_the_path_or_to_the_local_caller() {
    let me = Keypair::generate_ed25519();
    let holder = Keypair::generate_ed25519();
    let mut s = SearchState::new(me.public().to_peer_id(), FloodConfig::default(), false);
    let (back, nb) = (PeerId::random(), PeerId::random());
    let now = Instant::now();
    s.handle_message(nb, SearchMessage::Hello { super_peer: false }, now);
    let hit = Hit {
        record: record(&holder, "beta.txt"),
        addrs: vec![],
    };

    // A query from `back`: hits for it are routed to `back`.
    let query = SearchMessage::Query {
        id: 1,
        words: words("beta"),
        ttl: 2,
    };
    s.handle_message(back, query, now);
    drain(&mut s);
    let hits = SearchMessage::Hits {
        id: 1,
        hits: vec![hit.clone()],
    };
    assert!(is_ok(&s.handle_message(nb, hits, now)));
    assert!(matches!(
        drain(&mut s).as_slice(),
        [Out::Send(to, SearchMessage::Hits { id: 1, .. })] if *to == back
    ));

    // A local search: hits are verified, de-duplicated and delivered.
    let (tx, mut rx) = mpsc::channel(16);
    s.start(2, words("beta"), 3, tx, now).unwrap();
    assert!(matches!(
        drain(&mut s).as_slice(),
        [Out::Send(to, SearchMessage::Query { id: 2, ttl: 3, .. })] if *to == nb
    ));
    for _ in 0..2 {
        let hits = SearchMessage::Hits {
            id: 2,
            hits: vec![hit.clone()],
        };
        s.handle_message(nb, hits, now);
    }
    let got = rx.try_recv().unwrap();
    assert_eq!(
        (got.meta.name.as_str(), got.source.as_str()),
        ("beta.txt", "flood")
    );
    assert!(rx.try_recv().is_err(), "the duplicate is dropped");
    s.deliver(2, vec![hit.clone()], "directory");
    assert!(
        rx.try_recv().is_err(),
        "same hit from the directory: dropped"
    );

    // Too many hits in one message are refused; unknown queries dropped.
    let many = SearchMessage::Hits {
        id: 2,
        hits: vec![hit.clone(); MAX_HITS_PER_MESSAGE + 1],
    };
    assert!(refusal(s.handle_message(nb, many, now)).contains("hits per message"));
    let stray = SearchMessage::Hits {
        id: 99,
        hits: vec![hit],
    };
    assert!(is_ok(&s.handle_message(nb, stray, now)));
    assert!(drain(&mut s).is_empty());
}

#[test]
fn local_searches_check_words_and_end_when_the_caller_leaves_or_they_expire() {
    let mut s = state(false);
    let (tx, rx) = mpsc::channel(1);
    let now = Instant::now();
    let err = s.start(1, vec![], 3, tx.clone(), now).unwrap_err();
    assert!(matches!(err, Error::BadInput(_)), "{err}");
    s.start(2, words("x"), 3, tx.clone(), now).unwrap();
    s.start(3, words("y"), 3, tx, now).unwrap();
    assert_eq!(s.local.len(), 2);
    drop(rx);
    s.handle_tick(now);
    assert!(s.local.len() == 0, "the caller dropped its receiver");

    let (tx, _rx) = mpsc::channel(1);
    s.start(4, words("z"), 0, tx, now).unwrap();
    assert!(drain(&mut s).is_empty(), "TTL 0 floods to nobody");
    s.handle_tick(now + Duration::from_secs(61));
    assert!(s.local.len() == 0, "expired with its flood entry");
}

#[test]
fn too_many_running_searches_are_refused_however_full_the_remote_table_is() {
    let mut s = SearchState::new(
        PeerId::random(),
        FloodConfig {
            max_open: 1,
            burst: 100,
            ..FloodConfig::default()
        },
        false,
    );
    let (tx, _rx) = mpsc::channel(1);
    let now = Instant::now();
    let peer = PeerId::random();
    for id in 0..5 {
        let query = SearchMessage::Query {
            id: 1000 + id,
            words: words("x"),
            ttl: 3,
        };
        assert!(is_ok(&s.handle_message(peer, query, now)));
    }
    assert_eq!(
        s.stats().evicted,
        4,
        "remote queries make room for each other"
    );
    let mut callers = Vec::new();
    for id in 0..crate::search::MAX_LOCAL_SEARCHES as u64 {
        let (tx, rx) = mpsc::channel(1);
        s.start(id, words("x"), 3, tx, now).unwrap();
        callers.push(rx);
    }
    let err = s.start(999, words("x"), 3, tx.clone(), now).unwrap_err();
    assert!(matches!(err, Error::Busy(_)), "{err}");
    assert!(
        err.to_string().contains("too many searches running"),
        "{err}"
    );
    // A caller that stops listening frees its slot at once.
    drop(callers.pop());
    s.start(999, words("x"), 3, tx.clone(), now).unwrap();
    assert!(s.start(1000, words("x"), 3, tx, now).is_err());
}

#[test]
fn wanted_neighbours_waiting_to_connect_are_capped() {
    let mut s = state(false);
    for _ in 0..super::MAX_WANTED + 10 {
        s.want(PeerId::random());
    }
    assert_eq!(s.want_neighbour.len(), super::MAX_WANTED);
    // A connected peer is still greeted.
    let near = PeerId::random();
    s.handle_connected(near);
    s.want(near);
    assert_eq!(hellos(&drain(&mut s)), vec![near]);
}
