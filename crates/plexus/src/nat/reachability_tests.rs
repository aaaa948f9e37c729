use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};

use super::*;

const RECHECK: Duration = Duration::from_secs(120);

/// One start for a whole test: results and polls share its clock.
fn start() -> Instant {
    use std::sync::OnceLock;
    static T: OnceLock<Instant> = OnceLock::new();
    *T.get_or_init(Instant::now)
}

fn addr(s: &str) -> Multiaddr {
    s.parse().unwrap()
}

fn drain(r: &mut Reachability, now: Instant) -> Vec<Decision> {
    let mut out = Vec::new();
    for _ in 0..100 {
        match r.poll(now) {
            Some(d) => out.push(d),
            None => return out,
        }
    }
    panic!("poll never ends: {out:?}");
}

/// The decisions but the retests a private node asks for now and then.
fn no_reprobes(d: Vec<Decision>) -> Vec<Decision> {
    d.into_iter().filter(|d| *d != Decision::Reprobe).collect()
}

#[test]
fn starts_unknown_and_asks_nothing() {
    let mut r = Reachability::new(2, RECHECK);
    r.handle_relay(PeerId::random(), addr("/ip4/10.0.0.1/tcp/1"));
    assert_eq!(r.reach(), Reach::Unknown);
    assert!(drain(&mut r, start()).is_empty());
}

#[test]
fn a_confirmed_address_makes_it_public_and_no_relay_is_asked() {
    let mut r = Reachability::new(2, RECHECK);
    r.handle_relay(PeerId::random(), addr("/ip4/10.0.0.1/tcp/1"));
    r.handle_probe(addr("/ip4/1.2.3.4/tcp/4001"), false, start());
    r.handle_probe(addr("/ip4/1.2.3.4/udp/4001/quic-v1"), true, start());
    let now = start();
    let d = drain(&mut r, now);
    assert_eq!(r.reach(), Reach::Public);
    // Private first (the failed probe), then public; never a reservation.
    assert_eq!(
        d,
        vec![
            Decision::Changed(Reach::Private),
            Decision::Changed(Reach::Public)
        ]
    );
}

#[test]
fn private_reserves_on_two_relays_and_replaces_a_failed_one_later() {
    let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
    let mut r = Reachability::new(2, RECHECK);
    for p in [a, b, c] {
        r.handle_relay(p, addr("/ip4/10.0.0.1/tcp/1"));
    }
    r.handle_probe(addr("/ip4/1.2.3.4/tcp/4001"), false, start());
    let t0 = start();
    let d = drain(&mut r, t0);
    assert_eq!(d[0], Decision::Changed(Reach::Private));
    let asked: Vec<PeerId> = d[1..]
        .iter()
        .map(|d| match d {
            Decision::Reserve { relay, .. } => *relay,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(asked.len(), 2, "two reservations at a time: {d:?}");
    r.handle_reserved(asked[0]);
    r.handle_reservation_failed(asked[1], t0);
    let third = *[a, b, c].iter().find(|p| !asked.contains(p)).unwrap();
    assert_eq!(
        drain(&mut r, t0),
        vec![Decision::Reserve {
            relay: third,
            addr: addr("/ip4/10.0.0.1/tcp/1")
        }]
    );
    r.handle_reserved(third);
    assert_eq!(r.reservations().len(), 2);
    // The third relay drops: the failed one is asked again only after the pause.
    r.handle_reservation_failed(third, t0);
    assert!(drain(&mut r, t0 + RETRY_AFTER / 2).iter().all(|d| match d {
        Decision::Reserve { relay, .. } => *relay != asked[1] && *relay != third,
        _ => true,
    }));
    let later = no_reprobes(drain(&mut r, t0 + RETRY_AFTER));
    assert_eq!(later.len(), 1, "{later:?}");
}

#[test]
fn an_unanswered_reservation_times_out_and_another_relay_is_asked() {
    let (a, b) = (PeerId::random(), PeerId::random());
    let mut r = Reachability::new(1, RECHECK);
    r.handle_relay(a, addr("/ip4/10.0.0.1/tcp/1"));
    r.handle_probe(addr("/ip4/1.2.3.4/tcp/4001"), false, start());
    let t0 = start();
    assert_eq!(drain(&mut r, t0).len(), 2);
    r.handle_relay(b, addr("/ip4/10.0.0.2/tcp/1"));
    assert!(drain(&mut r, t0 + Duration::from_secs(1)).is_empty());
    let d = no_reprobes(drain(&mut r, t0 + RESERVE_TIMEOUT));
    assert_eq!(
        d,
        vec![Decision::Reserve {
            relay: b,
            addr: addr("/ip4/10.0.0.2/tcp/1")
        }]
    );
}

#[test]
fn an_expired_external_address_makes_it_private_again() {
    let mut r = Reachability::new(1, RECHECK);
    let a = addr("/ip4/1.2.3.4/tcp/4001");
    r.handle_probe(addr("/ip4/1.2.3.4/udp/4001/quic-v1"), false, start());
    r.handle_probe(a.clone(), true, start());
    assert_eq!(r.reach(), Reach::Public);
    r.handle_expired(&a);
    assert_eq!(r.reach(), Reach::Private);
}

#[test]
fn a_failed_address_is_probed_again_and_the_node_turns_public() {
    let a = addr("/ip4/1.2.3.4/tcp/4001");
    let mut r = Reachability::new(2, RECHECK);
    let t0 = start();
    // Nothing probed yet: no rechecks (a LAN node has no AutoNAT servers).
    assert!(drain(&mut r, t0 + RECHECK * 10).is_empty());
    r.handle_probe(a.clone(), false, t0);
    assert_eq!(drain(&mut r, t0), vec![Decision::Changed(Reach::Private)]);
    assert!(drain(&mut r, t0 + DOUBT_RECHECK / 2).is_empty());
    // A private verdict is doubted: one retest soon, not two.
    assert_eq!(drain(&mut r, t0 + DOUBT_RECHECK), vec![Decision::Reprobe]);
    assert!(drain(&mut r, t0 + DOUBT_RECHECK * 2).is_empty());
    // The outage is over: the retest reaches it.
    let back = t0 + DOUBT_RECHECK + Duration::from_secs(5);
    r.handle_probe(a, true, back);
    assert_eq!(r.reach(), Reach::Public);
    assert_eq!(drain(&mut r, back), vec![Decision::Changed(Reach::Public)]);
    // Public: the normal recheck again.
    assert_eq!(
        drain(&mut r, t0 + DOUBT_RECHECK * 3),
        vec![Decision::Reprobe]
    );
    assert!(drain(&mut r, t0 + DOUBT_RECHECK * 3 + RECHECK / 2).is_empty());
    assert_eq!(
        drain(&mut r, t0 + DOUBT_RECHECK * 3 + RECHECK),
        vec![Decision::Reprobe]
    );
}

#[test]
fn a_public_node_failed_once_in_an_outage_is_retested_soon_not_after_a_whole_recheck() {
    // The healed-partition flake: a node's first dial-backs came from a
    // server across a fresh partition and failed; it must not stay a
    // Kademlia client for a whole recheck.
    let (a, b) = (
        addr("/ip4/1.2.3.4/tcp/4001"),
        addr("/ip4/1.2.3.4/udp/4001/quic-v1"),
    );
    let mut r = Reachability::new(2, RECHECK);
    let t0 = start();
    r.handle_probe(a.clone(), false, t0);
    r.handle_probe(b.clone(), false, t0);
    assert_eq!(drain(&mut r, t0), vec![Decision::Changed(Reach::Private)]);
    assert_eq!(drain(&mut r, t0 + DOUBT_RECHECK), vec![Decision::Reprobe]);
    r.handle_probe(a, true, t0 + DOUBT_RECHECK);
    assert_eq!(
        drain(&mut r, t0 + DOUBT_RECHECK),
        vec![Decision::Changed(Reach::Public)]
    );
}

#[test]
fn a_node_that_stays_private_is_retested_ever_less_often_up_to_the_recheck() {
    let a = addr("/ip4/1.2.3.4/tcp/4001");
    let mut r = Reachability::new(0, RECHECK);
    let t0 = start();
    r.handle_probe(a.clone(), false, t0);
    drain(&mut r, t0);
    let mut gaps = Vec::new();
    let (mut last, mut t) = (t0, t0);
    for _ in 0..2_000 {
        t += Duration::from_secs(1);
        if drain(&mut r, t).contains(&Decision::Reprobe) {
            gaps.push((t - last).as_secs());
            last = t;
            // The retest fails again.
            r.handle_probe(a.clone(), false, t);
            drain(&mut r, t);
            if gaps.len() == 6 {
                break;
            }
        }
    }
    assert_eq!(gaps, vec![15, 30, 60, 120, 120, 120]);
}

#[test]
fn a_confirmed_address_that_fails_its_retest_is_expired_and_the_node_turns_private() {
    let a = addr("/ip4/1.2.3.4/tcp/4001");
    let mut r = Reachability::new(2, RECHECK);
    let t0 = start();
    r.handle_probe(a.clone(), true, t0);
    assert_eq!(drain(&mut r, t0), vec![Decision::Changed(Reach::Public)]);
    assert_eq!(drain(&mut r, t0 + RECHECK), vec![Decision::Reprobe]);
    r.handle_probe(a.clone(), false, t0 + RECHECK);
    assert_eq!(
        drain(&mut r, t0 + RECHECK),
        vec![Decision::Expire(a), Decision::Changed(Reach::Private)]
    );
}

#[test]
fn results_nobody_renews_go_stale_and_reachability_becomes_unknown() {
    let (a, b) = (
        addr("/ip4/1.2.3.4/tcp/4001"),
        addr("/ip4/1.2.3.4/udp/4001/quic-v1"),
    );
    let mut r = Reachability::new(2, RECHECK);
    let t0 = start();
    r.handle_probe(a.clone(), true, t0);
    r.handle_probe(b.clone(), false, t0 + RECHECK);
    drain(&mut r, t0);
    // Cut off: rechecks are asked for, no answer comes.
    let before = drain(&mut r, t0 + RECHECK * STALE_AFTER - Duration::from_secs(1));
    assert!(before.iter().all(|d| *d == Decision::Reprobe), "{before:?}");
    assert_eq!(r.reach(), Reach::Public);
    let d = drain(&mut r, t0 + RECHECK * STALE_AFTER);
    assert_eq!(
        d[..2],
        [Decision::Expire(a), Decision::Changed(Reach::Private)]
    );
    drain(&mut r, t0 + RECHECK * (STALE_AFTER + 1));
    assert_eq!(r.reach(), Reach::Unknown);
    // Rechecks go on, so a healed node finds its way back.
    assert_eq!(
        drain(&mut r, t0 + RECHECK * (STALE_AFTER + 2)),
        vec![Decision::Reprobe]
    );
}

#[test]
fn a_declared_address_stays_public() {
    let a = addr("/ip4/1.2.3.4/tcp/4001");
    let mut r = Reachability::new(2, RECHECK);
    let t0 = start();
    r.handle_declared(a);
    assert_eq!(drain(&mut r, t0), vec![Decision::Changed(Reach::Public)]);
    assert!(drain(&mut r, t0 + RECHECK * 10).is_empty());
    assert_eq!(r.reach(), Reach::Public);
}
