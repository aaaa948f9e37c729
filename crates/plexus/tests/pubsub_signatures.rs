//! Hand-made gossipsub messages from a bare libp2p peer: a properly signed
//! one gets through, one with a bad signature or a claimed sender that did
//! not sign it reaches nobody, and the peer that sent them is scored down.

mod common;

use std::{
    collections::VecDeque,
    time::{Duration, SystemTime},
};

use common::{
    assert_mesh,
    forge::{proto, Forger},
    tcp_addr,
};
use futures::StreamExt;
use libp2p::{identity::Keypair, PeerId};
use plexus::pubsub;

/// A gossipsub message (encoded) on topic "room" signed by `signer`
/// claiming to come from `from`.
fn signed(signer: &Keypair, from: PeerId, data: &[u8], seqno: u64, key: bool) -> Vec<u8> {
    common::forge::signed(signer, from, "room", data, seqno, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_and_wrong_senders_reach_nobody() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = common::start(da.path(), |_| {}).await;
    let b = common::start(db.path(), |_| {}).await;
    let mut sub_a = a.subscribe("room").await.unwrap();
    let mut sub_b = b.subscribe("room").await.unwrap();
    b.connect(a.listen_addrs()[0].clone()).await.unwrap();
    // Wait (bounded) for a and b to be in each other's mesh, so a relays at once.
    assert_mesh(&[a.clone(), b.clone()], &[(0, 1)], "room").await;

    let key = Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let victim = b.peer_id();
    let now = SystemTime::now();
    let mut tampered = signed(&key, me, &pubsub::encode(b"original", now), 1, false);
    // Change one payload byte after signing: the signature no longer fits.
    let at = tampered
        .windows(8)
        .position(|w| w == b"original")
        .expect("payload in frame");
    tampered[at] = b'O';
    // All four in one RPC frame, in this order, on one stream.
    let frames = VecDeque::from([proto::frame(&[
        tampered,
        // Signed by us, claiming to be b (with our key attached, then without).
        signed(&key, victim, &pubsub::encode(b"I am b", now), 2, true),
        signed(&key, victim, &pubsub::encode(b"I am b too", now), 3, false),
        // Control: a correct message through the same hand-made path.
        signed(&key, me, &pubsub::encode(b"genuine", now), 4, false),
    ])]);
    let count = frames.len();
    let mut swarm = common::raw::swarm_with_key(key, |_| Forger::new(a.peer_id(), frames));
    swarm.dial(tcp_addr(&a)).unwrap();
    let driver = tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while swarm.behaviour().sent < count {
            if tokio::time::timeout_at(deadline, swarm.select_next_some())
                .await
                .is_err()
            {
                break;
            }
        }
        // Keep the connection up while the node reads and scores.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            loop {
                swarm.select_next_some().await;
            }
        })
        .await;
        swarm.behaviour().sent
    });

    for (name, sub) in [("a", &mut sub_a), ("b", &mut sub_b)] {
        let m = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .unwrap_or_else(|_| panic!("{name}: not even the genuine message arrived"))
            .unwrap();
        assert_eq!(m.data, b"genuine", "{name} got a forged message first");
        assert_eq!(m.from, me);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sub_a.try_next(), None);
    assert_eq!(sub_b.try_next(), None);
    let score = a
        .peer_score(me)
        .await
        .unwrap()
        .expect("a scores the forger");
    println!("a's score of the forger: {score}");
    assert!(
        score < 0.0,
        "three invalid messages left the score at {score}"
    );
    assert_eq!(driver.await.unwrap(), count, "every frame was written");
    a.shutdown().await;
    b.shutdown().await;
}
