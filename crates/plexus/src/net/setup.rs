//! What starting a node sets up besides the event loop: the data dir's lock
//! and the swarm with its transports.

use std::fs;

use libp2p::{noise, tcp, yamux};

use super::Behaviour;
use crate::{content::Store, Error, NodeConfig};

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

pub(super) fn build_swarm(
    key: libp2p::identity::Keypair,
    config: &NodeConfig,
    store: std::sync::Arc<Store>,
    bootstrap: Vec<(libp2p::PeerId, libp2p::Multiaddr)>,
) -> Result<libp2p::Swarm<Behaviour>, Error> {
    let setup = |e: &dyn std::fmt::Display| Error::Setup(e.to_string());
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| setup(&e))?
        // Larger QUIC flow-control windows than the defaults so one connection
        // can carry a bulk transfer at loopback speed (checked by the
        // transfer benchmark).
        .with_quic_config(|mut quic| {
            quic.max_stream_data = 16 * 1024 * 1024;
            quic.max_connection_data = 64 * 1024 * 1024;
            quic
        })
        .with_behaviour(|key| {
            Behaviour::new(key, config, store.clone(), bootstrap.clone())
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })
        })
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_timeout))
        .build();
    Ok(swarm)
}
