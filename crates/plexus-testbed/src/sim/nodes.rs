//! The simulated network: real Plexus [`Node`]s on libp2p's in-process
//! memory transport, started, looked up and shut down from one process,
//! and what the process costs (RSS, CPU) while they run.

use std::{path::Path, time::Duration};

use anyhow::{Context, Result};
use plexus::{Multiaddr, Node, NodeConfig, PeerId};
use rand::{rngs::StdRng, seq::IndexedRandom, Rng};

/// How many earlier nodes each new node bootstraps from.
const BOOTSTRAP_PEERS: usize = 3;

/// Nodes started together (see [`Nodes::start`]).
pub const WAVE: usize = 50;

/// The longest wait for one wave's routing tables.
const WAVE_LIMIT: Duration = Duration::from_secs(30);

/// The nodes of the simulation; those shut down by churn are gone.
pub struct Nodes {
    /// Every node started, `None` once it left.
    pub slots: Vec<Option<Node>>,
}

impl Nodes {
    /// Starts `n` nodes with data under `dir`, each bootstrapping from up
    /// to three random nodes started before it, Kademlia refreshing every
    /// `refresh`, unused connections closed after `idle`. The network
    /// grows in waves of [`WAVE`] nodes, as a real one grows: each wave
    /// starts once the previous wave's routing tables hold
    /// `min(20, nodes before it)` peers and this process is quiet again
    /// (each for at most [`WAVE_LIMIT`]): a joining node's lookups open
    /// connections to about a hundred peers. All
    /// at once, a thousand nodes' first lookups open hundreds of thousands
    /// of connections together; their handshakes and timers saturate this
    /// machine's two cores, queries time out and are retried, and the
    /// tables never fill (RSS passed 9 GiB in 3.5 minutes).
    pub async fn start(
        n: usize,
        dir: &Path,
        (refresh, idle): (Duration, Duration),
        rng: &mut StdRng,
    ) -> Result<Self> {
        let mut nodes = Self {
            slots: Vec::with_capacity(n),
        };
        let mut addrs: Vec<Multiaddr> = Vec::with_capacity(n);
        while nodes.slots.len() < n {
            let first = nodes.slots.len();
            for i in first..n.min(first + WAVE) {
                let mut config = NodeConfig::memory(dir.join(format!("n{i}")));
                config.dht_refresh = refresh;
                config.idle_timeout = idle;
                config.bootstrap = addrs
                    .choose_multiple(rng, BOOTSTRAP_PEERS)
                    .cloned()
                    .collect();
                let node = Node::start(config)
                    .await
                    .with_context(|| format!("starting node {i}"))?;
                addrs.push(node.listen_addrs()[0].clone());
                nodes.slots.push(Some(node));
            }
            let want = 20.min(first.max(1));
            let smallest = nodes.wait_for(first.., want, WAVE_LIMIT).await?;
            if nodes.slots.len() < n {
                settle(WAVE_LIMIT).await;
            }
            let (table, conns) = nodes.means().await?;
            eprintln!(
                "dht-sim:   {} nodes started; the newest wave's smallest routing table: {smallest}; \
                 per node: routing table {table:.0}, connections {conns:.0}, RSS {:.1} MiB",
                nodes.slots.len(),
                rss_bytes() as f64 / nodes.slots.len() as f64 / (1 << 20) as f64,
            );
        }
        Ok(nodes)
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
        self.wait_for(0.., peers, limit).await
    }

    /// Waits until every running node among `slots` has at least `peers`
    /// peers in its routing table, for at most `limit`; the smallest then.
    async fn wait_for(
        &self,
        slots: std::ops::RangeFrom<usize>,
        peers: usize,
        limit: Duration,
    ) -> Result<usize> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let smallest = self.smallest_table(slots.clone()).await?;
            if smallest >= peers || tokio::time::Instant::now() >= deadline {
                return Ok(smallest);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The fewest routing table peers any running node among `slots` has
    /// (all asked at once: one by one, a thousand busy nodes take long).
    async fn smallest_table(&self, slots: std::ops::RangeFrom<usize>) -> Result<usize> {
        let asked = self.slots[slots].iter().flatten().map(Node::status);
        let mut smallest = usize::MAX;
        for status in futures::future::join_all(asked).await {
            smallest = smallest.min(status?.routing_table_peers);
        }
        Ok(smallest)
    }

    /// Mean routing table size and mean open connections per running node.
    pub async fn means(&self) -> Result<(f64, f64)> {
        let (mut table, mut conns) = (0usize, 0usize);
        let alive = self.alive();
        for status in futures::future::join_all(alive.iter().map(|(_, n)| n.status())).await {
            let status = status?;
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

/// Waits until this process used less than one core over the last
/// second (the joins' lookups are done), for at most `limit`.
async fn settle(limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        let before = cpu_time();
        tokio::time::sleep(Duration::from_secs(1)).await;
        if cpu_time() - before < Duration::from_millis(1000) {
            return;
        }
    }
}

/// Waits until the work of the joins has died down: this process uses
/// less than one core over a `window` and no longer clearly less than over
/// the window before (at most 20% less), for at most `limit`. Returns the
/// time waited.
pub async fn wait_quiet(window: Duration, limit: Duration) -> Duration {
    let started = tokio::time::Instant::now();
    let mut before = f64::INFINITY;
    while started.elapsed() < limit {
        let cpu = cpu_time();
        tokio::time::sleep(window).await;
        let cores = (cpu_time() - cpu).as_secs_f64() / window.as_secs_f64();
        if cores < 1.0 && cores >= before * 0.8 {
            break;
        }
        before = cores;
    }
    started.elapsed()
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
