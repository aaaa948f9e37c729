//! Answers verified and written on other threads, and commits
//! that record only what was present when they began.

use std::sync::Arc;

use bao_tree::{ChunkNum, ChunkRanges};

use super::PartialBlob;
use crate::content::{Hash, Store};

/// 1 MiB that is not one repeated byte, shared from a store of its own.
fn shared() -> (tempfile::TempDir, Arc<Store>, Hash, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let bytes: Vec<u8> = (0..1u32 << 20).map(|i| (i * 7 + i / 4096) as u8).collect();
    let hash = store.import_bytes(&bytes).unwrap();
    (dir, store, hash, bytes)
}

/// A quarter of 1 MiB, in chunks.
fn quarter(i: u64) -> ChunkRanges {
    ChunkRanges::from(ChunkNum(i * 256)..ChunkNum((i + 1) * 256))
}

/// A store of its own beginning to download `hash` of `size` bytes.
fn downloading(hash: Hash, size: u64) -> (tempfile::TempDir, Arc<Store>, PartialBlob) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let blob = store.begin_download(hash, size, false).unwrap();
    (dir, store, blob)
}

fn present(store: &Store, hash: &Hash) -> ChunkRanges {
    store.get(hash).unwrap().unwrap().present
}

#[test]
fn answers_verified_on_other_threads_are_present_once_given_back() {
    let (_a, source, hash, bytes) = shared();
    let (_b, store, mut blob) = downloading(hash, bytes.len() as u64);
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let mut files = blob.files();
            let encoded = source.encode(&hash, &quarter(i)).unwrap();
            std::thread::spawn(move || files.apply(&quarter(i), &encoded))
        })
        .collect();
    let applied: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(
        blob.present().is_empty(),
        "written elsewhere, not given back yet"
    );
    for (i, done) in applied.iter().enumerate() {
        done.result.as_ref().unwrap();
        assert_eq!(done.written, 256 * 1024);
        assert_eq!(done.ranges, quarter(i as u64));
        blob.add_written(&done.ranges);
    }
    assert!(blob.is_complete());
    blob.commit().unwrap();
    assert!(store.get(&hash).unwrap().unwrap().complete);
    assert_eq!(store.read_small(&hash, 2 << 20).unwrap(), bytes);
}

#[test]
fn a_lying_answer_verified_elsewhere_writes_nothing_after_the_lie() {
    let (_a, source, hash, bytes) = shared();
    let (_b, _store, blob) = downloading(hash, bytes.len() as u64);
    let mut encoded = source.encode(&hash, &quarter(0)).unwrap();
    let last = encoded.len() - 1;
    encoded[last] ^= 1;
    let done = blob.files().apply(&quarter(0), &encoded);
    assert!(matches!(done.result, Err(super::ApplyError::Invalid(_))));
    assert!(
        done.ranges.is_subset(&quarter(0)) && done.ranges != quarter(0),
        "the group with the flipped byte is not written: {:?}",
        done.ranges
    );
}

#[test]
fn a_commit_records_what_was_present_when_it_began() {
    let (_a, source, hash, bytes) = shared();
    let (_b, store, mut blob) = downloading(hash, bytes.len() as u64);
    let answer = |i| source.encode(&hash, &quarter(i)).unwrap();
    blob.apply(&quarter(0), &answer(0)).1.unwrap();
    let commit = blob.begin_commit().unwrap().expect("not batched");
    // Answers go on being applied while the commit syncs.
    blob.apply(&quarter(1), &answer(1)).1.unwrap();
    commit.run().unwrap();
    assert_eq!(present(&store, &hash), quarter(0));
    blob.commit().unwrap();
    assert_eq!(present(&store, &hash), &quarter(0) | &quarter(1));
    assert!(!store.get(&hash).unwrap().unwrap().complete);
}
