//! Relay service: a public node relays for others within its limits, a node
//! not known to be public or started with the service off relays for nobody.
//! The clients are bare libp2p swarms asking for reservations (and so
//! playing peers that try to take more than their share).

mod common;

use std::time::Duration;

use futures::StreamExt;
use libp2p::{multiaddr::Protocol, noise, relay, swarm::SwarmEvent, yamux, Multiaddr, Swarm};

/// A bare swarm that can only ask relays for reservations.
fn client() -> Swarm<relay::client::Behaviour> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            Default::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|_, relay| relay)
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// Asks the relay at `relay` for a reservation: accepted, or why not
/// (within 10 s).
async fn reserve(
    swarm: &mut Swarm<relay::client::Behaviour>,
    relay: &Multiaddr,
) -> Result<(), String> {
    let circuit = relay.clone().with(Protocol::P2pCircuit);
    swarm.listen_on(circuit).map_err(|e| e.to_string())?;
    let outcome = async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(relay::client::Event::ReservationReqAccepted { .. }) => {
                    return Ok(());
                }
                SwarmEvent::ListenerClosed { reason, .. } => return Err(format!("{reason:?}")),
                SwarmEvent::ListenerError { error, .. } => return Err(error.to_string()),
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), outcome)
        .await
        .unwrap_or_else(|_| Err("no answer in 10 s".into()))
}

/// Declared public (an external address), so the relay service is on.
fn public(config: &mut plexus::NodeConfig) {
    config.nat.external_addrs = vec!["/ip4/192.0.2.1/tcp/4001".parse().unwrap()];
}

#[tokio::test]
async fn a_public_node_relays_up_to_its_reservation_limit() {
    let dir = tempfile::tempdir().unwrap();
    let node = common::node_with(dir.path(), |c| {
        public(c);
        c.nat.max_reservations = 2;
    })
    .await;
    let relay = common::tcp_addr(&node);
    let mut clients: Vec<_> = (0..3).map(|_| client()).collect();
    let mut outcomes = Vec::new();
    for c in &mut clients {
        outcomes.push(reserve(c, &relay).await);
    }
    println!("{outcomes:?}");
    assert!(outcomes[0].is_ok() && outcomes[1].is_ok(), "{outcomes:?}");
    let refused = outcomes[2]
        .as_ref()
        .expect_err("a third reservation beyond the cap of 2");
    assert!(
        refused.contains("ResourceLimitExceeded") || refused.contains("limit"),
        "{refused}"
    );
    let status = node.status().await.unwrap();
    assert_eq!(status.nat.reachability, plexus::Reach::Public);
}

#[tokio::test]
async fn a_node_not_known_public_or_with_the_service_off_relays_for_nobody() {
    let dir = tempfile::tempdir().unwrap();
    // Alone on loopback: nobody can test its reachability, so unknown.
    let unknown = common::node(&dir.path().join("a")).await;
    let off = common::node_with(&dir.path().join("b"), |c| {
        public(c);
        c.nat.relay_service = false;
    })
    .await;
    for node in [&unknown, &off] {
        let outcome = reserve(&mut client(), &common::tcp_addr(node)).await;
        println!("{outcome:?}");
        assert!(outcome.is_err(), "reservation accepted: {outcome:?}");
    }
}
