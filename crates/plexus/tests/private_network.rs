//! Private networks (swarm key, libp2p pnet) on real nodes over 127.0.0.1
//! TCP: nodes with the same key connect, find and fetch; a node with another
//! key, or none, cannot connect, find or fetch anything.

mod common;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use common::{data, from, node_with, tcp_addr, wait_until};
use plexus::{content::BlobFormat, transfer::GetOptions, Node};

/// Most time any refused step may take.
const BOUND: Duration = Duration::from_secs(30);

fn key_file(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    plexus::swarm_key::write_new(&path).unwrap();
    path
}

/// A TCP-only node on 127.0.0.1 with this swarm key (or none).
async fn keyed(dir: &Path, key: Option<&Path>, via: Option<&Node>) -> Node {
    node_with(dir, |config| {
        config.swarm_key = key.map(Path::to_path_buf);
        config.bootstrap = via.map(tcp_addr).into_iter().collect();
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_nodes_with_the_key_connect_find_and_fetch() {
    let root = tempfile::tempdir().unwrap();
    let k = key_file(root.path(), "k.key");
    let k2 = key_file(root.path(), "k2.key");
    let a = keyed(&root.path().join("a"), Some(&k), None).await;
    let b = keyed(&root.path().join("b"), Some(&k), Some(&a)).await;
    // c and d try to join through a, as b does.
    let c = keyed(&root.path().join("c"), Some(&k2), Some(&a)).await;
    let d = keyed(&root.path().join("d"), None, Some(&a)).await;
    assert!(
        a.listen_addrs()
            .iter()
            .all(|x| !x.to_string().contains("quic")),
        "a keyed node listens on TCP only: {:?}",
        a.listen_addrs()
    );

    let bytes = data(300 * 1024 + 5, 1);
    let src = root.path().join("secret.bin");
    std::fs::write(&src, &bytes).unwrap();
    let shared = a.share(&src).await.unwrap();
    let hash = shared.ticket.hash;

    // b has the key: it finds a's content in the DHT and fetches it.
    let started = Instant::now();
    let a_id = a.peer_id();
    let found = wait_until(BOUND, || {
        let b = b.clone();
        async move {
            // One slow lookup (a loaded machine) must not use up the bound.
            tokio::time::timeout(Duration::from_secs(5), b.find_providers(hash))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default()
                .contains(&a_id)
        }
    })
    .await;
    assert!(found, "b (same key) did not find a as provider");
    let stats = b
        .get(hash, Some(BlobFormat::Raw), from(&a))
        .finish()
        .await
        .unwrap();
    assert_eq!(stats.size, bytes.len() as u64);
    let out = root.path().join("out.bin");
    plexus::content::share::export(b.store(), &hash, BlobFormat::Raw, &out, false).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    println!(
        "b (key K): found a in the DHT and fetched {} bytes in {:?}",
        bytes.len(),
        started.elapsed()
    );

    // c has another key: no connection, nothing found, no fetch.
    let started = Instant::now();
    let err = tokio::time::timeout(BOUND, c.connect(tcp_addr(&a)))
        .await
        .expect("connect refused within the bound")
        .unwrap_err();
    println!("c (key K2) connect to a: {err} ({:?})", started.elapsed());
    assert!(err.to_string().contains("swarm key"), "{err}");

    let started = Instant::now();
    let providers = tokio::time::timeout(BOUND, c.find_providers(hash))
        .await
        .expect("DHT lookup ends within the bound")
        .unwrap_or_default();
    println!(
        "c (key K2) DHT providers of the hash: {providers:?} ({:?})",
        started.elapsed()
    );
    assert!(providers.is_empty(), "c found providers: {providers:?}");

    let started = Instant::now();
    let options = GetOptions {
        providers: vec![(shared.ticket.provider, shared.ticket.addrs.clone())],
        use_dht: true,
        allow_relay: false,
    };
    let err = tokio::time::timeout(BOUND * 2, c.get(hash, None, options).finish())
        .await
        .expect("get by ticket ends within the bound")
        .unwrap_err();
    println!("c (key K2) get by ticket: {err} ({:?})", started.elapsed());
    // The dial fails at the pnet handshake (the message then names the
    // swarm key); on a loaded machine the 10 s `Have` timeout can end the
    // request first. Either way nothing is fetched.
    let text = err.to_string();
    assert!(
        text.contains("swarm key") || text.contains("no answer in 10s"),
        "{err}"
    );
    assert!(c.store().get(&hash).unwrap().is_none_or(|i| !i.complete));

    // d has no key at all: no connection either.
    let started = Instant::now();
    let err = tokio::time::timeout(BOUND, d.connect(tcp_addr(&a)))
        .await
        .expect("connect refused within the bound")
        .unwrap_err();
    println!("d (no key) connect to a: {err} ({:?})", started.elapsed());
    assert!(err.to_string().contains("swarm key"), "{err}");
    // Nor can a keyed node reach a node without a key.
    let err = tokio::time::timeout(BOUND, a.connect(tcp_addr(&d)))
        .await
        .expect("connect refused within the bound")
        .unwrap_err();
    println!("a (key K) connect to d (no key): {err}");

    let peers: Vec<_> = a
        .peers()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.peer_id)
        .collect();
    println!("a's peers: {peers:?} (b is {})", b.peer_id());
    assert!(!peers.contains(&c.peer_id()), "c is among a's peers");
    assert!(!peers.contains(&d.peer_id()), "d is among a's peers");
    for node in [a, b, c, d] {
        node.shutdown().await;
    }
}

/// A node with a swarm key has no NAT traversal, and its status says so
/// (private networks need publicly reachable nodes); one without a key does
/// not say it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_key_node_says_it_has_no_nat_traversal() {
    let root = tempfile::tempdir().unwrap();
    let k = key_file(root.path(), "k.key");
    let a = keyed(&root.path().join("a"), Some(&k), None).await;
    let b = keyed(&root.path().join("b"), None, None).await;
    let off = a.status().await.unwrap().nat.traversal_off;
    let why = off.expect("a swarm-key node must say NAT traversal is off");
    assert!(
        why.contains("swarm key") && why.contains("publicly reachable"),
        "{why}"
    );
    assert_eq!(b.status().await.unwrap().nat.traversal_off, None);
}
