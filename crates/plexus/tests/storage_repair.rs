//! Repair without the owner, with real nodes on 127.0.0.1: holders probe
//! each other, and when one has been gone longer than the grace time
//! exactly one survivor rebuilds its shard and places it on a new peer, so
//! the object outlives more than N - K of its original holders.

mod common;

use std::time::{Duration, Instant};

use common::{data, node_with, tcp_addr};
use plexus::{storage::Redundancy, Node};

const MIB: u64 = 1 << 20;

/// Shards held by each of `nodes` (`None` for a stopped one).
async fn held(nodes: &[Option<Node>]) -> Vec<usize> {
    let mut out = Vec::new();
    for n in nodes {
        out.push(match n {
            Some(n) => n.pins().await.unwrap().len(),
            None => 0,
        });
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_holders_are_replaced_by_survivors_until_the_originals_are_mostly_gone() {
    let root = tempfile::tempdir().unwrap();
    let mut storers: Vec<Option<Node>> = Vec::new();
    for i in 0..7 {
        let via = storers
            .first()
            .and_then(|s: &Option<Node>| s.as_ref())
            .map(tcp_addr);
        let n = node_with(&root.path().join(format!("s{i}")), |c| {
            c.offer_storage = 32 * MIB;
            c.storage_probe_every = Duration::from_millis(500);
            c.storage_repair_after = Duration::from_secs(2);
            c.bootstrap = via.into_iter().collect();
        })
        .await;
        storers.push(Some(n));
    }
    let owner = node_with(&root.path().join("owner"), |c| {
        c.bootstrap = vec![tcp_addr(storers[0].as_ref().unwrap())]
    })
    .await;
    for s in storers.iter().flatten().skip(1) {
        owner.connect(tcp_addr(s)).await.unwrap();
    }
    let src = root.path().join("archive");
    let bytes = data(2 * MIB as usize, 77);
    std::fs::write(&src, &bytes).unwrap();
    let stored = owner
        .store_file(&src, Redundancy::Erasure { k: 2, n: 4 })
        .await
        .unwrap();
    owner.shutdown().await;
    let originals: Vec<usize> = stored
        .ticket
        .holders
        .iter()
        .map(|(p, _)| {
            storers
                .iter()
                .position(|s| s.as_ref().is_some_and(|s| s.peer_id() == *p))
                .unwrap()
        })
        .collect();

    // Three of the four original holders go, one at a time; after each,
    // the shard comes back on a new peer, once.
    for &gone in &originals[..3] {
        storers[gone].take().unwrap().shutdown().await;
        let started = Instant::now();
        let mut counts = held(&storers).await;
        while counts.iter().sum::<usize>() < 4 {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no repair in 30 s: {counts:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            counts = held(&storers).await;
        }
        println!(
            "holder {gone} lost: repaired in {:?}, shards held {counts:?}",
            started.elapsed()
        );
        assert!(
            counts.iter().all(|&c| c <= 1),
            "one shard a peer: {counts:?}"
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        let counts = held(&storers).await;
        assert_eq!(
            counts.iter().sum::<usize>(),
            4,
            "repaired twice: {counts:?}"
        );
    }

    // More than N - K originals are gone: the repaired holders carry it.
    let alive = storers.iter().flatten().next().unwrap();
    let getter = node_with(&root.path().join("getter"), |c| {
        c.bootstrap = vec![tcp_addr(alive)]
    })
    .await;
    for s in storers.iter().flatten() {
        let _ = getter.connect(tcp_addr(s)).await;
    }
    let out = root.path().join("back");
    let started = Instant::now();
    getter
        .get_stored(&stored.ticket, &out, false)
        .await
        .unwrap();
    println!("got it back in {:?}", started.elapsed());
    assert_eq!(std::fs::read(&out).unwrap(), bytes);

    // The owner comes back: it learns the holders placed by repairs from
    // the survivors, sees all 4 shards alive, and unstore reaches them all.
    let owner = node_with(&root.path().join("owner"), |c| {
        c.bootstrap = vec![tcp_addr(alive)]
    })
    .await;
    let pins = owner.pins().await.unwrap();
    assert_eq!(
        (pins[0].alive, pins[0].needed),
        (Some(4), Some(2)),
        "{pins:?}"
    );
    owner.unstore(stored.ticket.manifest).await.unwrap();
    let counts = held(&storers).await;
    assert_eq!(counts.iter().sum::<usize>(), 0, "still held: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_shard_is_caught_by_an_audit_and_repaired_elsewhere() {
    let root = tempfile::tempdir().unwrap();
    let mut storers: Vec<Option<Node>> = Vec::new();
    for i in 0..5 {
        let via = storers
            .first()
            .and_then(|s: &Option<Node>| s.as_ref())
            .map(tcp_addr);
        let n = node_with(&root.path().join(format!("s{i}")), |c| {
            c.offer_storage = 32 * MIB;
            c.storage_probe_every = Duration::from_millis(500);
            // Long: only an audit can find the corrupt shard this soon.
            c.storage_repair_after = Duration::from_secs(600);
            c.bootstrap = via.into_iter().collect();
        })
        .await;
        storers.push(Some(n));
    }
    let owner = node_with(&root.path().join("owner"), |c| {
        c.bootstrap = vec![tcp_addr(storers[0].as_ref().unwrap())]
    })
    .await;
    for s in storers.iter().flatten().skip(1) {
        owner.connect(tcp_addr(s)).await.unwrap();
    }
    let src = root.path().join("f");
    let bytes = data(MIB as usize, 3);
    std::fs::write(&src, &bytes).unwrap();
    let stored = owner
        .store_file(&src, Redundancy::Erasure { k: 2, n: 3 })
        .await
        .unwrap();
    let manifest = std::fs::read(owner.store().blob_path(&stored.ticket.manifest)).unwrap();
    let manifest = plexus::storage::Manifest::from_bytes(&manifest).unwrap();
    owner.shutdown().await;

    // One holder's shard rots on disk (its store still says complete).
    let (bad, _) = stored.ticket.holders[0];
    let bad = storers
        .iter()
        .position(|s| s.as_ref().is_some_and(|s| s.peer_id() == bad))
        .unwrap();
    let node = storers[bad].as_ref().unwrap();
    let index = node.pins().await.unwrap()[0].index.unwrap();
    let path = node.store().blob_path(&manifest.shards[usize::from(index)]);
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::write(&path, vec![0u8; len as usize]).unwrap();

    let started = Instant::now();
    loop {
        let counts = held(&storers).await;
        if counts[bad] == 0 && counts.iter().sum::<usize>() == 3 {
            println!(
                "corrupt shard found and repaired in {:?}: {counts:?}",
                started.elapsed()
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not repaired in 30 s: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let getter = node_with(&root.path().join("g"), |c| {
        c.bootstrap = vec![tcp_addr(storers[bad].as_ref().unwrap())]
    })
    .await;
    let out = root.path().join("back");
    getter
        .get_stored(&stored.ticket, &out, false)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
}
