//! The simulated network: real Plexus [`Node`]s on libp2p's in-process
//! memory transport, started, looked up and shut down from one process,
//! and what the process costs (RSS, CPU) while they run.

use std::{path::Path, time::Duration};

use anyhow::{Context, Result};
use plexus::{Multiaddr, Node, NodeConfig, PeerId};
use rand::{rngs::StdRng, seq::IndexedRandom, Rng};

/// How many earlier nodes each new node bootstraps from.
const BOOTSTRAP_PEERS: usize = 3;

/// The nodes of the simulation; those shut down by churn are gone.
pub struct Nodes {
    /// Every node started, `None` once it left.
    pub slots: Vec<Option<Node>>,
}

impl Nodes {
    /// Starts `n` nodes with data under `dir`, each bootstrapping from up
    /// to three random nodes started before it, Kademlia refreshing every
    /// `refresh`.
    pub async fn start(n: usize, dir: &Path, refresh: Duration, rng: &mut StdRng) -> Result<Self> {
        let mut slots: Vec<Option<Node>> = Vec::with_capacity(n);
        let mut addrs: Vec<Multiaddr> = Vec::with_capacity(n);
        for i in 0..n {
            let mut config = NodeConfig::memory(dir.join(format!("n{i}")));
            config.dht_refresh = refresh;
            config.bootstrap = addrs
                .choose_multiple(rng, BOOTSTRAP_PEERS)
                .cloned()
                .collect();
            let node = Node::start(config)
                .await
                .with_context(|| format!("starting node {i}"))?;
            addrs.push(node.listen_addrs()[0].clone());
            slots.push(Some(node));
        }
        Ok(Self { slots })
    }

    /// The nodes still running, with their index.
    pub fn alive(&self) -> Vec<(usize, &Node)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i, n)))
            .collect()
    }

    /// A running node at random.
    pub fn pick(&self, rng: &mut StdRng) -> (usize, Node) {
        let alive = self.alive();
        let (i, n) = alive[rng.random_range(0..alive.len())];
        (i, n.clone())
    }

    /// Whether the node with `peer` still runs.
    pub fn is_alive(&self, peer: &PeerId) -> bool {
        self.alive().iter().any(|(_, n)| n.peer_id() == *peer)
    }

    /// Shuts down `count` running nodes chosen at random, all at once.
    pub async fn remove(&mut self, count: usize, rng: &mut StdRng) -> Vec<PeerId> {
        let alive: Vec<usize> = self.alive().iter().map(|(i, _)| *i).collect();
        let gone: Vec<usize> = alive.choose_multiple(rng, count).copied().collect();
        let nodes: Vec<Node> = gone.iter().filter_map(|i| self.slots[*i].take()).collect();
        let peers = nodes.iter().map(Node::peer_id).collect();
        futures::future::join_all(nodes.iter().map(Node::shutdown)).await;
        peers
    }

    /// Waits until every running node has at least `peers` peers in its
    /// routing table, for at most `limit`; the smallest table then.
    pub async fn wait_for_tables(&self, peers: usize, limit: Duration) -> Result<usize> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let smallest = self.smallest_table().await?;
            if smallest >= peers || tokio::time::Instant::now() >= deadline {
                return Ok(smallest);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The fewest routing table peers any running node has.
    pub async fn smallest_table(&self) -> Result<usize> {
        let mut smallest = usize::MAX;
        for (_, node) in self.alive() {
            smallest = smallest.min(node.status().await?.routing_table_peers);
        }
        Ok(smallest)
    }

    /// Mean routing table size and mean open connections per running node.
    pub async fn means(&self) -> Result<(f64, f64)> {
        let (mut table, mut conns) = (0usize, 0usize);
        let alive = self.alive();
        for (_, node) in &alive {
            let status = node.status().await?;
            table += status.routing_table_peers;
            conns += status.connected_peers;
        }
        let n = alive.len().max(1) as f64;
        Ok((table as f64 / n, conns as f64 / n))
    }

    /// Shuts every node down.
    pub async fn shutdown(&mut self) {
        let nodes: Vec<Node> = self.slots.iter_mut().filter_map(Option::take).collect();
        futures::future::join_all(nodes.iter().map(Node::shutdown)).await;
    }
}

/// This process's resident memory in bytes (`VmRSS`).
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU time this process has used (user + system), from `/proc/self/stat`
/// (clock ticks of 1/100 s, Linux's `USER_HZ`).
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces), from field 3.
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime is field 14, stime 15: indexes 11 and 12 here.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}
