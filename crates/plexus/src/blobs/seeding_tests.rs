use std::collections::HashSet;

use super::*;

fn piece(i: u64) -> ChunkRanges {
    ChunkRanges::from(ChunkNum(i * PIECE_CHUNKS)..ChunkNum((i + 1) * PIECE_CHUNKS))
}

fn pieces(r: &ChunkRanges) -> Vec<u64> {
    pieces_of(r).collect()
}

/// Every piece of a blob of `n` pieces.
fn all(n: u64) -> ChunkRanges {
    ChunkRanges::from(ChunkNum(0)..ChunkNum(n * PIECE_CHUNKS))
}

#[test]
fn pieces_of_counts_each_overlapped_piece_once() {
    let r = ChunkRanges::from(ChunkNum(10)..ChunkNum(20))
        | ChunkRanges::from(ChunkNum(PIECE_CHUNKS / 2)..ChunkNum(PIECE_CHUNKS + 44))
        | ChunkRanges::from(ChunkNum(4 * PIECE_CHUNKS)..ChunkNum(4 * PIECE_CHUNKS + 1));
    assert_eq!(pieces(&r), vec![0, 1, 4]);
    assert_eq!(pieces(&ChunkRanges::empty()), Vec::<u64>::new());
    // An open end is bounded by the largest chunk, and scans are cut.
    let open = ChunkRanges::from(ChunkNum(0)..);
    assert_eq!(pieces_of(&open).take(3).collect::<Vec<_>>(), vec![0, 1, 2]);
    let last = ChunkRanges::from(ChunkNum(u64::MAX - 1)..);
    assert_eq!(pieces(&last), Vec::<u64>::new());
}

#[test]
fn a_lone_getter_is_offered_everything() {
    let mut s = Seeding::default();
    let (hash, a) = (Hash([1; 32]), PeerId::random());
    let now = Instant::now();
    // Nothing fetched yet: no offer.
    assert_eq!(s.offer(a, hash, &all(64), now), None);
    s.handle_get(a, hash, &piece(0), now);
    assert_eq!(
        s.offer(a, hash, &all(64), now),
        None,
        "only a itself fetches"
    );
    // Another getter, but long ago: still none.
    let b = PeerId::random();
    s.handle_get(b, hash, &piece(1), now);
    let later = now + CROWD_WINDOW + Duration::from_secs(1);
    s.handle_get(a, hash, &piece(2), later);
    assert_eq!(s.offer(a, hash, &all(64), later), None);
}

#[test]
fn a_crowd_is_offered_pieces_asked_least_and_different_ones() {
    let mut s = Seeding::default();
    let hash = Hash([2; 32]);
    let now = Instant::now();
    let getters: Vec<PeerId> = (0..8).map(|_| PeerId::random()).collect();
    // Pieces 0..32 were each sent once already.
    for (i, g) in getters.iter().enumerate() {
        for p in 0..4 {
            s.handle_get(*g, hash, &piece(i as u64 * 4 + p), now);
        }
    }
    let mut offered = HashSet::new();
    for g in &getters {
        let offer = s.offer(*g, hash, &all(256), now).expect("a crowd");
        let got = pieces(&offer);
        // Sized to what it fetched lately (4 pieces), twice over.
        assert_eq!(got.len(), 8, "{got:?}");
        assert!(
            got.iter().all(|p| *p >= 32),
            "never-sent pieces first: {got:?}"
        );
        for p in got {
            assert!(offered.insert(p), "piece {p} offered twice");
        }
    }
}

#[test]
fn an_offer_sticks_until_fetched_or_stale() {
    let mut s = Seeding::default();
    let hash = Hash([5; 32]);
    let now = Instant::now();
    let (a, b) = (PeerId::random(), PeerId::random());
    s.handle_get(a, hash, &piece(0), now);
    s.handle_get(b, hash, &piece(1), now);
    let first = pieces(&s.offer(a, hash, &all(256), now).unwrap());
    let t = now + Duration::from_millis(250);
    assert_eq!(pieces(&s.offer(a, hash, &all(256), t).unwrap()), first);
    // Fetching one of them replaces that one only.
    s.handle_get(a, hash, &piece(first[0]), t);
    let next = pieces(&s.offer(a, hash, &all(256), t).unwrap());
    assert!(!next.contains(&first[0]));
    assert_eq!(
        next.iter().filter(|p| first.contains(p)).count(),
        first.len() - 1
    );
    // Others are offered none of a's pieces while a keeps asking.
    let theirs = pieces(&s.offer(b, hash, &all(256), t).unwrap());
    assert!(
        theirs.iter().all(|p| !next.contains(p)),
        "{theirs:?} {next:?}"
    );
    // Wanting only a's pieces, b is offered nothing for now...
    let wanted = next.iter().fold(ChunkRanges::empty(), |r, p| r | piece(*p));
    assert_eq!(s.offer(b, hash, &wanted, t), Some(ChunkRanges::empty()));
    // ... and once a's offer is stale (a still fetches, but stopped
    // asking what to fetch), they are anyone's again.
    let stale = t + OFFER_HOLD + Duration::from_millis(1);
    s.handle_get(a, hash, &piece(201), stale);
    s.handle_get(b, hash, &piece(200), stale);
    assert_eq!(
        pieces(&s.offer(b, hash, &wanted, stale).unwrap()).len(),
        next.len().min(MIN_OFFER)
    );
}

#[test]
fn a_getter_offered_nothing_for_long_gets_pieces_held_for_others() {
    let mut s = Seeding::default();
    let hash = Hash([6; 32]);
    let now = Instant::now();
    let (a, b) = (PeerId::random(), PeerId::random());
    s.handle_get(a, hash, &piece(0), now);
    s.handle_get(b, hash, &piece(1), now);
    // a keeps piece 7 as its offer (it asks every 250 ms and is slow).
    let mut t = now;
    assert_eq!(s.offer(a, hash, &piece(7), t), Some(piece(7)));
    // b wants only piece 7: nothing while a holds it, until b is starved.
    let mut empty = 0;
    while t < now + STARVED_AFTER + Duration::from_secs(1) {
        t += Duration::from_millis(250);
        assert_eq!(s.offer(a, hash, &piece(7), t), Some(piece(7)));
        s.handle_get(b, hash, &piece(2), t); // b fetches other pieces meanwhile
        match s.offer(b, hash, &piece(7), t).unwrap() {
            o if o.is_empty() => empty += 1,
            o => {
                assert_eq!(o, piece(7));
                break;
            }
        }
    }
    let waited = t.duration_since(now);
    assert!(
        waited >= STARVED_AFTER && waited < STARVED_AFTER + Duration::from_millis(500),
        "{waited:?} ({empty} empty offers)"
    );
}

#[test]
fn a_piece_sent_before_is_not_held_from_a_straggler() {
    let mut s = Seeding::default();
    let hash = Hash([8; 32]);
    let now = Instant::now();
    let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
    // Piece 7 went to c (since gone: its copy never spread); piece 9
    // was never sent.
    s.handle_get(c, hash, &piece(7), now);
    s.handle_get(a, hash, &piece(0), now);
    s.handle_get(b, hash, &piece(1), now);
    let (seven, nine) = (piece(7), piece(9));
    assert_eq!(s.offer(a, hash, &seven, now), Some(seven.clone()));
    assert_eq!(s.offer(a, hash, &nine, now), Some(nine.clone()));
    // b, the last getter, wants both too. The piece never sent stays a's
    // (the seeder must not send it twice while others wait), but the
    // piece sent before is offered at once: held, b would wait
    // `STARVED_AFTER` for it, as stragglers did (`plexus-testbed
    // crowd-leave`: the last two getters 3 s after the others).
    let t = now + Duration::from_millis(250);
    assert_eq!(s.offer(b, hash, &nine, t), Some(ChunkRanges::empty()));
    assert_eq!(s.offer(b, hash, &seven, t), Some(seven.clone()));
    assert_eq!(
        s.offer(b, hash, &(seven.clone() | nine), t),
        Some(ChunkRanges::empty()),
        "while a never-sent piece is wanted, only never-sent pieces are offered"
    );
}

#[test]
fn a_getter_that_left_makes_no_crowd_and_frees_its_offers() {
    let mut s = Seeding::default();
    let hash = Hash([7; 32]);
    let now = Instant::now();
    let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
    for (i, g) in [a, b, c].into_iter().enumerate() {
        s.handle_get(g, hash, &piece(i as u64), now);
    }
    let held = s.offer(a, hash, &all(64), now).unwrap();
    assert!(!held.is_empty());
    // While a is connected, b wanting only a's pieces is offered nothing.
    assert_eq!(s.offer(b, hash, &held, now), Some(ChunkRanges::empty()));
    // a disconnects: its pieces are b's to fetch at once.
    s.handle_gone(a);
    let t = now + Duration::from_millis(250);
    assert_eq!(s.offer(b, hash, &held, t), Some(held.clone()));
    // c leaves too: b, alone, is offered everything (no crowd), though
    // both fetched within the crowd window.
    s.handle_gone(c);
    assert_eq!(s.offer(b, hash, &all(64), t), None);
}

#[test]
fn an_offer_always_names_something_wanted() {
    let mut s = Seeding::default();
    let hash = Hash([3; 32]);
    let now = Instant::now();
    let (a, b) = (PeerId::random(), PeerId::random());
    // Every piece sent many times except piece 7, sent more than all.
    for round in 0..3 {
        for p in 0..16 {
            s.handle_get(b, hash, &piece(p), now);
            if p == 7 || round == 0 {
                s.handle_get(a, hash, &piece(p), now);
            }
        }
    }
    // `a` wants only piece 7: it is offered, however often it was sent.
    let offer = s.offer(a, hash, &piece(7), now).unwrap();
    assert_eq!(pieces(&offer), vec![7]);
    // Wanting a part of a piece gets the whole piece.
    let part = ChunkRanges::from(ChunkNum(7 * PIECE_CHUNKS + 3)..ChunkNum(7 * PIECE_CHUNKS + 9));
    assert_eq!(s.offer(a, hash, &part, now).unwrap(), piece(7));
    // Wanting nothing gets nothing (the answer then says all it has).
    assert_eq!(
        s.offer(a, hash, &ChunkRanges::empty(), now),
        Some(ChunkRanges::empty())
    );
}

#[test]
fn a_fast_getter_is_offered_more() {
    let mut s = Seeding::default();
    let hash = Hash([4; 32]);
    let now = Instant::now();
    let (fast, slow) = (PeerId::random(), PeerId::random());
    s.handle_get(slow, hash, &piece(0), now);
    // 16 requests of 16 pieces in the last second.
    for r in 0..16 {
        let start = 1 + r * 16;
        let ranges = ChunkRanges::from(
            ChunkNum(start * PIECE_CHUNKS)..ChunkNum((start + 16) * PIECE_CHUNKS),
        );
        s.handle_get(fast, hash, &ranges, now);
    }
    let later = now + Duration::from_millis(500);
    assert_eq!(
        pieces(&s.offer(fast, hash, &all(4096), later).unwrap()).len(),
        512
    );
    assert_eq!(
        pieces(&s.offer(slow, hash, &all(4096), later).unwrap()).len(),
        MIN_OFFER
    );
}

#[test]
fn memory_stays_bounded_under_many_blobs_and_offers() {
    let mut s = Seeding::default();
    let now = Instant::now();
    let a = PeerId::random();
    for i in 0..(MAX_BLOBS as u32 + 10) {
        let mut h = [0u8; 32];
        h[..4].copy_from_slice(&i.to_le_bytes());
        s.handle_get(a, Hash(h), &piece(0), now + Duration::from_millis(i.into()));
    }
    assert_eq!(s.blobs.len(), MAX_BLOBS);
    // Offers of a huge wanted range, again and again, from a hostile getter.
    let hash = Hash([9; 32]);
    let b = PeerId::random();
    s.handle_get(a, hash, &piece(0), now);
    for _ in 0..64 {
        s.handle_get(b, hash, &all(512), now);
    }
    for _ in 0..16 {
        s.offer(b, hash, &ChunkRanges::from(ChunkNum(0)..), now)
            .unwrap();
    }
    let crowd = &s.blobs[&hash];
    assert!(crowd.offered.len() <= 8 * MAX_OFFER + MAX_OFFER);
}
