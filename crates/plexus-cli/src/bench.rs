//! `plexus bench`: verified transfer speed next to the limits of this
//! machine, measured in one run: a plain TCP copy over loopback and BLAKE3
//! hashing speed. Prints medians and ratios.

use std::{path::Path, time::Instant};

use anyhow::Result;
use plexus::{content::BlobFormat, transfer::GetOptions, Multiaddr, Node, NodeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs every measurement `runs` times on `size_mib` MiB.
pub async fn run(size_mib: u64, runs: usize, files: usize) -> Result<()> {
    let size = size_mib << 20;
    let root = tempfile::tempdir()?;
    let file = root.path().join("bench.bin");
    crate::demo::write_random(&file, size)?;
    println!("plexus bench: {size_mib} MiB, median of {runs} runs, 127.0.0.1");

    let hash_speed = median(runs, || async { blake3_speed(&file) }).await?;
    let tcp_speed = median(runs, || plain_tcp(size)).await?;
    let row = |name: &str, mbps: f64| {
        println!(
            "  {name:<34} {mbps:>8.0} MB/s   {:>5.2} x plain TCP",
            mbps / tcp_speed
        );
    };
    row("BLAKE3 hashing (1 core, limit)", hash_speed);
    row("plain TCP copy (limit)", tcp_speed);

    let mut providers = Vec::new();
    for i in 0..4 {
        let node = Node::start(NodeConfig::loopback(root.path().join(format!("p{i}")))).await?;
        node.share(&file).await?;
        providers.push(node);
    }
    let hash = plexus::content::Hash::from(blake3::hash(&std::fs::read(&file)?));
    for (name, count, transport) in [
        ("Plexus, 1 provider, TCP+Noise+Yamux", 1, "/tcp/"),
        ("Plexus, 1 provider, QUIC", 1, "/quic-v1"),
        ("Plexus, 2 providers, TCP", 2, "/tcp/"),
        ("Plexus, 4 providers, TCP", 4, "/tcp/"),
    ] {
        let chosen = &providers[..count];
        let speed = median(runs, || {
            fetch_once(root.path(), chosen, transport, hash, size)
        })
        .await?;
        row(name, speed);
    }
    // The whole call to an output path, and the share spent writing it out.
    let mut calls = Vec::new();
    for _ in 0..runs.max(1) {
        calls.push(
            crate::bench_files::get_to(root.path(), &providers[0], hash, BlobFormat::Raw).await?,
        );
    }
    calls.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (call, export) = calls[calls.len() / 2];
    row(
        "Plexus get -o, whole call, 1 provider",
        size as f64 / call / 1e6,
    );
    println!(
        "    of which writing the output file {export:.2}s of {call:.2}s = {:.1}% (goal <= 5%)",
        100.0 * export / call
    );
    for p in &providers {
        p.shutdown().await;
    }
    if files > 0 {
        crate::bench_files::small_files(root.path(), files, runs).await?;
    }
    Ok(())
}

async fn median<F, Fut>(runs: usize, mut f: F) -> Result<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<f64>>,
{
    let mut v = Vec::new();
    for _ in 0..runs.max(1) {
        v.push(f().await?);
    }
    v.sort_by(f64::total_cmp);
    Ok(v[v.len() / 2])
}

fn blake3_speed(file: &Path) -> Result<f64> {
    let data = std::fs::read(file)?;
    let started = Instant::now();
    std::hint::black_box(blake3::hash(&data));
    Ok(data.len() as f64 / started.elapsed().as_secs_f64() / 1e6)
}

async fn plain_tcp(size: u64) -> Result<f64> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let sender = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await?;
        let buf = vec![7u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            s.write_all(&buf[..n]).await?;
            left -= n as u64;
        }
        anyhow::Ok(())
    });
    let started = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u64;
    while got < size {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    sender.await??;
    Ok(got as f64 / started.elapsed().as_secs_f64() / 1e6)
}

/// One download by a fresh node (empty store) from `providers`, using only
/// their addresses over `transport`.
async fn fetch_once(
    root: &Path,
    providers: &[Node],
    transport: &str,
    hash: plexus::content::Hash,
    size: u64,
) -> Result<f64> {
    let dir = tempfile::tempdir_in(root)?;
    let getter = Node::start(NodeConfig::loopback(dir.path())).await?;
    let options = GetOptions {
        providers: providers
            .iter()
            .map(|p| {
                let addrs: Vec<Multiaddr> = p
                    .listen_addrs()
                    .iter()
                    .filter(|a| a.to_string().contains(transport))
                    .cloned()
                    .collect();
                (p.peer_id(), addrs)
            })
            .collect(),
        use_dht: false,
        allow_relay: false,
    };
    let stats = getter
        .get(hash, Some(BlobFormat::Raw), options)
        .finish()
        .await?;
    getter.shutdown().await;
    anyhow::ensure!(
        stats.size == size,
        "downloaded {} of {size} bytes",
        stats.size
    );
    Ok(size as f64 / stats.secs / 1e6)
}
