//! Unit tests of [`DirectoryClient`], without a swarm.

use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};

use super::{Action, DirectoryClient, MAX_DISCOVERED, REDIAL};
use crate::directory::{index::MAX_ADDRS_PER_PEER, DirRequest, DirResponse, Event};

fn addr(port: u16) -> Multiaddr {
    format!("/ip4/192.0.2.1/tcp/{port}").parse().unwrap()
}

fn drain(client: &mut DirectoryClient) -> Vec<Action> {
    std::iter::from_fn(|| client.poll_action()).collect()
}

/// A client of one directory asking for a 10 s lifetime.
fn client(now: Instant) -> (DirectoryClient, PeerId) {
    let dir = PeerId::random();
    let client = DirectoryClient::new(
        PeerId::random(),
        vec![(dir, addr(1))],
        Duration::from_secs(10),
        now,
    );
    (client, dir)
}

fn is_renewal(actions: &[Action], dir: PeerId) -> bool {
    matches!(
        actions,
        [
            Action::Register { peer: a, ttl_secs: 10 },
            Action::Discover { peer: b },
            Action::Send { peer: c, request: DirRequest::Publish { .. }, query: None },
        ] if *a == dir && *b == dir && *c == dir
    )
}

#[test]
fn a_directory_that_is_down_is_redialled_every_10_seconds() {
    let now = Instant::now();
    let (mut c, dir) = client(now);
    assert!((c.is_client(), c.count()) == (true, 1));
    c.handle_tick(now);
    let actions = drain(&mut c);
    assert!(matches!(
        actions.as_slice(),
        [
            Action::Emit(Event::Redialing { peer, addr: a }),
            Action::DialDirectory { addr: b },
        ] if *peer == dir && *a == addr(1) && *b == addr(1)
    ));
    c.handle_tick(now + REDIAL - Duration::from_millis(1));
    assert!(drain(&mut c).is_empty(), "not due yet");
    c.handle_tick(now + REDIAL);
    assert_eq!(drain(&mut c).len(), 2, "redialled");
}

#[test]
fn a_connected_directory_is_renewed_at_half_the_lifetime_or_sooner_if_granted_less() {
    let now = Instant::now();
    let (mut c, dir) = client(now);
    c.handle_connected(dir, now);
    assert!(is_renewal(&drain(&mut c), dir));
    c.handle_tick(now + Duration::from_millis(4999));
    assert!(drain(&mut c).is_empty());
    c.handle_tick(now + Duration::from_secs(5));
    assert!(is_renewal(&drain(&mut c), dir), "renewed at half of 10 s");

    // The directory grants only 4 s: renew after 2 s.
    let later = now + Duration::from_secs(5);
    let granted = DirResponse::Published {
        accepted: 0,
        ttl_secs: 4,
    };
    c.handle_response(dir, None, granted, later);
    c.handle_tick(later + Duration::from_millis(1999));
    assert!(drain(&mut c).is_empty());
    c.handle_tick(later + Duration::from_secs(2));
    assert!(is_renewal(&drain(&mut c), dir));
}

#[test]
fn other_peers_connecting_do_not_register_and_records_go_to_connected_directories() {
    let now = Instant::now();
    let (mut c, dir) = client(now);
    c.handle_connected(PeerId::random(), now);
    assert!(drain(&mut c).is_empty());
    c.set_own_records(vec![]);
    assert!(drain(&mut c).is_empty(), "no directory connected");
    c.handle_connected(dir, now);
    drain(&mut c);
    let mine = vec![addr(9)];
    c.set_listen_addrs(mine.clone());
    c.set_own_records(vec![]);
    assert!(matches!(
        drain(&mut c).as_slice(),
        [Action::Send { peer, request: DirRequest::Publish { addrs, .. }, query: None }]
            if *peer == dir && *addrs == mine
    ));
    c.handle_disconnected(dir);
    c.set_own_records(vec![]);
    assert!(drain(&mut c).is_empty());
}

#[test]
fn searches_go_to_connected_directories_and_their_hits_come_back() {
    let now = Instant::now();
    let (mut c, dir) = client(now);
    c.search(1, vec!["x".into()]);
    assert!(drain(&mut c).is_empty(), "no directory connected");
    c.handle_connected(dir, now);
    drain(&mut c);
    c.search(2, vec!["x".into()]);
    assert!(matches!(
        drain(&mut c).as_slice(),
        [Action::Send { peer, request: DirRequest::Search { .. }, query: Some(2) }] if *peer == dir
    ));
    c.handle_response(dir, Some(2), DirResponse::Hits(vec![]), now);
    assert!(matches!(
        drain(&mut c).as_slice(),
        [Action::Emit(Event::Hits { query: 2, .. })]
    ));
    c.handle_response(dir, None, DirResponse::Hits(vec![]), now);
    c.handle_response(dir, Some(3), DirResponse::Refused("no".into()), now);
    assert!(drain(&mut c).is_empty());
}

#[test]
fn discovered_peers_are_passed_on_and_dialled_unless_connected() {
    let now = Instant::now();
    let me = PeerId::random();
    let mut c = DirectoryClient::new(me, vec![], Duration::from_secs(10), now);
    let (near, far, mute) = (PeerId::random(), PeerId::random(), PeerId::random());
    c.handle_connected(near, now);
    let unspecified: Multiaddr = "/ip4/0.0.0.0/tcp/1".parse().unwrap();
    c.handle_discovered(vec![
        (me, vec![addr(1)]),
        (near, vec![addr(2)]),
        (far, vec![unspecified.clone(), addr(3)]),
        (mute, vec![unspecified]),
    ]);
    let actions = drain(&mut c);
    assert!(
        matches!(
            actions.as_slice(),
            [
                Action::Emit(Event::Discovered { peer: a, addrs: a_addrs }),
                Action::Emit(Event::Discovered { peer: b, addrs: b_addrs }),
                Action::DialPeer { peer: c, addrs: c_addrs },
            ] if *a == near && *a_addrs == vec![addr(2)]
                && *b == far && *b_addrs == vec![addr(3)]
                && *c == far && *c_addrs == vec![addr(3)]
        ),
        "{actions:?}"
    );
}

#[test]
fn only_a_client_confirms_its_dialable_listen_addresses() {
    let now = Instant::now();
    let (mut c, _) = client(now);
    c.handle_new_listen_addr(&"/ip4/0.0.0.0/tcp/1".parse().unwrap());
    c.handle_new_listen_addr(&addr(5));
    assert!(matches!(
        drain(&mut c).as_slice(),
        [Action::ConfirmExternal(a)] if *a == addr(5)
    ));
    let mut plain = DirectoryClient::new(PeerId::random(), vec![], Duration::from_secs(1), now);
    plain.handle_new_listen_addr(&addr(5));
    assert!(drain(&mut plain).is_empty());
}

#[test]
fn discovered_peers_and_their_addresses_are_capped() {
    let now = Instant::now();
    let mut c = DirectoryClient::new(PeerId::random(), vec![], Duration::from_secs(10), now);
    let many: Vec<Multiaddr> = (0..1000u16).map(|i| addr(1000 + i)).collect();
    let found = (0..MAX_DISCOVERED + 50)
        .map(|_| (PeerId::random(), many.clone()))
        .collect();
    c.handle_discovered(found);
    let dials: Vec<Vec<Multiaddr>> = drain(&mut c)
        .into_iter()
        .filter_map(|a| match a {
            Action::DialPeer { addrs, .. } => Some(addrs),
            _ => None,
        })
        .collect();
    assert_eq!(dials.len(), MAX_DISCOVERED);
    assert!(dials.iter().all(|a| *a == many[..MAX_ADDRS_PER_PEER]));
}
