//! `plexus bench`: the bare libp2p limit. Two swarms with the node's own
//! transports (TCP+Noise+Yamux, QUIC; [`plexus::transport`]) and nothing
//! else on them move the same bytes over one stream, so the blob
//! protocol's transfer can be compared with what the link itself carries.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{swarm::SwarmEvent, Multiaddr, StreamProtocol, Swarm};
use tokio::sync::oneshot;

const PROTOCOL: StreamProtocol = StreamProtocol::new("/plexus-bench/bare/1");

/// How long one run may take in all (a stall ends it with an error).
pub const RUN_LIMIT: Duration = Duration::from_secs(300);

/// Which transport a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// TCP with Noise and Yamux.
    Tcp,
    /// QUIC.
    Quic,
}

impl Link {
    fn listen_addr(self) -> Multiaddr {
        match self {
            Link::Tcp => "/ip4/127.0.0.1/tcp/0",
            Link::Quic => "/ip4/127.0.0.1/udp/0/quic-v1",
        }
        .parse()
        .expect("valid address")
    }
}

fn swarm() -> Result<Swarm<libp2p_stream::Behaviour>> {
    swarm_with(libp2p_stream::Behaviour::new)
}

/// A swarm with the node's own transports and `behaviour` alone on them.
pub fn swarm_with<B: libp2p::swarm::NetworkBehaviour>(
    behaviour: impl FnOnce() -> B,
) -> Result<Swarm<B>> {
    Ok(libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_quic_config(plexus::transport::quic_config)
        .with_other_transport(|key| plexus::transport::tcp_transport(key))?
        .with_behaviour(|_| behaviour())?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
        .build())
}

/// Makes `swarm` listen on a free port of 127.0.0.1 over `link`; returns
/// the address.
pub async fn listen<B: libp2p::swarm::NetworkBehaviour>(
    swarm: &mut Swarm<B>,
    link: Link,
) -> Result<Multiaddr> {
    swarm.listen_on(link.listen_addr())?;
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            return Ok(address);
        }
    }
}

/// Moves `size` bytes over one fresh stream between two fresh swarms on
/// 127.0.0.1 over `link`; returns MB/s from opening the stream (the
/// connection is up) to the last byte read.
pub async fn bare_stream(size: u64, link: Link) -> Result<f64> {
    tokio::time::timeout(RUN_LIMIT, run(size, link))
        .await
        .context("bare libp2p stream: no end in 5 minutes")?
}

async fn run(size: u64, link: Link) -> Result<f64> {
    // The sender listens and writes on every stream it accepts.
    let mut sender = swarm()?;
    let addr = listen(&mut sender, link).await?;
    let sender_id = *sender.local_peer_id();
    let mut incoming = sender.behaviour().new_control().accept(PROTOCOL)?;
    let sending = tokio::spawn(async move {
        let (_, mut stream) = incoming.next().await.context("no stream came")?;
        let buf = vec![7u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            stream.write_all(&buf[..n]).await?;
            left -= n as u64;
        }
        stream.close().await?;
        anyhow::Ok(())
    });
    let sender_loop = tokio::spawn(async move {
        loop {
            sender.select_next_some().await;
        }
    });

    let mut receiver = swarm()?;
    let mut control = receiver.behaviour().new_control();
    receiver.dial(addr)?;
    let (up_tx, up_rx) = oneshot::channel();
    let receiver_loop = tokio::spawn(async move {
        let mut up = Some(up_tx);
        loop {
            match receiver.select_next_some().await {
                SwarmEvent::ConnectionEstablished { .. } => {
                    if let Some(up) = up.take() {
                        let _ = up.send(Ok(()));
                    }
                }
                SwarmEvent::OutgoingConnectionError { error, .. } => {
                    if let Some(up) = up.take() {
                        let _ = up.send(Err(error.to_string()));
                    }
                }
                _ => {}
            }
        }
    });
    let result = async {
        up_rx
            .await?
            .map_err(|e| anyhow::anyhow!("bare libp2p dial failed: {e}"))?;
        let started = Instant::now();
        let mut stream = control.open_stream(sender_id, PROTOCOL).await?;
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0u64;
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            got += n as u64;
        }
        let secs = started.elapsed().as_secs_f64();
        sending.await??;
        anyhow::ensure!(got == size, "bare stream moved {got} of {size} bytes");
        Ok(size as f64 / secs / 1e6)
    }
    .await;
    sender_loop.abort();
    receiver_loop.abort();
    result
}
