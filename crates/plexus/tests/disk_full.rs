//! A full disk is not a lie: the getter's data dir sits on a small tmpfs
//! (needs root, as CI runs), the download stops with "disk full", blames no
//! provider, keeps what was verified, and resumes once there is room.

mod common;

use std::{path::Path, process::Command};

use common::{data, from, node};
use plexus::{
    content::{share, BlobFormat, Hash},
    Error,
};

/// A tmpfs mounted on a directory, unmounted when dropped.
struct Tmpfs<'a>(&'a Path);

impl<'a> Tmpfs<'a> {
    fn mount(dir: &'a Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        mount(
            &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"],
            dir,
        );
        Self(dir)
    }

    fn resize(&self, size: &str) {
        mount(&["-o", &format!("remount,size={size}")], self.0);
    }
}

impl Drop for Tmpfs<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0).status();
    }
}

fn mount(args: &[&str], dir: &Path) {
    let out = Command::new("mount")
        .args(args)
        .arg(dir)
        .output()
        .expect("run mount");
    assert!(
        out.status.success(),
        "mount {args:?} failed: {} (this test needs root to mount a tmpfs)",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_download_blames_nobody_and_resume_finishes_it() {
    let root = tempfile::tempdir().unwrap();
    let bytes = data(32 * 1024 * 1024, 21);
    let src = root.path().join("file");
    std::fs::write(&src, &bytes).unwrap();
    let provider = node(&root.path().join("p")).await;
    provider.share(&src).await.unwrap();
    let hash = Hash::of(&bytes);

    let gdir = root.path().join("g");
    let disk = Tmpfs::mount(&gdir, "20m");
    let getter = node(&gdir).await;
    let err = getter
        .get(hash, Some(BlobFormat::Raw), from(&provider))
        .finish()
        .await
        .expect_err("32 MiB cannot fit on a 20 MiB disk");
    println!("on a full disk: {err}");
    assert!(matches!(err, Error::StoreWrite { .. }), "{err:?}");
    assert!(err.to_string().contains("disk full"), "{err}");
    assert!(err.to_string().contains("resume"), "{err}");
    let kept = getter
        .store()
        .get(&hash)
        .unwrap()
        .map_or(0, |i| i.present_bytes());
    println!("verified and kept: {kept} bytes");
    assert!(kept > 0, "the verified ranges are kept");
    getter.shutdown().await;

    // Room again: the same download resumes and completes.
    disk.resize("80m");
    let getter = node(&gdir).await;
    let stats = getter
        .get(hash, Some(BlobFormat::Raw), from(&provider))
        .finish()
        .await
        .expect("resumes once there is room");
    println!("resumed: fetched {} of {}", stats.fetched, stats.size);
    assert!(stats.liars.is_empty(), "{:?}", stats.liars);
    assert!(
        stats.fetched < stats.size,
        "resume fetched everything again"
    );
    assert!(stats.fetched + kept >= stats.size);
    let out = root.path().join("out");
    share::export(getter.store(), &hash, BlobFormat::Raw, &out, false).unwrap();
    assert!(std::fs::read(&out).unwrap() == bytes);
    getter.shutdown().await;
}
