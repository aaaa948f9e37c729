//! Storage with real nodes on 127.0.0.1: an object stored with K-of-N
//! erasure coding (or replicas) comes back byte-identical from any K
//! holders with its owner offline; full storers are skipped; a store that
//! cannot be placed says how many holders it found; unstore frees the room.

mod common;

use std::time::{Duration, Instant};

use common::{data, node_with, tcp_addr};
use plexus::{
    storage::{Redundancy, StoreTicket},
    Error, Node,
};

const MIB: u64 = 1 << 20;

/// `count` storers offering `offer` bytes each (the first `full` of them
/// only 1 KiB), and an owner that offers nothing, all connected to each
/// other.
async fn network(
    root: &std::path::Path,
    count: usize,
    offer: u64,
    full: usize,
) -> (Node, Vec<Node>) {
    let mut storers: Vec<Node> = Vec::new();
    for i in 0..count {
        let bytes = if i < full { 1024 } else { offer };
        let via = storers.first().map(tcp_addr);
        let n = node_with(&root.join(format!("s{i}")), |c| {
            c.offer_storage = bytes;
            c.bootstrap = via.into_iter().collect();
        })
        .await;
        storers.push(n);
    }
    let owner = node_with(&root.join("owner"), |c| {
        c.bootstrap = vec![tcp_addr(&storers[0])]
    })
    .await;
    for s in &storers {
        owner.connect(tcp_addr(s)).await.unwrap();
    }
    (owner, storers)
}

/// The first file under `dir` that contains `needle`.
fn grep_dir(dir: &std::path::Path, needle: &[u8]) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = grep_dir(&path, needle) {
                return Some(found);
            }
        } else if std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)) {
            return Some(path);
        }
    }
    None
}

/// A fresh node (offering nothing) that knows only `via`.
async fn newcomer(root: &std::path::Path, name: &str, via: &Node) -> Node {
    node_with(&root.join(name), |c| c.bootstrap = vec![tcp_addr(via)]).await
}

fn holders(ticket: &StoreTicket, storers: &[Node]) -> Vec<usize> {
    ticket
        .holders
        .iter()
        .map(|(p, _)| {
            storers
                .iter()
                .position(|s| s.peer_id() == *p)
                .expect("a storer")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_coded_object_survives_owner_and_n_minus_k_holders_gone() {
    let root = tempfile::tempdir().unwrap();
    let (owner, storers) = network(root.path(), 7, 64 * MIB, 1).await;
    let src = root.path().join("photo.raw");
    let marker = b"PLAINTEXT-MARKER-7f3a";
    let mut bytes = marker.to_vec();
    bytes.extend(data(3 * MIB as usize + 12_345, 41));
    std::fs::write(&src, &bytes).unwrap();

    let started = Instant::now();
    let stored = owner
        .store_file(&src, Redundancy::Erasure { k: 3, n: 5 })
        .await
        .unwrap();
    println!(
        "stored {} bytes as {} in {:?}",
        stored.size,
        stored.stored_bytes,
        started.elapsed()
    );
    assert_eq!(stored.holders, 5);
    let placed = holders(&stored.ticket, &storers);
    assert!(
        !placed.contains(&0),
        "the full storer got a shard: {placed:?}"
    );
    let mut distinct = placed.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 5, "holders are distinct: {placed:?}");
    // Holders store and serve ciphertext only: neither the content nor the
    // file name is in any storer's files.
    for i in 0..storers.len() {
        for needle in [&marker[..], b"photo.raw"] {
            let found = grep_dir(&root.path().join(format!("s{i}")), needle);
            assert!(
                found.is_none(),
                "{:?} found in {found:?}",
                String::from_utf8_lossy(needle)
            );
        }
    }
    // Shards of a third of the sealed object (a 48-byte header, 16 bytes
    // a 64 KiB segment): 5/3 of it stored, not 5 copies.
    let sealed = bytes.len() as u64 + 48 + 16 * (bytes.len() as u64).div_ceil(65_472);
    assert_eq!(
        stored.stored_bytes,
        5 * sealed.div_ceil(3).next_multiple_of(2)
    );
    // The owner keeps only the manifest.
    assert!(owner.store().list().unwrap().len() <= 1);

    // Owner offline; two of the five holders gone for good.
    owner.shutdown().await;
    for &i in &placed[..2] {
        storers[i].shutdown().await;
    }
    let alive = placed[2];
    let text = stored.ticket.to_string();
    let ticket: StoreTicket = text.parse().unwrap();
    let getter = newcomer(root.path(), "getter", &storers[alive]).await;
    let out = root.path().join("back.raw");
    let started = Instant::now();
    let size = getter.get_stored(&ticket, &out, false).await.unwrap();
    println!(
        "got {size} bytes from 3 of 5 holders in {:?}",
        started.elapsed()
    );
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    // The getter does not keep (nor serve) the shards it rebuilt from.
    assert!(
        getter.store().list().unwrap().len() <= 1,
        "{:?}",
        getter.store().list().unwrap()
    );

    // One more holder gone: 2 of 5 left, fewer than K.
    storers[placed[2]].shutdown().await;
    let late = newcomer(root.path(), "late", &storers[placed[3]]).await;
    let err = late
        .get_stored(&ticket, &root.path().join("nope"), false)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("of the 3 shards needed"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_be_placed_says_how_many_holders_it_found() {
    let root = tempfile::tempdir().unwrap();
    // Four storers, one of them full: three have room.
    let (owner, _storers) = network(root.path(), 4, 8 * MIB, 1).await;
    let src = root.path().join("f");
    std::fs::write(&src, data(200_000, 5)).unwrap();
    let err = owner
        .store_file(&src, Redundancy::Erasure { k: 2, n: 4 })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unplaceable {
                found: 3,
                needed: 4,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("found 3 peers"), "{err}");
    // Nothing is left behind: no pin, no shard copies on the owner.
    assert!(owner.pins().await.unwrap().is_empty());
    assert!(owner.store().list().unwrap().len() <= 1);
    // Three fit.
    owner
        .store_file(&src, Redundancy::Erasure { k: 2, n: 3 })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_pins_and_unstore_free_the_room() {
    let root = tempfile::tempdir().unwrap();
    let (owner, storers) = network(root.path(), 4, 8 * MIB, 0).await;
    let src = root.path().join("notes.txt");
    let bytes = data(1_000_000, 9);
    std::fs::write(&src, &bytes).unwrap();
    let stored = owner
        .store_file(&src, Redundancy::Replicas(3))
        .await
        .unwrap();
    // Three whole copies of the sealed file (48-byte header, 16 bytes a
    // 64 KiB segment).
    let sealed = bytes.len() as u64 + 48 + 16 * (bytes.len() as u64).div_ceil(65_472);
    assert_eq!(stored.stored_bytes, 3 * sealed);
    let placed = holders(&stored.ticket, &storers);

    let pins = owner.pins().await.unwrap();
    assert_eq!(pins.len(), 1);
    assert_eq!(
        (pins[0].alive, pins[0].needed, pins[0].placed),
        (Some(3), Some(1), Some(3))
    );
    let held = storers[placed[0]].pins().await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].kind, "held");
    let (offered, free) = storers[placed[0]].storage_offer();
    assert!(offered - free > bytes.len() as u64);

    // Two of three copies gone: one is enough.
    storers[placed[0]].shutdown().await;
    storers[placed[1]].shutdown().await;
    let pins = owner.pins().await.unwrap();
    assert_eq!(pins[0].alive, Some(1));
    let getter = newcomer(root.path(), "g", &storers[placed[2]]).await;
    let out = root.path().join("back");
    getter
        .get_stored(&stored.ticket, &out, false)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    // An existing file is not replaced without force.
    let err = getter
        .get_stored(&stored.ticket, &out, false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--force"), "{err}");

    // Only the owner may release; then the holder frees the room.
    let last = &storers[placed[2]];
    let shard = stored.ticket.manifest;
    assert!(getter.unstore(shard).await.is_err());
    assert_eq!(owner.unstore(shard).await.unwrap(), 1);
    assert!(last.pins().await.unwrap().is_empty());
    let (offered, free) = last.storage_offer();
    assert_eq!(offered, free);
    assert!(
        last.store().list().unwrap().is_empty(),
        "{:?}",
        last.store().list().unwrap()
    );
    assert!(owner.pins().await.unwrap().is_empty());
    let _ = Duration::ZERO;
}

/// Figures, not a check: `cargo nextest run -p plexus --test storage
/// measure --run-ignored only --no-capture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn measure_64_mib_erasure_4_of_8_against_3_replicas() {
    let root = tempfile::tempdir().unwrap();
    let (owner, storers) = network(root.path(), 9, 512 * MIB, 0).await;
    let src = root.path().join("big");
    let bytes = data(64 * MIB as usize, 8);
    std::fs::write(&src, &bytes).unwrap();
    for r in [Redundancy::Erasure { k: 4, n: 8 }, Redundancy::Replicas(3)] {
        let started = Instant::now();
        let stored = owner.store_file(&src, r).await.unwrap();
        let store_secs = started.elapsed().as_secs_f64();
        let getter = newcomer(root.path(), &format!("g-{}", r.k_n().1), &storers[0]).await;
        let out = root.path().join(format!("out-{}", r.k_n().1));
        let started = Instant::now();
        getter
            .get_stored(&stored.ticket, &out, false)
            .await
            .unwrap();
        let get_secs = started.elapsed().as_secs_f64();
        assert_eq!(std::fs::read(&out).unwrap(), bytes);
        println!(
            "{r}: 64 MiB stored as {:.1} MiB ({:.2}x) in {store_secs:.2}s, got back in {get_secs:.2}s",
            stored.stored_bytes as f64 / MIB as f64,
            stored.stored_bytes as f64 / bytes.len() as f64
        );
        getter.shutdown().await;
    }
}
