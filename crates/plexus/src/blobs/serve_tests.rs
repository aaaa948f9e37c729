//! Unit tests of the serving rules (`serve.rs`): slots and bytes held until
//! the response is sent, the per-peer and total caps, and making room for a
//! peer that reads by closing connections that do not.

use std::time::{Duration, Instant};

use libp2p::{swarm::ConnectionId, PeerId};

use super::{
    protocol::{Request, Response},
    serve::*,
};
use crate::content::{ChunkNum, ChunkRanges, Hash};

fn get(ranges: ChunkRanges) -> Request {
    Request::Get {
        hash: Hash([1; 32]),
        ranges,
    }
}

/// A full-size (4 MiB) `Get`.
fn full() -> Request {
    get(ChunkRanges::from(ChunkNum(0)..ChunkNum(4096)))
}

fn conn(n: usize) -> ConnectionId {
    ConnectionId::new_unchecked(n)
}

fn is_admitted(a: &Admission) -> bool {
    matches!(a, Admission::Have(_) | Admission::Encode { .. })
}

#[test]
fn oversized_and_overflowing_requests_are_refused() {
    let mut serving = Serving::default();
    let peer = PeerId::random();
    let now = Instant::now();
    for (i, ranges) in [
        ChunkRanges::from(ChunkNum(0)..ChunkNum(4097)),
        ChunkRanges::from(ChunkNum(0)..ChunkNum(1 << 54)),
        ChunkRanges::from(ChunkNum(0)..),
    ]
    .into_iter()
    .enumerate()
    {
        assert!(matches!(
            serving.handle_request(peer, conn(0), i, get(ranges), now).0,
            Admission::Answer(Response::Refused(_))
        ));
    }
    assert_eq!(serving.total_bytes(), 0, "a refusal holds nothing");
    assert!(matches!(
        serving.handle_request(peer, conn(0), 9, full(), now).0,
        Admission::Encode { .. }
    ));
}

#[test]
fn each_peer_has_its_slots_and_gets_them_back() {
    let mut serving = Serving::default();
    let (a, b) = (PeerId::random(), PeerId::random());
    let now = Instant::now();
    let have = || Request::Have(Hash([0; 32]));
    for id in 0..MAX_SERVING_PER_PEER {
        assert_eq!(
            serving.handle_request(a, conn(0), id, have(), now).0,
            Admission::Have(Hash([0; 32]))
        );
    }
    assert_eq!(
        serving.handle_request(a, conn(0), 100, have(), now).0,
        Admission::Answer(Response::Busy)
    );
    assert_eq!(
        serving.handle_request(b, conn(1), 200, have(), now).0,
        Admission::Have(Hash([0; 32])),
        "b is not held back by a"
    );
    for id in 0..MAX_SERVING_PER_PEER {
        serving.handle_done(id);
    }
    serving.handle_done(200);
    assert_eq!(serving.busy_peers(), 0);
    assert_eq!(serving.total_bytes(), 0);
}

#[test]
fn a_response_waiting_to_be_sent_still_holds_its_slot() {
    // The old rule freed the slot once the response was encoded, before it
    // was sent: a peer that never read could have any number waiting.
    let mut serving = Serving::default();
    let peer = PeerId::random();
    let now = Instant::now();
    let small = || get(ChunkRanges::from(ChunkNum(0)..ChunkNum(1)));
    for id in 0..MAX_SERVING_PER_PEER {
        assert!(is_admitted(
            &serving.handle_request(peer, conn(0), id, small(), now).0
        ));
        assert!(
            serving.handle_encoded(id, &Response::Data(vec![0; 1100])),
            "still waiting to be sent"
        );
    }
    assert_eq!(serving.total_bytes(), 1100 * MAX_SERVING_PER_PEER as u64);
    assert_eq!(
        serving.handle_request(peer, conn(0), 99, small(), now).0,
        Admission::Answer(Response::Busy),
        "encoded but unsent responses still count"
    );
    serving.handle_done(3);
    assert!(is_admitted(
        &serving.handle_request(peer, conn(0), 99, small(), now).0
    ));
}

#[test]
fn done_before_encoded_drops_the_response_and_counts_once() {
    let mut serving = Serving::default();
    let peer = PeerId::random();
    let now = Instant::now();
    serving.handle_request(peer, conn(0), 1, full(), now);
    // The request timed out (or its connection closed) while encoding.
    serving.handle_done(1);
    assert!(
        !serving.handle_encoded(1, &Response::Data(vec![0; 4 << 20])),
        "not to be sent"
    );
    serving.handle_done(1);
    assert_eq!((serving.total_bytes(), serving.busy_peers()), (0, 0));
}

#[test]
fn one_peer_may_hold_four_full_responses() {
    let mut serving = Serving::default();
    let peer = PeerId::random();
    let now = Instant::now();
    for id in 0..4 {
        let (a, close) = serving.handle_request(peer, conn(id), id, full(), now);
        assert!(is_admitted(&a) && close.is_empty());
    }
    assert!(serving.total_bytes() <= MAX_PEER_BYTES);
    assert_eq!(
        serving.handle_request(peer, conn(9), 9, full(), now).0,
        Admission::Answer(Response::Busy),
        "a fifth is over the per-peer bytes, on any connection"
    );
}

/// Makes `peer` a reader: a small request, answered with data and sent.
fn read_once(serving: &mut Serving<usize>, peer: PeerId, id: usize, now: Instant) {
    let small = get(ChunkRanges::from(ChunkNum(0)..ChunkNum(1)));
    let (a, _) = serving.handle_request(peer, conn(id), id, small, now);
    assert!(is_admitted(&a), "a small request is admitted");
    assert!(serving.handle_encoded(id, &Response::Data(vec![0; 1100])));
    serving.handle_sent(id, now);
}

#[test]
fn the_total_is_capped_and_a_reader_gets_room_from_non_readers() {
    let mut serving = Serving::default();
    let t0 = Instant::now();
    // Non-readers, one full request each, until the total is used up.
    let mut admitted = Vec::new();
    for i in 0..100 {
        let p = PeerId::random();
        let (a, close) = serving.handle_request(p, conn(i), i, full(), t0);
        assert!(close.is_empty(), "non-readers cut nothing");
        if is_admitted(&a) {
            admitted.push((p, conn(i)));
        }
    }
    assert!(serving.total_bytes() <= MAX_TOTAL_BYTES);
    assert!(admitted.len() >= 10 && admitted.len() < 100, "{admitted:?}");
    // However long they wait, another non-reader cuts nothing.
    let later = t0 + READER_FOR;
    let (a, close) = serving.handle_request(PeerId::random(), conn(400), 400, full(), later);
    assert_eq!(a, Admission::Answer(Response::Busy));
    assert!(close.is_empty());

    // Fill what is left: 64 KiB requests from new peers, then small ones
    // from one peer, until each is busy.
    let small = || get(ChunkRanges::from(ChunkNum(0)..ChunkNum(1)));
    let mut id = 1000;
    while is_admitted(
        &serving
            .handle_request(
                PeerId::random(),
                conn(id),
                id,
                get(ChunkRanges::from(ChunkNum(0)..ChunkNum(64))),
                t0,
            )
            .0,
    ) {
        id += 1;
    }
    let filler = PeerId::random();
    while is_admitted(&serving.handle_request(filler, conn(id), id, small(), t0).0) {
        id += 1;
    }
    assert!(id < 1100 && serving.total_bytes() <= MAX_TOTAL_BYTES);

    // A peer holding nothing still gets one small request through (a new
    // getter's `Have` and size proof), not two at once.
    let newcomer = PeerId::random();
    assert!(is_admitted(
        &serving
            .handle_request(newcomer, conn(450), 450, small(), t0)
            .0
    ));
    assert_eq!(
        serving
            .handle_request(newcomer, conn(450), 451, small(), t0)
            .0,
        Admission::Answer(Response::Busy)
    );
    serving.handle_done(450);

    // A new peer's small request still gets through; once it read one, it
    // is a reader and its full requests cut the oldest non-reader's
    // connection, however young.
    let reader = PeerId::random();
    read_once(&mut serving, reader, 500, t0);
    let (a, close) = serving.handle_request(reader, conn(501), 501, full(), t0);
    assert!(is_admitted(&a));
    assert_eq!(close, vec![admitted[0]]);
    let (a, close) = serving.handle_request(reader, conn(501), 502, full(), t0);
    assert!(is_admitted(&a), "two full responses are guaranteed");
    assert_eq!(close, vec![admitted[1]]);
    let (a, close) = serving.handle_request(reader, conn(501), 503, full(), t0);
    assert_eq!(a, Admission::Answer(Response::Busy), "a third is not");
    assert!(close.is_empty());
    assert!(serving.total_bytes() <= HARD_TOTAL_BYTES);

    // The cut connections' requests end (connection closed).
    serving.handle_done(0);
    serving.handle_done(1);
    assert!(serving.total_bytes() <= MAX_TOTAL_BYTES);

    // A reader that stops reading loses its standing after EVICT_AFTER:
    // another reader cuts it then, not before.
    let other = PeerId::random();
    read_once(&mut serving, other, 600, t0);
    for i in 2..admitted.len() {
        serving.handle_done(i); // only the first reader's requests are left
    }
    let fill: Vec<usize> = (700..720).collect();
    for (k, id) in fill.iter().enumerate() {
        let p = PeerId::random();
        read_once(&mut serving, p, 800 + k, t0);
        serving.handle_request(p, conn(*id), *id, full(), t0);
    }
    let (a, close) = serving.handle_request(other, conn(601), 601, full(), t0);
    assert!(
        !is_admitted(&a) || close.iter().all(|(p, _)| *p != reader),
        "a reader's young responses are not cut"
    );
    let (a, close) = serving.handle_request(other, conn(602), 602, full(), t0 + EVICT_AFTER);
    assert!(is_admitted(&a), "old unsent responses are cut");
    assert!(!close.is_empty());
}

#[test]
fn a_flood_of_identities_stays_under_the_hard_total() {
    // 500 identities on 4 connections each, 16 full requests per connection
    // every 100 ms for 10 s, never reading; a cut connection's requests end
    // 100 ms later. A reader asks every 500 ms (after the flood filled the
    // total) and reads at once.
    let mut serving = Serving::default();
    let t0 = Instant::now();
    let peers: Vec<PeerId> = (0..500).map(|_| PeerId::random()).collect();
    let (mut id, mut closing) = (0usize, Vec::<(Instant, ConnectionId)>::new());
    let mut by_conn: std::collections::HashMap<ConnectionId, Vec<usize>> = Default::default();
    let reader = PeerId::random();
    let (mut reader_served, mut reader_asked) = (0, 0);
    for step in 0..100u32 {
        let now = t0 + Duration::from_millis(100) * step;
        closing.retain(|(at, c)| {
            if *at > now {
                return true;
            }
            for r in by_conn.remove(c).unwrap_or_default() {
                serving.handle_done(r);
            }
            false
        });
        for (i, p) in peers.iter().enumerate() {
            for k in 0..4 {
                let c = conn(i * 4 + k);
                for _ in 0..16 {
                    id += 1;
                    let (a, close) = serving.handle_request(*p, c, id, full(), now);
                    if is_admitted(&a) {
                        by_conn.entry(c).or_default().push(id);
                    }
                    closing.extend(
                        close
                            .iter()
                            .map(|(_, c)| (now + Duration::from_millis(100), *c)),
                    );
                    assert!(serving.total_bytes() <= HARD_TOTAL_BYTES);
                }
            }
        }
        if step % 5 == 0 {
            id += 1;
            reader_asked += 1;
            // First the size proof (small), then full-size ranges.
            let ask = if step == 0 {
                get(ChunkRanges::from(ChunkNum(0)..ChunkNum(1)))
            } else {
                full()
            };
            let (a, close) = serving.handle_request(reader, conn(9999), id, ask, now);
            closing.extend(
                close
                    .iter()
                    .map(|(_, c)| (now + Duration::from_millis(100), *c)),
            );
            if is_admitted(&a) {
                reader_served += 1;
                serving.handle_encoded(id, &Response::Data(vec![0; 1 << 20]));
                serving.handle_sent(id, now);
            }
        }
    }
    assert!(
        reader_served == reader_asked,
        "the reader was served {reader_served} of {reader_asked} times"
    );
}

#[test]
fn a_batch_counts_its_bytes_against_the_peer() {
    use super::protocol::{MAX_BATCH, MAX_BATCH_BYTES};
    let mut serving = Serving::default();
    let (peer, other) = (PeerId::random(), PeerId::random());
    let now = Instant::now();
    let batch = |size: u64, n: usize| Request::GetMany(vec![(Hash([2; 32]), size); n]);
    // Over the byte cap, or sizes whose sum overflows: refused, nothing held.
    for request in [
        batch(MAX_BATCH_BYTES / 2 + 1, 2),
        batch(u64::MAX / 2 + 1, 2),
    ] {
        assert!(matches!(
            serving.handle_request(peer, conn(0), 0, request, now).0,
            Admission::Answer(Response::Refused(_))
        ));
    }
    assert_eq!(serving.total_bytes(), 0);
    // A full batch of 4 KiB blobs holds a whole 16 KiB group per blob (a
    // blob larger than asked answers with whole groups), not one slot's
    // worth: the peer's byte cap, not its slots, is what runs out.
    // Three 4 MiB `Get`s first: the batches after them run out of bytes
    // long before they run out of slots.
    for id in 100..103 {
        assert!(is_admitted(
            &serving.handle_request(peer, conn(0), id, full(), now).0
        ));
    }
    let before = serving.total_bytes();
    let full = || batch(4096, MAX_BATCH);
    let mut admitted = 0;
    for id in 0..MAX_SERVING_PER_PEER {
        match serving.handle_request(peer, conn(0), id, full(), now).0 {
            Admission::EncodeMany(items) => {
                assert_eq!(items.len(), MAX_BATCH);
                admitted += 1;
            }
            Admission::Answer(Response::Busy) => break,
            other => panic!("{other:?}"),
        }
    }
    let each = (serving.total_bytes() - before) / admitted;
    assert!(each >= MAX_BATCH as u64 * 16 * 1024, "{each} bytes held");
    assert!(serving.total_bytes() <= MAX_PEER_BYTES);
    assert!(
        admitted < MAX_SERVING_PER_PEER as u64 - 3,
        "{admitted} batches admitted: bytes must limit them"
    );
    assert_eq!(
        serving.handle_request(other, conn(1), 99, full(), now).0,
        Admission::EncodeMany(vec![(Hash([2; 32]), 4096); MAX_BATCH]),
        "another peer is not held back"
    );
    // Once encoded, the answer's real size counts.
    let answer = Response::Many(vec![Response::Data(vec![0; 4096]); MAX_BATCH]);
    assert!(serving.handle_encoded(0, &answer));
    serving.handle_sent(0, now);
    for id in (1..admitted as usize).chain(100..103) {
        serving.handle_done(id);
    }
    serving.handle_done(99);
    assert_eq!(serving.total_bytes(), 0);
}
