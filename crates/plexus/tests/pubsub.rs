//! Publish/subscribe between real nodes on 127.0.0.1: a partial mesh of 10,
//! a late joiner, forged messages from a raw libp2p peer, and a flooder.

mod common;

use std::time::{Duration, Instant};

use common::{assert_mesh, tcp_addr, wait_until};
use futures::StreamExt;
use libp2p::{gossipsub, swarm::SwarmEvent};
use plexus::{pubsub, Message, Multiaddr, Node, Subscription};
use tokio::time::timeout;

async fn start(dir: &std::path::Path, rate: u32, burst: u32) -> Node {
    common::start(dir, |config| {
        config.pubsub_rate = rate;
        config.pubsub_burst = burst;
    })
    .await
}

/// The next message on `sub` within `limit`.
async fn next_within(sub: &mut Subscription, limit: Duration) -> Option<Message> {
    timeout(limit, sub.next()).await.ok().flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_mesh_of_10_delivers_once_and_a_late_joiner_gets_later_messages() {
    const N: usize = 10;
    let dirs: Vec<_> = (0..=N).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    for dir in &dirs[..N] {
        nodes.push(start(dir.path(), 50, 100).await);
    }
    let mut subs = Vec::new();
    for node in &nodes {
        subs.push(node.subscribe("news").await.unwrap());
    }
    // A ring with two chords: 12 links instead of the 45 of a full mesh.
    let mut links: Vec<(usize, usize)> = (0..N).map(|i| (i, (i + 1) % N)).collect();
    links.extend([(0, 5), (2, 7)]);
    for &(a, b) in &links {
        nodes[a].connect(tcp_addr(&nodes[b])).await.unwrap();
    }
    assert_mesh(&nodes, &links, "news").await;

    // Still a partial mesh when the message goes out (the DHT dials more
    // peers over time, but not everyone yet).
    let mut degrees = Vec::new();
    for node in &nodes {
        degrees.push(node.status().await.unwrap().connected_peers);
    }
    println!("connected peers per node at publish time: {degrees:?}");
    assert!(
        degrees.iter().any(|d| *d < N - 1),
        "every node is connected to every other: {degrees:?}"
    );
    let sent = Instant::now();
    assert!(nodes[0].publish("news", "first").await.unwrap() >= 2);
    let mut slowest = Duration::ZERO;
    for (i, sub) in subs.iter_mut().enumerate() {
        let m = next_within(sub, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("node {i} got nothing in 5 s"));
        assert_eq!(
            (m.data.as_slice(), m.topic.as_str()),
            (&b"first"[..], "news")
        );
        assert_eq!(m.from, nodes[0].peer_id(), "sender of node {i}'s copy");
        slowest = slowest.max(sent.elapsed());
    }
    println!("slowest of {N} deliveries in the partial mesh: {slowest:?}");

    // A node that joins late, linked to two of the ring.
    let late = start(dirs[N].path(), 50, 100).await;
    let mut late_sub = late.subscribe("news").await.unwrap();
    for j in [5, 6] {
        late.connect(tcp_addr(&nodes[j])).await.unwrap();
        links.push((N, j));
    }
    nodes.push(late.clone());
    assert_mesh(&nodes, &links, "news").await;
    nodes[0].publish("news", "second").await.unwrap();
    let mut all: Vec<&mut Subscription> = subs[..N].iter_mut().collect();
    all.push(&mut late_sub);
    for (i, sub) in all.iter_mut().enumerate() {
        let m = next_within(sub, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("node {i} did not get the second message"));
        assert_eq!(
            m.data, b"second",
            "node {i}: the late joiner sees only later messages"
        );
    }
    // Exactly once: nothing else arrives anywhere.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (i, sub) in all.iter_mut().enumerate() {
        assert_eq!(sub.try_next(), None, "node {i} got a duplicate");
    }
    for node in &nodes {
        node.shutdown().await;
    }
}

/// A bare libp2p peer speaking only gossipsub, with no signatures: it
/// dials `target`, waits until `target` is subscribed to `topic`, then
/// publishes each of `payloads` claiming the given authenticity.
async fn raw_publisher(
    authenticity: gossipsub::MessageAuthenticity,
    target: Multiaddr,
    topic: &str,
    payloads: Vec<Vec<u8>>,
) -> Result<usize, String> {
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::None)
        .message_id_fn(|m: &gossipsub::Message| {
            gossipsub::MessageId::from(blake3::hash(&m.data).as_bytes().to_vec())
        })
        .build()
        .unwrap();
    let mut swarm = common::raw::swarm(|_| {
        gossipsub::Behaviour::<gossipsub::IdentityTransform>::new(authenticity, config).unwrap()
    });
    let topic = gossipsub::IdentTopic::new(topic);
    swarm.behaviour_mut().subscribe(&topic).unwrap();
    swarm.dial(target).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut published = None;
    let mut linger = None;
    loop {
        let until = linger.unwrap_or(deadline);
        match tokio::time::timeout_at(until, swarm.select_next_some()).await {
            Err(_) if linger.is_some() => return published.ok_or_else(|| "never published".into()),
            Err(_) => return Err("the Plexus node never subscribed".into()),
            Ok(SwarmEvent::Behaviour(gossipsub::Event::Subscribed { .. }))
                if published.is_none() =>
            {
                let mut ok = 0;
                for p in &payloads {
                    match swarm.behaviour_mut().publish(topic.clone(), p.clone()) {
                        Ok(_) => ok += 1,
                        Err(e) => return Err(format!("raw publish failed: {e}")),
                    }
                }
                published = Some(ok);
                // Keep driving the swarm so the messages go out.
                linger = Some(tokio::time::Instant::now() + Duration::from_secs(1));
            }
            Ok(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_messages_reach_nobody_while_signed_ones_do() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    for dir in &dirs {
        nodes.push(start(dir.path(), 50, 100).await);
    }
    let mut subs = Vec::new();
    for node in &nodes {
        subs.push(node.subscribe("room").await.unwrap());
    }
    // a - b - c in a line; the forger talks to a only.
    nodes[0].connect(tcp_addr(&nodes[1])).await.unwrap();
    nodes[1].connect(tcp_addr(&nodes[2])).await.unwrap();
    assert_mesh(&nodes, &[(0, 1), (1, 2)], "room").await;

    let victim = nodes[2].peer_id();
    let envelope = |text: &str| pubsub::encode(text.as_bytes(), std::time::SystemTime::now());
    let wire = pubsub::wire_topic("room").to_string();
    // Unsigned, claiming to come from node c (wrong sender, no signature).
    let as_victim = gossipsub::MessageAuthenticity::Author(victim);
    let sent = raw_publisher(
        as_victim,
        tcp_addr(&nodes[0]),
        &wire,
        vec![envelope("forged by c?")],
    )
    .await
    .unwrap();
    assert_eq!(sent, 1);
    // Unsigned with a random author, and with no author at all.
    for authenticity in [
        gossipsub::MessageAuthenticity::RandomAuthor,
        gossipsub::MessageAuthenticity::Anonymous,
    ] {
        let sent = raw_publisher(
            authenticity,
            tcp_addr(&nodes[0]),
            &wire,
            vec![envelope("forged")],
        )
        .await
        .unwrap();
        assert_eq!(sent, 1);
    }

    // A properly signed message from c still reaches a and b.
    nodes[2].publish("room", "signed").await.unwrap();
    for (i, sub) in subs.iter_mut().enumerate() {
        let m = next_within(sub, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("node {i} did not get the signed message"));
        assert_eq!(m.data, b"signed", "node {i} got a forged message first");
        assert_eq!(m.from, victim);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (i, sub) in subs.iter_mut().enumerate() {
        assert_eq!(sub.try_next(), None, "node {i} got a forged message");
    }
    for node in &nodes {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooder_is_throttled_and_scored_down_while_others_get_through() {
    const RATE: u32 = 20;
    const FLOOD: usize = 600;
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    for dir in &dirs {
        nodes.push(start(dir.path(), RATE, RATE).await);
    }
    let mut subs = Vec::new();
    for node in &nodes {
        subs.push(node.subscribe("busy").await.unwrap());
    }
    // f=0 floods; b=1 and c=2 are linked to it, d=3 only to b and c.
    let links = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)];
    for (a, b) in links {
        nodes[a].connect(tcp_addr(&nodes[b])).await.unwrap();
    }
    assert_mesh(&nodes, &links, "busy").await;
    let (flooder, honest) = (nodes[0].peer_id(), nodes[2].peer_id());

    let started = Instant::now();
    let mut published = 0;
    for i in 0..FLOOD {
        if nodes[0].publish("busy", format!("spam {i}")).await.is_ok() {
            published += 1;
        }
    }
    let flood_secs = started.elapsed().as_secs_f64();
    nodes[2].publish("busy", "honest").await.unwrap();

    // b gets c's message, and at most a burst plus the rate of f's.
    let mut from_flooder = 0;
    let mut honest_seen = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Some(m) = next_within(&mut subs[1], deadline - Instant::now().min(deadline)).await {
        if m.from == flooder {
            from_flooder += 1;
        } else if m.from == honest && m.data == b"honest" {
            honest_seen = true;
            break;
        }
    }
    let allowed = RATE as f64 * (1.0 + flood_secs + 1.0);
    let b_scores = (
        nodes[1].peer_score(flooder).await.unwrap(),
        nodes[1].peer_score(honest).await.unwrap(),
    );
    println!(
        "flood: {published}/{FLOOD} published in {flood_secs:.2}s; b accepted {from_flooder}; b scores f={:?} c={:?}",
        b_scores.0, b_scores.1
    );
    assert!(
        honest_seen,
        "c's message did not get through during the flood"
    );
    assert!(
        (from_flooder as f64) <= allowed,
        "b accepted {from_flooder} of f's messages, over the limit of {allowed:.0}"
    );
    assert!(
        published > 2 * from_flooder,
        "the flood was not much over the limit"
    );
    let (f_score, c_score) = (b_scores.0.unwrap(), b_scores.1.unwrap());
    assert!(
        f_score < -80.0,
        "the flooder's score {f_score} is above the graylist threshold"
    );
    assert!(
        c_score > -10.0,
        "the honest peer's score {c_score} fell too"
    );
    let listed = nodes[1].peers().await.unwrap();
    let entry = listed.iter().find(|p| p.peer_id == flooder).unwrap();
    assert!(
        entry.pubsub_score.unwrap() < -80.0,
        "peers() shows the score"
    );
    // d, two hops away, gets c's message too.
    let mut d_got = false;
    while let Some(m) = next_within(&mut subs[3], Duration::from_secs(5)).await {
        if m.data == b"honest" {
            d_got = true;
            break;
        }
    }
    assert!(d_got, "d did not get c's message");
    for node in &nodes {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_publishes_fail_clearly_and_dropping_a_subscription_leaves_the_topic() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(da.path(), 50, 100).await;
    let b = start(db.path(), 50, 100).await;
    let err = a
        .publish("news", "nobody yet")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no peer subscribed to topic \"news\""),
        "{err}"
    );
    let err = a.subscribe("no spaces").await.unwrap_err().to_string();
    assert!(err.contains("must be 1 to 64 letters"), "{err}");
    let err = a.publish("a/b", "x").await.unwrap_err().to_string();
    assert!(err.contains("must be 1 to 64 letters"), "{err}");
    let big = vec![0u8; pubsub::MAX_MESSAGE_BYTES + 1];
    let err = a.publish("news", big).await.unwrap_err().to_string();
    assert!(err.contains("over the limit of 61440 bytes"), "{err}");

    a.connect(tcp_addr(&b)).await.unwrap();
    let sub = b.subscribe("news").await.unwrap();
    let second = b.subscribe("news").await.unwrap();
    assert_eq!(sub.topic(), "news");
    let b_id = b.peer_id();
    let a2 = a.clone();
    assert!(
        wait_until(Duration::from_secs(5), || {
            let a = a2.clone();
            async move { a.topic_peers("news").await.unwrap().contains(&b_id) }
        })
        .await,
        "a never saw b subscribe"
    );
    // One of two subscriptions gone: b stays on the topic.
    drop(sub);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(a.topic_peers("news").await.unwrap().contains(&b_id));
    // The last one gone: b leaves and a hears of it.
    drop(second);
    assert!(
        wait_until(Duration::from_secs(5), || {
            let a = a2.clone();
            async move { !a.topic_peers("news").await.unwrap().contains(&b_id) }
        })
        .await,
        "b stayed subscribed after its subscriptions were dropped"
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_still_close_but_topic_mesh_links_stay() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    for dir in &dirs {
        nodes.push(common::start(dir.path(), |c| c.idle_timeout = Duration::from_secs(1)).await);
    }
    // a and b share a topic; c has none.
    let _sa = nodes[0].subscribe("keep").await.unwrap();
    let _sb = nodes[1].subscribe("keep").await.unwrap();
    nodes[0].connect(tcp_addr(&nodes[1])).await.unwrap();
    // c is reached by a blob request, not `connect` (which would make it a
    // search neighbour, kept open on purpose by hellos).
    let options = plexus::transfer::GetOptions {
        providers: vec![(nodes[2].peer_id(), vec![tcp_addr(&nodes[2])])],
        use_dht: false,
        allow_relay: false,
    };
    let asked = nodes[0]
        .get(plexus::content::Hash([0; 32]), None, options)
        .finish()
        .await
        .expect_err("c has nothing")
        .to_string();
    assert!(asked.contains("does not have it"), "{asked}");
    assert_mesh(&nodes[..2], &[(0, 1)], "keep").await;
    let (b, c) = (nodes[1].peer_id(), nodes[2].peer_id());
    let a = nodes[0].clone();
    // The relay service's handler keeps every connection for 10 s after it
    // opened (or its last reservation ended), then the 1 s idle timeout.
    let c_gone = wait_until(Duration::from_secs(20), || {
        let a = a.clone();
        async move {
            let peers = a.peers().await.unwrap();
            !peers.iter().any(|p| p.peer_id == c && p.connected)
        }
    })
    .await;
    assert!(
        c_gone,
        "the idle connection to c stayed open (gossipsub held it)"
    );
    let peers = a.peers().await.unwrap();
    assert!(
        peers.iter().any(|p| p.peer_id == b && p.connected),
        "the mesh link to b closed as idle"
    );
    for node in &nodes {
        node.shutdown().await;
    }
}
