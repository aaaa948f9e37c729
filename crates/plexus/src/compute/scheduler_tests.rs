//! Each rule of the scheduler, driven directly with time passed in.

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use libp2p::PeerId;

use super::scheduler::{Decision, Digest, Scheduler, MAX_FAILURES};

const TIMEOUT: Duration = Duration::from_secs(30);
const GOOD: Digest = [1; 32];
const BAD: Digest = [2; 32];

fn ip(n: u8) -> Vec<IpAddr> {
    vec![IpAddr::from([10, 0, 0, n])]
}

fn assigned(decisions: &[Decision]) -> Vec<(usize, PeerId)> {
    decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Assign { unit, worker } => Some((*unit, *worker)),
            _ => None,
        })
        .collect()
}

fn workers(s: &mut Scheduler, n: u8, slots: usize) -> Vec<PeerId> {
    (1..=n)
        .map(|i| {
            let p = PeerId::random();
            s.add_worker(p, ip(i), slots, 0);
            p
        })
        .collect()
}

#[test]
fn each_unit_goes_to_quorum_distinct_workers_and_agreement_decides_it() {
    let mut s = Scheduler::new(2, 2, TIMEOUT);
    let w = workers(&mut s, 4, 4);
    let now = Instant::now();
    let a = assigned(&s.poll(now));
    assert_eq!(a.len(), 4);
    for unit in 0..2 {
        let on: Vec<_> = a
            .iter()
            .filter(|(u, _)| *u == unit)
            .map(|(_, p)| *p)
            .collect();
        assert_eq!(on.len(), 2);
        assert_ne!(on[0], on[1]);
    }
    let (u0, p0) = a[0];
    assert!(!s.on_result(u0, p0, GOOD), "one vote is not a quorum");
    let other = a.iter().find(|(u, p)| *u == u0 && *p != p0).unwrap().1;
    assert!(s.on_result(u0, other, GOOD));
    assert_eq!(s.decided(u0), Some(GOOD));
    assert!(w.iter().all(|p| s.workers()[p].lost == 0));
}

#[test]
fn copies_of_a_unit_never_share_an_address() {
    let mut s = Scheduler::new(1, 2, TIMEOUT);
    // Three identities on one machine and one elsewhere.
    let same: Vec<_> = (0..3).map(|_| PeerId::random()).collect();
    for p in &same {
        s.add_worker(*p, ip(1), 4, 0);
    }
    // Marked, so it sorts last: only the address rule picks it.
    let other = PeerId::random();
    s.add_worker(other, ip(2), 4, 1);
    let a = assigned(&s.poll(Instant::now()));
    assert_eq!(a.len(), 2);
    assert!(a.iter().any(|(_, p)| *p == other), "{a:?}");
    assert_eq!(a.iter().filter(|(_, p)| same.contains(p)).count(), 1);
}

#[test]
fn one_machine_alone_cannot_reach_a_quorum() {
    let mut s = Scheduler::new(1, 2, TIMEOUT);
    for _ in 0..3 {
        s.add_worker(PeerId::random(), ip(1), 4, 0);
    }
    let now = Instant::now();
    let a = assigned(&s.poll(now));
    assert_eq!(a.len(), 1);
    s.on_result(0, a[0].1, GOOD);
    let d = s.poll(now);
    assert!(
        matches!(&d[..], [Decision::Stuck(r)] if r.contains("shares an address")),
        "{d:?}"
    );
}

#[test]
fn a_disagreement_gets_more_copies_until_a_strict_majority() {
    let mut s = Scheduler::new(1, 2, TIMEOUT);
    let w = workers(&mut s, 5, 1);
    let now = Instant::now();
    let a = assigned(&s.poll(now));
    assert_eq!(a.len(), 2);
    assert!(!s.on_result(0, a[0].1, GOOD));
    assert!(!s.on_result(0, a[1].1, BAD));
    // 1-1: one more agreeing copy would make 2 of 3.
    let b = assigned(&s.poll(now));
    assert_eq!(b.len(), 1);
    assert!(!a.iter().any(|(_, p)| *p == b[0].1));
    assert!(s.on_result(0, b[0].1, GOOD));
    assert_eq!(s.decided(0), Some(GOOD));
    let liar = a[1].1;
    assert_eq!(s.workers()[&liar].lost, 1, "the loser is marked");
    assert_eq!(s.workers()[&a[0].1].agreed, 1);
    assert!(w.contains(&liar));
    assert_eq!(s.poll(now), vec![Decision::Finished]);
}

#[test]
fn two_against_one_is_not_enough_with_a_quorum_of_three_and_a_tie() {
    let mut s = Scheduler::new(1, 3, TIMEOUT);
    workers(&mut s, 6, 1);
    let now = Instant::now();
    let a = assigned(&s.poll(now));
    assert_eq!(a.len(), 3);
    s.on_result(0, a[0].1, GOOD);
    s.on_result(0, a[1].1, GOOD);
    assert!(!s.on_result(0, a[2].1, BAD));
    // 2 good, 1 bad: one more good gives 3 of 4.
    let b = assigned(&s.poll(now));
    assert_eq!(b.len(), 1);
    assert!(s.on_result(0, b[0].1, GOOD));
}

#[test]
fn a_copy_whose_worker_left_is_assigned_again() {
    let mut s = Scheduler::new(1, 2, TIMEOUT);
    workers(&mut s, 3, 1);
    let now = Instant::now();
    let a = assigned(&s.poll(now));
    s.remove_worker(a[0].1);
    let b = assigned(&s.poll(now));
    assert_eq!(b.len(), 1);
    assert!(
        !a.iter().any(|(_, p)| *p == b[0].1),
        "a third worker takes it"
    );
    // Failures (refusals, network errors) in a row count as leaving too.
    for _ in 0..MAX_FAILURES {
        s.on_failure(0, b[0].1);
    }
    let c = s.poll(now);
    assert!(matches!(&c[..], [Decision::Wait(_)]), "{c:?}");
}

#[test]
fn one_failed_copy_does_not_end_a_job_its_two_workers_can_finish() {
    // Quorum 2 and two workers: the killed-worker run of the test bed's
    // compute scenario, where one dropped copy made the job stuck.
    let mut s = Scheduler::new(1, 2, TIMEOUT);
    let w = workers(&mut s, 2, 1);
    let now = Instant::now();
    assert_eq!(assigned(&s.poll(now)).len(), 2);
    assert!(!s.on_result(0, w[0], GOOD));
    s.on_failure(0, w[1]);
    // It cast no vote: it takes the unit again, and the job finishes.
    assert_eq!(assigned(&s.poll(now)), vec![(0, w[1])]);
    assert!(!s.workers()[&w[1]].gone);
    assert!(s.on_result(0, w[1], GOOD));
    assert_eq!(s.poll(now), vec![Decision::Finished]);
}

#[test]
fn a_worker_that_keeps_failing_leaves_and_the_job_says_it_is_stuck() {
    let mut s = Scheduler::new(1, 2, TIMEOUT);
    let w = workers(&mut s, 2, 1);
    let now = Instant::now();
    s.poll(now);
    assert!(!s.on_result(0, w[0], GOOD));
    for _ in 1..MAX_FAILURES {
        s.on_failure(0, w[1]);
        assert_eq!(assigned(&s.poll(now)), vec![(0, w[1])]);
    }
    s.on_failure(0, w[1]);
    assert!(s.workers()[&w[1]].gone);
    let d = s.poll(now);
    assert!(matches!(&d[..], [Decision::Stuck(_)]), "{d:?}");
}

#[test]
fn a_copy_past_its_deadline_is_assigned_again() {
    let mut s = Scheduler::new(1, 1, TIMEOUT);
    workers(&mut s, 2, 1);
    let now = Instant::now();
    let a = assigned(&s.poll(now));
    assert_eq!(
        s.poll(now + TIMEOUT / 2),
        vec![Decision::Wait(now + TIMEOUT)]
    );
    let b = assigned(&s.poll(now + TIMEOUT));
    assert_eq!(b.len(), 1);
    assert_ne!(a[0].1, b[0].1);
    assert!(s.workers()[&a[0].1].gone);
    // Its late answer no longer counts.
    assert!(!s.on_result(0, a[0].1, GOOD));
    assert!(s.on_result(0, b[0].1, GOOD));
}

#[test]
fn marked_workers_get_fewer_units() {
    let mut s = Scheduler::new(8, 1, TIMEOUT);
    let clean = PeerId::random();
    let marked = PeerId::random();
    s.add_worker(clean, ip(1), 4, 0);
    s.add_worker(marked, ip(2), 4, 1);
    let a = assigned(&s.poll(Instant::now()));
    assert_eq!(a.iter().filter(|(_, p)| *p == clean).count(), 4);
    assert_eq!(a.iter().filter(|(_, p)| *p == marked).count(), 1, "{a:?}");
}

#[test]
fn a_unit_that_fails_the_same_way_everywhere_is_decided_too() {
    // Errors hash to digests like outputs: honest workers agree on them.
    let mut s = Scheduler::new(1, 2, TIMEOUT);
    workers(&mut s, 2, 1);
    let a = assigned(&s.poll(Instant::now()));
    s.on_result(0, a[0].1, BAD);
    assert!(s.on_result(0, a[1].1, BAD));
    assert_eq!(s.decided(0), Some(BAD));
}
