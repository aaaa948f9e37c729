//! `dht-sim`: the Plexus DHT at scale. Runs N real [`plexus::Node`]s (the
//! node's own Kademlia configuration, identify, the whole behaviour) in one
//! process on libp2p's in-process memory transport, measures random peer
//! lookups and provide-then-find of random hashes, removes a share of the
//! nodes at once (churn) and measures again over time, and prints memory
//! and CPU per node. [`plot`] draws the hop histogram and the success
//! rates under churn.
//!
//! One process, not several: a node here costs well under a megabyte of
//! heap and no thread of its own (see the report's memory line), so 1,000
//! fit in one process many times over on a 24 GiB machine.
//!
//! **Hops** are defined in `plexus`'s discovery (`hops.rs`): the number of
//! request rounds along the chain of introductions that led to the answer;
//! a peer from the asker's routing table is 1 hop away, a peer first named
//! by a peer `d` hops away is `d + 1`; a peer lookup whose target is in the
//! asker's routing table takes 0 hops.
//!
//! Time on the memory transport counts processing and scheduling on this
//! machine's cores, not network latency: hops are the round trips a real
//! network would pay; dead peers fail at once instead of timing out.

pub mod measure;
pub mod nodes;
pub mod plot;
mod report;

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::Result;
use plexus::PeerId;
use rand::{rngs::StdRng, RngCore, SeedableRng};

use measure::{Provided, Sample, Summary};
use nodes::Nodes;
pub use report::{ChurnStep, Point, SimReport};

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Nodes started.
    pub nodes: usize,
    /// Share of the original nodes gone after each churn step, in percent,
    /// rising (e.g. 10, 30, 50: each step removes the difference at once).
    pub churn: Vec<u32>,
    /// Peer lookups, and provider finds, per measurement round; also the
    /// number of hashes provided.
    pub lookups: usize,
    /// Kademlia routing table refresh (the node's `dht_refresh`).
    pub refresh: Duration,
    /// How long a node keeps an unused connection (the node's
    /// `idle_timeout`).
    pub idle: Duration,
    /// When to measure after each churn step, in multiples of `refresh`.
    pub rounds: Vec<f64>,
    /// Seed of every random choice.
    pub seed: u64,
    /// Where to write the PNG plots, if anywhere.
    pub plots: Option<PathBuf>,
    /// How long the nodes are left idle to measure their idle CPU; also
    /// the window over which the process is watched for the network to
    /// go quiet after set-up.
    pub idle_window: Duration,
    /// The longest wait for the network to go quiet after set-up (see
    /// [`nodes::wait_quiet`]) before idle CPU and lookups are measured.
    pub quiet_limit: Duration,
}

impl SimConfig {
    /// `nodes` nodes, churn 10/30/50 %, 200 lookups a round, refresh every
    /// minute, rounds from right after the churn to 1.5 refreshes later.
    pub fn new(nodes: usize) -> Self {
        Self {
            nodes,
            churn: vec![10, 30, 50],
            lookups: 200,
            refresh: Duration::from_secs(60),
            idle: Duration::from_secs(10),
            rounds: vec![
                0.0,
                1.0 / 30.0,
                1.0 / 12.0,
                1.0 / 6.0,
                1.0 / 3.0,
                2.0 / 3.0,
                1.0,
                1.5,
            ],
            seed: 1,
            plots: None,
            idle_window: Duration::from_secs(10),
            quiet_limit: Duration::from_secs(15 * 60),
        }
    }
}

/// Runs the simulation described by `config`.
pub async fn run(config: SimConfig) -> Result<SimReport> {
    anyhow::ensure!(config.nodes >= 2, "--nodes must be at least 2");
    let mut rng = StdRng::seed_from_u64(config.seed);
    // Node data (identity, store) in RAM when there is a tmpfs.
    let shm = std::path::Path::new("/dev/shm");
    let dir = match shm.is_dir() {
        true => tempfile::Builder::new()
            .prefix("plexus-sim")
            .tempdir_in(shm)?,
        false => tempfile::Builder::new().prefix("plexus-sim").tempdir()?,
    };
    let (rss0, cpu0, t0) = (nodes::rss_bytes(), nodes::cpu_time(), Instant::now());
    progress(format!("starting {} nodes", config.nodes));
    let mut net = Nodes::start(
        config.nodes,
        dir.path(),
        (config.refresh, config.idle),
        &mut rng,
    )
    .await?;
    progress(format!(
        "started in {:.1} s; filling routing tables",
        t0.elapsed().as_secs_f64()
    ));
    let want = 20.min(config.nodes - 1);
    let smallest_table = net
        .wait_for_tables(want, config.refresh * 2 + Duration::from_secs(30))
        .await?;
    let setup = t0.elapsed();
    let cpu_setup = nodes::cpu_time() - cpu0;
    // The joins' lookups (and the connections they opened, closing after
    // `idle`) go on well after the tables hold 20 peers: 100 nodes kept
    // this process at 1.9 cores for 10 s after set-up and at 0.06 cores
    // once quiet. Idle cost and lookups are measured on the quiet network.
    let idle_window = config.idle_window.max(Duration::from_millis(100));
    progress("waiting for the network to go quiet".into());
    let quiet_after = nodes::wait_quiet(idle_window, config.quiet_limit).await;
    progress(format!(
        "quiet after {:.1} s more",
        quiet_after.as_secs_f64()
    ));
    let cpu1 = nodes::cpu_time();
    tokio::time::sleep(idle_window).await;
    let cpu_idle = nodes::cpu_time() - cpu1;
    let rss = nodes::rss_bytes();
    let (mean_table, mean_conns) = net.means().await?;

    progress("providing".into());
    let provided = provide(&net, config.lookups, dir.path(), &mut rng).await?;
    progress("measuring before churn".into());
    let base_peers = measure::peer_lookups(&net, config.lookups, &mut rng).await;
    let base_finds: Vec<Sample> =
        measure::provider_finds(&net, &provided, config.lookups, &mut rng)
            .await
            .into_iter()
            .map(|(s, _)| s)
            .collect();

    let mut steps = Vec::new();
    let mut gone: Vec<PeerId> = Vec::new();
    for &pct in &config.churn {
        let target = config.nodes * pct as usize / 100;
        let count = target.saturating_sub(gone.len());
        progress(format!("churn: removing {count} nodes"));
        gone.extend(net.remove(count, &mut rng).await);
        steps.push(churn_round(&net, &config, &provided, &gone, pct, count, &mut rng).await);
    }
    let report = SimReport {
        config: config.clone(),
        setup,
        quiet_after,
        smallest_table,
        mean_table,
        mean_conns,
        rss_per_node: rss.saturating_sub(rss0) as f64 / config.nodes as f64,
        cpu_setup_per_node: cpu_setup.as_secs_f64() / config.nodes as f64,
        cpu_idle_per_node: cpu_idle.as_secs_f64() / idle_window.as_secs_f64() / config.nodes as f64,
        peers: Summary::of(&base_peers),
        finds: Summary::of(&base_finds),
        peer_hops: measure::histogram(&base_peers),
        find_hops: measure::histogram(&base_finds),
        steps,
    };
    net.shutdown().await;
    if let Some(dir) = &config.plots {
        plot::write_all(&report, dir)?;
    }
    Ok(report)
}

/// A line on stderr saying what the simulation does now.
fn progress(what: String) {
    eprintln!("dht-sim: {what}");
}

/// `count` random nodes each share a small file of random bytes (a random
/// hash); waits until every one has announced it.
async fn provide(
    net: &Nodes,
    count: usize,
    dir: &std::path::Path,
    rng: &mut StdRng,
) -> Result<Vec<Provided>> {
    let files = dir.join("files");
    std::fs::create_dir_all(&files)?;
    let mut provided = Vec::with_capacity(count);
    let mut sharers = Vec::with_capacity(count);
    for i in 0..count {
        let (_, node) = net.pick(rng);
        let mut bytes = [0u8; 64];
        rng.fill_bytes(&mut bytes);
        let path = files.join(format!("f{i}"));
        std::fs::write(&path, bytes)?;
        let shared = node.share(&path).await?;
        provided.push(Provided {
            hash: shared.ticket.hash,
            provider: node.peer_id(),
        });
        sharers.push(node);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    // Per sharer (some share more than one hash): failed announcements,
    // and whether it has no external address to announce.
    let mut sharer_states = std::collections::HashMap::new();
    for node in &sharers {
        loop {
            let s = node.status().await?;
            if s.announcing == 0 && s.announcing_now == 0 {
                sharer_states.insert(
                    node.peer_id(),
                    (s.announce_failures, s.nat.external_addrs.is_empty()),
                );
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "announcements not done in 120 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    progress(format!(
        "{count} announced, {} of them failed; {} of {} providers without an external address",
        sharer_states
            .values()
            .map(|(failed, _)| failed)
            .sum::<u64>(),
        sharer_states
            .values()
            .filter(|(_, no_addr)| *no_addr)
            .count(),
        sharer_states.len()
    ));
    Ok(provided)
}

/// The measurement rounds after one churn step.
async fn churn_round(
    net: &Nodes,
    config: &SimConfig,
    provided: &[Provided],
    gone: &[PeerId],
    pct: u32,
    removed: usize,
    rng: &mut StdRng,
) -> ChurnStep {
    let (alive, departed): (Vec<Provided>, Vec<Provided>) = provided
        .iter()
        .cloned()
        .partition(|p| !gone.contains(&p.provider));
    let t0 = Instant::now();
    let mut points = Vec::new();
    for &at in &config.rounds {
        let when = t0 + config.refresh.mul_f64(at);
        tokio::time::sleep_until(when.into()).await;
        let started = t0.elapsed().as_secs_f64();
        progress(format!("  round at t+{started:.1} s"));
        let peers = measure::peer_lookups(net, config.lookups, rng).await;
        let finds = measure::provider_finds(net, &alive, config.lookups, rng).await;
        let stale = measure::provider_finds(net, &departed, config.lookups / 2, rng).await;
        let finds: Vec<Sample> = finds.into_iter().map(|(s, _)| s).collect();
        let stale_share =
            stale.iter().filter(|(s, _)| s.stale).count() as f64 / stale.len().max(1) as f64;
        points.push(Point {
            at: started,
            peers: Summary::of(&peers),
            finds: Summary::of(&finds),
            stale: stale_share,
            departed_finds: stale.len(),
        });
    }
    ChurnStep {
        pct,
        removed,
        left: net.alive().len(),
        points,
    }
}
