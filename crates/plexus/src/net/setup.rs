//! What starting a node sets up besides the event loop: the data dir's lock
//! and the swarm with its transports.

use std::fs;

use libp2p::{
    core::{muxing::StreamMuxerBox, transport::Boxed, upgrade},
    noise,
    pnet::{PnetConfig, PreSharedKey},
    tcp, Transport,
};

use super::Behaviour;
use crate::{content::Store, Error, NodeConfig};

/// How long a connection may take to pass the pnet, Noise and Yamux
/// handshakes (a peer that stalls is dropped).
const PNET_UPGRADE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a dial may take in all (libp2p's default is 10 s). Shorter than
/// the AutoNAT v2 server's 10 s limit per request, so a dial back that a
/// NAT drops fails in time to be reported ("not reachable") instead of the
/// request timing out and the client never learning it is private.
const DIAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(7);

/// Takes an exclusive lock on `data_dir/node.lock` so two nodes never share
/// one identity and store. The lock is released when the file is dropped.
pub(super) fn lock_data_dir(config: &NodeConfig) -> Result<fs::File, Error> {
    let path = config.data_dir.join("node.lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| Error::DataDir {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(Error::DataDirLocked(config.data_dir.clone())),
        Err(fs::TryLockError::Error(source)) => Err(Error::DataDir { path, source }),
    }
}

/// Builds the swarm: TCP (Noise, Yamux), QUIC and relayed connections, or, with a swarm key,
/// TCP wrapped in the pre-shared-key handshake (libp2p pnet) before Noise
/// and no QUIC, which pnet cannot protect.
pub(super) fn build_swarm(
    key: libp2p::identity::Keypair,
    config: &NodeConfig,
    psk: Option<PreSharedKey>,
    store: std::sync::Arc<Store>,
    bandwidth: std::sync::Arc<crate::bandwidth::Bandwidth>,
    bootstrap: Vec<(libp2p::PeerId, libp2p::Multiaddr)>,
    metrics: &mut crate::metrics::Metrics,
) -> Result<libp2p::Swarm<Behaviour>, Error> {
    let traffic = metrics.traffic();
    let registry = metrics.registry_mut();
    let setup = |e: &dyn std::fmt::Display| Error::Setup(e.to_string());
    let behaviour = |key: &libp2p::identity::Keypair, client| {
        Behaviour::new(
            key,
            config,
            store.clone(),
            bandwidth.clone(),
            bootstrap.clone(),
            client,
            traffic.clone(),
        )
        .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })
    };
    let idle = config.idle_timeout;
    let builder = libp2p::SwarmBuilder::with_existing_identity(key).with_tokio();
    if config.memory_transport {
        if psk.is_some() {
            return Err(Error::BadInput(
                "a swarm key needs TCP: turn the memory transport off".into(),
            ));
        }
        return Ok(builder
            .with_other_transport(memory_transport)
            .map_err(|e| setup(&e))?
            .with_bandwidth_metrics(registry)
            .with_behaviour(|key| behaviour(key, None))
            .map_err(|e| setup(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .with_connection_timeout(DIAL_TIMEOUT)
            .build());
    }
    let swarm = match psk {
        Some(psk) => {
            tracing::info!(fingerprint = %psk.fingerprint(), "private network (swarm key): TCP only");
            builder
                .with_other_transport(|key| private_transport(key, psk))
                .map_err(|e| setup(&e))?
                .with_bandwidth_metrics(registry)
                .with_behaviour(|key| behaviour(key, None))
                .map_err(|e| setup(&e))?
                .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
                .with_connection_timeout(DIAL_TIMEOUT)
                .build()
        }
        None => builder
            .with_quic_config(crate::transport::quic_config)
            .with_other_transport(|key| crate::transport::tcp_transport(key))
            .map_err(|e| setup(&e))?
            // Relayed connections (circuit relay v2) for NAT traversal.
            .with_relay_client(noise::Config::new, crate::transport::yamux_config)
            .map_err(|e| setup(&e))?
            // Bytes per transport (relayed ones say p2p-circuit).
            .with_bandwidth_metrics(registry)
            .with_behaviour(|key, client| behaviour(key, Some(client)))
            .map_err(|e| setup(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .with_connection_timeout(DIAL_TIMEOUT)
            .build(),
    };
    Ok(swarm)
}

/// TCP, then the pnet handshake with `psk` (a peer without the key fails
/// here, before Noise), then Noise and Yamux as usual.
fn private_transport(
    key: &libp2p::identity::Keypair,
    psk: PreSharedKey,
) -> Result<Boxed<(libp2p::PeerId, StreamMuxerBox)>, Box<dyn std::error::Error + Send + Sync>> {
    Ok(tcp::tokio::Transport::new(crate::transport::tcp_config())
        .and_then(move |socket, _| PnetConfig::new(psk).handshake(socket))
        .upgrade(upgrade::Version::V1Lazy)
        .authenticate(noise::Config::new(key)?)
        .multiplex(crate::transport::yamux_config())
        .timeout(PNET_UPGRADE_TIMEOUT)
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
        .boxed())
}

/// libp2p's in-process memory transport with the usual Noise and Yamux
/// upgrades (tests and simulations: see [`NodeConfig::memory_transport`]).
fn memory_transport(
    key: &libp2p::identity::Keypair,
) -> Result<Boxed<(libp2p::PeerId, StreamMuxerBox)>, Box<dyn std::error::Error + Send + Sync>> {
    Ok(libp2p::core::transport::MemoryTransport::default()
        .upgrade(upgrade::Version::V1Lazy)
        .authenticate(noise::Config::new(key)?)
        .multiplex(crate::transport::yamux_config())
        .timeout(PNET_UPGRADE_TIMEOUT)
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
        .boxed())
}

/// Adds what a failed connection most likely means for a private network
/// to `reason`: a handshake that fails at once is what a peer with another
/// swarm key (or none) sees, and a node with a key reaches only keyed peers.
pub(super) fn dial_hint(reason: String, private: bool) -> String {
    let handshake = reason.contains("negotiate") || reason.contains("Handshake");
    if private {
        format!("{reason} (this node is in a private network: the peer must be online and use the same swarm key)")
    } else if handshake {
        format!("{reason} (if the peer runs a private network, this node needs its swarm key: --swarm-key FILE)")
    } else {
        reason
    }
}
