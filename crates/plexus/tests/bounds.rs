//! Bounded resources whatever peers send (issue 10), on real nodes on
//! 127.0.0.1 with hand-made peers: a directory refuses peer records with
//! thousands of addresses and discovery goes on; a super-peer flooded with
//! leaves and queries keeps its caps and still answers honest searches.

mod common;

use std::time::Duration;

use common::{collect_hits, node_with, raw, wait_for};
use futures::StreamExt;
use libp2p::{
    identity::Keypair,
    rendezvous,
    request_response::{self, json, ProtocolSupport},
    swarm::{dial_opts::DialOpts, SwarmEvent},
    Multiaddr, StreamProtocol,
};
use plexus::{
    content::{BlobFormat, Hash, Metadata},
    search::{SearchAck, SearchMessage, SEARCH_PROTOCOL},
    PeerId,
};

const WAIT: Duration = Duration::from_secs(15);

/// Sends the hand-made rendezvous `frame` to `dir` as `key`: the raw
/// answer (empty when the stream closed without one) or the failure.
async fn send_frame(key: Keypair, dir: PeerId, addr: Multiaddr, frame: Vec<u8>) -> String {
    let mut swarm = raw::swarm_with_key(key, |_| {
        request_response::Behaviour::<raw::FrameCodec>::new(
            [(
                StreamProtocol::new("/rendezvous/1.0.0"),
                ProtocolSupport::Outbound,
            )],
            request_response::Config::default().with_request_timeout(WAIT),
        )
    });
    swarm.add_peer_address(dir, addr);
    swarm.behaviour_mut().send_request(&dir, frame);
    let deadline = tokio::time::Instant::now() + WAIT + Duration::from_secs(5);
    loop {
        let Ok(event) = tokio::time::timeout_at(deadline, swarm.select_next_some()).await else {
            return "no answer in time".into();
        };
        match event {
            SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Response { response, .. },
                ..
            }) => return format!("an answer of {} bytes", response.len()),
            SwarmEvent::Behaviour(request_response::Event::OutboundFailure { error, .. }) => {
                return format!("failed: {error}")
            }
            _ => {}
        }
    }
}

/// The registrations at `dir` as a rendezvous client sees them: each peer
/// with how many addresses it registered, or why discovery failed.
async fn discover(dir: PeerId, addr: Multiaddr) -> Result<Vec<(PeerId, usize)>, String> {
    let mut swarm = raw::swarm(|key| rendezvous::client::Behaviour::new(key.clone()));
    let dial = DialOpts::peer_id(dir).addresses(vec![addr]).build();
    swarm.dial(dial).map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
            .await
            .map_err(|_| "no discovery answer in time".to_string())?;
        match event {
            SwarmEvent::ConnectionEstablished { .. } => {
                let namespace = rendezvous::Namespace::from_static("plexus");
                swarm
                    .behaviour_mut()
                    .discover(Some(namespace), None, None, dir);
            }
            SwarmEvent::Behaviour(rendezvous::client::Event::Discovered {
                registrations, ..
            }) => {
                return Ok(registrations
                    .iter()
                    .map(|r| (r.record.peer_id(), r.record.addresses().len()))
                    .collect())
            }
            SwarmEvent::Behaviour(rendezvous::client::Event::DiscoverFailed { error, .. }) => {
                return Err(format!("discovery failed: {error:?}"))
            }
            SwarmEvent::OutgoingConnectionError { error, .. } => return Err(error.to_string()),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_records_with_thousands_of_addresses_are_refused_and_discovery_goes_on() {
    let root = tempfile::tempdir().unwrap();
    let dir = node_with(&root.path().join("dir"), |c| c.directory_server = true).await;
    let addr = dir.listen_addrs()[0].clone();
    let honest = node_with(&root.path().join("honest"), |c| {
        c.directories = vec![addr.clone()]
    })
    .await;
    wait_for("the honest peer's registration", async || {
        discover(dir.peer_id(), addr.clone())
            .await
            .is_ok_and(|r| r.iter().any(|(p, _)| *p == honest.peer_id()))
    })
    .await;

    // Two identities register signed peer records of 50,000 addresses each
    // (about 650 KB, under rendezvous' 1 MiB frame limit).
    let many: Vec<Multiaddr> = (0..50_000u32)
        .map(|i| {
            let (a, b) = (i >> 8 & 255, i & 255);
            format!("/ip4/10.0.{a}.{b}/tcp/{}", 4000 + i % 1000)
                .parse()
                .unwrap()
        })
        .collect();
    let mut attackers = Vec::new();
    for _ in 0..2 {
        let key = Keypair::generate_ed25519();
        attackers.push(key.public().to_peer_id());
        let frame = raw::rendezvous_register(&key, many.clone(), "plexus", 600);
        let answer = send_frame(key, dir.peer_id(), addr.clone(), frame).await;
        eprintln!("a registration of {} addresses got {answer}", many.len());
    }

    // A client still reads the registrations: the honest one, none of the
    // attackers' and no record with more than libp2p's 20 addresses.
    let registrations = discover(dir.peer_id(), addr.clone())
        .await
        .expect("discovery still works");
    assert!(registrations.iter().any(|(p, _)| *p == honest.peer_id()));
    for (peer, addrs) in &registrations {
        assert!(
            !attackers.contains(peer),
            "{peer} stored with {addrs} addresses"
        );
        assert!(*addrs <= 20, "{peer} stored with {addrs} addresses");
    }
    // A newcomer finds the honest peer through the directory as before.
    let newcomer = node_with(&root.path().join("new"), |c| c.directories = vec![addr]).await;
    wait_for("the honest peer as the newcomer's neighbour", async || {
        newcomer.search_stats().await.unwrap().neighbours >= 1
    })
    .await;
    for node in [newcomer, honest, dir] {
        node.shutdown().await;
    }
}

type RawSearch = libp2p::Swarm<json::Behaviour<SearchMessage, SearchAck>>;

/// A raw search peer that indexes one record of its own at `target` and
/// sends five queries, all at once: what came back (acks or failures), and
/// the swarm, to keep its connection (and so its index entry) alive.
async fn flood_peer(target: PeerId, addr: Multiaddr) -> (Vec<String>, RawSearch) {
    let key = Keypair::generate_ed25519();
    let record = Metadata {
        hash: Hash::of(key.public().to_peer_id().to_bytes().as_slice()),
        format: BlobFormat::Raw,
        size: 1,
        name: "junk.bin".into(),
        tags: vec![],
        publisher: key.public().to_peer_id(),
        timestamp: 0,
    }
    .sign(&key)
    .unwrap();
    let mut swarm = raw::swarm_with_key(key, |_| {
        json::Behaviour::<SearchMessage, SearchAck>::new(
            [(SEARCH_PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default(),
        )
    });
    swarm.add_peer_address(target, addr);
    let mut messages = vec![SearchMessage::Index {
        records: vec![record],
        addrs: vec![],
    }];
    messages.extend((0..5).map(|_| SearchMessage::Query {
        id: rand::random(),
        words: vec!["zzz".into()],
        ttl: 3,
    }));
    let sent = messages.len();
    for m in messages {
        swarm.behaviour_mut().send_request(&target, m);
    }
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while out.len() < sent {
        let Ok(event) = tokio::time::timeout_at(deadline, swarm.select_next_some()).await else {
            out.push("no answer in time".into());
            break;
        };
        match event {
            SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Response { response, .. },
                ..
            }) => out.push(format!("{response:?}")),
            SwarmEvent::Behaviour(request_response::Event::OutboundFailure { error, .. }) => {
                out.push(format!("failed: {error}"))
            }
            _ => {}
        }
    }
    (out, swarm)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_leaves_and_queries_leaves_a_super_peer_answering() {
    let root = tempfile::tempdir().unwrap();
    let hub = node_with(&root.path().join("hub"), |c| c.super_peer = true).await;
    let hub_addr = hub.listen_addrs()[0].clone();
    let leaf = node_with(&root.path().join("leaf"), |_| {}).await;
    let file = root.path().join("notes.txt");
    std::fs::write(&file, b"honest notes").unwrap();
    leaf.share_with(&file, Some("honestdoc".into()), vec![])
        .await
        .unwrap();
    let searcher = node_with(&root.path().join("searcher"), |_| {}).await;
    leaf.connect(hub_addr.clone()).await.unwrap();
    searcher.connect(hub_addr.clone()).await.unwrap();
    // Both are leaves of the super-peer (the searcher with no records).
    wait_for("the leaf's records at the super-peer", async || {
        hub.search_stats().await.unwrap().indexed_leaves == 2
    })
    .await;
    wait_for("the searcher as a neighbour", async || {
        searcher.search_stats().await.unwrap().neighbours == 1
    })
    .await;

    // 140 hand-made peers each index a record and send 5 queries: more
    // leaves than the 128 a super-peer indexes, and 700 queries, more than
    // the 512 it keeps open.
    let floods: Vec<_> = (0..140)
        .map(|_| tokio::spawn(flood_peer(hub.peer_id(), hub_addr.clone())))
        .collect();
    let (mut answers, mut alive) = (Vec::new(), Vec::new());
    for f in floods {
        let (got, swarm) = f.await.unwrap();
        answers.extend(got);
        alive.push(swarm);
    }
    let count = |what: &str| answers.iter().filter(|a| a.contains(what)).count();
    eprintln!(
        "{} answers: {} ok, {} refused as too many leaves, {} as too many open queries",
        answers.len(),
        count("Ok"),
        count("128 leaves"),
        count("too many open queries"),
    );
    let others: std::collections::BTreeSet<_> = answers
        .iter()
        .filter(|a| !a.contains("Ok") && !a.contains("128 leaves"))
        .collect();
    eprintln!("other answers: {others:?}");
    let stats = hub.search_stats().await.unwrap();
    eprintln!("super-peer: {stats:?}");
    assert!(
        stats.indexed_leaves <= 128,
        "{} leaves",
        stats.indexed_leaves
    );

    // The searcher's query still gets through the super-peer and is
    // answered from its index...
    let mut rx = searcher.search(vec!["honestdoc".into()], 2).await.unwrap();
    let hits = collect_hits(&mut rx, 1, None, Duration::from_secs(10)).await;
    assert_eq!(hits.len(), 1, "the honest search is answered");
    assert_eq!(hits[0].holder, leaf.peer_id());
    // ...and the super-peer's own user can still search.
    let mut rx = hub
        .search(vec!["honestdoc".into()], 2)
        .await
        .expect("the super-peer's user can still search");
    let hits = collect_hits(&mut rx, 1, None, Duration::from_secs(10)).await;
    assert_eq!(hits.len(), 1);
    drop(alive);
    for node in [searcher, leaf, hub] {
        node.shutdown().await;
    }
}
