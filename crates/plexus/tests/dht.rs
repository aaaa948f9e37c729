//! Real nodes on 127.0.0.1: bootstrap, routing-table fill, DHT peer lookup.

mod common;

use std::time::{Duration, Instant};

use common::{tcp_addr, wait_until_every};
use plexus::{Multiaddr, Node, NodeConfig};

async fn start(dir: &std::path::Path, bootstrap: Option<&Node>, idle: Duration) -> Node {
    common::start(dir, |config| {
        config.idle_timeout = idle;
        config.bootstrap = bootstrap.map(tcp_addr).into_iter().collect();
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_chain_of_20_finds_everyone_and_resolves_unconnected_peers() {
    const N: usize = 20;
    let dirs: Vec<_> = (0..N).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes: Vec<Node> = Vec::new();
    for dir in &dirs {
        // Each node knows only the one started before it: A <- B <- C ...
        let node = start(dir.path(), nodes.last(), Duration::from_secs(3)).await;
        nodes.push(node);
    }
    let started = Instant::now();
    // Every 250 ms: 20 nodes on 2 cores.
    let everyone = wait_until_every(Duration::from_secs(90), Duration::from_millis(250), || {
        let nodes = nodes.clone();
        async move {
            for node in &nodes {
                if node.status().await.unwrap().routing_table_peers < N - 1 {
                    return false;
                }
            }
            true
        }
    })
    .await;
    let mut counts = Vec::new();
    for node in &nodes {
        counts.push(node.status().await.unwrap().routing_table_peers);
    }
    println!("routing tables after {:?}: {counts:?}", started.elapsed());
    assert!(
        everyone,
        "not every node found all {} others: {counts:?}",
        N - 1
    );

    // Let idle connections close, then look up a peer node 0 is not connected to.
    let first = nodes[0].clone();
    let ids: Vec<_> = nodes.iter().map(Node::peer_id).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut target = None;
    while target.is_none() && Instant::now() < deadline {
        let peers = first.peers().await.unwrap();
        target = ids[1..]
            .iter()
            .find(|id| !peers.iter().any(|p| p.peer_id == **id && p.connected))
            .copied();
        if target.is_none() {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    assert!(target.is_some(), "node 0 stayed connected to every peer");
    let target = target.unwrap();
    let target_node = nodes.iter().find(|n| n.peer_id() == target).unwrap();
    let found = first.find_peer(target).await.expect("lookup succeeds");
    println!(
        "find-peer {target}: {} addrs, {} requests, {} ms, was_connected={}",
        found.addrs.len(),
        found.requests,
        found.millis,
        found.was_connected
    );
    assert!(!found.was_connected);
    assert!(
        found.addrs.iter().any(|a| target_node
            .listen_addrs()
            .iter()
            .any(|l| l.to_string().starts_with(&a.to_string()))),
        "found addresses {:?} are not the target's {:?}",
        found.addrs,
        target_node.listen_addrs()
    );
    for node in &nodes {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_of_an_absent_peer_fails_cleanly() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(da.path(), None, Duration::from_secs(10)).await;
    let b = start(db.path(), Some(&a), Duration::from_secs(10)).await;
    let ghost = plexus::PeerId::random();
    let err = b.find_peer(ghost).await.unwrap_err().to_string();
    assert!(err.contains("not found"), "{err}");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_peer_id_and_data_dir_is_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path(), None, Duration::from_secs(10)).await;
    let id = first.peer_id();
    let err = Node::start(NodeConfig::loopback(dir.path()))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("in use by another running node"), "{err}");
    first.shutdown().await;
    let again = start(dir.path(), None, Duration::from_secs(10)).await;
    assert_eq!(again.peer_id(), id);
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_in_use_is_a_clear_error() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(da.path(), None, Duration::from_secs(10)).await;
    let taken = tcp_addr(&a);
    let port_addr: Multiaddr = taken.iter().take(2).collect();
    let mut config = NodeConfig::loopback(db.path());
    config.listen = vec![port_addr.clone()];
    let err = Node::start(config).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("cannot listen on {port_addr}")),
        "{err}"
    );
    assert!(err.to_lowercase().contains("in use"), "{err}");
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_reports_the_remote_peer_and_bad_dials_fail() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(da.path(), None, Duration::from_secs(10)).await;
    let b = start(db.path(), None, Duration::from_secs(10)).await;
    assert_eq!(b.connect(tcp_addr(&a)).await.unwrap(), a.peer_id());
    // Nothing listens on port 1 of 127.0.0.1.
    let err = b
        .connect("/ip4/127.0.0.1/tcp/1".parse().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot connect to /ip4/127.0.0.1/tcp/1"),
        "{err}"
    );
    a.shutdown().await;
    b.shutdown().await;
}
