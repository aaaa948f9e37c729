//! Flooding keyword search between real nodes on 127.0.0.1: TTL reach on a
//! line, each query handled once in a ring and a full mesh, rate limits,
//! search then get, and the super-peer measurement.

mod common;

use std::{
    collections::BTreeSet,
    path::Path,
    time::{Duration, Instant},
};

use common::{collect_hits, node_with};
use plexus::{
    search::{FloodConfig, SearchHit},
    transfer::GetOptions,
    Node, NodeConfig, PeerId,
};

const WAIT: Duration = Duration::from_secs(10);

/// Starts `n` nodes, each sharing a file named `item{i}` tagged "common".
async fn nodes(root: &Path, n: usize, edit: impl Fn(usize, &mut NodeConfig)) -> Vec<Node> {
    let mut out = Vec::new();
    for i in 0..n {
        let node = node_with(&root.join(format!("n{i}")), |c| edit(i, c)).await;
        let file = root.join(format!("file{i}"));
        std::fs::write(&file, format!("content of node {i}").repeat(100)).unwrap();
        node.share_with(&file, Some(format!("item{i}")), vec!["common".into()])
            .await
            .unwrap();
        out.push(node);
    }
    out
}

async fn link(a: &Node, b: &Node) {
    a.connect(b.listen_addrs()[0].clone()).await.unwrap();
}

/// Waits until every node has the expected number of neighbours.
async fn wait_neighbours(nodes: &[Node], expected: &[usize]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut have = Vec::new();
        for n in nodes {
            have.push(n.search_stats().await.unwrap().neighbours);
        }
        if have == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "neighbours {have:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Collects hits until `want` holders answered (or the timeout), then
/// waits `settle` longer for stragglers.
async fn collect(
    rx: &mut tokio::sync::mpsc::Receiver<SearchHit>,
    want: usize,
    settle: Duration,
) -> Vec<SearchHit> {
    collect_hits(rx, want, Some(settle), WAIT).await
}

fn holders(hits: &[SearchHit]) -> BTreeSet<PeerId> {
    hits.iter().map(|h| h.holder).collect()
}

fn ids(nodes: &[Node], range: std::ops::Range<usize>) -> BTreeSet<PeerId> {
    nodes[range].iter().map(|n| n.peer_id()).collect()
}

async fn handled(nodes: &[Node]) -> Vec<u64> {
    let mut out = Vec::new();
    for n in nodes {
        out.push(n.search_stats().await.unwrap().queries_handled);
    }
    out
}

async fn shutdown(nodes: &[Node]) {
    for n in nodes {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_bounds_reach_on_a_line_and_a_hit_ticket_fetches_the_bytes() {
    let root = tempfile::tempdir().unwrap();
    let line = nodes(root.path(), 6, |_, _| {}).await;
    for i in 0..5 {
        link(&line[i], &line[i + 1]).await;
    }
    wait_neighbours(&line, &[1, 2, 2, 2, 2, 1]).await;

    // TTL 2: exactly the nodes one and two hops away answer.
    let mut rx = line[0].search(vec!["common".into()], 2).await.unwrap();
    let hits = collect(&mut rx, 2, Duration::from_millis(700)).await;
    assert_eq!(holders(&hits), ids(&line, 1..3));
    assert_eq!(hits.len(), 2, "each holder answers once");
    assert_eq!(handled(&line).await, vec![0, 1, 1, 0, 0, 0]);

    // TTL 5: the far end answers too.
    let mut rx = line[0].search(vec!["common".into()], 5).await.unwrap();
    let hits = collect(&mut rx, 5, Duration::from_millis(500)).await;
    assert_eq!(holders(&hits), ids(&line, 1..6));
    assert_eq!(handled(&line).await, vec![0, 2, 2, 1, 1, 1]);

    // A result's ticket fetches the right bytes.
    let mut rx = line[0].search(vec!["item4".into()], 5).await.unwrap();
    let hit = collect(&mut rx, 1, Duration::ZERO).await.remove(0);
    assert_eq!(hit.meta.name, "item4");
    assert_eq!(hit.holder, line[4].peer_id());
    let ticket = hit.ticket();
    let stats = line[0]
        .get(
            ticket.hash,
            Some(ticket.format),
            GetOptions {
                providers: vec![(ticket.provider, ticket.addrs.clone())],
                use_dht: false,
                allow_relay: false,
            },
        )
        .finish()
        .await
        .unwrap();
    let out = root.path().join("fetched");
    plexus::content::share::export(line[0].store(), &ticket.hash, ticket.format, &out, false)
        .unwrap();
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(root.path().join("file4")).unwrap()
    );
    assert_eq!(stats.size, hit.meta.size);

    // Bad input is refused with a clear message.
    let err = line[0].search(vec![], 3).await.unwrap_err().to_string();
    assert!(err.contains("search words"), "{err}");
    shutdown(&line).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_node_handles_a_query_once_in_a_ring_and_a_full_mesh() {
    let root = tempfile::tempdir().unwrap();
    // A ring of 6.
    let ring = nodes(&root.path().join("ring"), 6, |_, _| {}).await;
    for i in 0..6 {
        link(&ring[i], &ring[(i + 1) % 6]).await;
    }
    wait_neighbours(&ring, &[2; 6]).await;
    let mut rx = ring[0].search(vec!["common".into()], 7).await.unwrap();
    let hits = collect(&mut rx, 5, Duration::from_millis(700)).await;
    assert_eq!(holders(&hits), ids(&ring, 1..6));
    assert_eq!(handled(&ring).await, vec![0, 1, 1, 1, 1, 1]);
    let dups: u64 = {
        let mut d = 0;
        for n in &ring {
            d += n.search_stats().await.unwrap().duplicates;
        }
        d
    };
    assert!(dups >= 1, "the ring closes: some copy arrives twice");
    shutdown(&ring).await;

    // A full mesh of 5.
    let mesh = nodes(&root.path().join("mesh"), 5, |_, _| {}).await;
    for i in 0..5 {
        for j in i + 1..5 {
            link(&mesh[i], &mesh[j]).await;
        }
    }
    wait_neighbours(&mesh, &[4; 5]).await;
    let mut rx = mesh[2].search(vec!["common".into()], 7).await.unwrap();
    let hits = collect(&mut rx, 4, Duration::from_millis(700)).await;
    assert_eq!(hits.len(), 4);
    assert_eq!(handled(&mesh).await, vec![1, 1, 0, 1, 1]);
    shutdown(&mesh).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_neighbour_is_rate_limited() {
    let root = tempfile::tempdir().unwrap();
    let pair = nodes(root.path(), 2, |i, c| {
        if i == 1 {
            c.flood = FloodConfig {
                burst: 5,
                per_second: 1.0,
                ..FloodConfig::default()
            };
        }
    })
    .await;
    link(&pair[0], &pair[1]).await;
    wait_neighbours(&pair, &[1, 1]).await;
    let mut receivers = Vec::new();
    for _ in 0..30 {
        receivers.push(pair[0].search(vec!["common".into()], 3).await.unwrap());
    }
    let deadline = Instant::now() + WAIT;
    let stats = loop {
        let s = pair[1].search_stats().await.unwrap();
        if s.queries_handled + s.refused >= 30 || Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(stats.queries_handled + stats.refused, 30, "{stats:?}");
    assert!(
        stats.queries_handled <= 7,
        "burst of 5 (+refill): {stats:?}"
    );
    assert!(stats.refused >= 23, "{stats:?}");
    shutdown(&pair).await;
}

/// Three hubs in a triangle, four leaves on each; a leaf searches with TTL 4.
/// Returns (hits, messages sent by all nodes for the query).
async fn hub_topology(root: &Path, super_peers: bool) -> (usize, u64) {
    let all = nodes(root, 15, |i, c| c.super_peer = super_peers && i < 3).await;
    let (hubs, leaves) = all.split_at(3);
    link(&hubs[0], &hubs[1]).await;
    link(&hubs[1], &hubs[2]).await;
    link(&hubs[2], &hubs[0]).await;
    for (i, leaf) in leaves.iter().enumerate() {
        link(leaf, &hubs[i / 4]).await;
    }
    let mut expected = vec![6; 3];
    expected.extend([1; 12]);
    wait_neighbours(&all, &expected).await;
    if super_peers {
        let deadline = Instant::now() + WAIT;
        for hub in hubs {
            while hub.search_stats().await.unwrap().indexed_leaves < 4 {
                assert!(Instant::now() < deadline, "leaves indexed in time");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let mut before = 0;
    for n in &all {
        before += n.search_stats().await.unwrap().messages_sent;
    }
    let mut rx = leaves[0].search(vec!["common".into()], 4).await.unwrap();
    // Every other node holds a match: 14 holders.
    let hits = collect(&mut rx, 14, Duration::from_millis(700)).await;
    let mut after = 0;
    for n in &all {
        after += n.search_stats().await.unwrap().messages_sent;
    }
    shutdown(&all).await;
    (hits.len(), after - before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn super_peers_answer_for_their_leaves_with_fewer_messages() {
    let root = tempfile::tempdir().unwrap();
    let (hits_flat, flat) = hub_topology(&root.path().join("flat"), false).await;
    let (hits_super, with_super) = hub_topology(&root.path().join("super"), true).await;
    println!(
        "messages per query, 3 hubs x 4 leaves, TTL 4: {flat} without super-peers, {with_super} with ({hits_flat} and {hits_super} hits)"
    );
    assert_eq!(hits_flat, 14);
    assert_eq!(hits_super, 14, "super-peers answer for every leaf");
    assert!(
        with_super * 2 < flat,
        "super-peers: {with_super} messages, flat: {flat}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_survive_a_restart_and_removed_content_is_not_found() {
    let root = tempfile::tempdir().unwrap();
    let a = node_with(&root.path().join("a"), |_| {}).await;
    let file = root.path().join("song.ogg");
    std::fs::write(&file, b"la la la").unwrap();
    let shared = a
        .share_with(&file, Some("Night Song".into()), vec!["lullaby".into()])
        .await
        .unwrap();
    assert_eq!(shared.name, "Night Song");
    // Bad names and tags are refused before anything is imported.
    let err = a
        .share_with(&file, Some(" ".into()), vec![])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("name is empty"), "{err}");
    let err = a
        .publish_meta(plexus::content::Hash([7; 32]), "x".into(), vec![])
        .await;
    assert!(
        err.is_err(),
        "publishing content not in the store is refused"
    );
    a.shutdown().await;

    let a = node_with(&root.path().join("a"), |_| {}).await;
    let b = node_with(&root.path().join("b"), |_| {}).await;
    link(&b, &a).await;
    wait_neighbours(&[a.clone(), b.clone()], &[1, 1]).await;
    let mut rx = b.search(vec!["lullaby".into()], 1).await.unwrap();
    let hits = collect(&mut rx, 1, Duration::ZERO).await;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].meta.name, "Night Song");
    assert_eq!(hits[0].holder, a.peer_id());

    assert!(a.remove(shared.ticket.hash).await.unwrap());
    let mut rx = b.search(vec!["lullaby".into()], 1).await.unwrap();
    let late = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await;
    assert!(late.is_err(), "no hit after removal: {late:?}");
    shutdown(&[a, b]).await;
}
