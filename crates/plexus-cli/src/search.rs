//! `plexus search`, `publish` and `directory`: keyword search through the
//! daemon (results streamed as NDJSON) or a node of its own, naming content
//! already stored, and running a directory server.

use std::{
    collections::HashMap,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use plexus::{
    config::FileConfig,
    content::{meta::query_words, BlobFormat, Hash},
    search::SearchHit,
    Multiaddr, Node, NodeConfig, PeerId,
};
use serde::{Deserialize, Serialize};

use crate::{api::client::Client, cli::MetaArgs, text::printable};

/// Body of `POST /v1/search`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchRequest {
    /// Keywords.
    pub words: Vec<String>,
    /// Hops, 0 to 7.
    pub ttl: u8,
    /// Seconds to collect results.
    pub timeout_secs: u64,
}

/// One result line: printed by `search --json`, streamed by the API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchResult {
    /// Content hash.
    pub hash: Hash,
    /// Display name.
    pub name: String,
    /// Total bytes.
    pub size: u64,
    /// Blob or collection.
    pub format: BlobFormat,
    /// Tags.
    pub tags: Vec<String>,
    /// The peer holding it.
    pub holder: PeerId,
    /// Where the holder listens.
    pub addrs: Vec<Multiaddr>,
    /// "flood" or "directory".
    pub source: String,
    /// A ticket that fetches it from the holder.
    pub ticket: String,
}

impl From<SearchHit> for SearchResult {
    fn from(hit: SearchHit) -> Self {
        Self {
            ticket: hit.ticket().to_string(),
            hash: hit.meta.hash,
            name: hit.meta.name,
            size: hit.meta.size,
            format: hit.meta.format,
            tags: hit.meta.tags,
            holder: hit.holder,
            addrs: hit.addrs,
            source: hit.source,
        }
    }
}

/// Body of `POST /v1/publish`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishRequest {
    /// Content hash.
    pub hash: Hash,
    /// Display name.
    pub name: String,
    /// Tags.
    pub tags: Vec<String>,
}

/// Runs a search on `node`, handing each result to `emit` until `timeout`.
pub async fn run_search(
    node: &Node,
    request: &SearchRequest,
    mut emit: impl FnMut(SearchResult) -> bool,
) -> Result<(), plexus::Error> {
    let mut rx = node
        .search(query_words(&request.words), request.ttl)
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(request.timeout_secs);
    while let Ok(Some(hit)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        if !emit(hit.into()) {
            break;
        }
    }
    Ok(())
}

/// `plexus search WORDS...`
pub async fn search(
    data_dir: &Path,
    words: Vec<String>,
    ttl: u8,
    timeout: u64,
    json: bool,
) -> Result<()> {
    let request = SearchRequest {
        words,
        ttl,
        timeout_secs: timeout,
    };
    let started = Instant::now();
    let mut printer = Printer::new(json);
    match crate::content::daemon(data_dir).await {
        Some(client) => {
            client
                .stream_lines("/v1/search", &request, |line| {
                    let result: SearchResult =
                        serde_json::from_str(line).context("bad result line from the daemon")?;
                    printer.print(result);
                    Ok(())
                })
                .await?
        }
        None => {
            let node = crate::content::own_node(data_dir, false).await?;
            // Give bootstrap peers, mDNS and directories a moment to
            // connect and become neighbours.
            let until = Instant::now() + Duration::from_secs(3);
            while node.search_stats().await?.neighbours == 0 && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let result = run_search(&node, &request, |r| {
                printer.print(r);
                true
            })
            .await;
            node.shutdown().await;
            result?;
        }
    }
    printer.finish(started.elapsed());
    Ok(())
}

/// Prints results as they arrive, grouping holders by hash.
struct Printer {
    json: bool,
    holders: HashMap<Hash, usize>,
    count: usize,
}

impl Printer {
    fn new(json: bool) -> Self {
        Self {
            json,
            holders: HashMap::new(),
            count: 0,
        }
    }

    fn print(&mut self, r: SearchResult) {
        self.count += 1;
        if self.json {
            println!("{}", serde_json::to_string(&r).expect("serializable"));
            return;
        }
        let seen = self.holders.entry(r.hash).or_insert(0);
        *seen += 1;
        if *seen == 1 {
            let tags = if r.tags.is_empty() {
                String::new()
            } else {
                format!(" [{}]", printable(&r.tags.join(", ")))
            };
            println!("{}  {:>12}  {}{tags}", r.hash, r.size, printable(&r.name));
        }
        println!("    held by {} (via {}): {}", r.holder, r.source, r.ticket);
    }

    fn finish(&self, took: Duration) {
        if self.json {
            return;
        }
        if self.count == 0 {
            eprintln!(
                "no results in {:.1}s (more hops: --ttl 5; more time: --timeout 10)",
                took.as_secs_f64()
            );
        } else {
            eprintln!(
                "{} results for {} pieces of content in {:.1}s",
                self.count,
                self.holders.len().max(1),
                took.as_secs_f64()
            );
        }
    }
}

/// `plexus publish HASH --name NAME --tag TAG...`
pub async fn publish(data_dir: &Path, hash: Hash, meta: MetaArgs, json: bool) -> Result<()> {
    let name = meta
        .name
        .context("give the content a name with --name (publish has no file name to take)")?;
    let request = PublishRequest {
        hash,
        name,
        tags: meta.tags,
    };
    let published: plexus::content::Metadata = match crate::content::daemon(data_dir).await {
        Some(client) => client.post("/v1/publish", &request).await?,
        None => {
            let node = crate::content::own_node(data_dir, false).await?;
            let result = node
                .publish_meta(request.hash, request.name, request.tags)
                .await;
            node.shutdown().await;
            result?
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&published)?);
    } else {
        println!(
            "published {} as {:?} [{}]",
            published.hash,
            published.name,
            published.tags.join(", ")
        );
    }
    Ok(())
}

/// `plexus directory`: a directory server in the foreground until Ctrl-C.
pub async fn directory(data_dir: &Path, listen: Vec<Multiaddr>, ttl: u64) -> Result<()> {
    let mut config = NodeConfig::new(data_dir);
    FileConfig::load(data_dir)?.apply(&mut config);
    config.listen = if listen.is_empty() {
        vec![
            "/ip4/0.0.0.0/tcp/4100".parse()?,
            "/ip4/0.0.0.0/udp/4100/quic-v1".parse()?,
        ]
    } else {
        listen
    };
    config.directory_server = true;
    config.directories.clear();
    config.directory_ttl = Duration::from_secs(ttl.max(1));
    let node = Node::start(config).await?;
    let stop = crate::daemon::shutdown_signal();
    let addrs: Vec<String> = node.listen_addrs().iter().map(|a| a.to_string()).collect();
    println!(
        "Plexus directory {} listening on {}",
        node.peer_id(),
        addrs.join(" ")
    );
    stop.await;
    node.shutdown().await;
    Ok(())
}

impl Client {
    /// `POST path` with a JSON body; calls `line` for each line of the
    /// streamed (NDJSON) answer as it arrives.
    pub async fn stream_lines<B: Serialize>(
        &self,
        path: &str,
        body: &B,
        mut line: impl FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        let mut response = self.send_json(path, body).await?;
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            buf.extend_from_slice(&chunk);
            while let Some(end) = buf.iter().position(|b| *b == b'\n') {
                let text = String::from_utf8_lossy(&buf[..end]).into_owned();
                buf.drain(..=end);
                if !text.trim().is_empty() {
                    line(&text)?;
                }
            }
        }
        Ok(())
    }
}
