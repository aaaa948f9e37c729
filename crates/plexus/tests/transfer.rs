//! Sharing and fetching between real nodes on 127.0.0.1: byte-exact round
//! trips, many providers, a lying provider, departures and resume.

mod common;

use std::time::Duration;

use common::{data, from, node, GetLie, Liar};
use plexus::{
    content::{BlobFormat, Collection, CollectionEntry, Hash, ShareInfo},
    transfer::GetOptions,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_of_edge_sizes_round_trip_byte_for_byte() {
    let root = tempfile::tempdir().unwrap();
    let a = node(&root.path().join("a")).await;
    let b = node(&root.path().join("b")).await;
    for (i, size) in [
        0usize,
        1,
        16 * 1024 - 1,
        16 * 1024,
        16 * 1024 + 1,
        3 * 1024 * 1024 + 7,
    ]
    .into_iter()
    .enumerate()
    {
        let src = root.path().join(format!("src{i}"));
        let bytes = data(size, i as u64);
        std::fs::write(&src, &bytes).unwrap();
        let shared = a.share(&src).await.unwrap();
        assert_eq!(
            shared.ticket.hash,
            Hash::from(blake3::hash(&bytes)),
            "BLAKE3 root hash names the blob"
        );
        let stats = b
            .get(shared.ticket.hash, Some(BlobFormat::Raw), from(&a))
            .finish()
            .await
            .unwrap();
        assert_eq!(stats.size, size as u64);
        assert_eq!(stats.fetched, size as u64);
        let out = root.path().join(format!("out{i}"));
        plexus::content::share::export(
            b.store(),
            &shared.ticket.hash,
            BlobFormat::Raw,
            &out,
            false,
        )
        .unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), bytes, "size {size}");
    }
    // Exporting over an existing path needs force.
    let existing = root.path().join("out0");
    let h = Hash::from(blake3::hash(b""));
    let err = plexus::content::share::export(b.store(), &h, BlobFormat::Raw, &existing, false)
        .unwrap_err();
    assert!(err.to_string().contains("--force"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_round_trip_and_same_content_is_stored_once() {
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("folder");
    std::fs::create_dir_all(src.join("sub/deeper")).unwrap();
    std::fs::write(src.join("a.txt"), b"hello").unwrap();
    std::fs::write(src.join("sub/b.bin"), data(100_000, 1)).unwrap();
    std::fs::write(src.join("sub/deeper/c.bin"), data(100_000, 1)).unwrap(); // same bytes as b.bin
    std::fs::write(src.join("empty"), b"").unwrap();
    let a = node(&root.path().join("a")).await;
    let b = node(&root.path().join("b")).await;
    let shared = a.share(&src).await.unwrap();
    assert_eq!(shared.ticket.format, BlobFormat::Collection);
    // 4 files, 3 distinct contents, plus the collection itself.
    assert_eq!(a.store().list().unwrap().len(), 4);

    let stats = b
        .get(shared.ticket.hash, None, from(&a))
        .finish()
        .await
        .unwrap();
    assert_eq!(stats.format, BlobFormat::Collection);
    assert_eq!(stats.size, 200_005);
    let out = root.path().join("copy");
    plexus::content::share::export(b.store(), &shared.ticket.hash, stats.format, &out, false)
        .unwrap();
    for rel in ["a.txt", "sub/b.bin", "sub/deeper/c.bin", "empty"] {
        assert_eq!(
            std::fs::read(out.join(rel)).unwrap(),
            std::fs::read(src.join(rel)).unwrap(),
            "{rel}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_collection_is_refused_and_nothing_is_written() {
    let root = tempfile::tempdir().unwrap();
    let a = node(&root.path().join("a")).await;
    let b = node(&root.path().join("b")).await;
    let payload = a.store().import_bytes(b"owned").unwrap();
    let evil = Collection {
        plexus_collection: 1,
        entries: vec![CollectionEntry {
            path: "../escaped.txt".into(),
            hash: payload,
            size: 5,
            mode: 0o644,
        }],
    };
    let hash = a
        .store()
        .import_bytes(&serde_json::to_vec(&evil).unwrap())
        .unwrap();
    a.store()
        .set_share(
            &hash,
            &ShareInfo {
                name: "evil".into(),
                format: BlobFormat::Collection,
            },
        )
        .unwrap();
    let err = b
        .get(hash, Some(BlobFormat::Collection), from(&a))
        .finish()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("unsafe path"), "{err}");
    let out = root.path().join("target");
    assert!(
        plexus::content::share::export(b.store(), &hash, BlobFormat::Collection, &out, false)
            .is_err()
    );
    assert!(!root.path().join("escaped.txt").exists());
    assert!(!out.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_hash_is_a_clear_error_after_a_bounded_wait() {
    let root = tempfile::tempdir().unwrap();
    let a = node(&root.path().join("a")).await;
    let b = node(&root.path().join("b")).await;
    let nobody = Hash::of(b"nobody has this");
    let started = std::time::Instant::now();
    let err = b
        .get(nobody, None, from(&a))
        .finish()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no provider found among the 1 peers asked"),
        "{err}"
    );
    assert!(err.contains("does not have it"), "{err}");
    let options = GetOptions {
        providers: vec![],
        use_dht: true,
        allow_relay: false,
    };
    let err = b
        .get(nobody, None, options)
        .finish()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no provider found"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_providers_share_the_work_and_a_departed_one_is_replaced() {
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("big");
    let bytes = data(48 * 1024 * 1024, 7);
    std::fs::write(&src, &bytes).unwrap();
    let mut providers = Vec::new();
    for i in 0..3 {
        let p = node(&root.path().join(format!("p{i}"))).await;
        p.share(&src).await.unwrap();
        providers.push(p);
    }
    let hash = Hash::from(blake3::hash(&bytes));
    let getter = node(&root.path().join("g")).await;
    let options = GetOptions {
        providers: providers
            .iter()
            .map(|p| (p.peer_id(), p.listen_addrs().to_vec()))
            .collect(),
        use_dht: false,
        allow_relay: false,
    };
    let download = getter.get(hash, Some(BlobFormat::Raw), options);
    // Stop one provider once a tenth has arrived.
    let quitter = providers.remove(0);
    let mut progress = download.progress.clone();
    let watcher = tokio::spawn(async move {
        loop {
            if progress.changed().await.is_err() {
                break;
            }
            let p = progress.borrow().clone();
            if p.total > 0 && p.done * 10 >= p.total {
                quitter.shutdown().await;
                return true;
            }
        }
        false
    });
    let stats = download
        .finish()
        .await
        .expect("download completes from the others");
    let quit = watcher.await.unwrap();
    println!("per peer: {:?}, quit mid-way: {quit}", stats.per_peer);
    assert!(
        stats.per_peer.iter().filter(|p| p.bytes > 0).count() >= 2,
        "{:?}",
        stats.per_peer
    );
    let out = root.path().join("out");
    plexus::content::share::export(getter.store(), &hash, BlobFormat::Raw, &out, false).unwrap();
    assert!(std::fs::read(&out).unwrap() == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_provider_is_dropped_and_the_download_is_correct() {
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("file");
    let bytes = data(8 * 1024 * 1024 + 123, 3);
    std::fs::write(&src, &bytes).unwrap();
    let honest = node(&root.path().join("h")).await;
    honest.share(&src).await.unwrap();
    let (liar, liar_addr) = Liar {
        size: bytes.len() as u64,
        get: GetLie::WrongBytes,
        knows: None,
    }
    .spawn()
    .await;
    let getter = node(&root.path().join("g")).await;
    let hash = Hash::from(blake3::hash(&bytes));
    let options = GetOptions {
        providers: vec![
            (liar, vec![liar_addr]),
            (honest.peer_id(), honest.listen_addrs().to_vec()),
        ],
        use_dht: false,
        allow_relay: false,
    };
    let stats = getter
        .get(hash, Some(BlobFormat::Raw), options)
        .finish()
        .await
        .unwrap();
    assert_eq!(stats.liars, vec![liar]);
    assert!(
        stats
            .per_peer
            .iter()
            .all(|p| p.peer_id != liar || p.bytes == 0),
        "{:?}",
        stats.per_peer
    );
    let out = root.path().join("out");
    plexus::content::share::export(getter.store(), &hash, BlobFormat::Raw, &out, false).unwrap();
    assert!(std::fs::read(&out).unwrap() == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_download_resumes_without_refetching() {
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("file");
    let bytes = data(64 * 1024 * 1024, 9);
    std::fs::write(&src, &bytes).unwrap();
    let a = node(&root.path().join("a")).await;
    a.share(&src).await.unwrap();
    let hash = Hash::from(blake3::hash(&bytes));
    let gdir = root.path().join("g");
    let getter = node(&gdir).await;
    let download = getter.get(hash, Some(BlobFormat::Raw), from(&a));
    let mut progress = download.progress.clone();
    while progress.changed().await.is_ok() {
        let p = progress.borrow().clone();
        if p.total > 0 && p.done * 2 >= p.total {
            break;
        }
    }
    // Interrupt: drop the task and the node without a clean end.
    download.abort();
    getter.shutdown().await;
    let getter = node(&gdir).await;
    let stats = getter
        .get(hash, Some(BlobFormat::Raw), from(&a))
        .finish()
        .await
        .unwrap();
    println!("resumed: fetched {} of {}", stats.fetched, stats.size);
    assert!(
        stats.fetched < stats.size,
        "resume fetched everything again"
    );
    let out = root.path().join("out");
    plexus::content::share::export(getter.store(), &hash, BlobFormat::Raw, &out, false).unwrap();
    assert!(std::fs::read(&out).unwrap() == bytes);
}
