//! `get -o` without a copy: plain content is hard-linked out of the
//! store, and a user editing the output afterwards can never make this
//! node offer or serve wrong bytes.

mod common;

use std::os::unix::fs::MetadataExt;

use common::{data, from, node};
use plexus::content::{share, BlobFormat};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_file_is_linked_and_an_edit_stops_it_being_served() {
    let root = tempfile::tempdir().unwrap();
    let a = node(&root.path().join("a")).await;
    let b = node(&root.path().join("b")).await;
    let c = node(&root.path().join("c")).await;
    let src = root.path().join("src.bin");
    let bytes = data(300 * 1024 + 5, 7);
    std::fs::write(&src, &bytes).unwrap();
    let hash = a.share(&src).await.unwrap().ticket.hash;
    b.get(hash, Some(BlobFormat::Raw), from(&a))
        .finish()
        .await
        .unwrap();
    let out = root.path().join("out.bin");
    share::export(b.store(), &hash, BlobFormat::Raw, &out, false).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    // Nothing was read back to check it: the blob was verified as it
    // arrived, and a blob not linked before needs no check.
    assert_eq!(b.store().full_verifications(), 0);
    // Not copied: the output is the store's file.
    let stored = std::fs::metadata(b.store().blob_path(&hash)).unwrap();
    assert_eq!(std::fs::metadata(&out).unwrap().ino(), stored.ino());
    // Deleting the output changes nothing the node serves.
    let out2 = root.path().join("again.bin");
    share::export(b.store(), &hash, BlobFormat::Raw, &out2, false).unwrap();
    std::fs::remove_file(&out2).unwrap();
    assert!(b.store().get(&hash).unwrap().unwrap().complete);

    // The user edits the output in place (same size, one byte).
    let f = std::fs::OpenOptions::new().write(true).open(&out).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"X", 1000).unwrap();
    drop(f);
    // The node no longer offers it...
    assert_eq!(b.store().get(&hash).unwrap(), None);
    // ...a third node fetching from it only gets a clean refusal...
    let err = c
        .get(hash, Some(BlobFormat::Raw), from(&b))
        .finish()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not have it"), "{err}");
    assert!(c.store().get(&hash).unwrap().is_none_or(|i| !i.complete));
    // ...the user's file is left as they made it, and a new get from the
    // first node restores the node's copy.
    assert_eq!(std::fs::read(&out).unwrap()[1000], b'X');
    b.get(hash, Some(BlobFormat::Raw), from(&a))
        .finish()
        .await
        .unwrap();
    c.get(hash, Some(BlobFormat::Raw), from(&b))
        .finish()
        .await
        .unwrap();
    assert_eq!(std::fs::read(c.store().blob_path(&hash)).unwrap(), bytes);
    assert_eq!(std::fs::read(&out).unwrap()[1000], b'X');
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_is_linked_out_and_an_edited_file_is_dropped_alone() {
    let root = tempfile::tempdir().unwrap();
    let a = node(&root.path().join("a")).await;
    let b = node(&root.path().join("b")).await;
    let folder = root.path().join("folder");
    std::fs::create_dir_all(folder.join("sub")).unwrap();
    // Over one chunk group, so kept as files (smaller ones are inline).
    let size = 20 * 1024;
    for i in 0..100 {
        std::fs::write(folder.join(format!("sub/f{i}")), data(size, i)).unwrap();
    }
    let hash = a.share(&folder).await.unwrap().ticket.hash;
    b.get(hash, Some(BlobFormat::Collection), from(&a))
        .finish()
        .await
        .unwrap();
    let out = root.path().join("out");
    share::export(b.store(), &hash, BlobFormat::Collection, &out, false).unwrap();
    for i in 0..100 {
        assert_eq!(
            std::fs::read(out.join(format!("sub/f{i}"))).unwrap(),
            data(size, i)
        );
    }
    let first: plexus::content::Hash = blake3::hash(&data(size, 0)).into();
    let second: plexus::content::Hash = blake3::hash(&data(size, 1)).into();
    let linked = std::fs::metadata(out.join("sub/f0")).unwrap();
    assert_eq!(linked.nlink(), 2, "linked out of the store, not copied");
    std::fs::write(out.join("sub/f0"), b"edited").unwrap();
    assert_eq!(b.store().get(&first).unwrap(), None);
    assert!(b.store().get(&second).unwrap().unwrap().complete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_folders_small_files_are_kept_inline_and_written_out_as_copies() {
    let root = tempfile::tempdir().unwrap();
    let a = node(&root.path().join("a")).await;
    let b = node(&root.path().join("b")).await;
    let folder = root.path().join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    for i in 0..300 {
        std::fs::write(folder.join(format!("f{i}")), data(4096, i)).unwrap();
    }
    let hash = a.share(&folder).await.unwrap().ticket.hash;
    let first: plexus::content::Hash = blake3::hash(&data(4096, 0)).into();
    // The sharer keeps no file per small file.
    assert!(a.store().is_inline(&first).unwrap());
    assert!(!a.store().blob_path(&first).exists());
    let out = root.path().join("out");
    share::export(a.store(), &hash, BlobFormat::Collection, &out, false).unwrap();
    let f0 = out.join("f0");
    assert_eq!(std::fs::read(&f0).unwrap(), data(4096, 0));
    assert_eq!(std::fs::metadata(&f0).unwrap().nlink(), 1, "a copy");
    // The user's edit changes their copy only: the sharer still has and
    // serves the right bytes.
    std::fs::write(&f0, b"edited").unwrap();
    assert!(a.store().get(&first).unwrap().unwrap().complete);
    b.get(hash, Some(BlobFormat::Collection), from(&a))
        .finish()
        .await
        .unwrap();
    // The getter keeps files, to link them out.
    assert!(!b.store().is_inline(&first).unwrap());
    let again = root.path().join("again");
    share::export(b.store(), &hash, BlobFormat::Collection, &again, false).unwrap();
    for i in 0..300 {
        assert_eq!(
            std::fs::read(again.join(format!("f{i}"))).unwrap(),
            data(4096, i)
        );
    }
}
