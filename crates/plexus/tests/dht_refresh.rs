//! The routing table's periodic refresh on real nodes: two lookups per
//! interval (this node's id and a random key), not Kademlia's periodic
//! bootstrap, which looks up one random key per bucket as well.

mod common;

use std::time::Duration;

use common::{node_via, node_with, tcp_addr};

/// The sum of the samples whose name and labels start with `prefix`.
fn sum(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresh_looks_up_two_keys_per_interval_and_bootstraps_only_at_start() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let refresh = Duration::from_secs(1);
    let first = node_with(dirs[0].path(), |c| c.dht_refresh = refresh).await;
    let second = node_via(dirs[1].path(), &first).await;
    let node = common::start(dirs[2].path(), |c| {
        c.listen.truncate(1);
        c.dht_refresh = refresh;
        c.bootstrap = vec![tcp_addr(&first), tcp_addr(&second)];
    })
    .await;
    let bootstraps = "libp2p_kad_query_result_num_requests_count{type=\"Bootstrap\"}";
    let lookups = "libp2p_kad_query_result_num_requests_count{type=\"GetClosestPeers\"}";
    // Start-up's bootstraps (asked for, and Kademlia's own while the table
    // is thin) are over within 2 s on three nodes.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let text = node.metrics_text().await.unwrap();
    let (boots_before, lookups_before) = (sum(&text, bootstraps), sum(&text, lookups));
    // Three more intervals.
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    let text = node.metrics_text().await.unwrap();
    let (boots_after, lookups_after) = (sum(&text, bootstraps), sum(&text, lookups));
    println!(
        "bootstraps {boots_before} -> {boots_after}, lookups {lookups_before} -> {lookups_after}"
    );
    assert_eq!(
        boots_after, boots_before,
        "a periodic Kademlia bootstrap ran:\n{text}"
    );
    let refreshes = lookups_after - lookups_before;
    assert!(
        (4.0..=8.0).contains(&refreshes) && refreshes % 2.0 == 0.0,
        "{refreshes} lookups finished in 3 intervals of 1 s, want 2 per interval:\n{text}"
    );
}
