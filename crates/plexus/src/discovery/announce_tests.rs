use super::*;

fn h(i: u32) -> Hash {
    let mut bytes = [0u8; 32];
    bytes[..4].copy_from_slice(&i.to_be_bytes());
    Hash(bytes)
}

/// Starts everything there is room for; returns the hashes, each started
/// as query `next_id`, `next_id + 1`, ...
fn start_all(a: &mut Announcer<u32>, next_id: &mut u32) -> Vec<Hash> {
    let mut out = Vec::new();
    while let Some(hash) = a.next() {
        a.started(*next_id, hash);
        *next_id += 1;
        out.push(hash);
        assert!(out.len() <= 1_000, "unbounded");
    }
    out
}

#[test]
fn at_most_max_in_flight_run_and_each_end_makes_room_for_one() {
    let mut a = Announcer::new(4);
    for i in 0..100_000 {
        a.push(h(i), Origin::Stored);
    }
    let mut id = 0;
    assert_eq!(
        start_all(&mut a, &mut id),
        (0..4).map(h).collect::<Vec<_>>()
    );
    assert!(!a.has_work());
    assert!(a.finished(&1, true));
    assert_eq!(start_all(&mut a, &mut id), vec![h(4)]);
    assert!(a.finished(&0, false));
    assert!(!a.finished(&0, true), "an id ends once");
    assert!(!a.finished(&999, true), "not an announcement");
    assert_eq!(
        a.counts(),
        Counts {
            pending: 100_000 - 2,
            running: 3,
            done: 2,
            failed: 1
        }
    );
}

#[test]
fn all_are_announced_in_order_once_each() {
    let mut a = Announcer::new(3);
    for i in 0..50 {
        a.push(h(i), Origin::Stored);
    }
    a.push(h(7), Origin::Stored); // already waiting
    let (mut id, mut seen) = (0, Vec::new());
    loop {
        let started = start_all(&mut a, &mut id);
        if started.is_empty() {
            break;
        }
        seen.extend(started);
        for q in id.saturating_sub(3)..id {
            a.finished(&q, true);
        }
    }
    assert_eq!(seen, (0..50).map(h).collect::<Vec<_>>());
    assert_eq!(a.counts().pending, 0);
    assert_eq!(a.counts().done, 50);
}

#[test]
fn fresh_shares_go_ahead_of_the_stored_backlog() {
    let mut a = Announcer::new(2);
    for i in 0..1_000 {
        a.push(h(i), Origin::Stored);
    }
    let mut id = 0;
    start_all(&mut a, &mut id);
    a.push(h(5_000), Origin::Fresh);
    // Shared again while waiting in the backlog: it goes first, once.
    a.push(h(500), Origin::Fresh);
    assert_eq!(a.next(), None, "no room yet");
    a.finished(&0, true);
    assert_eq!(start_all(&mut a, &mut id), vec![h(5_000)]);
    a.finished(&1, true);
    assert_eq!(start_all(&mut a, &mut id), vec![h(500)]);
    a.finished(&2, true);
    a.finished(&3, true);
    assert_eq!(start_all(&mut a, &mut id), vec![h(2), h(3)]);
    let rest = (0..1_000)
        .filter(|i| ![0, 1, 2, 3, 500].contains(i))
        .count();
    assert_eq!(a.counts().pending, rest + 2);
}

#[test]
fn withdrawn_hashes_are_not_announced() {
    let mut a = Announcer::new(10);
    for i in 0..5 {
        a.push(h(i), Origin::Stored);
    }
    a.push(h(9), Origin::Fresh);
    a.withdraw(&h(1));
    a.withdraw(&h(9));
    let mut id = 0;
    assert_eq!(start_all(&mut a, &mut id), vec![h(0), h(2), h(3), h(4)]);
    assert_eq!(a.counts().pending, 4);
}

#[test]
fn a_refused_start_counts_as_a_failure() {
    let mut a: Announcer<u32> = Announcer::new(10);
    a.push(h(1), Origin::Fresh);
    assert_eq!(a.next(), Some(h(1)));
    a.refused();
    assert_eq!(
        a.counts(),
        Counts {
            pending: 0,
            running: 0,
            done: 1,
            failed: 1
        }
    );
}
