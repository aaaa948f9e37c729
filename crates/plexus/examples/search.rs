//! Keyword search: one node shares a file with a name and tags, another
//! searches for it, finds it and fetches it from the hit's ticket.
//!
//! Search floods the query to neighbours (up to `ttl` hops); every hit is
//! a record signed by the node that shares the content, checked before it
//! is returned.
//!
//! ```sh
//! cargo run -p plexus --example search
//! ```
//!
//! Both nodes listen on 127.0.0.1 only, with mDNS off
//! ([`NodeConfig::loopback`]): nothing leaves this machine.

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use plexus::{content::share, transfer::GetOptions, Node, NodeConfig};

/// Longest any one step may take.
const STEP: Duration = Duration::from_secs(15);

#[tokio::main]
async fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let a = Node::start(NodeConfig::loopback(dir.path().join("a"))).await?;
    let b = Node::start(NodeConfig::loopback(dir.path().join("b"))).await?;
    println!("node A: {}", a.peer_id());
    println!("node B: {}", b.peer_id());

    // A shares a file under a name, with tags.
    let file = dir.path().join("moon.txt");
    std::fs::write(&file, "Blue moon, you saw me standing alone\n".repeat(500))?;
    let shared = a
        .share_with(
            &file,
            Some("Blue Moon lyrics".into()),
            vec!["jazz".into(), "1934".into()],
        )
        .await?;
    println!("A shared {:?} tagged {:?}", shared.name, shared.tags);

    // B becomes A's neighbour, then searches.
    b.connect(a.listen_addrs()[0].clone()).await?;
    wait_for_neighbour(&b).await?;
    let words = vec!["blue".to_string(), "jazz".to_string()];
    println!("B searches for {words:?}");
    let mut hits = b.search(words, 3).await?;
    let hit = tokio::time::timeout(STEP, hits.recv())
        .await
        .context("no hit arrived in time")?
        .context("the search ended without a hit")?;
    println!(
        "B found {:?} ({} bytes, tags {:?}) held by {} (via {})",
        hit.meta.name, hit.meta.size, hit.meta.tags, hit.holder, hit.source
    );
    ensure!(hit.holder == a.peer_id(), "the hit names {}", hit.holder);
    ensure!(
        hit.meta.hash == shared.ticket.hash,
        "the hit has another hash"
    );

    // The hit carries a ticket: fetch the content with it.
    let ticket = hit.ticket();
    let options = GetOptions {
        providers: vec![(ticket.provider, ticket.addrs.clone())],
        use_dht: false,
        allow_relay: false,
    };
    let stats = tokio::time::timeout(
        STEP,
        b.get(ticket.hash, Some(ticket.format), options).finish(),
    )
    .await
    .context("the get took too long")??;
    let copy = dir.path().join("copy.txt");
    share::export(b.store(), &ticket.hash, ticket.format, &copy, false)?;
    ensure!(
        std::fs::read(&copy)? == std::fs::read(&file)?,
        "the copy differs from the original"
    );
    println!(
        "B fetched it from the hit's ticket ({} bytes); identical to A's file",
        stats.size
    );

    a.shutdown().await;
    b.shutdown().await;
    println!("done");
    Ok(())
}

/// Waits until `node` has a search neighbour (peers that speak the search
/// protocol become neighbours once connected).
async fn wait_for_neighbour(node: &Node) -> Result<()> {
    let deadline = tokio::time::Instant::now() + STEP;
    while tokio::time::Instant::now() < deadline {
        if node.search_stats().await?.neighbours > 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("no search neighbour in {STEP:?}")
}
