//! Files imported in a batch: recorded only once synced, in batches, and
//! never half recorded when the import stops part way.

use std::{fs, path::Path, sync::Arc};

use super::RECORD_EVERY;
use crate::content::{Hash, Store};

/// `n` files of distinct small contents in `dir`; their paths and bytes.
fn files(dir: &Path, n: usize) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    fs::create_dir_all(dir).unwrap();
    (0..n)
        .map(|i| {
            let path = dir.join(format!("f{i:05}"));
            let bytes = format!("file {i} ").repeat(i % 7 + 1).into_bytes();
            fs::write(&path, &bytes).unwrap();
            (path, bytes)
        })
        .collect()
}

fn complete(store: &Store, hash: &Hash) -> bool {
    store.get(hash).unwrap().is_some_and(|i| i.complete)
}

/// The store closed and opened again, as after a restart.
fn reopen(dir: &Path, store: Arc<Store>) -> Arc<Store> {
    store.close();
    drop(store);
    Store::open(dir).unwrap()
}

#[test]
fn a_batch_records_its_files_when_finished_and_they_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("node")).unwrap();
    let input = files(&dir.path().join("in"), 5);
    let mut batch = store.import_batch();
    let mut hashes = Vec::new();
    for (path, bytes) in &input {
        let (hash, size) = batch.import_file(path).unwrap();
        assert_eq!((hash, size), (Hash::of(bytes), bytes.len() as u64));
        hashes.push(hash);
    }
    assert!(
        hashes.iter().all(|h| !complete(&store, h)),
        "recorded before the batch synced them"
    );
    batch.finish().unwrap();
    let store = reopen(&dir.path().join("node"), store);
    for ((_, bytes), hash) in input.iter().zip(&hashes) {
        assert!(complete(&store, hash));
        assert_eq!(&store.read_small(hash, 1 << 20).unwrap(), bytes);
    }
}

#[test]
fn a_long_batch_is_recorded_every_record_every_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("node")).unwrap();
    let input = files(&dir.path().join("in"), RECORD_EVERY + 1);
    let mut batch = store.import_batch();
    let hashes: Vec<Hash> = input
        .iter()
        .map(|(path, _)| batch.import_file(path).unwrap().0)
        .collect();
    assert!(complete(&store, &hashes[0]));
    assert!(complete(&store, &hashes[RECORD_EVERY - 1]));
    assert!(!complete(&store, &hashes[RECORD_EVERY]));
    batch.finish().unwrap();
    assert!(complete(&store, &hashes[RECORD_EVERY]));
}

#[test]
fn a_batch_that_fails_part_way_records_nothing_unsynced_and_the_files_import_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("node")).unwrap();
    let input = files(&dir.path().join("in"), 3);
    let mut batch = store.import_batch();
    let first = batch.import_file(&input[0].0).unwrap().0;
    let err = batch
        .import_file(&dir.path().join("in/missing"))
        .unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    drop(batch);
    // The failed share recorded nothing; its written file is an unrecorded
    // leftover, and the next share of the same bytes records it.
    let store = reopen(&dir.path().join("node"), store);
    assert!(!complete(&store, &first));
    let blobs = fs::read_dir(dir.path().join("node/store/blobs")).unwrap();
    assert!(blobs
        .flatten()
        .all(|e| !e.file_name().to_string_lossy().starts_with("tmp-")));
    let mut batch = store.import_batch();
    assert_eq!(batch.import_file(&input[0].0).unwrap().0, first);
    batch.finish().unwrap();
    assert_eq!(store.read_small(&first, 1 << 20).unwrap(), input[0].1);
}

#[test]
fn the_same_bytes_twice_in_a_batch_are_one_blob() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("node")).unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    fs::write(&a, b"same bytes").unwrap();
    fs::write(&b, b"same bytes").unwrap();
    let mut batch = store.import_batch();
    let first = batch.import_file(&a).unwrap();
    assert_eq!(batch.import_file(&b).unwrap(), first);
    batch.finish().unwrap();
    assert_eq!(store.read_small(&first.0, 100).unwrap(), b"same bytes");
}
