//! `plexus store`, `get` of a storage ticket, `pins`, `unstore`: through
//! the daemon when one runs for the data dir, otherwise with a node of
//! their own (which waits a little for peers first).

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use plexus::{
    content::Hash,
    storage::{PinEntry, StoreTicket},
    Node,
};

use crate::{
    api::{
        client::Client,
        ops::{self, own_node},
        types::{StoreRequest, StoreResponse, StoredGetRequest, StoredGetResponse, UnstoreRequest},
    },
    text::printable,
};

/// How long a node of this command's own waits for its first peer.
const PEER_WAIT: Duration = Duration::from_secs(10);

async fn own_connected_node(data_dir: &Path) -> Result<Node> {
    let node = own_node(data_dir, false).await?;
    let deadline = Instant::now() + PEER_WAIT;
    while Instant::now() < deadline {
        if node.status().await.is_ok_and(|s| s.connected_peers > 0) {
            // A moment more for the DHT to fill.
            tokio::time::sleep(Duration::from_secs(1)).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(node)
}

/// `plexus store PATH [--erasure K/N | --replicas N]`
pub async fn store(
    data_dir: &Path,
    path: &Path,
    erasure: Option<String>,
    replicas: Option<u8>,
    json: bool,
) -> Result<()> {
    let path =
        std::fs::canonicalize(path).with_context(|| format!("cannot store {}", path.display()))?;
    let redundancy = ops::redundancy(erasure.as_deref(), replicas)?;
    let response: StoreResponse = match Client::running(data_dir).await {
        Some((client, _)) => {
            let body = StoreRequest {
                path,
                erasure,
                replicas,
            };
            client.post("/v1/storage/store", &body).await?
        }
        None => {
            let node = own_connected_node(data_dir).await?;
            let started = Instant::now();
            let result = node.store_file(&path, redundancy).await;
            node.shutdown().await;
            ops::store_response(result?, started)
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&response)?);
        return Ok(());
    }
    eprintln!(
        "stored {} bytes as {} bytes on {} holders ({redundancy}) in {:.2}s; object {}",
        response.size, response.stored_bytes, response.holders, response.secs, response.object
    );
    eprintln!("get it back anywhere with: plexus get TICKET (keep the ticket: it holds the key)");
    println!("{}", response.ticket);
    Ok(())
}

/// `plexus get plexusstore1...`
pub async fn get(
    data_dir: &Path,
    text: &str,
    out: Option<&Path>,
    force: bool,
    json: bool,
) -> Result<()> {
    let ticket: StoreTicket = text.parse().map_err(anyhow::Error::msg)?;
    let name = ticket
        .name
        .clone()
        .filter(|n| plexus::content::collection::is_safe_file_name(n))
        .unwrap_or_else(|| ticket.manifest.to_string()[..16].to_string());
    let out = std::path::absolute(out.map_or_else(|| name.into(), Path::to_path_buf))?;
    ops::check_out(&out, force)?;
    let response: StoredGetResponse = match Client::running(data_dir).await {
        Some((client, _)) => {
            let body = StoredGetRequest {
                ticket: text.trim().to_string(),
                out: out.clone(),
                force,
            };
            client.post("/v1/storage/get", &body).await?
        }
        None => {
            let node = own_connected_node(data_dir).await?;
            let started = Instant::now();
            let result = node.get_stored(&ticket, &out, force).await;
            node.shutdown().await;
            StoredGetResponse {
                out: out.clone(),
                size: result?,
                secs: started.elapsed().as_secs_f64(),
            }
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&response)?);
    } else {
        println!(
            "got {} ({} bytes) in {:.2}s",
            response.out.display(),
            response.size,
            response.secs
        );
    }
    Ok(())
}

/// `plexus pins`
pub async fn pins(data_dir: &Path, json: bool) -> Result<()> {
    let pins: Vec<PinEntry> = match Client::running(data_dir).await {
        Some((client, _)) => client.get("/v1/storage/pins").await?,
        None => {
            let node = own_connected_node(data_dir).await?;
            let result = node.pins().await;
            node.shutdown().await;
            result?
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&pins)?);
        return Ok(());
    }
    if pins.is_empty() {
        println!("nothing stored (store a file with: plexus store PATH)");
        return Ok(());
    }
    println!(
        "{:<4}  {:<64}  {:>12}  {:>14}  NAME",
        "KIND", "OBJECT", "BYTES", "HEALTH"
    );
    for p in &pins {
        let health = match (p.alive, p.needed, p.placed) {
            (Some(a), Some(k), Some(n)) => format!("{a}/{n} need {k}"),
            _ => p.index.map_or("-".into(), |i| format!("shard {i}")),
        };
        let name = p.name.as_deref().map_or("-".into(), printable);
        println!(
            "{:<4}  {}  {:>12}  {health:>14}  {name}",
            p.kind, p.object, p.bytes
        );
    }
    Ok(())
}

/// `plexus unstore OBJECT`
pub async fn unstore(data_dir: &Path, object: Hash) -> Result<()> {
    let released: usize = match Client::running(data_dir).await {
        Some((client, _)) => {
            client
                .post("/v1/storage/unstore", &UnstoreRequest { object })
                .await?
        }
        None => {
            let node = own_connected_node(data_dir).await?;
            let result = node.unstore(object).await;
            node.shutdown().await;
            result?
        }
    };
    println!("unstored {object}: {released} holders released their shards");
    Ok(())
}
