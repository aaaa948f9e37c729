//! `Node::metrics_text` on real nodes: the search and pub/sub counters move
//! with the traffic, next to libp2p's gossipsub metrics.

mod common;

use std::time::Duration;

use common::{node, wait_until};
use plexus::Node;

/// The value of the sample named exactly `name` (labels included).
async fn value(node: &Node, name: &str) -> f64 {
    let text = node.metrics_text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_and_pubsub_counters_move_on_a_line_of_three() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    for dir in &dirs {
        nodes.push(node(dir.path()).await);
    }
    // A line: 0 - 1 - 2 (explicit connects make search neighbours).
    for (a, b) in [(0, 1), (1, 2)] {
        nodes[a]
            .connect(nodes[b].listen_addrs()[0].clone())
            .await
            .unwrap();
    }
    let lined = wait_until(Duration::from_secs(10), || async {
        nodes[1].search_stats().await.unwrap().neighbours == 2
    })
    .await;
    assert!(lined, "node 1 did not get its two search neighbours");

    let handled = "plexus_search_queries_total{result=\"handled\"}";
    let forwarded = "plexus_search_queries_total{result=\"forwarded\"}";
    assert_eq!(value(&nodes[1], handled).await, 0.0);
    let _hits = nodes[0].search(vec!["nothing".into()], 3).await.unwrap();
    let moved = wait_until(Duration::from_secs(10), || async {
        value(&nodes[1], handled).await >= 1.0
            && value(&nodes[1], forwarded).await >= 1.0
            && value(&nodes[2], handled).await >= 1.0
    })
    .await;
    assert!(moved, "{}", nodes[1].metrics_text().await.unwrap());
    // The search protocol's stream bytes: node 1 read the query and sent
    // a copy on.
    for dir in ["received", "sent"] {
        let name = format!(
            "plexus_protocol_bytes_total{{protocol=\"/plexus/search/1.0.0\",direction=\"{dir}\",path=\"direct\"}}"
        );
        assert!(value(&nodes[1], &name).await > 0.0, "{name}");
    }

    // Pub/sub: 2 subscribes, 1 publishes; counted on both ends.
    let mut sub = nodes[2].subscribe("metrics").await.unwrap();
    let _own = nodes[1].subscribe("metrics").await.unwrap();
    let published = wait_until(Duration::from_secs(15), || async {
        nodes[1].publish("metrics", "hello").await.is_ok()
    })
    .await;
    assert!(published, "no peer for the topic");
    let got = tokio::time::timeout(Duration::from_secs(10), sub.next()).await;
    assert!(matches!(got, Ok(Some(_))), "node 2 got nothing");
    assert!(value(&nodes[1], "plexus_pubsub_published_total").await >= 1.0);
    let delivered = wait_until(Duration::from_secs(5), || async {
        value(&nodes[2], "plexus_pubsub_delivered_total").await >= 1.0
            && value(&nodes[2], "libp2p_gossipsub_messages_total").await >= 1.0
    })
    .await;
    assert!(delivered, "{}", nodes[2].metrics_text().await.unwrap());
    for n in &nodes {
        n.shutdown().await;
    }
}
