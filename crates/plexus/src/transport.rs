//! The settings of this node's transports, in one place so that
//! `plexus bench` measures a bare libp2p stream over exactly the transports
//! the node uses.

use libp2p::{quic, tcp, yamux};

/// TCP: no Nagle delay (requests are small and answered at once).
pub fn tcp_config() -> tcp::Config {
    tcp::Config::default().nodelay(true)
}

/// Yamux over TCP (and relayed connections).
pub fn yamux_config() -> yamux::Config {
    yamux::Config::default()
}

/// QUIC with flow-control windows large enough that one connection can
/// carry a bulk transfer at loopback speed (the defaults, 10 and 15 MB,
/// stall a fast link between two acknowledgements).
pub fn quic_config(mut quic: quic::Config) -> quic::Config {
    quic.max_stream_data = 16 * 1024 * 1024;
    quic.max_connection_data = 64 * 1024 * 1024;
    quic
}
