//! Real nodes on 127.0.0.1: a node sharing far more than 1,024 items
//! announces every one of them in the DHT.

mod common;

use std::time::{Duration, Instant};

use plexus::content::{BlobFormat, Hash, ShareInfo, Store};

/// More than libp2p's `MemoryStore` default of 1,024 provider keys.
const SHARED: usize = 5_000;

/// Fills `dir`'s store with `SHARED` tiny shared blobs, as a node that
/// shared them earlier would have left it; returns their hashes in order.
fn fill_store(dir: &std::path::Path) -> Vec<Hash> {
    let store = Store::open(dir).expect("store opens");
    let hashes = (0..SHARED)
        .map(|i| {
            let hash = store
                .import_bytes(format!("dht store blob {i}").as_bytes())
                .unwrap();
            let share = ShareInfo {
                name: format!("blob-{i}"),
                format: BlobFormat::Raw,
            };
            store.set_share(&hash, &share).unwrap();
            hash
        })
        .collect();
    drop(store);
    hashes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_sharing_5000_items_is_found_as_provider_of_all_of_them() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let started = Instant::now();
    let hashes = fill_store(da.path());
    println!(
        "stored and recorded {} shares in {:?}",
        hashes.len(),
        started.elapsed()
    );

    // On start a node announces everything its store shares.
    let started = Instant::now();
    let a = common::node(da.path()).await;
    println!(
        "provider started (announcing {SHARED}) in {:?}",
        started.elapsed()
    );
    let b = common::node_via(db.path(), &a).await;

    // Start, middle and end of the list.
    let picks = [0, 1, 1_023, 1_024, 2_500, 4_000, SHARED - 1];
    let started = Instant::now();
    let mut found = Vec::new();
    for &i in &picks {
        let t = Instant::now();
        let mut providers = Vec::new();
        // Bounded: the first lookups may run before B's routing table holds A.
        let deadline = Instant::now() + Duration::from_secs(6);
        while Instant::now() < deadline {
            providers = tokio::time::timeout(Duration::from_secs(5), b.find_providers(hashes[i]))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            if providers.contains(&a.peer_id()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let ok = providers.contains(&a.peer_id());
        println!("hash #{i}: provider found = {ok} in {:?}", t.elapsed());
        found.push((i, ok));
    }
    println!(
        "{} of {} picks found in {:?}",
        found.iter().filter(|f| f.1).count(),
        picks.len(),
        started.elapsed()
    );
    a.shutdown().await;
    b.shutdown().await;
    let missing: Vec<usize> = found.iter().filter(|f| !f.1).map(|f| f.0).collect();
    assert!(
        missing.is_empty(),
        "no provider found for hashes {missing:?} of {SHARED}"
    );
}
