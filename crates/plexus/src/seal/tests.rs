use std::io::Read;

use super::*;

fn plaintext(n: u64) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + (i >> 9)) as u8).collect()
}

fn seal(key: &Key, plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encrypt_with(key, plain, &mut out).unwrap();
    out
}

fn open(key: &Key, sealed: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    decrypt(key, sealed, &mut out).map(|_| out)
}

/// Sizes at every edge: empty, one byte, around the first chunk and the
/// second, and many chunks.
fn edge_sizes() -> Vec<u64> {
    let (f, c) = (FIRST_PLAIN, CHUNK_PLAIN);
    vec![
        0,
        1,
        f - 1,
        f,
        f + 1,
        f + c - 1,
        f + c,
        f + c + 1,
        f + 7 * c + 12_345,
    ]
}

#[test]
fn round_trips_at_edge_sizes_with_predicted_lengths() {
    for n in edge_sizes() {
        let plain = plaintext(n);
        let mut sealed = Vec::new();
        let key = encrypt(&plain[..], &mut sealed).unwrap();
        assert_eq!(sealed.len() as u64, sealed_len(n), "size {n}");
        assert_eq!(plain_len(sealed.len() as u64), Some(n), "size {n}");
        assert!(is_sealed(&sealed));
        assert_eq!(open(&key, &sealed).unwrap(), plain, "size {n}");
        // Chunk boundaries fall on 16 KiB chunk-group boundaries.
        for i in 1..chunk_count(n) {
            assert_eq!(segment_range(i, sealed.len() as u64).start % (16 * 1024), 0);
        }
    }
    assert_eq!(chunk_count(0), 1);
    assert_eq!(chunk_count(FIRST_PLAIN), 1);
    assert_eq!(chunk_count(FIRST_PLAIN + 1), 2);
    assert_eq!(sealed_len(FIRST_PLAIN), SEGMENT);
    assert_eq!(sealed_len(FIRST_PLAIN + CHUNK_PLAIN), 2 * SEGMENT);
}

#[test]
fn the_sealing_reader_gives_the_same_bytes_in_any_read_sizes() {
    let key = Key::generate();
    let plain = plaintext(FIRST_PLAIN + 2 * CHUNK_PLAIN + 7);
    let mut sealer = Sealer::new(&key, &plain[..]);
    let mut sealed = Vec::new();
    let mut small = [0u8; 1000];
    loop {
        let n = sealer.read(&mut small[..333]).unwrap();
        if n == 0 {
            break;
        }
        sealed.extend_from_slice(&small[..n]);
    }
    assert_eq!(sealed.len() as u64, sealed_len(plain.len() as u64));
    assert_eq!(open(&key, &sealed).unwrap(), plain);
}

#[test]
fn the_same_plaintext_seals_differently_each_time() {
    let key = Key::generate();
    let plain = plaintext(100);
    assert_ne!(seal(&key, &plain), seal(&key, &plain));
}

#[test]
fn a_wrong_key_is_named_as_such() {
    let plain = plaintext(1000);
    let sealed = seal(&Key::generate(), &plain);
    let err = open(&Key::generate(), &sealed).unwrap_err();
    assert!(matches!(err, Error::WrongKey), "{err}");
    assert!(err.to_string().contains("key does not open this content"));
}

#[test]
fn a_flipped_bit_anywhere_is_caught() {
    let key = Key::generate();
    let plain = plaintext(FIRST_PLAIN + 2 * CHUNK_PLAIN + 99);
    let sealed = seal(&key, &plain);
    let flip = |at: usize| {
        let mut bad = sealed.clone();
        bad[at] ^= 0x10;
        open(&key, &bad).unwrap_err()
    };
    assert!(matches!(flip(0), Error::NotSealed));
    assert!(matches!(flip(7), Error::Version(_)));
    assert!(matches!(flip(10), Error::Corrupt { chunk: 0 }), "nonce");
    assert!(matches!(flip(28), Error::Corrupt { chunk: 0 }), "reserved");
    assert!(matches!(flip(40), Error::WrongKey), "key check");
    assert!(matches!(flip(HEADER_LEN + 5), Error::Corrupt { chunk: 0 }));
    let seg = SEGMENT as usize;
    assert!(matches!(flip(seg + 1), Error::Corrupt { chunk: 1 }));
    assert!(
        matches!(flip(2 * seg - 1), Error::Corrupt { chunk: 1 }),
        "tag"
    );
    assert!(matches!(
        flip(sealed.len() - 1),
        Error::Corrupt { chunk: 3 }
    ));
}

#[test]
fn reordered_dropped_cut_or_extended_chunks_are_caught() {
    let key = Key::generate();
    let plain = plaintext(FIRST_PLAIN + 3 * CHUNK_PLAIN + 500);
    let sealed = seal(&key, &plain);
    let seg = SEGMENT as usize;
    let segment = |i: usize| &sealed[i * seg..((i + 1) * seg).min(sealed.len())];
    let join =
        |order: &[usize]| -> Vec<u8> { order.iter().flat_map(|&i| segment(i).to_vec()).collect() };
    assert_eq!(open(&key, &join(&[0, 1, 2, 3, 4])).unwrap(), plain);

    let swapped = open(&key, &join(&[0, 2, 1, 3, 4])).unwrap_err();
    assert!(matches!(swapped, Error::Corrupt { chunk: 1 }), "{swapped}");
    let dropped = open(&key, &join(&[0, 1, 3, 4])).unwrap_err();
    assert!(matches!(dropped, Error::Corrupt { chunk: 2 }), "{dropped}");
    // Cut at a chunk boundary: the new last chunk was not sealed as last.
    let cut = open(&key, &join(&[0, 1, 2, 3])).unwrap_err();
    assert!(matches!(cut, Error::Corrupt { chunk: 3 }), "{cut}");
    assert_eq!(plain_len(3 * SEGMENT + 16), None);
    // Cut inside a chunk.
    let mid = open(&key, &sealed[..sealed.len() - 100]).unwrap_err();
    assert!(matches!(mid, Error::Corrupt { chunk: 4 }), "{mid}");
    // A segment repeated at the end.
    let extended = open(&key, &join(&[0, 1, 2, 3, 4, 4])).unwrap_err();
    assert!(
        matches!(extended, Error::Corrupt { chunk: 4 }),
        "{extended}"
    );
    // Only the header, or part of it.
    let header_only = open(&key, &sealed[..HEADER_LEN]).unwrap_err();
    assert!(matches!(header_only, Error::Truncated(_)), "{header_only}");
    let half_header = open(&key, &sealed[..20]).unwrap_err();
    assert!(matches!(half_header, Error::Truncated(_)), "{half_header}");
    assert!(matches!(open(&key, b"").unwrap_err(), Error::Truncated(_)));
    assert!(matches!(
        open(&key, b"hello world, plain").unwrap_err(),
        Error::NotSealed
    ));
}

#[test]
fn ranges_map_to_whole_chunk_groups_and_open_alone() {
    let key = Key::generate();
    let n = FIRST_PLAIN + 4 * CHUNK_PLAIN + 777;
    let plain = plaintext(n);
    let sealed = seal(&key, &plain);
    let len = sealed.len() as u64;
    let (f, c) = (FIRST_PLAIN, CHUNK_PLAIN);
    for range in [
        0..1,
        0..n,
        5..f,
        f - 1..f + 1,
        f..f + c,
        f + c + 3..f + 3 * c + 9,
        n - 10..n,
        n - 1..n + 100,
        0..0,
        n + 5..n + 10,
    ] {
        let want = &plain[range.start.min(n) as usize..range.end.min(n) as usize];
        let bytes = sealed_range(range.clone(), len);
        assert_eq!(bytes.start % (16 * 1024), 0, "{range:?}");
        assert!(
            bytes.end.is_multiple_of(16 * 1024) || bytes.end == len,
            "{range:?}"
        );
        let mut got = Vec::new();
        let slice = &sealed[bytes.start as usize..bytes.end as usize];
        decrypt_range(
            &key,
            &sealed[..HEADER_LEN],
            len,
            range.clone(),
            slice,
            &mut got,
        )
        .unwrap();
        assert_eq!(got, want, "{range:?}");
    }
    // One chunk costs one segment, not the whole content.
    let one = sealed_range(f + 10..f + 20, len);
    assert_eq!(one, SEGMENT..2 * SEGMENT);

    let header = &sealed[..HEADER_LEN];
    let seg1 = &sealed[SEGMENT as usize..2 * SEGMENT as usize];
    let wrong = decrypt_range(&Key::generate(), header, len, one.clone(), seg1, Vec::new());
    assert!(matches!(wrong.unwrap_err(), Error::WrongKey));
    let seg2 = &sealed[2 * SEGMENT as usize..3 * SEGMENT as usize];
    let moved = decrypt_range(&key, header, len, f + 10..f + 20, seg2, Vec::new());
    assert!(matches!(moved.unwrap_err(), Error::Corrupt { chunk: 1 }));
    let short = decrypt_range(&key, header, len, f + 10..f + 20, &seg1[..100], Vec::new());
    assert!(matches!(short.unwrap_err(), Error::Truncated(_)));
}

#[test]
fn keys_print_as_hex_parse_back_and_stay_out_of_debug_output() {
    let key = Key::generate();
    let text = key.to_string();
    assert_eq!(text.len(), 64);
    assert_eq!(text.parse::<Key>().unwrap(), key);
    assert_eq!(text.to_uppercase().parse::<Key>().unwrap(), key);
    assert!(!format!("{key:?}").contains(&text[..8]));
    assert_ne!(Key::generate(), key);
    for bad in [
        "",
        "abc",
        &text[..62],
        &format!("{text}00"),
        &"zz".repeat(32),
    ] {
        let err = bad.parse::<Key>().unwrap_err();
        assert!(err.contains("64 hex digits"), "{bad}: {err}");
    }
}

#[test]
fn plain_len_refuses_lengths_no_plaintext_seals_to() {
    for bad in [
        0,
        1,
        HEADER_LEN as u64,
        HEADER_LEN as u64 + 15,
        SEGMENT + 1,
        SEGMENT + 15,
    ] {
        assert_eq!(plain_len(bad), None, "{bad}");
    }
    assert_eq!(plain_len(HEADER_LEN as u64 + 16), Some(0));
    assert_eq!(plain_len(SEGMENT + 17), Some(FIRST_PLAIN + 1));
    assert_eq!(plain_len(u64::MAX), plain_len(u64::MAX)); // no overflow panic
}
