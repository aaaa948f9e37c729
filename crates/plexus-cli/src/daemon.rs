//! `plexus daemon`: a node in the foreground with its local API.

use std::{future::IntoFuture, path::Path, time::Duration};

use anyhow::{Context, Result};
use plexus::{config::FileConfig, Node, NodeConfig};
use rand::RngCore;

use crate::{
    api::{self, ApiInfo, API_FILE},
    cli::DaemonArgs,
    dashboard::auth::Auth,
    signal::shutdown_signal,
};

/// How long API calls still running at Ctrl-C or SIGTERM may go on. Short
/// calls end in milliseconds; a `get` or a job may take hours, and the
/// daemon stops without them (a `get` run again resumes from what it had
/// verified).
const API_GRACE: Duration = Duration::from_secs(2);

/// Runs the daemon until Ctrl-C or SIGTERM.
pub async fn run(data_dir: &Path, args: DaemonArgs) -> Result<()> {
    let file = FileConfig::load(data_dir)?;
    let mut config = NodeConfig::new(data_dir);
    file.apply(&mut config);
    if !args.listen.is_empty() {
        config.listen = args.listen;
    }
    if !args.bootstrap.is_empty() {
        config.bootstrap = args.bootstrap;
    }
    if args.no_mdns {
        config.mdns = false;
    }
    if args.no_relay_service {
        config.nat.relay_service = false;
    }
    config.nat.external_addrs.extend(args.external_address);
    if let Some(bytes) = args.relay_circuit_bytes {
        config.nat.max_circuit_bytes = bytes;
    }
    if let Some(secs) = args.relay_circuit_secs {
        config.nat.max_circuit_duration = Duration::from_secs(secs);
    }
    config.nat.rate_per_minute = args.relay_rate.or(config.nat.rate_per_minute);
    if let Some(secs) = args.reachability_recheck {
        config.nat.recheck = Duration::from_secs(secs);
    }
    if !args.directory.is_empty() {
        config.directories = args.directory;
    }
    if args.super_peer {
        config.super_peer = true;
    }
    if let Some(key) = args.swarm_key {
        config.swarm_key = Some(key);
    }
    if let Some(bytes) = args.offer_storage {
        config.offer_storage = bytes;
    }
    if let Some(secs) = args.storage_probe_secs {
        config.storage_probe_every = Duration::from_secs(secs);
    }
    if let Some(secs) = args.storage_repair_after_secs {
        config.storage_repair_after = Duration::from_secs(secs);
    }
    if let Some(up) = args.max_upload {
        config.rate_limits.max_upload = (up > 0).then_some(up);
    }
    if let Some(down) = args.max_download {
        config.rate_limits.max_download = (down > 0).then_some(down);
    }
    crate::job::apply(&args.compute, &mut config.compute);
    if let Some(secs) = args.idle_timeout {
        config.idle_timeout = Duration::from_secs(secs);
    }
    let api_addr = match args.api {
        Some(addr) => addr,
        None => file
            .api
            .as_deref()
            .unwrap_or(api::DEFAULT_API_ADDR)
            .parse()
            .with_context(|| {
                format!(
                    "bad api address in {}",
                    data_dir.join("config.toml").display()
                )
            })?,
    };
    let metrics_addr = match args.metrics {
        Some(addr) => Some(addr),
        None => file
            .metrics
            .as_deref()
            .map(str::parse)
            .transpose()
            .with_context(|| {
                format!(
                    "bad metrics address in {} (give HOST:PORT, e.g. 127.0.0.1:9464)",
                    data_dir.join("config.toml").display()
                )
            })?,
    };

    let swarm_key = config.swarm_key.clone();
    let node = Node::start(config).await?;
    let listener = match tokio::net::TcpListener::bind(api_addr).await {
        Ok(l) => l,
        Err(e) => {
            node.shutdown().await;
            anyhow::bail!("cannot start the API on {api_addr}: {e} (pick another with --api HOST:PORT, port 0 for any)");
        }
    };
    let metrics = match metrics_addr {
        Some(addr) => match crate::metrics::spawn(node.clone(), addr).await {
            Ok(served) => Some(served),
            Err(e) => {
                node.shutdown().await;
                return Err(e);
            }
        },
        None => None,
    };
    // The handlers are installed here, before api.json and the banner tell
    // anyone the daemon is up: a SIGTERM sent right after them must stop
    // it cleanly, not kill it (it once did, when they were installed only
    // once the API server first polled `stop`).
    let signal = shutdown_signal();
    let info = ApiInfo {
        addr: listener.local_addr()?,
        token: random_token(),
    };
    info.write(data_dir)
        .with_context(|| format!("cannot write {}", data_dir.join(API_FILE).display()))?;

    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let stop = async move {
        signal.await;
        let _ = stopping.send(());
    };
    let addrs: Vec<String> = node.listen_addrs().iter().map(|a| a.to_string()).collect();
    // One write, whose failure is ignored: whoever started the daemon may
    // have read the first line and closed our stdout, and a daemon must not
    // die of that (println! panics on a broken pipe).
    let metrics_note = metrics
        .as_ref()
        .map(|(addr, _)| format!(", metrics http://{addr}/metrics"))
        .unwrap_or_default();
    let mut banner = format!(
        "Plexus node {} listening on {} (API http://{}{metrics_note})\n",
        node.peer_id(),
        addrs.join(" "),
        info.addr
    );
    if let Some(path) = swarm_key {
        banner.push_str(&format!(
            "Private network: swarm key {} (fingerprint {}); TCP only, only nodes with this key can connect\n",
            path.display(),
            plexus::swarm_key::fingerprint(&path)?
        ));
    }
    banner.push_str(&format!(
        "Dashboard: {}\n",
        crate::dashboard::login_url(info.addr, &info.token)
    ));
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    }

    let auth = std::sync::Arc::new(Auth::new(info.token.clone(), info.addr.port()));
    let app = api::server::router(node.clone(), auth.clone())
        .merge(crate::dashboard::router(auth, data_dir.join("downloads")));
    let server = axum::serve(listener, app).with_graceful_shutdown(stop);
    // The graceful shutdown waits for every API call to end, and a running
    // `get` held the daemon until its download was done.
    let result = tokio::select! {
        served = server.into_future() => served.context("API server failed"),
        _ = async {
            let _ = stopped.await;
            tokio::time::sleep(API_GRACE).await;
        } => {
            tracing::warn!(
                "stopping with API calls still running after {}s (a get run again resumes)",
                API_GRACE.as_secs()
            );
            Ok(())
        }
    };
    tracing::info!("shutting down");
    if let Some((_, task)) = metrics {
        task.abort();
    }
    node.shutdown().await;
    // Only remove the API file if it is still ours.
    if ApiInfo::read(data_dir).is_some_and(|i| i.token == info.token) {
        let _ = std::fs::remove_file(data_dir.join(API_FILE));
    }
    result
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
