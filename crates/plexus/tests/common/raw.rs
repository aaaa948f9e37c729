//! Bare libp2p swarms that play other peers: they speak one protocol with
//! hand-made messages and none of a node's rules.

use libp2p::{identity::Keypair, swarm::NetworkBehaviour, Swarm};

/// A swarm with a new identity on TCP+Noise+Yamux running `behaviour`.
pub fn swarm<B: NetworkBehaviour>(behaviour: impl FnOnce(&Keypair) -> B) -> Swarm<B> {
    swarm_with_key(Keypair::generate_ed25519(), behaviour)
}

/// A swarm with the identity `key` on TCP+Noise+Yamux running `behaviour`.
pub fn swarm_with_key<B: NetworkBehaviour>(
    key: Keypair,
    behaviour: impl FnOnce(&Keypair) -> B,
) -> Swarm<B> {
    libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            Default::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(behaviour)
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(std::time::Duration::from_secs(60)))
        .build()
}
