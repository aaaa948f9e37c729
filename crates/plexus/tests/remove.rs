//! `rm` from another node's point of view: removed content is no longer
//! announced in the DHT nor served, and removing a folder takes its files
//! with it unless another share still uses them.

mod common;

use std::time::Duration;

use common::{data, from, node, node_via, wait_until};
use plexus::content::{BlobFormat, Hash};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_content_is_neither_announced_nor_served() {
    let root = tempfile::tempdir().unwrap();
    let a = node(&root.path().join("a")).await;
    let src = root.path().join("file");
    let bytes = data(300_000, 31);
    std::fs::write(&src, &bytes).unwrap();
    let hash = a.share(&src).await.unwrap().ticket.hash;

    // Before: a fresh node finds the provider through the DHT.
    let before = node_via(&root.path().join("b"), &a).await;
    let found = wait_until(Duration::from_secs(10), || async {
        before
            .find_providers(hash)
            .await
            .is_ok_and(|p| p.contains(&a.peer_id()))
    })
    .await;
    assert!(found, "the shared hash is announced");

    assert!(a.remove(hash).await.unwrap());

    // After: another fresh node finds no provider, and asking the old
    // provider directly finds nothing to fetch.
    let after = node_via(&root.path().join("c"), &a).await;
    wait_until(Duration::from_secs(10), || async {
        after
            .status()
            .await
            .is_ok_and(|s| s.routing_table_peers > 0)
    })
    .await;
    let providers = after.find_providers(hash).await.unwrap();
    assert!(
        !providers.contains(&a.peer_id()),
        "a removed hash is still announced: {providers:?}"
    );
    let err = after
        .get(hash, Some(BlobFormat::Raw), from(&a))
        .finish()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not have it"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_folder_stops_serving_its_files_unless_another_share_uses_them() {
    let root = tempfile::tempdir().unwrap();
    let a = node(&root.path().join("a")).await;
    let folder = root.path().join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    let only_here = data(50_000, 32);
    let also_shared = data(60_000, 33);
    std::fs::write(folder.join("only-here.bin"), &only_here).unwrap();
    std::fs::write(folder.join("also-shared.bin"), &also_shared).unwrap();
    let collection = a.share(&folder).await.unwrap().ticket.hash;
    let single = root.path().join("single.bin");
    std::fs::write(&single, &also_shared).unwrap();
    a.share(&single).await.unwrap();

    assert!(a.remove(collection).await.unwrap());

    let b = node(&root.path().join("b")).await;
    for hash in [collection, Hash::of(&only_here)] {
        let err = b
            .get(hash, Some(BlobFormat::Raw), from(&a))
            .finish()
            .await
            .expect_err("a removed folder's own file is not served")
            .to_string();
        assert!(err.contains("does not have it"), "{err}");
    }
    let stats = b
        .get(Hash::of(&also_shared), Some(BlobFormat::Raw), from(&a))
        .finish()
        .await
        .expect("a file another share uses is still served");
    assert_eq!(stats.size, also_shared.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_an_encrypted_folder_takes_its_files_on_the_owner_and_the_getter() {
    let root = tempfile::tempdir().unwrap();
    let a = node(&root.path().join("a")).await;
    let folder = root.path().join("folder");
    std::fs::create_dir_all(folder.join("sub")).unwrap();
    std::fs::write(folder.join("one.bin"), data(50_000, 34)).unwrap();
    std::fs::write(folder.join("sub/two.bin"), data(70_000, 35)).unwrap();
    let ticket = a.share_encrypted(&folder, None).await.unwrap().ticket;
    assert_eq!(
        a.store().list().unwrap().len(),
        3,
        "two files and the listing"
    );

    let b = node(&root.path().join("b")).await;
    b.get_keyed(
        ticket.hash,
        Some(ticket.format),
        ticket.key.clone(),
        from(&a),
    )
    .finish()
    .await
    .unwrap();
    assert_eq!(b.store().list().unwrap().len(), 3);

    for n in [&a, &b] {
        assert!(n.remove(ticket.hash).await.unwrap());
        let left = n.store().list().unwrap();
        assert!(
            left.is_empty(),
            "files of a removed encrypted folder stay: {left:?}"
        );
    }
}
