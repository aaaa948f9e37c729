//! `plexus bench pubsub`: delivery latency (p50/p99) and messages a second
//! on many loopback nodes linked in a partial mesh (a ring with chords).

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use plexus::{Node, NodeConfig};
use tokio::sync::mpsc;

/// `tcp_addr` and `wait_for_mesh`, shared with the library's tests.
#[path = "../../plexus/tests/common/mesh.rs"]
mod mesh;
use mesh::{tcp_addr, wait_for_mesh};

const TOPIC: &str = "bench";
/// Messages in the latency run, spread over the nodes as publishers.
const LATENCY_MESSAGES: usize = 200;
/// Pause between two latency-run messages, so they do not queue.
const LATENCY_GAP: Duration = Duration::from_millis(20);

/// One delivery seen by a subscriber: the payload and its latency.
struct Delivery {
    data: Vec<u8>,
    latency: Duration,
}

/// Starts `n` nodes, links them, and measures.
pub async fn run(n: usize, messages: usize) -> Result<()> {
    let root = tempfile::tempdir()?;
    let mut nodes = Vec::new();
    for i in 0..n {
        let mut config = NodeConfig::loopback(root.path().join(format!("n{i}")));
        // The per-author and per-peer limits would cap a single publisher
        // (and its relays); lift them here.
        config.pubsub_rate = 1_000_000;
        config.pubsub_burst = 1_000_000;
        config.pubsub_peer_rate = 1_000_000;
        config.pubsub_peer_burst = 1_000_000;
        nodes.push(Node::start(config).await?);
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    for node in &nodes {
        let mut sub = node.subscribe(TOPIC).await?;
        let (tx, me) = (tx.clone(), node.peer_id());
        tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                if m.from != me {
                    let latency = m.latency();
                    let _ = tx.send(Delivery {
                        data: m.data,
                        latency,
                    });
                }
            }
        });
    }
    let links = links(n);
    for &(a, b) in &links {
        nodes[a].connect(tcp_addr(&nodes[b])).await?;
    }
    ensure!(
        wait_for_mesh(&nodes, &links, TOPIC, Duration::from_secs(30)).await?,
        "the gossipsub mesh did not form in 30 s"
    );
    println!(
        "plexus bench pubsub: {n} nodes on 127.0.0.1, {} links (ring with chords), rate limit lifted",
        links.len()
    );
    print_degrees(&nodes).await?;

    latency(&nodes, &mut rx, "latency, partial mesh").await?;
    print_degrees(&nodes).await?;

    // Throughput: one publisher, back to back, until every node has all.
    let expected = messages * (n - 1);
    let started = Instant::now();
    let mut refused = 0;
    for k in 0..messages {
        if nodes[0].publish(TOPIC, format!("T{k}")).await.is_err() {
            refused += 1;
        }
    }
    let arrived = collect(&mut rx, b'T', expected, Duration::from_secs(20)).await;
    let got = arrived.len();
    let last = arrived.iter().map(|(_, at)| *at).max().unwrap_or(started);
    let secs = (last - started).as_secs_f64().max(1e-9);
    println!(
        "  throughput: {messages} messages from one node, {got} of {expected} deliveries in {secs:.2} s: {:.0} messages/s, {:.0} deliveries/s{}",
        messages as f64 / secs,
        got as f64 / secs,
        if refused > 0 { format!(" ({refused} refused at publish)") } else { String::new() }
    );
    // Let the backlog drain before measuring again.
    while tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .is_ok()
    {}
    print_degrees(&nodes).await?;
    latency(
        &nodes,
        &mut rx,
        "latency again, after the DHT linked more peers",
    )
    .await?;
    for node in &nodes {
        node.shutdown().await;
    }
    Ok(())
}

/// Mean connected peers and mesh peers per node (the DHT may add links).
async fn print_degrees(nodes: &[Node]) -> Result<()> {
    let (mut connected, mut mesh, mut lowest) = (0, 0, f64::INFINITY);
    for node in nodes {
        connected += node.status().await?.connected_peers;
        mesh += node.mesh_peers(TOPIC).await?.len();
        for other in nodes {
            if let Some(score) = node.peer_score(other.peer_id()).await? {
                lowest = lowest.min(score);
            }
        }
    }
    let n = nodes.len() as f64;
    println!(
        "  per node: {:.1} connected peers, {:.1} mesh peers on average; lowest peer score {lowest:.1}",
        connected as f64 / n,
        mesh as f64 / n
    );
    Ok(())
}

/// One message at a time from rotating publishers; prints p50/p99/max.
async fn latency(
    nodes: &[Node],
    rx: &mut mpsc::UnboundedReceiver<Delivery>,
    label: &str,
) -> Result<()> {
    let n = nodes.len();
    let expected = LATENCY_MESSAGES * (n - 1);
    for k in 0..LATENCY_MESSAGES {
        nodes[k % n].publish(TOPIC, format!("L{k}")).await?;
        tokio::time::sleep(LATENCY_GAP).await;
    }
    let mut latencies: Vec<Duration> = collect(rx, b'L', expected, Duration::from_secs(20))
        .await
        .into_iter()
        .map(|(latency, _)| latency)
        .collect();
    latencies.sort();
    ensure!(!latencies.is_empty(), "no message was delivered");
    println!(
        "  {label}: {} of {expected} deliveries, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().expect("not empty")),
    );
    Ok(())
}

/// A ring plus a chord from every fourth node to the one a third of the
/// way round: every node has 2 to 4 direct peers, never all of them.
fn links(n: usize) -> Vec<(usize, usize)> {
    let mut links: Vec<(usize, usize)> = (0..n).map(|i| (i, (i + 1) % n)).collect();
    for i in (0..n).step_by(4) {
        let j = (i + n / 3) % n;
        if j != i && !links.contains(&(i, j)) && !links.contains(&(j, i)) {
            links.push((i, j));
        }
    }
    links
}

/// Receives deliveries whose payload starts with `tag` until `expected`
/// arrived or `limit` passed; returns each one's latency and arrival time.
async fn collect(
    rx: &mut mpsc::UnboundedReceiver<Delivery>,
    tag: u8,
    expected: usize,
    limit: Duration,
) -> Vec<(Duration, Instant)> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut got = Vec::new();
    while got.len() < expected {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(d)) if d.data.first() == Some(&tag) => got.push((d.latency, Instant::now())),
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    got
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_a_partial_mesh() {
        for n in [3, 10, 20, 64] {
            let links = links(n);
            assert!(links.len() < n * (n - 1) / 2 || n == 3, "n={n}");
            let mut degree = vec![0; n];
            for (a, b) in &links {
                assert_ne!(a, b);
                degree[*a] += 1;
                degree[*b] += 1;
            }
            assert!(degree.iter().all(|d| *d >= 2), "n={n}: {degree:?}");
        }
    }

    #[test]
    fn percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&v[..1], 0.99), Duration::from_millis(1));
    }
}
