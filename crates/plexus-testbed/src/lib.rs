//! A multi-host test bed for Plexus: each host is a network namespace with
//! its own address on a shared bridge, a `tbf` rate cap per direction, a
//! link that can be cut, and a `plexus daemon` of its own. [`scenarios`]
//! runs swarm downloads, link cuts, partitions and LAN discovery on it and
//! reports achieved against ideal figures.
//!
//! Private sites put hosts behind NAT routers ([`nat`]: port-preserving or
//! symmetric, with a firewall dropping unsolicited inbound).
//!
//! Needs root and iproute2 (`ip netns`, `tc`), and iptables for NAT. Everything
//! it creates lives in its own namespaces (addresses 10.77.0.0/24 and
//! 192.168.0.0/16 exist nowhere else) and is removed when the [`Testbed`] or
//! [`Net`] is dropped.

pub mod find;
pub mod host;
pub mod nat;
pub mod net;
pub mod plot;
pub mod probe;
pub mod reach;
pub mod report;
pub mod scenarios;
pub mod storage;
pub mod traversal;

use std::{
    io::Write,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::bail;
pub use anyhow::Result;

pub use host::{Host, Transport};
pub use nat::NatKind;
pub use net::{Mbit, Net};
pub use report::{Report, Row};

/// How the daemons find each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// Every host bootstraps from host 0; mDNS off.
    BootstrapFromFirst,
    /// No bootstrap peers; mDNS on.
    MdnsOnly,
}

/// A network of hosts, each running a daemon. Daemons are killed and
/// namespaces removed when it is dropped.
pub struct Testbed {
    /// The daemons, one per host (dropped before the network).
    pub hosts: Vec<Host>,
    /// The namespaces and links.
    pub net: Net,
    /// Data dirs and scratch files.
    pub dir: tempfile::TempDir,
}

impl Testbed {
    /// Creates `n` hosts and starts a daemon on each (host 0 first).
    pub fn new(plexus: &Path, n: usize, discovery: Discovery) -> Result<Self> {
        Self::on(plexus, Net::new(n)?, discovery)
    }

    /// Starts a daemon on every host of `net` (host 0 first), e.g. one with
    /// private sites behind NAT routers ([`Net::with_sites`]).
    pub fn on(plexus: &Path, net: Net, discovery: Discovery) -> Result<Self> {
        Self::on_with(plexus, net, discovery, |_| Vec::new())
    }

    /// Like [`Testbed::on`], with `flags(i)` added to host `i`'s daemon.
    pub fn on_with(
        plexus: &Path,
        net: Net,
        discovery: Discovery,
        flags: impl Fn(usize) -> Vec<String>,
    ) -> Result<Self> {
        Self::on_transport(plexus, net, discovery, Transport::Both, flags)
    }

    /// Like [`Testbed::on_with`], every daemon listening on `transport` only.
    pub fn on_transport(
        plexus: &Path,
        net: Net,
        discovery: Discovery,
        transport: Transport,
        flags: impl Fn(usize) -> Vec<String>,
    ) -> Result<Self> {
        let n = net.links.len();
        let dir = tempfile::Builder::new()
            .prefix("plexus-testbed")
            .tempdir()?;
        let mut hosts: Vec<Host> = Vec::with_capacity(n);
        for (i, link) in net.links.iter().enumerate() {
            let mut extra: Vec<String> = Vec::new();
            match discovery {
                Discovery::BootstrapFromFirst => {
                    extra.push("--no-mdns".into());
                    if let Some(first) = hosts.first() {
                        extra.push("--bootstrap".into());
                        extra.push(first.dial_addr());
                    }
                }
                Discovery::MdnsOnly => {}
            }
            extra.extend(flags(i));
            let data_dir = dir.path().join(format!("host{i}"));
            hosts.push(Host::start_on(
                plexus,
                &link.ns,
                link.ip,
                host::PORT,
                transport,
                data_dir,
                &extra,
            )?);
        }
        Ok(Self { hosts, net, dir })
    }

    /// Waits until every host has at least `peers` peers in its DHT routing
    /// table, for at most `limit`.
    pub fn wait_for_routing(&self, peers: u64, limit: Duration) -> Result<Duration> {
        let started = Instant::now();
        loop {
            let mut ok = true;
            for host in &self.hosts {
                let status = host.json(&["status"])?;
                if status["routing_table_peers"].as_u64().unwrap_or(0) < peers {
                    ok = false;
                    break;
                }
            }
            if ok {
                return Ok(started.elapsed());
            }
            if started.elapsed() > limit {
                bail!("routing tables did not reach {peers} peers in {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Writes `size` deterministic pseudo-random bytes to a scratch file.
    pub fn make_file(&self, name: &str, size: u64, seed: u64) -> Result<PathBuf> {
        let path = self.dir.path().join(name);
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut block = vec![0u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            for word in block.chunks_exact_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                word.copy_from_slice(&x.to_le_bytes());
            }
            let n = left.min(block.len() as u64) as usize;
            file.write_all(&block[..n])?;
            left -= n as u64;
        }
        file.flush()?;
        Ok(path)
    }
}

/// The `plexus` binary: `$PLEXUS_BIN`, or the one built next to this program.
pub fn plexus_bin() -> Result<PathBuf> {
    if let Ok(path) = std::env::var("PLEXUS_BIN") {
        return Ok(path.into());
    }
    let exe = std::env::current_exe()?;
    for dir in exe.ancestors().skip(1).take(2) {
        let candidate = dir.join("plexus");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("no plexus binary next to {} (build it: cargo build --release -p plexus-cli, or set PLEXUS_BIN)", exe.display())
}
