//! `plexus search`, `publish` and `directory`: keyword search through the
//! daemon (results streamed as NDJSON) or a node of its own, naming content
//! already stored, and running a directory server.

use std::{
    collections::HashMap,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use plexus::{config::FileConfig, content::Hash, Multiaddr, Node, NodeConfig};
use reqwest::Method;

use crate::{
    api::{
        client::Client,
        ops::{own_node, run_search},
        types::{PublishRequest, SearchRequest, SearchResult},
    },
    cli::MetaArgs,
    signal::shutdown_signal,
    text::printable,
};

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
    match Client::running(data_dir).await {
        Some((client, _)) => {
            let mut results = client
                .stream::<_, SearchResult>(Method::POST, "/v1/search", Some(&request))
                .await?;
            while let Some(result) = results.next().await? {
                printer.print(result);
            }
        }
        None => {
            let node = own_node(data_dir, false).await?;
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
    let published: plexus::content::Metadata = match Client::running(data_dir).await {
        Some((client, _)) => client.post("/v1/publish", &request).await?,
        None => {
            let node = own_node(data_dir, false).await?;
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
    let stop = shutdown_signal();
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
