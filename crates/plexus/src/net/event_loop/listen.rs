//! Binding the listen addresses, with errors that say what is wrong.

use std::{collections::HashMap, time::Duration};

use futures::StreamExt;
use libp2p::Multiaddr;

use super::EventLoop;
use crate::Error;

impl EventLoop {
    /// Binds every address and drives the swarm until each listener has
    /// reported at least one address.
    pub(crate) async fn listen(
        &mut self,
        addrs: &[Multiaddr],
        timeout: Duration,
    ) -> Result<(), Error> {
        let mut ids = HashMap::new();
        for addr in addrs {
            check_port_free(addr)?;
            let id = self
                .swarm
                .listen_on(addr.clone())
                .map_err(|e| Error::Listen {
                    addr: addr.clone(),
                    reason: transport_error(&e),
                })?;
            ids.insert(id, addr.clone());
        }
        let deadline = tokio::time::Instant::now() + timeout;
        while !ids.keys().all(|id| self.listeners_up.contains(id)) {
            if let Some((id, reason)) = self.listener_failed.take() {
                if let Some(addr) = ids.remove(&id) {
                    return Err(Error::Listen { addr, reason });
                }
            }
            match tokio::time::timeout_at(deadline, self.swarm.select_next_some()).await {
                Ok(event) => self.on_swarm_event(event),
                Err(_) => {
                    let addr = ids
                        .iter()
                        .find(|(id, _)| !self.listeners_up.contains(id))
                        .map(|(_, a)| a.clone())
                        .expect("some listener is not up");
                    return Err(Error::Listen {
                        addr,
                        reason: "no address reported in time".into(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// A readable reason for a failed `listen_on`.
fn transport_error(e: &libp2p::TransportError<std::io::Error>) -> String {
    match e {
        libp2p::TransportError::MultiaddrNotSupported(_) => {
            "unsupported address (use /ip4/HOST/tcp/PORT or /ip4/HOST/udp/PORT/quic-v1)".into()
        }
        libp2p::TransportError::Other(e) => e.to_string(),
    }
}

/// Fails when a fixed TCP or UDP port is already bound by anyone.
///
/// libp2p binds its listeners with `SO_REUSEPORT`, so a second node on the
/// same port would silently share it; a plain bind without that flag tells
/// the truth.
fn check_port_free(addr: &Multiaddr) -> Result<(), Error> {
    use libp2p::multiaddr::Protocol;
    let mut parts = addr.iter();
    let ip: std::net::IpAddr = match parts.next() {
        Some(Protocol::Ip4(ip)) => ip.into(),
        Some(Protocol::Ip6(ip)) => ip.into(),
        _ => return Ok(()),
    };
    let result = match parts.next() {
        Some(Protocol::Tcp(port)) if port != 0 => std::net::TcpListener::bind((ip, port)).map(drop),
        Some(Protocol::Udp(port)) if port != 0 => std::net::UdpSocket::bind((ip, port)).map(drop),
        _ => Ok(()),
    };
    result.map_err(|e| Error::Listen {
        addr: addr.clone(),
        reason: e.to_string(),
    })
}
