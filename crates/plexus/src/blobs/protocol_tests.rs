//! The wire format: round trips, the frame caps, malformed input.

use super::*;
use bao_tree::ChunkNum;

#[test]
fn the_largest_request_fits_the_request_frame() {
    let bounds: Vec<ChunkNum> = (0..MAX_BOUNDARIES as u64)
        .map(|i| ChunkNum(2 * i))
        .collect();
    let request = Request::Get {
        hash: Hash::of(b"a"),
        ranges: ChunkRanges::new(bounds.into()).unwrap(),
    };
    assert_eq!(request.encode().len(), MAX_REQUEST_FRAME);
}

#[test]
fn the_largest_batch_fits_the_request_frame() {
    let items = vec![(Hash::of(b"a"), u64::MAX); MAX_BATCH];
    let request = Request::GetMany(items);
    assert!(request.encode().len() <= MAX_REQUEST_FRAME);
    assert_eq!(Request::decode(&request.encode()).unwrap(), request);
}

#[test]
fn malformed_batches_are_errors() {
    let many = |n: usize| Request::GetMany(vec![(Hash::of(b"a"), 4096); n]).encode();
    assert!(Request::decode(&many(0)).is_err());
    assert!(Request::decode(&many(MAX_BATCH + 1)).is_err());
    let mut short = many(3);
    short.pop();
    assert!(Request::decode(&short).is_err());
    let nested = Response::Many(vec![Response::Many(Vec::new())]).encode();
    assert!(Response::decode(nested).is_err());
    let busy = Response::Many(vec![Response::Busy]).encode();
    assert!(Response::decode(busy).is_err());
    let mut long = Response::Many(vec![Response::Data(vec![1; 9])]).encode();
    long.push(0);
    assert!(Response::decode(long.clone()).is_err());
    long.truncate(long.len() - 3);
    assert!(Response::decode(long).is_err());
}

#[test]
fn messages_round_trip() {
    let hash = Hash::of(b"a");
    let ranges = ChunkRanges::from(ChunkNum(16)..ChunkNum(64)) | ChunkRanges::from(ChunkNum(128)..);
    for req in [
        Request::Have(hash),
        Request::Get {
            hash,
            ranges: ranges.clone(),
        },
        Request::GetMany(vec![(hash, 4096), (Hash::of(b"b"), 0)]),
        Request::Wants {
            hash,
            wanted: ranges.clone(),
        },
        Request::wants(hash, &ChunkRanges::empty()),
    ] {
        assert_eq!(Request::decode(&req.encode()).unwrap(), req);
    }
    for res in [
        Response::Have {
            size: 5,
            complete: false,
            present: ranges,
            offer: false,
        },
        Response::offer(5, ChunkRanges::from(ChunkNum(0)..ChunkNum(1))),
        Response::Data(vec![1, 2, 3]),
        Response::NotFound,
        Response::Missing,
        Response::Busy,
        Response::Refused("no".into()),
        Response::Many(vec![
            Response::Data(vec![4, 5]),
            Response::NotFound,
            Response::Missing,
            Response::Data(Vec::new()),
        ]),
    ] {
        assert_eq!(Response::decode(res.encode()).unwrap(), res);
    }
}

#[test]
fn a_have_answer_carries_a_scattered_partial_holder() {
    // A getter half way through a crowd holds every other piece of a
    // 256 MiB blob: 512 ranges, 1,024 boundaries. Answers were cut at 256
    // boundaries when read, so such a holder could not be used at all.
    let mut present = ChunkRanges::empty();
    for piece in 0..512u64 {
        present |= ChunkRanges::from(ChunkNum(512 * piece)..ChunkNum(512 * piece + 256));
    }
    let have = Response::have(256 << 20, false, present.clone());
    assert_eq!(Response::decode(have.encode()).unwrap(), have);
    let Response::Have { present: sent, .. } = &have else {
        unreachable!()
    };
    assert_eq!(sent, &present);
    // More than the cap: the first ranges, all present.
    let mut huge = ChunkRanges::empty();
    for i in 0..(MAX_HAVE_BOUNDARIES as u64) {
        huge |= ChunkRanges::from(ChunkNum(4 * i)..ChunkNum(4 * i + 1));
    }
    let cut = Response::have(1 << 40, false, huge.clone());
    let Response::Have { present: sent, .. } = &cut else {
        unreachable!()
    };
    assert_eq!(sent.boundaries().len(), MAX_HAVE_BOUNDARIES);
    assert!(sent.is_subset(&huge));
    assert_eq!(Response::decode(cut.encode()).unwrap(), cut);
}

#[test]
fn wants_is_a_have_to_older_nodes_and_is_cut_to_the_frame() {
    let hash = Hash::of(b"a");
    // Older nodes read the kind and the hash, and nothing after them.
    let wants = Request::wants(hash, &ChunkRanges::from(ChunkNum(3)..)).encode();
    assert!(wants.starts_with(&Request::Have(hash).encode()));
    // A getter missing every other chunk of a large blob sends the first
    // of its ranges: still all wanted, within the largest request frame.
    let mut missing = ChunkRanges::empty();
    for i in 0..1000u64 {
        missing |= ChunkRanges::from(ChunkNum(2 * i)..ChunkNum(2 * i + 1));
    }
    let cut = Request::wants(hash, &missing);
    let Request::Wants { wanted, .. } = &cut else {
        panic!("not a Wants: {cut:?}");
    };
    assert_eq!(wanted.boundaries().len(), MAX_BOUNDARIES);
    assert!(wanted.is_subset(&missing));
    assert!(cut.encode().len() <= MAX_REQUEST_FRAME);
    assert_eq!(Request::decode(&cut.encode()).unwrap(), cut);
}

#[test]
fn malformed_messages_are_errors() {
    assert!(Request::decode(&[]).is_err());
    assert!(Request::decode(&[9; 40]).is_err());
    assert!(Request::decode(&[1; 33]).is_err());
    let mut unsorted = [&[1u8][..], &[0; 32]].concat();
    unsorted.extend_from_slice(&2u32.to_le_bytes());
    unsorted.extend_from_slice(&9u64.to_le_bytes());
    unsorted.extend_from_slice(&3u64.to_le_bytes());
    assert!(Request::decode(&unsorted).is_err());
    let mut huge = [&[1u8][..], &[0; 32]].concat();
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(Request::decode(&huge).is_err());
    assert!(Response::decode(vec![]).is_err());
    assert!(Response::decode(vec![0, 1]).is_err());
    let mut past = [&[1u8][..], &[0; 32]].concat();
    past.extend_from_slice(&1u32.to_le_bytes());
    past.extend_from_slice(&(MAX_CHUNK + 1).to_le_bytes());
    let err = Request::decode(&past).unwrap_err().to_string();
    assert!(err.contains("past the largest"), "{err}");
}

#[test]
fn an_offer_reads_as_a_partial_answer_to_a_node_that_predates_it() {
    // Such a node read the flag byte as `== 1`: complete or not. An offer
    // is flag 2, so it still reads as the partial answer it was sent as.
    let offer = Response::offer(1 << 20, ChunkRanges::from(ChunkNum(0)..ChunkNum(128)));
    let wire = offer.encode();
    assert_eq!((wire[0], wire[1]), (0, 2), "kind Have, flag 2");
    let Response::Have {
        complete, offer, ..
    } = Response::decode(wire).unwrap()
    else {
        unreachable!()
    };
    assert!(!complete && offer);
}

#[test]
fn the_compact_form_round_trips_and_is_a_quarter_of_the_fixed_one() {
    let hash = Hash::of(b"c");
    // A crowd getter's holdings: every third piece of 128 chunks, 140
    // boundaries.
    let mut present = ChunkRanges::empty();
    for piece in 0..70u64 {
        present |= ChunkRanges::from(ChunkNum(384 * piece)..ChunkNum(384 * piece + 128));
    }
    let have = Response::have(64 << 20, false, present.clone());
    let (fixed, compact) = (have.encode(), have.encode_as(Form::Compact));
    assert_eq!(
        Response::decode_as(compact.clone(), Form::Compact).unwrap(),
        have
    );
    assert_eq!(fixed.len(), 1 + 1 + 8 + 4 + 140 * 8);
    assert!(
        compact.len() <= 1 + 1 + 8 + 2 + 140 * 2,
        "{}",
        compact.len()
    );
    let open_ended =
        ChunkRanges::from(ChunkNum(0)..ChunkNum(5)) | ChunkRanges::from(ChunkNum(MAX_CHUNK)..);
    for req in [
        Request::Have(hash),
        Request::wants(hash, &present),
        Request::Get {
            hash,
            ranges: open_ended.clone(),
        },
        Request::Get {
            hash,
            ranges: ChunkRanges::empty(),
        },
    ] {
        assert_eq!(
            Request::decode_as(&req.encode_as(Form::Compact), Form::Compact).unwrap(),
            req
        );
        assert!(req.encode_as(Form::Compact).len() <= MAX_REQUEST_FRAME);
    }
    for res in [
        Response::offer(5, open_ended),
        Response::Many(vec![Response::Data(vec![1]), Response::Missing]),
        Response::NotFound,
    ] {
        assert_eq!(
            Response::decode_as(res.encode_as(Form::Compact), Form::Compact).unwrap(),
            res
        );
    }
    // The largest request still fits its frame: every boundary far apart.
    let far: Vec<ChunkNum> = (0..MAX_BOUNDARIES as u64)
        .map(|i| ChunkNum(i << 45))
        .collect();
    let far = Request::Get {
        hash,
        ranges: ChunkRanges::new(far.into()).unwrap(),
    };
    assert!(far.encode_as(Form::Compact).len() <= MAX_REQUEST_FRAME);
}

#[test]
fn a_malformed_compact_range_list_is_refused() {
    let hash = Hash::of(b"m");
    let get = |list: &[u8]| {
        let mut frame = [&[1u8][..], &hash.0].concat();
        frame.extend_from_slice(list);
        Request::decode_as(&frame, Form::Compact)
    };
    assert!(get(&[2, 3, 4]).is_ok());
    let refused = |list: &[u8], why: &str| {
        let err = get(list).unwrap_err().to_string();
        assert!(err.contains(why), "{list:?}: {err}");
    };
    refused(&[], "range list");
    refused(&[2, 3], "range list");
    refused(&[2, 3, 0], "not sorted");
    refused(&[2, 3, 4, 9], "bytes after");
    refused(&[0x81, 0x02], "at most 256");
    // Steps adding up past the largest chunk number, and one past u64.
    let big = |v: u64| {
        let mut b = unsigned_varint::encode::u64_buffer();
        unsigned_varint::encode::u64(v, &mut b).to_vec()
    };
    refused(
        &[[2].as_slice(), &big(MAX_CHUNK), &big(1)].concat(),
        "past the largest",
    );
    refused(
        &[[2].as_slice(), &big(u64::MAX), &big(u64::MAX)].concat(),
        "past the largest",
    );
    refused(
        &[
            1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ],
        "range list",
    );
    // A `Have` answer's list is checked the same way.
    let mut have = Response::have(10, false, ChunkRanges::from(ChunkNum(1)..ChunkNum(2)))
        .encode_as(Form::Compact);
    have.push(0);
    assert!(Response::decode_as(have, Form::Compact).is_err());
}
