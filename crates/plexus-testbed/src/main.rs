//! `plexus-testbed`: brings up hosts in network namespaces, runs a scenario
//! on them, prints achieved against ideal figures, tears everything down.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use plexus_testbed::{net, plexus_bin, scenarios, sim};

/// Run Plexus daemons as separate hosts (network namespaces on a bridge,
/// tbf-capped veth links) and measure swarm downloads, link cuts,
/// partitions and LAN discovery. Needs root and iproute2.
#[derive(Debug, Parser)]
#[command(
    name = "plexus-testbed",
    after_help = "Scenarios: swarm, uneven, spread, cut, partition, lan, punch, recover, serve, find-private, relay-limit, relay-loss, storage, nat-reach, caps, crowd, compute (default: all); punch-tcp, punch-quic: the hole-punch loop alone ($PLEXUS_PUNCH_RUNS runs, default 40); crowd-full, crowd-leave, crowd-capped: one of the three flash crowds alone (plots in $PLEXUS_PLOTS, default docs/; $PLEXUS_CROWD_GETTERS, default 24, and $PLEXUS_CROWD_MBIT, default 20, change the getters and every link's rate; $PLEXUS_CROWD_DOWN_MBIT gives every download link its own rate). Every host runs TCP congestion control $PLEXUS_TESTBED_CC, default cubic (`system` keeps the kernel's); $PLEXUS_TESTBED_SYSCTL adds sysctls to every host (comma-separated key=value).\n\nThe DHT at scale (no root needed): plexus-testbed dht-sim --help\n\nExamples:\n  cargo build --release && target/release/plexus-testbed swarm\n  target/release/plexus-testbed cut partition\n  target/release/plexus-testbed --clean"
)]
struct Args {
    /// Scenarios to run, in order.
    #[arg(value_name = "SCENARIO")]
    scenarios: Vec<String>,
    /// The plexus binary (default: $PLEXUS_BIN, or the one next to this program).
    #[arg(long, value_name = "PATH")]
    plexus: Option<PathBuf>,
    /// Only remove namespaces left behind by killed runs, then exit.
    #[arg(long)]
    clean: bool,
}

/// Run N real Plexus nodes in this process on libp2p's memory transport
/// and measure the DHT: random peer lookups and provider finds (success,
/// hops, messages, time), then churn. Hops: request rounds along the chain
/// of introductions to the answer (a routing-table peer is 1 hop, a peer
/// first named by a d-hop peer is d+1, a target already in the table 0).
#[derive(Debug, Parser)]
#[command(name = "plexus-testbed dht-sim")]
struct SimArgs {
    /// Nodes to start.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Churn steps: share of the original nodes gone after each, in percent.
    #[arg(long, value_delimiter = ',', default_value = "10,30,50")]
    churn: Vec<u32>,
    /// Peer lookups (and provider finds) per round; also hashes provided.
    #[arg(long, default_value_t = 200)]
    lookups: usize,
    /// Kademlia routing table refresh in seconds (the node's default is 300).
    #[arg(long, default_value_t = 60)]
    refresh: u64,
    /// When to measure after each churn step, in multiples of --refresh
    /// (default 0,1/30,1/12,1/6,1/3,2/3,1,1.5).
    #[arg(long, value_delimiter = ',')]
    rounds: Option<Vec<f64>>,
    /// Seconds a node keeps a connection nothing uses (the node's default
    /// is 60). Each open connection costs about 100 KB here (200 nodes:
    /// 16 MiB RSS per node at 120 connections, 2.3 MiB at 3); at 60 s the
    /// connections of a thousand nodes' lookups pile up past this
    /// machine's memory.
    #[arg(long, default_value_t = 10)]
    idle: u64,
    /// Longest wait in seconds, after the routing tables filled, for the
    /// joins' work to die down before idle CPU and lookups are measured.
    #[arg(long, default_value_t = 900)]
    quiet_limit: u64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write PNG plots (hop histogram, success under churn) into DIR.
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
}

fn dht_sim(args: impl Iterator<Item = String>) -> Result<()> {
    let args =
        SimArgs::parse_from(std::iter::once("plexus-testbed dht-sim".to_string()).chain(args));
    anyhow::ensure!(
        args.churn.windows(2).all(|w| w[0] < w[1]) && args.churn.iter().all(|&c| c < 100),
        "--churn takes rising percentages below 100, e.g. 10,30,50"
    );
    // RUST_LOG=plexus=debug etc. shows what the nodes do.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let mut config = sim::SimConfig::new(args.nodes);
    config.churn = args.churn;
    config.lookups = args.lookups.max(1);
    config.refresh = std::time::Duration::from_secs(args.refresh.max(1));
    config.idle = std::time::Duration::from_secs(args.idle.max(1));
    config.seed = args.seed;
    config.quiet_limit = std::time::Duration::from_secs(args.quiet_limit);
    if let Some(rounds) = args.rounds {
        anyhow::ensure!(
            !rounds.is_empty() && rounds.windows(2).all(|w| w[0] < w[1]) && rounds[0] >= 0.0,
            "--rounds takes rising non-negative multiples of --refresh, e.g. 0,0.05,0.25,1"
        );
        config.rounds = rounds;
    }
    config.plots = args.plots.clone();
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(sim::run(config))?;
    print!("{report}");
    if let Some(dir) = args.plots {
        println!(
            "plots: {} and {}",
            dir.join(sim::plot::HOPS_PNG).display(),
            dir.join(sim::plot::CHURN_PNG).display()
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let mut argv = std::env::args().skip(1).peekable();
    if argv.peek().map(String::as_str) == Some("dht-sim") {
        return dht_sim(argv.skip(1));
    }
    let args = Args::parse();
    if args.clean {
        net::remove_stale();
        return Ok(());
    }
    let plexus = match args.plexus {
        Some(p) => p,
        None => plexus_bin()?,
    };
    let names: Vec<String> = if args.scenarios.is_empty() {
        scenarios::ALL.iter().map(|s| s.to_string()).collect()
    } else {
        args.scenarios
    };
    let mut failed = Vec::new();
    for name in &names {
        match scenarios::run(&plexus, name) {
            Ok(reports) => {
                for r in reports {
                    print!("{r}");
                    if !r.passed() {
                        failed.push(r.scenario.clone());
                    }
                }
            }
            Err(e) => {
                println!("scenario {name}: error: {e:#}");
                failed.push(name.clone());
            }
        }
    }
    if !failed.is_empty() {
        anyhow::bail!("failed: {}", failed.join(", "));
    }
    Ok(())
}
