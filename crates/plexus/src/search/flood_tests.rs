//! Unit tests of [`Flood`], without a swarm.

use super::*;

fn peers(n: usize) -> Vec<PeerId> {
    (0..n).map(|_| PeerId::random()).collect()
}

#[test]
fn forwards_once_with_ttl_minus_one_and_not_back() {
    let p = peers(3);
    let mut f = Flood::new(FloodConfig::default());
    let now = Instant::now();
    assert_eq!(
        f.on_query(p[0], 7, 3, &p, now),
        Decision::Handle {
            forward: vec![p[1], p[2]],
            ttl: 2
        }
    );
    assert_eq!(f.on_query(p[1], 7, 2, &p, now), Decision::Duplicate);
    assert_eq!(f.route(7), Some(Origin::Peer(p[0])), "hits go back to p0");
    assert_eq!(f.route(8), None);
}

#[test]
fn last_hop_answers_without_forwarding_and_ttl_is_clamped() {
    let p = peers(2);
    let mut f = Flood::new(FloodConfig::default());
    let now = Instant::now();
    assert_eq!(
        f.on_query(p[0], 1, 1, &p, now),
        Decision::Handle {
            forward: vec![],
            ttl: 0
        }
    );
    assert_eq!(
        f.on_query(p[0], 2, 200, &p, now),
        Decision::Handle {
            forward: vec![p[1]],
            ttl: MAX_TTL - 1
        }
    );
    assert_eq!(f.start(3, 99, &p, now), Some((p.clone(), MAX_TTL)));
    assert_eq!(
        f.start(4, 0, &p, now),
        Some((vec![], 0)),
        "TTL 0: no flooding"
    );
    assert_eq!(f.route(3), Some(Origin::Local));
}

#[test]
fn hits_per_query_are_capped() {
    let p = peers(1);
    let mut f = Flood::new(FloodConfig::default());
    let now = Instant::now();
    assert!(matches!(
        f.on_query(p[0], 5, 3, &p, now),
        Decision::Handle { .. }
    ));
    assert_eq!(
        f.route_hits(5, MAX_HITS_PER_QUERY - 1),
        Some(Origin::Peer(p[0]))
    );
    assert_eq!(f.route_hits(5, 2), None, "over the budget");
    assert_eq!(f.route_hits(5, 1), Some(Origin::Peer(p[0])));
    assert_eq!(f.route_hits(6, 1), None, "unknown query");
}

#[test]
fn seen_queries_expire() {
    let p = peers(2);
    let config = FloodConfig {
        seen_for: Duration::from_secs(10),
        ..FloodConfig::default()
    };
    let mut f = Flood::new(config);
    let now = Instant::now();
    assert!(matches!(
        f.on_query(p[0], 1, 3, &p, now),
        Decision::Handle { .. }
    ));
    assert_eq!(f.open(), 1);
    f.expire(now + Duration::from_secs(11));
    assert_eq!(f.open(), 0);
    assert_eq!(f.route(1), None);
}

#[test]
fn rate_limit_per_neighbour_refills_over_time() {
    let p = peers(2);
    let config = FloodConfig {
        burst: 3,
        per_second: 1.0,
        ..FloodConfig::default()
    };
    let mut f = Flood::new(config);
    let now = Instant::now();
    for id in 0..3 {
        assert!(matches!(
            f.on_query(p[0], id, 2, &p, now),
            Decision::Handle { .. }
        ));
    }
    assert_eq!(f.on_query(p[0], 10, 2, &p, now), Decision::RateLimited);
    // Another neighbour has its own budget.
    assert!(matches!(
        f.on_query(p[1], 11, 2, &p, now),
        Decision::Handle { .. }
    ));
    let later = now + Duration::from_millis(1100);
    assert!(matches!(
        f.on_query(p[0], 12, 2, &p, later),
        Decision::Handle { .. }
    ));
    assert_eq!(f.on_query(p[0], 13, 2, &p, later), Decision::RateLimited);
}

#[test]
fn a_full_table_forgets_the_oldest_remote_query_never_a_local_one() {
    let p = peers(3);
    let config = FloodConfig {
        max_open: 2,
        burst: 100,
        ..FloodConfig::default()
    };
    let mut f = Flood::new(config);
    let now = Instant::now();
    assert!(f.start(1, 3, &p, now).is_some());
    assert!(f.start(1, 3, &p, now).is_none(), "an id is started once");
    for id in [2, 3] {
        assert!(matches!(
            f.on_query(p[0], id, 3, &p, now),
            Decision::Handle { .. }
        ));
    }
    // Full (2 remote): the next query pushes out the oldest remote one.
    assert!(matches!(
        f.on_query(p[1], 4, 3, &p, now),
        Decision::Handle { .. }
    ));
    assert_eq!(f.route(2), None, "the oldest remote query is forgotten");
    assert_eq!(f.route(3), Some(Origin::Peer(p[0])));
    assert_eq!(f.route(1), Some(Origin::Local), "the local one stays");
    assert_eq!(f.evicted(), 1);
    assert_eq!(f.open(), 3);
    f.expire(now + Duration::from_secs(61));
    assert_eq!(f.open(), 0);
    assert!(
        f.per_peer.is_empty() && f.local == 0,
        "counts follow expiry"
    );
}

#[test]
fn open_queries_per_neighbour_are_capped() {
    let p = peers(2);
    let config = FloodConfig {
        burst: 1000,
        ..FloodConfig::default()
    };
    let mut f = Flood::new(config);
    let now = Instant::now();
    for id in 0..MAX_OPEN_PER_PEER as u64 {
        assert!(matches!(
            f.on_query(p[0], id, 3, &p, now),
            Decision::Handle { .. }
        ));
    }
    assert_eq!(f.on_query(p[0], 1000, 3, &p, now), Decision::Busy);
    assert!(
        matches!(f.on_query(p[1], 1001, 3, &p, now), Decision::Handle { .. }),
        "another neighbour is not held back"
    );
    let later = now + Duration::from_secs(61);
    assert!(matches!(
        f.on_query(p[0], 1002, 3, &p, later),
        Decision::Handle { .. }
    ));
}

#[test]
fn local_searches_are_capped_apart_from_remote_queries() {
    let p = peers(20);
    let config = FloodConfig {
        max_open: 8,
        burst: 1000,
        ..FloodConfig::default()
    };
    let mut f = Flood::new(config);
    let now = Instant::now();
    // Remote queries fill the table; local searches still start.
    for (i, peer) in p.iter().enumerate() {
        f.on_query(*peer, 10_000 + i as u64, 3, &p, now);
    }
    for id in 0..MAX_LOCAL_SEARCHES as u64 {
        assert!(f.start(id, 3, &p, now).is_some(), "search {id}");
    }
    assert!(f.start(500, 3, &p, now).is_none(), "too many running");
    assert_eq!(f.open(), 8 + MAX_LOCAL_SEARCHES);
    f.end_local(3);
    f.end_local(10_000); // a remote query is not ended this way
    assert_eq!(f.open(), 8 + MAX_LOCAL_SEARCHES - 1);
    assert!(
        f.start(500, 3, &p, now).is_some(),
        "an ended search frees its slot"
    );
    assert!(f.start(501, 3, &p, now).is_none());
    assert!(f.start(501, 3, &p, now + Duration::from_secs(61)).is_some());
}
