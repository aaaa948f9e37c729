//! A node reachable over both TCP and QUIC ends up on the transport its
//! dialler prefers (`NodeConfig::prefer_transport`), whichever address the
//! dial used, and content still flows.

mod common;

use std::time::Duration;

use common::{data, from, start, wait_until};
use plexus::{content::BlobFormat, Node, PeerId, Transport};

/// The transports of `node`'s open connections to `peer`.
async fn transports(node: &Node, peer: PeerId) -> Vec<Option<Transport>> {
    let peers = node.peers().await.unwrap();
    peers
        .iter()
        .filter(|p| p.peer_id == peer && p.connected)
        .flat_map(|p| p.connections.iter().map(Transport::of))
        .collect()
}

/// `b` dials `a` at its address over `dial`; returns the transports of
/// `b`'s connections to `a` once they settled on one transport (or after
/// 10 s), and checks a blob still arrives.
async fn dial_over(dial: Transport, prefer: Option<Transport>) -> Vec<Option<Transport>> {
    let root = tempfile::tempdir().unwrap();
    let a = start(&root.path().join("a"), |_| {}).await;
    let b = start(&root.path().join("b"), |c| c.prefer_transport = prefer).await;
    let addr = a
        .listen_addrs()
        .iter()
        .find(|addr| Transport::of(addr) == Some(dial))
        .expect("a listens on both transports")
        .clone();
    b.connect(addr).await.unwrap();
    match prefer {
        Some(want) => {
            wait_until(Duration::from_secs(10), || async {
                transports(&b, a.peer_id()).await == vec![Some(want)]
            })
            .await;
        }
        // Long enough for identify and a second dial (well under 1 s above).
        None => tokio::time::sleep(Duration::from_secs(2)).await,
    }
    let seen = transports(&b, a.peer_id()).await;

    let src = root.path().join("src");
    let bytes = data(3 << 20, 7);
    std::fs::write(&src, &bytes).unwrap();
    let shared = a.share(&src).await.unwrap();
    let stats = b
        .get(shared.ticket.hash, Some(BlobFormat::Raw), from(&a))
        .finish()
        .await
        .unwrap();
    assert_eq!(stats.size, bytes.len() as u64);
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_over_quic_moves_to_tcp_when_tcp_is_preferred() {
    let seen = dial_over(Transport::Quic, Some(Transport::Tcp)).await;
    assert_eq!(seen, vec![Some(Transport::Tcp)], "b's connections to a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_over_tcp_moves_to_quic_when_quic_is_preferred() {
    let seen = dial_over(Transport::Tcp, Some(Transport::Quic)).await;
    assert_eq!(seen, vec![Some(Transport::Quic)], "b's connections to a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_preference_the_first_connection_stays() {
    // The control: what the two tests above change.
    let seen = dial_over(Transport::Quic, None).await;
    assert_eq!(seen, vec![Some(Transport::Quic)], "b's connections to a");
}
