//! The settings of this node's transports, in one place so that
//! `plexus bench` measures a bare libp2p stream over exactly the transports
//! the node uses.

use libp2p::{
    core::{muxing::StreamMuxerBox, transport::Boxed, upgrade},
    identity::Keypair,
    noise, quic, tcp, yamux, PeerId, Transport,
};

mod frame_wake;

use frame_wake::FrameWake;

/// TCP: no Nagle delay (requests are small and answered at once).
pub fn tcp_config() -> tcp::Config {
    tcp::Config::default().nodelay(true)
}

/// TCP as libp2p's `SwarmBuilder::with_tcp` sets it up (multistream-select
/// `V1Lazy`, Noise, Yamux), with each connection's socket wrapped so its
/// reader is woken once per Noise frame rather than once per packet
/// (`transport/frame_wake.rs`).
pub fn tcp_transport(
    key: &Keypair,
) -> Result<Boxed<(PeerId, StreamMuxerBox)>, Box<dyn std::error::Error + Send + Sync>> {
    Ok(tcp::tokio::Transport::new(tcp_config())
        .map(|socket, _| FrameWake::new(socket))
        .upgrade(upgrade::Version::V1Lazy)
        .authenticate(noise::Config::new(key)?)
        .multiplex(yamux_config())
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
        .boxed())
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
