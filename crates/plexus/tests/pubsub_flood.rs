//! A flood of pub/sub messages from one bare libp2p peer that signs every
//! message with a fresh key (a new author each time), so the per-author
//! limit never bites: the node's per-delivering-peer limit must hold the
//! flood to its burst plus its rate, keep it from a subscriber behind the
//! node, and score the flooder down.

mod common;

use std::{
    collections::VecDeque,
    time::{Duration, SystemTime},
};

use common::{
    assert_mesh,
    forge::{proto, signed, Forger},
    tcp_addr,
};
use futures::StreamExt;
use libp2p::identity::Keypair;
use plexus::{pubsub, Subscription};
use tokio::time::{timeout, timeout_at, Instant};

const TOPIC: &str = "room";
/// Messages in the flood, each signed by a key of its own.
const FLOOD: usize = 200;
/// The attacked node's per-author limit: far above one message per author.
const AUTHOR_RATE: u32 = 5;
const AUTHOR_BURST: u32 = 5;
/// The attacked node's per-peer limit (4x the per-author one, as the
/// defaults are), low enough that 200 messages are well over it.
const PEER_RATE: u32 = 20;
const PEER_BURST: u32 = 20;

/// Flood messages arriving on `sub` until none came for a second (at most
/// 20 s in all): how many, and when the last one arrived.
async fn count_flood(sub: &mut Subscription) -> (usize, Option<Instant>) {
    let (mut n, mut last) = (0, None);
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Ok(Ok(Some(m))) =
        timeout_at(deadline, timeout(Duration::from_secs(1), sub.next())).await
    {
        if m.data.starts_with(b"flood ") {
            n += 1;
            last = Some(Instant::now());
        }
    }
    (n, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_key_per_message_does_not_get_a_flood_past_the_per_peer_limit() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // a is attacked; b, with the default limits, subscribes behind it.
    let a = common::start(da.path(), |c| {
        c.pubsub_rate = AUTHOR_RATE;
        c.pubsub_burst = AUTHOR_BURST;
        c.pubsub_peer_rate = PEER_RATE;
        c.pubsub_peer_burst = PEER_BURST;
    })
    .await;
    let b = common::start(db.path(), |_| {}).await;
    let mut sub_a = a.subscribe(TOPIC).await.unwrap();
    let mut sub_b = b.subscribe(TOPIC).await.unwrap();
    b.connect(a.listen_addrs()[0].clone()).await.unwrap();
    assert_mesh(&[a.clone(), b.clone()], &[(0, 1)], TOPIC).await;

    // Every message signed by a fresh key and claiming that key's peer id
    // as its author; one RPC per message, all written back to back on one
    // stream, as fast as the connection takes them.
    let now = SystemTime::now();
    let mut flood = Vec::new();
    for i in 0..FLOOD {
        let author = Keypair::generate_ed25519();
        let data = pubsub::encode(format!("flood {i}").as_bytes(), now);
        let message = signed(
            &author,
            author.public().to_peer_id(),
            TOPIC,
            &data,
            1,
            false,
        );
        flood.extend(proto::frame(&[message]));
    }
    let key = Keypair::generate_ed25519();
    let flooder = key.public().to_peer_id();
    let mut swarm =
        common::raw::swarm_with_key(key, |_| Forger::new(a.peer_id(), VecDeque::from([flood])));
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    swarm.dial(tcp_addr(&a)).unwrap();
    // Drive the flooder until told to stop (at most 40 s), so it stays
    // connected while a reads, relays and scores.
    let driver = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = tokio::time::sleep_until(deadline) => break,
                _ = swarm.select_next_some() => {}
            }
        }
        swarm.behaviour().sent
    });

    let (at_a, last_a) = count_flood(&mut sub_a).await;
    let (at_b, _) = count_flood(&mut sub_b).await;
    // a accepted every message before its subscriber got it, and none
    // before the dial: so at most a burst plus the rate over that time.
    let window = last_a.map_or(Duration::ZERO, |t| t - started);
    let bound = PEER_BURST as f64 + PEER_RATE as f64 * window.as_secs_f64();
    let score = a.peer_score(flooder).await.unwrap();
    let relay_score = b.peer_score(a.peer_id()).await.unwrap();
    println!(
        "flood of {FLOOD} fresh-key messages: a delivered {at_a}, b (behind a) delivered {at_b}; \
         bound {bound:.0} (burst {PEER_BURST} + {PEER_RATE}/s x {:.2}s); \
         a's score of the flooder {score:?}; b's score of a {relay_score:?}",
        window.as_secs_f64()
    );
    let _ = stop.send(());
    assert_eq!(driver.await.unwrap(), 1, "the flood was written");

    assert!(
        at_a > 0,
        "nothing of the flood got through, not even the burst"
    );
    assert!(
        at_a as f64 <= bound && at_b as f64 <= bound,
        "a delivered {at_a} and b {at_b} of {FLOOD}, over the per-peer bound of {bound:.0}"
    );
    assert!(
        at_b <= FLOOD / 4,
        "b got {at_b} of {FLOOD}: the flood went through"
    );
    let score = score.expect("a scores the flooder");
    assert!(score < 0.0, "the flooder's score on a is {score}");
    let relay_score = relay_score.expect("b scores a");
    assert!(
        relay_score > -10.0,
        "a only relayed what it accepted, yet b scored it {relay_score}"
    );
    a.shutdown().await;
    b.shutdown().await;
}
