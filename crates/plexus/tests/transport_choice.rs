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

/// Pub/sub goes on over the connection that is kept. `b` dials `a` over
/// QUIC, moves to TCP and closes the QUIC connection, on which gossipsub
/// had opened its one outbound stream; a subscription made afterwards must
/// still reach `a`, and a message published afterwards must reach `b`.
/// Before `patches/libp2p-gossipsub`, the kept connection's gossipsub
/// handler was never woken for the queued subscription (it waited for
/// another protocol's traffic on that connection, such as ping's every
/// 15 s), so `a` did not learn of it in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_goes_on_over_the_kept_connection() {
    let root = tempfile::tempdir().unwrap();
    let a = start(&root.path().join("a"), |_| {}).await;
    let b = start(&root.path().join("b"), |c| {
        c.prefer_transport = Some(Transport::Tcp)
    })
    .await;
    let quic = a
        .listen_addrs()
        .iter()
        .find(|addr| Transport::of(addr) == Some(Transport::Quic))
        .expect("a listens on QUIC")
        .clone();
    b.connect(quic).await.unwrap();
    let moved = wait_until(Duration::from_secs(10), || async {
        transports(&b, a.peer_id()).await == vec![Some(Transport::Tcp)]
    })
    .await;
    assert!(moved, "b never moved to TCP");
    // Let the kept connection's start-up traffic (identify, the first ping)
    // end, so nothing else happens to wake its handlers.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let topic = "kept-connection";
    let mut sub = b.subscribe(topic).await.unwrap();
    let seen = wait_until(Duration::from_secs(5), || async {
        a.topic_peers(topic).await.unwrap().contains(&b.peer_id())
    })
    .await;
    assert!(seen, "a did not learn of b's subscription within 5 s");
    a.publish(topic, b"over the kept connection".to_vec())
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("b got nothing within 5 s")
        .expect("subscription open");
    assert_eq!(got.data, b"over the kept connection");
}
