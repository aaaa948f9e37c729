//! Counting inbound connections per IP and in total, without I/O.

use std::{
    collections::HashMap,
    fmt,
    net::{IpAddr, Ipv6Addr},
};

use libp2p::{multiaddr::Protocol, swarm::ConnectionId, Multiaddr};

/// Why an inbound connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exceeded {
    /// The remote IP (IPv6: its /64) already has `limit` inbound connections,
    /// pending or established.
    PerIp {
        /// The IP (or /64 prefix) counted.
        ip: IpAddr,
        /// `max_inbound_per_ip`.
        limit: u32,
    },
    /// `limit` inbound connections are established already.
    Total {
        /// `max_inbound`.
        limit: u32,
    },
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PerIp { ip, limit } => write!(
                f,
                "inbound limit: at most {limit} inbound connections from {ip}"
            ),
            Self::Total { limit } => write!(
                f,
                "inbound limit: at most {limit} established inbound connections"
            ),
        }
    }
}

impl std::error::Error for Exceeded {}

/// The address a connection is counted under: an IPv4 address as it is, an
/// IPv6 address by its /64 (one host easily holds a whole /64), an
/// IPv4-mapped IPv6 address as the IPv4 address.
pub(crate) fn ip_key(addr: &Multiaddr) -> Option<IpAddr> {
    let ip = addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })?;
    Some(match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    })
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    ip: Option<IpAddr>,
    established: bool,
}

/// Inbound connections by IP and in total. Outbound connections are never
/// shown to it.
#[derive(Debug)]
pub(crate) struct InboundCounter {
    max_total: u32,
    max_per_ip: u32,
    connections: HashMap<ConnectionId, Entry>,
    per_ip: HashMap<IpAddr, u32>,
    established: u32,
}

impl InboundCounter {
    /// At most `max_total` established inbound connections and `max_per_ip`
    /// inbound connections (pending or established) from one IP.
    pub(crate) fn new(max_total: u32, max_per_ip: u32) -> Self {
        Self {
            max_total,
            max_per_ip,
            connections: HashMap::new(),
            per_ip: HashMap::new(),
            established: 0,
        }
    }

    /// Established inbound connections.
    #[cfg(test)]
    pub(crate) fn established(&self) -> u32 {
        self.established
    }

    /// Inbound connections (pending or established) from `ip`'s key.
    pub(crate) fn count_for(&self, ip: IpAddr) -> u32 {
        self.per_ip.get(&ip).copied().unwrap_or(0)
    }

    fn check_ip(&self, ip: Option<IpAddr>) -> Result<(), Exceeded> {
        match ip {
            Some(ip) if self.count_for(ip) >= self.max_per_ip => Err(Exceeded::PerIp {
                ip,
                limit: self.max_per_ip,
            }),
            _ => Ok(()),
        }
    }

    fn check_total(&self) -> Result<(), Exceeded> {
        if self.established >= self.max_total {
            return Err(Exceeded::Total {
                limit: self.max_total,
            });
        }
        Ok(())
    }

    /// A connection from `ip` wants to start its handshake. Refused when
    /// `ip` is at its limit or the inbound total is full (no use spending a
    /// handshake on it); otherwise counted against `ip` until it closes.
    pub(crate) fn handle_pending(
        &mut self,
        id: ConnectionId,
        ip: Option<IpAddr>,
    ) -> Result<(), Exceeded> {
        self.check_total()?;
        self.check_ip(ip)?;
        self.add(id, ip, false);
        Ok(())
    }

    /// The handshake of connection `id` from `ip` finished. Refused (and
    /// forgotten) when the inbound total is full; otherwise counted as
    /// established until it closes. A connection never seen pending is
    /// checked against its IP's limit too.
    pub(crate) fn handle_established(
        &mut self,
        id: ConnectionId,
        ip: Option<IpAddr>,
    ) -> Result<(), Exceeded> {
        let known = self.connections.get(&id).copied();
        let denied = self.check_total().and_then(|()| match known {
            Some(_) => Ok(()),
            None => self.check_ip(ip),
        });
        if let Err(e) = denied {
            self.handle_closed(id);
            return Err(e);
        }
        match known {
            Some(entry) if !entry.established => {
                self.connections.insert(
                    id,
                    Entry {
                        established: true,
                        ..entry
                    },
                );
                self.established += 1;
            }
            Some(_) => {}
            None => self.add(id, ip, true),
        }
        Ok(())
    }

    /// Connection `id` closed or failed (before or after its handshake);
    /// unknown ids (outbound, or refused) are ignored.
    pub(crate) fn handle_closed(&mut self, id: ConnectionId) {
        let Some(entry) = self.connections.remove(&id) else {
            return;
        };
        if entry.established {
            self.established -= 1;
        }
        if let Some(ip) = entry.ip {
            if let Some(n) = self.per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    self.per_ip.remove(&ip);
                }
            }
        }
    }

    fn add(&mut self, id: ConnectionId, ip: Option<IpAddr>, established: bool) {
        // An id seen twice is not expected from the swarm; keep the counts
        // right anyway.
        self.handle_closed(id);
        self.connections.insert(id, Entry { ip, established });
        if let Some(ip) = ip {
            *self.per_ip.entry(ip).or_insert(0) += 1;
        }
        if established {
            self.established += 1;
        }
    }
}
