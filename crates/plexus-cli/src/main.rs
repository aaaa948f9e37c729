//! The `plexus` command.

mod api;
mod bench;
mod bench_daemon;
mod bench_files;
mod bench_link;
mod bench_pubsub;
mod bench_requests;
mod cli;
mod cli_daemon;
mod commands;
mod completions;
mod content;
mod daemon;
mod dashboard;
mod demo;
mod job;
mod metrics;
mod pubsub;
mod search;
mod signal;
mod storage;
mod text;

use std::process::ExitCode;

use clap::Parser;
use cli::{BenchKind, Cli, Command, DhtCommand, SwarmKeyCommand};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line: what was wrong; the usage hint stays available via --help.
            let rendered = e.render().to_string();
            let line = rendered
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("error");
            eprintln!("{line} (see --help)");
            return ExitCode::from(2);
        }
    };
    init_tracing(matches!(
        cli.command,
        Command::Daemon(_) | Command::Directory { .. }
    ));
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime starts");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let data_dir = cli.data_dir();
    let json = cli.json;
    match cli.command {
        Command::Daemon(args) => daemon::run(&data_dir, *args).await,
        Command::SwarmKey(SwarmKeyCommand::New { file }) => {
            commands::swarm_key_new(&data_dir, file.as_deref(), json)
        }
        Command::Id => commands::id(&data_dir, json).await,
        Command::Status => commands::status(&data_dir, json).await,
        Command::Open { print } => commands::open(&data_dir, print).await,
        Command::Peers => commands::peers(&data_dir, json).await,
        Command::Limits {
            max_upload,
            max_download,
        } => commands::limits(&data_dir, max_upload, max_download, json).await,
        Command::Dht(DhtCommand::FindPeer { peer }) => {
            commands::find_peer(&data_dir, peer, json).await
        }
        Command::Connect { addr } => commands::connect(&data_dir, addr, json).await,
        Command::Share {
            path,
            encrypt,
            meta,
        } => content::share(&data_dir, &path, encrypt, meta, json).await,
        Command::Publish { hash, meta } => search::publish(&data_dir, hash, meta, json).await,
        Command::Search {
            words,
            ttl,
            timeout,
        } => search::search(&data_dir, words, ttl, timeout, json).await,
        Command::Directory { listen, ttl } => search::directory(&data_dir, listen, ttl).await,
        Command::Get {
            target,
            out,
            force,
            allow_relay,
        } => content::get(&data_dir, &target, out.as_deref(), force, allow_relay, json).await,
        Command::Store {
            path,
            erasure,
            replicas,
        } => storage::store(&data_dir, &path, erasure, replicas, json).await,
        Command::Pins => storage::pins(&data_dir, json).await,
        Command::Unstore { object } => storage::unstore(&data_dir, object).await,
        Command::Ls => content::ls(&data_dir, json).await,
        Command::Rm { hash } => content::rm(&data_dir, hash).await,
        Command::Demo {
            size_mib,
            providers,
        } => demo::run(size_mib, providers.into()).await,
        Command::Pub {
            topic,
            message,
            wait,
        } => pubsub::publish(&data_dir, &topic, &message, wait, json).await,
        Command::Sub { topic, count } => pubsub::subscribe(&data_dir, &topic, count, json).await,
        Command::Chat { topic } => pubsub::chat(&data_dir, &topic).await,
        Command::Bench {
            kind: BenchKind::Transfer,
            size_mib,
            runs,
            files,
            only_get,
            ..
        } => bench::run(size_mib, runs, files, only_get).await,
        Command::Bench {
            kind: BenchKind::Pubsub,
            nodes,
            messages,
            ..
        } => bench_pubsub::run(nodes.into(), messages).await,
        Command::Job(command) => job::run(&data_dir, command, json).await,
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(args),
    }
}

/// Logs go to stderr; `RUST_LOG` overrides the level. The daemon logs at
/// info, one-shot commands only warnings.
fn init_tracing(daemon: bool) {
    // yamux warns about every connection whose peer closed first, and
    // Kademlia about every periodic refresh while it knows no peer yet.
    let default = if daemon {
        "info,yamux=error,libp2p_kad::behaviour=error"
    } else {
        "warn,yamux=error,libp2p_kad::behaviour=error"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
