//! `plexus bench` figures for whole `get` calls: many small files next to
//! the same bytes as one file, and a get to an output path with the share
//! of the call spent putting the file in place.

use std::{
    io::Read,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Result;
use plexus::{
    content::{share, BlobFormat, Hash},
    transfer::GetOptions,
    Node, NodeConfig,
};

/// Size of each small file.
const SMALL: usize = 4096;

/// Fetches `files` files of 4 KiB as a folder and the same bytes as one
/// file from one provider, `runs` times each, and prints the medians, the
/// ratio and the goal.
pub async fn small_files(root: &Path, files: usize, runs: usize) -> Result<()> {
    let folder = root.join("small");
    std::fs::create_dir_all(&folder)?;
    let mut xof = blake3::Hasher::new().update(b"plexus small").finalize_xof();
    let mut all = Vec::with_capacity(files * SMALL);
    for i in 0..files {
        let mut buf = vec![0u8; SMALL];
        xof.read_exact(&mut buf)?;
        std::fs::write(folder.join(format!("f{i:05}.bin")), &buf)?;
        all.extend_from_slice(&buf);
    }
    let one = root.join("one.bin");
    std::fs::write(&one, &all)?;
    drop(all);
    let provider = Node::start(NodeConfig::loopback(root.join("small-provider"))).await?;
    let started = Instant::now();
    let folder_hash = provider.share(&folder).await?;
    let share_secs = started.elapsed().as_secs_f64();
    let one_hash = provider.share(&one).await?;
    let (folder_hash, one_hash) = (folder_hash.ticket.hash, one_hash.ticket.hash);
    let mut many = Vec::new();
    let mut single = Vec::new();
    // Each run's getter keeps its files until all runs are done: ext4
    // allocates new inodes slowly right after thousands were deleted
    // (`find_inode_bit` skipping recently deleted ones, seen in `perf`),
    // so deleting a run's 20,000 files before the next run made every run
    // after the first 2-3x slower than a user's first get of a folder.
    let mut kept = Vec::new();
    let mut exports = Vec::new();
    for _ in 0..runs.max(1) {
        let (call, export) = get_to(
            root,
            &provider,
            folder_hash,
            BlobFormat::Collection,
            &mut kept,
        )
        .await?;
        many.push(call);
        exports.push(export);
        single.push(
            get_to(root, &provider, one_hash, BlobFormat::Raw, &mut kept)
                .await?
                .0,
        );
    }
    provider.shutdown().await;
    let (mut floor_many, mut floor_one) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let (m, o) = write_floor(root, files, &mut kept)?;
        floor_many.push(m);
        floor_one.push(o);
    }
    drop(kept);
    let (many, single, export) = (median(many), median(single), median(exports));
    let (floor_many, floor_one) = (median(floor_many), median(floor_one));
    let mib = (files * SMALL) as f64 / 1048576.0;
    println!(
        "  {files} files of 4 KiB ({mib:.0} MiB), get + write out, 1 provider, TCP (share took {share_secs:.1}s):"
    );
    println!(
        "    as a folder {many:>7.2}s ({:.0} files/s)   as one file {single:>6.2}s   ratio {:.1}x (goal <= 2x)",
        files as f64 / many,
        many / single
    );
    println!(
        "    of the folder's call, writing the files out {export:.2}s (hard links), the rest fetching and storing"
    );
    println!(
        "    the file system alone: the same files written and synced {floor_many:>5.2}s, as one file {floor_one:.2}s, ratio {:.1}x; the get takes {:.1}x the files' own writing",
        floor_many / floor_one,
        many / floor_many
    );
    Ok(())
}

/// What the file system itself takes for the bytes of the small files
/// bench, without Plexus: `files` files of 4 KiB created, written and
/// closed in a fresh folder, then one `syncfs`; and one file of the same
/// bytes written and synced. Seconds of each; the folders go to `kept`
/// (see the note on deleting in [`small_files`]).
fn write_floor(root: &Path, files: usize, kept: &mut Vec<tempfile::TempDir>) -> Result<(f64, f64)> {
    use std::os::fd::AsRawFd;
    let block: Vec<u8> = (0..SMALL).map(|i| (i * 31 % 251) as u8).collect();
    let dir = tempfile::tempdir_in(root)?;
    let started = Instant::now();
    for i in 0..files {
        std::fs::write(dir.path().join(format!("f{i:05}.bin")), &block)?;
    }
    let handle = std::fs::File::open(dir.path())?;
    // SAFETY: syncfs takes an open descriptor, which `handle` holds.
    if unsafe { libc::syncfs(handle.as_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let many = secs(started.elapsed());
    let started = Instant::now();
    let mut one = std::fs::File::create(dir.path().join("one.bin"))?;
    for _ in 0..files {
        std::io::Write::write_all(&mut one, &block)?;
    }
    one.sync_all()?;
    let single = secs(started.elapsed());
    kept.push(dir);
    Ok((many, single))
}

/// One whole get by a fresh node from `provider`: fetch, then write to an
/// output path. Returns the seconds of the call and of the write-out; the
/// getter's directory goes to `kept`, deleted when the caller drops it.
pub async fn get_to(
    root: &Path,
    provider: &Node,
    hash: Hash,
    format: BlobFormat,
    kept: &mut Vec<tempfile::TempDir>,
) -> Result<(f64, f64)> {
    let dir = tempfile::tempdir_in(root)?;
    let getter = Node::start(NodeConfig::loopback(dir.path().join("node"))).await?;
    let options = GetOptions {
        providers: vec![(
            provider.peer_id(),
            provider
                .listen_addrs()
                .iter()
                .filter(|a| a.to_string().contains("/tcp/"))
                .cloned()
                .collect(),
        )],
        use_dht: false,
        allow_relay: false,
    };
    let started = Instant::now();
    getter.get(hash, Some(format), options).finish().await?;
    let fetched = started.elapsed();
    let store = getter.store().clone();
    let out = dir.path().join("out");
    tokio::task::spawn_blocking(move || share::export(&store, &hash, format, &out, false))
        .await??;
    let total = started.elapsed();
    getter.shutdown().await;
    kept.push(dir);
    Ok((secs(total), secs(total - fetched)))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The median of `v` (not empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
