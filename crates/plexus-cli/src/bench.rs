//! `plexus bench`: verified transfer speed next to the limits of this
//! machine, measured in one run: a plain TCP copy over loopback, a bare
//! libp2p stream per transport and BLAKE3 hashing speed; then the blob
//! transfer per transport, and the whole `plexus get` between two daemons
//! with their peak memory. Prints medians, ratios and the goals.

use std::{path::Path, time::Instant};

use crate::{
    bench_daemon,
    bench_link::{self, Link},
    bench_requests,
};
use anyhow::Result;
use plexus::{content::BlobFormat, transfer::GetOptions, Multiaddr, Node, NodeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs every measurement `runs` times on `size_mib` MiB; with
/// `only_get`, only the whole get between two daemons.
pub async fn run(size_mib: u64, runs: usize, files: usize, only_get: bool) -> Result<()> {
    let size = size_mib << 20;
    let root = tempfile::tempdir()?;
    let file = root.path().join("bench.bin");
    crate::demo::write_random(&file, size)?;
    println!("plexus bench: {size_mib} MiB, median of {runs} runs, 127.0.0.1");

    let tcp = median(runs, || plain_tcp(size)).await?;
    let tcp_speed = tcp.speed;
    let row = |name: &str, fig: Figure| {
        println!(
            "  {name:<38} {:>8.0} MB/s   {:>5.2} x plain TCP   {:.2} cores",
            fig.speed,
            fig.speed / tcp_speed,
            fig.cores
        );
    };
    row("plain TCP copy (limit)", tcp);
    let disk_speed = median(runs, || async { disk_write(root.path(), size) }).await?;
    row("disk write + fdatasync (limit)", disk_speed);
    let disk_speed = disk_speed.speed;
    if only_get {
        return whole_get(
            root.path(),
            &file,
            size,
            runs,
            (tcp_speed, disk_speed),
            true,
        )
        .await;
    }
    let hash_speed = median(runs, || async { blake3_speed(&file) }).await?;
    row("BLAKE3 hashing (1 core, limit)", hash_speed);
    let bare_tcp = median(runs, || bench_link::bare_stream(size, Link::Tcp)).await?;
    row("bare libp2p stream, TCP+Noise+Yamux", bare_tcp);
    let bare_quic = median(runs, || bench_link::bare_stream(size, Link::Quic)).await?;
    row("bare libp2p stream, QUIC", bare_quic);
    let requests_tcp = median(runs, || bench_requests::bare_requests(size, Link::Tcp)).await?;
    row("bare requests 4 MiB x 4, TCP", requests_tcp);
    let requests_quic = median(runs, || bench_requests::bare_requests(size, Link::Quic)).await?;
    row("bare requests 4 MiB x 4, QUIC", requests_quic);
    let (bare_tcp, bare_quic) = (bare_tcp.speed, bare_quic.speed);
    let (requests_tcp, requests_quic) = (requests_tcp.speed, requests_quic.speed);

    let mut providers = Vec::new();
    for i in 0..4 {
        let node = Node::start(NodeConfig::loopback(root.path().join(format!("p{i}")))).await?;
        node.share(&file).await?;
        providers.push(node);
    }
    let hash = plexus::content::Hash::from(blake3::hash(&std::fs::read(&file)?));
    let mut one = Vec::new();
    for (name, count, transport, bare) in [
        (
            "transfer, 1 provider, TCP+Noise+Yamux",
            1,
            "/tcp/",
            Some((bare_tcp, requests_tcp)),
        ),
        (
            "transfer, 1 provider, QUIC",
            1,
            "/quic-v1",
            Some((bare_quic, requests_quic)),
        ),
        ("transfer, 2 providers, TCP", 2, "/tcp/", None),
        ("transfer, 4 providers, TCP", 4, "/tcp/", None),
    ] {
        let chosen = &providers[..count];
        let speed = median(runs, || {
            fetch_once(root.path(), chosen, transport, hash, size)
        })
        .await?;
        row(name, speed);
        let speed = speed.speed;
        if let Some((bare, requests)) = bare {
            println!(
                "    {:.2} x the bare libp2p stream (goal >= 0.90), {:.2} x bare requests",
                speed / bare,
                speed / requests
            );
            one.push(speed);
        }
    }
    println!("    QUIC {:.2} x TCP (goal >= 1.00)", one[1] / one[0]);
    // The whole call to an output path, and the share spent writing it out.
    let mut calls = Vec::new();
    for _ in 0..runs.max(1) {
        let mut kept = Vec::new();
        calls.push(
            crate::bench_files::get_to(
                root.path(),
                &providers[0],
                hash,
                BlobFormat::Raw,
                &mut kept,
            )
            .await?,
        );
    }
    calls.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (call, export) = calls[calls.len() / 2];
    println!(
        "  {:<38} {:>8.0} MB/s   {:>5.2} x plain TCP",
        "get -o in one process, 1 provider",
        size as f64 / call / 1e6,
        size as f64 / call / 1e6 / tcp_speed
    );
    println!(
        "    of which writing the output file {export:.2}s of {call:.2}s = {:.1}% (goal <= 5%)",
        100.0 * export / call
    );
    for p in &providers {
        p.shutdown().await;
    }
    whole_get(
        root.path(),
        &file,
        size,
        runs,
        (tcp_speed, disk_speed),
        false,
    )
    .await?;
    if files > 0 {
        crate::bench_files::small_files(root.path(), files, runs).await?;
    }
    Ok(())
}

/// The whole `plexus get` between two daemons, with their peak memory.
/// `limits`: the plain TCP copy and the disk's write speed (the output
/// is synced, so no get is faster than the disk).
async fn whole_get(
    root: &Path,
    file: &Path,
    size: u64,
    runs: usize,
    (tcp, disk): (f64, f64),
    drop_source: bool,
) -> Result<()> {
    let call = bench_daemon::whole_get(root, file, runs, drop_source).await?;
    let speed = size as f64 / call.secs / 1e6;
    println!(
        "  {:<38} {speed:>8.0} MB/s   {:>5.2} x plain TCP (goal >= 0.15), {:.2} x the disk",
        "plexus get TICKET -o OUT, 2 daemons",
        speed / tcp,
        speed / disk
    );
    println!(
        "    whole call {:.2}s (output synced), of which the daemon's transfer {:.2}s; connection over {} (both listen on TCP and QUIC)",
        call.secs,
        call.transfer_secs,
        match call.transports.is_empty() {
            true => "?".to_string(),
            false => call.transports.join(" + "),
        }
    );
    let mb = |b: Option<u64>| b.map_or("?".to_string(), |b| format!("{:.0} MB", b as f64 / 1e6));
    println!(
        "    peak memory (VmHWM): provider daemon {}, getter daemon {} (goal < 100 MB each)",
        mb(call.hwm.0),
        mb(call.hwm.1)
    );
    let cores = |c: Option<f64>| c.map_or("?".to_string(), |c| format!("{c:.2}"));
    println!(
        "    cores kept busy during the calls: provider daemon {}, getter daemon {} (of {} on this machine)",
        cores(call.cores.0),
        cores(call.cores.1),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    Ok(())
}

/// A speed and the cores this process kept busy while it was measured.
#[derive(Debug, Clone, Copy)]
struct Figure {
    /// Median MB/s.
    speed: f64,
    /// CPU time of the whole process over wall time, over all runs.
    cores: f64,
}

/// CPU seconds this process has used (user and system, all threads).
fn cpu_secs() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

async fn median<F, Fut>(runs: usize, mut f: F) -> Result<Figure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<f64>>,
{
    let mut v = Vec::new();
    let (cpu, wall) = (cpu_secs(), Instant::now());
    for _ in 0..runs.max(1) {
        v.push(f().await?);
    }
    let cores = (cpu_secs() - cpu) / wall.elapsed().as_secs_f64();
    v.sort_by(f64::total_cmp);
    Ok(Figure {
        speed: v[v.len() / 2],
        cores,
    })
}

fn blake3_speed(file: &Path) -> Result<f64> {
    let data = std::fs::read(file)?;
    let started = Instant::now();
    std::hint::black_box(blake3::hash(&data));
    Ok(data.len() as f64 / started.elapsed().as_secs_f64() / 1e6)
}

/// Writes `size` bytes to a new file under `dir` and syncs it: the fastest
/// a download can store what it fetched.
fn disk_write(dir: &Path, size: u64) -> Result<f64> {
    use std::io::Write;
    let path = dir.join("disk-write.bin");
    let buf = vec![7u8; 1 << 20];
    let started = Instant::now();
    let mut f = std::fs::File::create(&path)?;
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n])?;
        left -= n as u64;
    }
    f.sync_data()?;
    let secs = started.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(&path)?;
    Ok(size as f64 / secs / 1e6)
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
    let mut config = NodeConfig::loopback(dir.path());
    // Measure the transport asked for: no move to the preferred one.
    config.prefer_transport = None;
    let getter = Node::start(config).await?;
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
    // The transfer phase: from the first data request to the last byte
    // stored (the connection is up, as for the bare stream).
    Ok(size as f64 / stats.transfer_secs / 1e6)
}
