//! Client commands: ask the daemon through its API, print a table or JSON.

use std::path::Path;

use anyhow::{Context, Result};
use plexus::{FoundPeer, Multiaddr, NodeStatus, PeerEntry, PeerId};
use serde::Serialize;

use crate::api::{
    client::Client,
    types::{ConnectRequest, ConnectResponse, IdResponse, LimitsRequest},
};

/// Prints `value` as pretty JSON.
fn print_json<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `plexus id`
pub async fn id(data_dir: &Path, json: bool) -> Result<()> {
    let id: IdResponse = Client::for_data_dir(data_dir)?.get("/v1/id").await?;
    if json {
        // Through a JSON value, so the keys keep the order they always had.
        return print_json(&serde_json::to_value(&id)?);
    }
    println!("{}", id.peer_id);
    for addr in &id.listen_addrs {
        println!("  {addr}");
    }
    Ok(())
}

/// `plexus status`
pub async fn status(data_dir: &Path, json: bool) -> Result<()> {
    let status: NodeStatus = Client::for_data_dir(data_dir)?.get("/v1/status").await?;
    if json {
        return print_json(&status);
    }
    println!("peer id          {}", status.peer_id);
    println!("connected peers  {}", status.connected_peers);
    println!(
        "connections      {} in, {} out",
        status.inbound_connections, status.outbound_connections
    );
    println!("DHT peers        {}", status.routing_table_peers);
    println!(
        "mDNS             {}",
        if status.mdns { "on" } else { "off" }
    );
    println!(
        "neighbours       {}{}",
        status.search_neighbours,
        if status.super_peer {
            format!(" (super-peer indexing {} leaves)", status.indexed_leaves)
        } else {
            String::new()
        }
    );
    println!("directories      {}", status.directories);
    println!(
        "serving          {:.1} MiB of answers waiting",
        status.serving_bytes as f64 / (1024.0 * 1024.0)
    );
    println!(
        "announcing       {} ({} under way; {} done, {} failed)",
        status.announcing, status.announcing_now, status.announced, status.announce_failures
    );
    print_limits(&status.rate_limits);
    println!(
        "blob traffic     {:.1} MiB sent, {:.1} MiB received",
        status.blob_bytes_sent as f64 / (1024.0 * 1024.0),
        status.blob_bytes_received as f64 / (1024.0 * 1024.0)
    );
    println!("uptime           {}s", status.uptime_secs);
    let compute = &status.compute;
    if compute.enabled {
        println!(
            "compute          on, {} threads: {} units running, {} done, {} failed, {} refused",
            compute.threads,
            compute.running.len(),
            compute.units_done,
            compute.units_failed,
            compute.units_refused
        );
        for unit in &compute.running {
            println!(
                "  unit           module {} input {} for {} ({:.1}s)",
                unit.module, unit.input, unit.runner, unit.secs
            );
        }
    } else {
        println!("compute          off (plexus daemon --compute runs units for others)");
    }
    let nat = &status.nat;
    println!(
        "reachability     {}",
        serde_json::to_value(nat.reachability)?
            .as_str()
            .unwrap_or("?")
    );
    if let Some(why) = &nat.traversal_off {
        println!("NAT traversal    off: {why}");
    }
    for addr in &nat.external_addrs {
        println!("external address {addr}");
    }
    for relay in &nat.relay_reservations {
        println!("relay            {relay}");
    }
    if nat.hole_punches_ok + nat.hole_punches_failed > 0 {
        println!(
            "hole punches     {} direct, {} failed",
            nat.hole_punches_ok, nat.hole_punches_failed
        );
    }
    for addr in &status.listen_addrs {
        println!("listening on     {addr}");
    }
    Ok(())
}

/// `plexus limits`: shows the caps, after changing those given.
pub async fn limits(
    data_dir: &Path,
    max_upload: Option<u64>,
    max_download: Option<u64>,
    json: bool,
) -> Result<()> {
    let client = Client::for_data_dir(data_dir)?;
    let limits: plexus::RateLimits = if max_upload.is_some() || max_download.is_some() {
        let body = LimitsRequest {
            max_upload,
            max_download,
        };
        client.post("/v1/limits", &body).await?
    } else {
        client.get("/v1/limits").await?
    };
    if json {
        return print_json(&limits);
    }
    print_limits(&limits);
    Ok(())
}

fn print_limits(limits: &plexus::RateLimits) {
    use plexus::bandwidth::format_rate;
    println!("max upload       {}", format_rate(limits.max_upload));
    println!("max download     {}", format_rate(limits.max_download));
}

/// `plexus peers`
pub async fn peers(data_dir: &Path, json: bool) -> Result<()> {
    let peers: Vec<PeerEntry> = Client::for_data_dir(data_dir)?.get("/v1/peers").await?;
    if json {
        return print_json(&peers);
    }
    if peers.is_empty() {
        println!(
            "no peers yet (connect with: plexus connect MULTIADDR, or start with --bootstrap)"
        );
        return Ok(());
    }
    println!(
        "{:<54} {:<10} {:>8}  {:<14} ADDRESS",
        "PEER", "STATE", "RTT", "AGENT"
    );
    for p in &peers {
        let state = match (p.connected, p.in_routing_table) {
            (true, true) => "conn+dht",
            (true, false) => "connected",
            (false, _) => "dht",
        };
        let rtt = p
            .rtt_ms
            .map(|ms| format!("{ms:.1}ms"))
            .unwrap_or_else(|| "-".into());
        let addr = p
            .addrs
            .first()
            .map(|a| a.to_string())
            .unwrap_or_else(|| "-".into());
        let agent = p.agent.as_deref().unwrap_or("-");
        println!(
            "{:<54} {state:<10} {rtt:>8}  {agent:<14} {addr}",
            p.peer_id.to_string()
        );
        for c in &p.connections {
            let kind = if c.iter().any(|x| x == plexus::Protocol::P2pCircuit) {
                "relayed"
            } else {
                "direct"
            };
            let transport = if c.iter().any(|x| matches!(x, plexus::Protocol::QuicV1)) {
                "quic"
            } else {
                "tcp"
            };
            println!("{:<54} {kind:<10} {transport:>8}  {c}", "");
        }
    }
    let connected = peers.iter().filter(|p| p.connected).count();
    println!("{} peers, {connected} connected", peers.len());
    Ok(())
}

/// `plexus dht find-peer PEERID`
pub async fn find_peer(data_dir: &Path, peer: PeerId, json: bool) -> Result<()> {
    let path = format!("/v1/dht/find-peer/{peer}");
    let found: FoundPeer = Client::for_data_dir(data_dir)?.get(&path).await?;
    if json {
        return print_json(&found);
    }
    println!(
        "found {} in {} ms after asking {} peers:",
        found.peer_id, found.millis, found.requests
    );
    for addr in &found.addrs {
        println!("  {addr}");
    }
    Ok(())
}

/// `plexus connect MULTIADDR`
pub async fn connect(data_dir: &Path, addr: Multiaddr, json: bool) -> Result<()> {
    let request = ConnectRequest {
        addr: addr.to_string(),
    };
    let answer: ConnectResponse = Client::for_data_dir(data_dir)?
        .post("/v1/connect", &request)
        .await?;
    if json {
        return print_json(&answer);
    }
    println!("connected to {}", answer.peer_id);
    Ok(())
}

/// `plexus swarm-key new [FILE]`: writes a fresh key (0600) and says how to use it.
pub fn swarm_key_new(data_dir: &Path, file: Option<&Path>, json: bool) -> Result<()> {
    let path = match file {
        Some(f) => f.to_path_buf(),
        None => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("cannot create {}", data_dir.display()))?;
            data_dir.join("swarm.key")
        }
    };
    let fingerprint = plexus::swarm_key::write_new(&path)?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "path": path, "fingerprint": fingerprint })
        );
    } else {
        println!(
            "Wrote a new swarm key to {} (fingerprint {fingerprint}).\nCopy it to every node of the private network over a secure channel, then:\n  plexus daemon --swarm-key {}\n(or swarm_key = \"{}\" in the data dir's config.toml, which the other commands read too)",
            path.display(),
            path.display(),
            path.display()
        );
    }
    Ok(())
}

/// `plexus open`: the dashboard of the running daemon, through the URL
/// that logs the browser in once ($BROWSER, else xdg-open or open).
pub async fn open(data_dir: &Path, print: bool) -> Result<()> {
    // Only a daemon that answers: a stale api.json would open a dead page.
    Client::running(data_dir)
        .await
        .ok_or_else(|| anyhow::anyhow!("no Plexus daemon answers for data dir {} (start one with: plexus daemon --data-dir {})", data_dir.display(), data_dir.display()))?;
    let info = crate::api::ApiInfo::read(data_dir).context("the daemon's api.json went away")?;
    let url = crate::dashboard::login_url(info.addr, &info.token);
    if print {
        println!("{url}");
        return Ok(());
    }
    let browser = std::env::var("BROWSER").ok().filter(|b| !b.is_empty());
    let opener = browser.as_deref().unwrap_or(if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    });
    let started = std::process::Command::new(opener)
        .arg(&url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match started {
        Ok(status) if status.success() => {
            println!("Opened the dashboard of the daemon at http://{}", info.addr);
            Ok(())
        }
        _ => anyhow::bail!(
            "could not start a browser with {opener} (set $BROWSER); open this URL yourself (it logs you in once): {url}"
        ),
    }
}
