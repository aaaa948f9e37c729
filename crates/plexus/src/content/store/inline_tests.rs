//! Inline blobs: only bytes that match their hash are taken, and an inline
//! blob reads, encodes, exports and goes away like a blob kept as a file.

use bao_tree::{ChunkNum, ChunkRanges};

use super::INLINE_MAX;
use crate::content::{share, BlobFormat, Hash, Store};

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

#[test]
fn only_bytes_that_match_their_hash_and_fit_are_taken() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let good = bytes(4096, 1);
    let forged = bytes(4096, 2);
    let big = bytes(INLINE_MAX as usize + 1, 3);
    let claimed = Hash::of(&good);
    let taken = store
        .put_inline(
            &[
                (claimed, &forged[..]),
                (Hash::of(&big), &big[..]),
                (Hash::of(&[]), &[][..]),
            ],
            true,
        )
        .unwrap();
    assert_eq!(taken, [false, false, true]);
    assert_eq!(store.get(&claimed).unwrap(), None, "forged bytes were kept");
    assert_eq!(
        store.get(&Hash::of(&big)).unwrap(),
        None,
        "too big to inline"
    );
    assert_eq!(
        store.put_inline(&[(claimed, &good[..])], true).unwrap(),
        [true]
    );
    let info = store.get(&claimed).unwrap().unwrap();
    assert!(info.complete);
    assert_eq!(info.size, 4096);
}

#[test]
fn an_inline_blob_reads_encodes_exports_and_is_removed_like_a_file_blob() {
    let dir = tempfile::tempdir().unwrap();
    let inline = Store::open(&dir.path().join("inline")).unwrap();
    let files = Store::open(&dir.path().join("files")).unwrap();
    let small = bytes(10_000, 7);
    let hash = Hash::of(&small);
    inline.put_inline(&[(hash, &small[..])], false).unwrap();
    // A durable write after it makes it durable too.
    inline
        .record_complete(&[(hash, small.len() as u64)])
        .unwrap();
    assert_eq!(files.import_bytes(&small).unwrap(), hash);
    assert!(inline.is_inline(&hash).unwrap() && !files.is_inline(&hash).unwrap());
    assert!(!inline.blob_path(&hash).exists());

    assert_eq!(inline.read_small(&hash, 1 << 20).unwrap(), small);
    for ranges in [
        ChunkRanges::all(),
        ChunkRanges::from(ChunkNum(3)..ChunkNum(5)),
    ] {
        assert_eq!(
            inline.encode(&hash, &ranges).unwrap(),
            files.encode(&hash, &ranges).unwrap(),
            "the same encoding as the file blob's"
        );
    }

    let out = dir.path().join("out.bin");
    share::export(&inline, &hash, BlobFormat::Raw, &out, false).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), small);

    // Still there after a restart (it was recorded durably).
    inline.close();
    drop(inline);
    let inline = Store::open(&dir.path().join("inline")).unwrap();
    assert!(inline.get(&hash).unwrap().unwrap().complete);
    assert!(inline.remove(&hash).unwrap());
    assert_eq!(inline.get(&hash).unwrap(), None);
    assert!(!inline.is_inline(&hash).unwrap());
    assert!(inline.read_small(&hash, 1 << 20).is_err());
}
