//! `plexus demo`: several nodes inside this process on 127.0.0.1, each
//! bootstrapping only from the one before it, then a DHT lookup across them.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use plexus::{Node, NodeConfig};

/// Runs the demo with `count` nodes.
pub async fn run(count: usize) -> Result<()> {
    let root = tempfile::tempdir()?;
    println!("Starting {count} nodes on 127.0.0.1, each knowing only the previous one...");
    let mut nodes: Vec<Node> = Vec::with_capacity(count);
    for i in 0..count {
        let mut config = NodeConfig::loopback(root.path().join(format!("node{i}")));
        config.bootstrap = nodes
            .last()
            .map(|prev| prev.listen_addrs()[0].clone())
            .into_iter()
            .collect();
        let node = Node::start(config).await?;
        println!("  node {i:>2}: {}", node.listen_addrs()[0]);
        nodes.push(node);
    }

    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    let mut known = Vec::new();
    loop {
        known.clear();
        for node in &nodes {
            known.push(node.status().await?.routing_table_peers);
        }
        if known.iter().all(|&k| k == count - 1) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "DHT routing tables after {:.1}s (peers known by each node, out of {}): {known:?}",
        started.elapsed().as_secs_f64(),
        count - 1
    );

    let (first, last) = (&nodes[0], &nodes[count - 1]);
    let found = first.find_peer(last.peer_id()).await?;
    println!(
        "node 0 looked up node {} in the DHT: {} ms, {} peers asked, address {}",
        count - 1,
        found.millis,
        found.requests,
        found
            .addrs
            .first()
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    for node in &nodes {
        node.shutdown().await;
    }
    if known.iter().any(|&k| k < count - 1) {
        bail!("some nodes did not find every other node within 60 s: {known:?}");
    }
    println!(
        "Every node found all {} others. Next: `plexus daemon` runs a node for real.",
        count - 1
    );
    Ok(())
}
