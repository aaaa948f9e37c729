//! `plexus demo`: nodes inside this process on 127.0.0.1. Several share one
//! generated file; another finds them, downloads different ranges from each
//! at once, verifies every chunk group and writes the file out.

use std::time::Instant;

use anyhow::{ensure, Result};
use plexus::{
    content::{share, BlobFormat},
    transfer::GetOptions,
    Node, NodeConfig,
};

/// Runs the demo: `providers` nodes share `size_mib` MiB.
pub async fn run(size_mib: u64, providers: usize) -> Result<()> {
    let root = tempfile::tempdir()?;
    let file = root.path().join("demo.bin");
    write_random(&file, size_mib << 20)?;

    println!(
        "Starting {} nodes on 127.0.0.1 ({providers} providers, 1 getter)...",
        providers + 1
    );
    let mut nodes: Vec<Node> = Vec::new();
    for i in 0..=providers {
        let mut config = NodeConfig::loopback(root.path().join(format!("node{i}")));
        config.bootstrap = nodes
            .first()
            .map(|n| n.listen_addrs()[0].clone())
            .into_iter()
            .collect();
        nodes.push(Node::start(config).await?);
    }
    let getter = nodes.pop().expect("at least two nodes");

    let started = Instant::now();
    let mut ticket = None;
    for node in &nodes {
        ticket = Some(node.share(&file).await?.ticket);
    }
    let ticket = ticket.expect("one provider");
    println!(
        "{} providers imported and announced {size_mib} MiB in {:.2}s; hash {}",
        nodes.len(),
        started.elapsed().as_secs_f64(),
        ticket.hash
    );

    // The getter knows only the hash: providers come from the DHT.
    let options = GetOptions {
        providers: Vec::new(),
        use_dht: true,
        allow_relay: false,
    };
    let stats = getter
        .get(ticket.hash, Some(BlobFormat::Raw), options)
        .finish()
        .await?;
    let out = root.path().join("downloaded.bin");
    share::export(getter.store(), &ticket.hash, BlobFormat::Raw, &out, false)?;
    let same = blake3::hash(&std::fs::read(&out)?) == blake3::hash(&std::fs::read(&file)?);
    println!(
        "Downloaded {size_mib} MiB in {:.2}s = {:.0} MB/s, verified chunk by chunk; identical to the original: {same}",
        stats.secs,
        stats.size as f64 / stats.secs / 1e6
    );
    for p in &stats.per_peer {
        println!(
            "  from {}: {:>5.1} MiB",
            p.peer_id,
            p.bytes as f64 / (1 << 20) as f64
        );
    }
    for node in nodes.iter().chain(Some(&getter)) {
        node.shutdown().await;
    }
    ensure!(same, "the downloaded file differs from the original");
    println!(
        "Next: `plexus daemon`, then `plexus share PATH` and `plexus get TICKET` between machines."
    );
    Ok(())
}

/// Writes `len` pseudo-random bytes (a BLAKE3 stream) to `path`.
pub fn write_random(path: &std::path::Path, len: u64) -> Result<()> {
    use std::io::{Read, Write};
    let mut reader = blake3::Hasher::new().update(b"plexus demo").finalize_xof();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        reader.read_exact(&mut buf[..n])?;
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    Ok(())
}
