//! A private node's relay-address record (signed peer record in the DHT)
//! against a lying peer, on real nodes on 127.0.0.1: a bare libp2p swarm
//! speaking Plexus's Kademlia holds a forged record for another peer's id
//! (its own addresses, signed with its own key) and tries to store it on an
//! honest node. The honest node refuses it and keeps the genuine record;
//! a finder that is asked by both returns the genuine addresses and counts
//! the liar's answer as refused.

mod common;

use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::{
    identify,
    identity::Keypair,
    kad::{self, store::MemoryStore, Record, RecordKey},
    swarm::{dial_opts::DialOpts, NetworkBehaviour, SwarmEvent},
    Multiaddr, PeerId, StreamProtocol,
};

#[derive(NetworkBehaviour)]
struct Liar {
    kad: kad::Behaviour<MemoryStore>,
    identify: identify::Behaviour,
}

/// The DHT key of `peer`'s relay-address record, as Plexus derives it.
fn key(peer: &PeerId) -> RecordKey {
    let mut bytes = b"/plexus/relay-addrs/".to_vec();
    bytes.extend_from_slice(&peer.to_bytes());
    RecordKey::new(&bytes)
}

/// A record under `owner`'s key, signed by `signer`, of a circuit to `owner`.
fn record(signer: &Keypair, owner: PeerId, port: u16) -> (Record, Multiaddr) {
    let relay = PeerId::random();
    let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}/p2p/{relay}/p2p-circuit/p2p/{owner}")
        .parse()
        .unwrap();
    let peer_record = libp2p::core::PeerRecord::new(signer, vec![addr.clone()]).unwrap();
    let value = peer_record.into_signed_envelope().into_protobuf_encoding();
    let mut record = Record::new(key(&owner), value);
    record.publisher = Some(signer.public().to_peer_id());
    (record, addr)
}

fn with_id(addr: Multiaddr, peer: PeerId) -> Multiaddr {
    addr.with(libp2p::multiaddr::Protocol::P2p(peer))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_relay_record_is_refused_by_stores_and_finders() {
    let (da, df) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let honest = common::node(da.path()).await;
    let finder = common::node_via(df.path(), &honest).await;

    let victim = Keypair::generate_ed25519();
    let victim_id = victim.public().to_peer_id();
    let (genuine, genuine_addr) = record(&victim, victim_id, 4001);
    let (forged, _) = record(&Keypair::generate_ed25519(), victim_id, 6666);

    let mut liar = common::raw::swarm(|key| {
        let me = key.public().to_peer_id();
        let config = kad::Config::new(StreamProtocol::new("/plexus/kad/1.0.0"));
        let mut kad = kad::Behaviour::with_config(me, MemoryStore::new(me), config);
        kad.set_mode(Some(kad::Mode::Server));
        let identify =
            identify::Behaviour::new(identify::Config::new("/plexus/1.0.0".into(), key.public()));
        Liar { kad, identify }
    });
    liar.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    // The liar answers lookups with its forged record.
    libp2p::kad::store::RecordStore::put(liar.behaviour_mut().kad.store_mut(), forged.clone())
        .unwrap();
    for node in [&honest, &finder] {
        let addr = with_id(common::tcp_addr(node), node.peer_id());
        let opts = DialOpts::peer_id(node.peer_id())
            .addresses(vec![addr.clone()])
            .build();
        liar.dial(opts).unwrap();
        liar.behaviour_mut().kad.add_address(&node.peer_id(), addr);
    }

    // Stores the forged record on the honest node, then the genuine one
    // (anyone may pass a genuine record on), and runs the liar's swarm
    // until both puts are answered.
    let mut puts = Vec::new();
    let mut results = std::collections::HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut connected = 0;
    while results.len() < 2 && Instant::now() < deadline {
        let event = tokio::time::timeout(Duration::from_secs(1), liar.select_next_some()).await;
        match event {
            Ok(SwarmEvent::ConnectionEstablished { .. }) => {
                connected += 1;
                if connected == 2 {
                    for r in [&forged, &genuine] {
                        let to = std::iter::once(honest.peer_id());
                        let q =
                            liar.behaviour_mut()
                                .kad
                                .put_record_to(r.clone(), to, kad::Quorum::One);
                        puts.push(q);
                    }
                }
            }
            Ok(SwarmEvent::Behaviour(LiarEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::PutRecord(result),
                ..
            }))) => {
                results.insert(id, result.is_ok());
            }
            _ => {}
        }
    }
    assert_eq!(puts.len(), 2, "the liar did not connect to both nodes");
    println!(
        "the honest node's answers: forged stored = {:?}, genuine stored = {:?}",
        results.get(&puts[0]),
        results.get(&puts[1])
    );
    assert_eq!(
        results.get(&puts[0]),
        Some(&false),
        "the forged record was stored"
    );
    assert_eq!(
        results.get(&puts[1]),
        Some(&true),
        "the genuine record was refused"
    );

    // The finder asks the honest node and the liar, whose swarm keeps
    // running to answer.
    let driver = tokio::spawn(async move {
        loop {
            liar.select_next_some().await;
        }
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let found = loop {
        let found = finder.find_peer(victim_id).await;
        match &found {
            Ok(f) if f.refused_records > 0 => break found,
            _ if Instant::now() > deadline => break found,
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    };
    driver.abort();
    let found = found.expect("the genuine record is found");
    println!("find-peer of the victim: {found:?}");
    assert!(found.from_relay_record);
    assert_eq!(found.addrs, vec![genuine_addr], "not the genuine addresses");
    assert!(
        found.refused_records >= 1,
        "the liar's answer was not seen and refused"
    );
}
