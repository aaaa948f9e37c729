//! A collection's small files against [`FakeNetwork`]: asked for in one
//! request each, recorded in batches, announced through their collection.

use std::{sync::atomic::Ordering, time::Duration};

use tokio::sync::watch;

use super::{
    blob_fetch::Limits,
    download::fetch_with,
    fake::{FakeNetwork, Mode},
    stats::GetOptions,
};
use crate::content::{BlobFormat, Collection, CollectionEntry, Hash, Store};

fn file(i: usize, len: usize) -> Vec<u8> {
    let mut out = blake3::Hasher::new()
        .update(&(i as u64).to_le_bytes())
        .finalize_xof();
    let mut buf = vec![0u8; len];
    out.fill(&mut buf);
    buf
}

/// A provider with `n` files of 4 KiB (and one of `big` bytes) as a
/// collection, the listing saying `listed` bytes for the first file.
fn provider(
    net: &FakeNetwork,
    n: usize,
    big: usize,
    listed: u64,
) -> (tempfile::TempDir, Hash, Vec<(Hash, Vec<u8>)>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut files = Vec::new();
    let mut entries = Vec::new();
    for i in 0..=n {
        let bytes = file(i, if i == n { big } else { 4096 });
        let hash = store.import_bytes(&bytes).unwrap();
        let size = if i == 0 { listed } else { bytes.len() as u64 };
        entries.push(CollectionEntry {
            path: format!("d/f{i:04}"),
            hash,
            size,
            mode: 0o644,
        });
        files.push((hash, bytes));
    }
    let root = store
        .import_bytes(&Collection::new(entries).to_bytes())
        .unwrap();
    net.add(store, Mode::Honest);
    (dir, root, files)
}

async fn get(
    net: &FakeNetwork,
    into: &std::sync::Arc<Store>,
    hash: Hash,
) -> Result<super::DownloadStats, crate::Error> {
    let limits = Limits {
        have_timeout: Duration::from_secs(2),
        refresh_every: Duration::from_millis(50),
        stall_limit: Duration::from_millis(300),
    };
    let options = GetOptions {
        providers: Vec::new(),
        use_dht: true,
        allow_relay: false,
    };
    let (tx, _rx) = watch::channel(Default::default());
    let format = Some(BlobFormat::Collection);
    fetch_with(net, into, &limits, hash, format, None, &options, &tx).await
}

#[tokio::test]
async fn small_files_cost_one_request_each_and_are_recorded_and_not_announced_one_by_one() {
    let net = FakeNetwork::new();
    let (_p, root, files) = provider(&net, 300, 300 * 1024, 4096);
    let dir = tempfile::tempdir().unwrap();
    let mine = Store::open(dir.path()).unwrap();
    let stats = get(&net, &mine, root).await.unwrap();
    assert_eq!(stats.size, 300 * 4096 + 300 * 1024);
    assert!(stats.liars.is_empty());
    for (hash, bytes) in &files {
        assert!(mine.get(hash).unwrap().unwrap().complete);
        assert_eq!(&mine.read_small(hash, u64::MAX).unwrap(), bytes);
        // The big one is announced as it starts (others may fetch parts
        // of it from here); the small ones are not.
        let big = bytes.len() > 4096;
        assert_eq!(net.provided.lock().unwrap().contains(hash), big);
    }
    // Whoever wants them finds the collection's providers.
    assert!(net.provided.lock().unwrap().contains(&root));
    // The collection (ask + proof + rest), the big file (the same), and one
    // request per small file: no `Have` before each.
    let requests = net.requests.load(Ordering::Relaxed);
    assert!(
        requests <= 300 + 12,
        "{requests} requests for 300 small files"
    );
}

#[tokio::test]
async fn a_listing_with_a_wrong_size_blames_nobody() {
    let net = FakeNetwork::new();
    let (_p, root, _) = provider(&net, 20, 4096, 4000);
    let dir = tempfile::tempdir().unwrap();
    let mine = Store::open(dir.path()).unwrap();
    let err = get(&net, &mine, root).await.unwrap_err();
    assert!(
        err.to_string().contains("the collection says 4000"),
        "{err}"
    );
}
