use super::*;

const MIB: u64 = 1024 * 1024;

fn all_of(size: u64) -> ChunkRanges {
    ChunkRanges::from(..ChunkNum::chunks(size))
}

fn ms(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

#[test]
fn present_ranges_are_never_requested_again() {
    let size = 3 * MIB + 5;
    let present = group_ranges(0, 64) | group_ranges(100, 120);
    let mut plan = Planner::new(size, &present);
    let peer = PeerId::random();
    plan.add_peer(peer, None);
    let t0 = Instant::now();
    let mut asked = ChunkRanges::empty();
    let mut stored = present.clone();
    let mut t = 0;
    while let Some(r) = plan.next_request(peer, ms(t0, t)) {
        assert!((r.ranges.clone() & present.clone()).is_empty());
        assert!((r.ranges.clone() & asked.clone()).is_empty(), "asked twice");
        asked |= r.ranges.clone();
        stored |= r.ranges;
        t += 10;
        plan.on_success(r.id, PIECE_BYTES, ms(t0, t), &stored);
    }
    assert!(plan.is_done());
    assert_eq!(asked | present, all_of(size));
}

#[test]
fn request_size_follows_the_peer_rate() {
    let mut plan = Planner::with_seed(64 * MIB, &ChunkRanges::empty(), 1);
    let (slow, fast) = (PeerId::random(), PeerId::random());
    plan.add_peer(slow, None);
    plan.add_peer(fast, None);
    let t0 = Instant::now();
    // Unmeasured peers get one piece per request.
    let a = plan.next_request(slow, t0).unwrap();
    let b = plan.next_request(fast, t0).unwrap();
    assert_eq!(range_bytes(&a.ranges, 64 * MIB), PIECE_BYTES);
    // slow: 256 KiB in 1 s; fast: 256 KiB in 2 ms.
    plan.on_success(a.id, PIECE_BYTES, ms(t0, 1000), &a.ranges);
    plan.on_success(b.id, PIECE_BYTES, ms(t0, 2), &(a.ranges | b.ranges));
    let now = ms(t0, 1000);
    let s = plan.next_request(slow, now).unwrap();
    let f = plan.next_request(fast, now).unwrap();
    assert_eq!(range_bytes(&s.ranges, 64 * MIB), PIECE_BYTES);
    assert_eq!(
        range_bytes(&f.ranges, 64 * MIB),
        MAX_REQUEST_PIECES as u64 * PIECE_BYTES,
        "a fast peer gets 4 MiB at once"
    );
}

#[test]
fn a_liar_is_banned_and_its_piece_goes_to_an_honest_peer() {
    let mut plan = Planner::new(2 * MIB, &ChunkRanges::empty());
    let (liar, honest) = (PeerId::random(), PeerId::random());
    let now = Instant::now();
    plan.add_peer(liar, None);
    let r = plan.next_request(liar, now).unwrap();
    plan.on_failure(r.id, Failure::Lied, now, &ChunkRanges::empty());
    assert!(plan.next_request(liar, now).is_none());
    plan.add_peer(honest, None);
    let mut present = ChunkRanges::empty();
    while let Some(r) = plan.next_request(honest, now) {
        present |= r.ranges;
        plan.on_success(r.id, PIECE_BYTES, now, &present);
    }
    assert!(plan.is_done());
    assert_eq!(plan.usable_peers(), vec![honest]);
}

#[test]
fn window_limits_requests_in_flight_and_grows_on_success() {
    let mut plan = Planner::new(20 * MIB, &ChunkRanges::empty());
    let peer = PeerId::random();
    plan.add_peer(peer, None);
    let now = Instant::now();
    let a = plan.next_request(peer, now).unwrap();
    assert!(
        plan.next_request(peer, now).is_none(),
        "one piece in flight before the rate is known"
    );
    plan.on_success(a.id, PIECE_BYTES, ms(now, 5), &a.ranges);
    assert_eq!(plan.peers()[&peer].window, 3);
    // Fast (256 KiB in 5 ms): the budget is large, the window of 3 holds.
    let t = ms(now, 5);
    for _ in 0..3 {
        assert!(plan.next_request(peer, t).is_some());
    }
    assert!(plan.next_request(peer, t).is_none(), "window of 3");
}

#[test]
fn transient_failures_shrink_the_window_then_give_the_peer_up() {
    let mut plan = Planner::new(20 * MIB, &ChunkRanges::empty());
    let peer = PeerId::random();
    plan.add_peer(peer, None);
    let now = Instant::now();
    for _ in 0..MAX_FAILURES {
        let r = plan.next_request(peer, now).unwrap();
        plan.on_failure(r.id, Failure::Transient, now, &ChunkRanges::empty());
    }
    assert_eq!(plan.peers()[&peer].window, 1);
    assert!(plan.usable_peers().is_empty());
}

#[test]
fn departed_peer_pieces_are_reassigned() {
    let mut plan = Planner::new(MIB, &ChunkRanges::empty());
    let (gone, other) = (PeerId::random(), PeerId::random());
    let now = Instant::now();
    plan.add_peer(gone, None);
    plan.add_peer(other, None);
    let r = plan.next_request(gone, now).unwrap();
    plan.remove_peer(&gone, now, &ChunkRanges::empty());
    let again = plan.next_request(other, now).unwrap();
    assert_eq!(r.ranges, again.ranges);
}

#[test]
fn partial_peers_get_only_pieces_they_have_and_rarest_goes_first() {
    let size = 4 * MIB;
    let mut plan = Planner::new(size, &ChunkRanges::empty());
    let (full, half) = (PeerId::random(), PeerId::random());
    let now = Instant::now();
    plan.add_peer(full, None);
    plan.add_peer(half, Some(group_ranges(0, 128)));
    // The second half only `full` has: rarest, so it takes that first.
    let r = plan.next_request(full, now).unwrap();
    assert!(
        r.ranges.is_subset(&group_ranges(128, 256)),
        "{:?}",
        r.ranges
    );
    let q = plan.next_request(half, now).unwrap();
    assert!(q.ranges.is_subset(&group_ranges(0, 128)));
    plan.on_success(q.id, PIECE_BYTES, now, &q.ranges);
    // What it lacks, it is never asked for, even when nothing else is left.
    let missing = plan.next_request(half, now).unwrap();
    plan.on_failure(missing.id, Failure::Missing, now, &ChunkRanges::empty());
    let have = plan.peers()[&half].have.clone().unwrap();
    assert!((have & missing.ranges).is_empty());
}

#[test]
fn end_game_duplicates_a_slow_peers_piece_to_a_fast_one() {
    let size = 2 * PIECE_BYTES;
    let mut plan = Planner::new(size, &ChunkRanges::empty());
    let (slow, fast) = (PeerId::random(), PeerId::random());
    plan.add_peer(slow, None);
    plan.add_peer(fast, None);
    let t0 = Instant::now();
    let s0 = plan.next_request(slow, t0).unwrap();
    let f0 = plan.next_request(fast, t0).unwrap();
    // slow measured at 256 KiB/s, fast at 256 KiB per 10 ms.
    plan.on_success(f0.id, PIECE_BYTES, ms(t0, 10), &f0.ranges);
    let present = f0.ranges.clone() | s0.ranges.clone();
    plan.on_success(s0.id, PIECE_BYTES, ms(t0, 1000), &present);
    assert!(plan.is_done());

    // A second blob-sized run: the slow peer takes the last piece...
    let mut plan2 = Planner::new(size, &f0.ranges);
    plan2.peers = plan.peers.clone();
    let t1 = ms(t0, 1000);
    let s1 = plan2.next_request(slow, t1).unwrap();
    // ...and the fast one, idle, duplicates it since it would be quicker.
    let dup = plan2.next_request(fast, ms(t1, 5)).unwrap();
    assert_eq!(dup.ranges, s1.ranges);
    assert!(
        plan2.next_request(fast, ms(t1, 5)).is_none(),
        "one duplicate at most"
    );
    plan2.on_success(dup.id, PIECE_BYTES, ms(t1, 15), &all_of(size));
    assert!(plan2.is_done());
    // The slow answer arriving later changes nothing.
    plan2.on_success(s1.id, PIECE_BYTES, ms(t1, 900), &all_of(size));
    assert!(plan2.is_done());
}

#[test]
fn a_stalled_request_is_duplicated_even_by_an_equal_peer() {
    let size = 2 * PIECE_BYTES;
    let mut plan = Planner::new(size, &ChunkRanges::empty());
    let (a, b) = (PeerId::random(), PeerId::random());
    plan.add_peer(a, None);
    plan.add_peer(b, None);
    let t0 = Instant::now();
    let ra = plan.next_request(a, t0).unwrap();
    let rb = plan.next_request(b, t0).unwrap();
    // b answers in 100 ms; a's link is cut and never answers.
    plan.on_success(rb.id, PIECE_BYTES, ms(t0, 100), &rb.ranges);
    assert!(
        plan.next_request(b, ms(t0, 100)).is_none(),
        "not yet: a may still be about to answer"
    );
    let dup = plan
        .next_request(b, ms(t0, 2000))
        .expect("a is long overdue");
    assert_eq!(dup.ranges, ra.ranges);
}

#[test]
fn getters_with_different_seeds_start_at_different_pieces() {
    let starts: std::collections::HashSet<u64> = (0..8)
        .map(|seed| {
            let mut plan = Planner::with_seed(16 * MIB, &ChunkRanges::empty(), seed);
            let peer = PeerId::random();
            plan.add_peer(peer, None);
            plan.next_request(peer, Instant::now())
                .unwrap()
                .ranges
                .boundaries()[0]
                .0
        })
        .collect();
    assert!(
        starts.len() >= 6,
        "8 getters, only {} distinct first pieces",
        starts.len()
    );
}

#[test]
fn a_partial_peer_does_not_duplicate_while_pieces_are_still_missing() {
    // A flash crowd: the seeder has everything; another getter has two
    // pieces, one of which this getter already has in flight from the seeder.
    let size = 8 * PIECE_BYTES;
    let mut plan = Planner::with_seed(size, &ChunkRanges::empty(), 3);
    let (seeder, getter) = (PeerId::random(), PeerId::random());
    plan.add_peer(seeder, None);
    let t0 = Instant::now();
    let x = plan.next_request(seeder, t0).unwrap();
    let xi = x.ranges.boundaries()[0].0 / (PIECE_BYTES / 1024);
    let y = group_ranges(
        ((xi + 1) % 8) * PIECE_GROUPS,
        ((xi + 1) % 8 + 1) * PIECE_GROUPS,
    );
    plan.add_peer(getter, Some(x.ranges.clone() | y.clone()));
    // It serves the piece only it and the seeder have, fast.
    let g = plan.next_request(getter, t0).unwrap();
    assert_eq!(g.ranges, y);
    plan.on_success(g.id, PIECE_BYTES, ms(t0, 10), &y);
    // Six pieces are still missing (only the seeder has them): duplicating
    // the seeder's piece would only waste the seeder's upload.
    assert!(
        plan.next_request(getter, ms(t0, 3000)).is_none(),
        "no end game while the seeder still has missing pieces to send"
    );
    // Once every other piece is in (from another peer that has all but the
    // overdue one: the seeder keeps one piece in flight), it may be
    // duplicated.
    let mut stored = y.clone();
    let seeder2 = PeerId::random();
    let all = ChunkRanges::from(ChunkNum(0)..ChunkNum::chunks(size));
    plan.add_peer(seeder2, Some(all.difference(&x.ranges)));
    while let Some(r) = plan.next_request(seeder2, ms(t0, 3000)) {
        stored |= r.ranges.clone();
        plan.on_success(r.id, PIECE_BYTES, ms(t0, 3010), &stored);
    }
    let dup = plan
        .next_request(getter, ms(t0, 9000))
        .expect("end game: the seeder's piece is long overdue");
    assert_eq!(dup.ranges, x.ranges);
}
