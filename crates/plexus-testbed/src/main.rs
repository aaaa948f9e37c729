//! `plexus-testbed`: brings up hosts in network namespaces, runs a scenario
//! on them, prints achieved against ideal figures, tears everything down.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use plexus_testbed::{net, plexus_bin, scenarios};

/// Run Plexus daemons as separate hosts (network namespaces on a bridge,
/// tbf-capped veth links) and measure swarm downloads, link cuts,
/// partitions and LAN discovery. Needs root and iproute2.
#[derive(Debug, Parser)]
#[command(
    name = "plexus-testbed",
    after_help = "Scenarios: swarm, uneven, spread, cut, partition, lan, punch, recover, serve, find-private, relay-loss, storage, nat-reach (default: all); punch-tcp, punch-quic: the hole-punch loop alone ($PLEXUS_PUNCH_RUNS runs, default 40).\n\nExamples:\n  cargo build --release && target/release/plexus-testbed swarm\n  target/release/plexus-testbed cut partition\n  target/release/plexus-testbed --clean"
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

fn main() -> Result<()> {
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
