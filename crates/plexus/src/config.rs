//! Node settings: [`NodeConfig`] for the library, [`FileConfig`] for the
//! optional `config.toml` in the data directory.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use libp2p::Multiaddr;
use serde::Deserialize;

use crate::Error;

/// Name of the optional config file inside the data directory.
pub const CONFIG_FILE: &str = "config.toml";

/// Default TCP listen address.
pub const DEFAULT_TCP_LISTEN: &str = "/ip4/0.0.0.0/tcp/4001";
/// Default QUIC listen address.
pub const DEFAULT_QUIC_LISTEN: &str = "/ip4/0.0.0.0/udp/4001/quic-v1";

/// Everything a [`crate::Node`] needs to start ([`crate::Node::start`]):
/// [`NodeConfig::new`] for a node on the network, [`NodeConfig::loopback`]
/// for one on 127.0.0.1 (tests, examples).
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where the identity (and later the store) live.
    pub data_dir: PathBuf,
    /// Addresses to listen on; port 0 picks a free port.
    pub listen: Vec<Multiaddr>,
    /// Peers to join the network through (`.../p2p/PEERID`).
    pub bootstrap: Vec<Multiaddr>,
    /// Find peers on the local network by multicast DNS.
    pub mdns: bool,
    /// Close connections nothing has used for this long.
    pub idle_timeout: Duration,
    /// Most established connections in total.
    pub max_connections: u32,
    /// Most established connections to one peer.
    pub max_connections_per_peer: u32,
    /// Most established inbound connections (default 448). Never more than
    /// `max_connections` less the room kept for dialling out (a quarter of
    /// it, at most 64; see [`NodeConfig::inbound_cap`]), so a flood of
    /// inbound connections cannot stop the node from dialling providers.
    pub max_inbound: u32,
    /// Most inbound connections, pending or established, from one IP address
    /// (one /64 for IPv6); default 8 ([`NodeConfig::loopback`]: no limit
    /// below `max_connections`, as all its peers share 127.0.0.1). Outbound
    /// connections are not counted.
    pub max_inbound_per_ip: u32,
    /// Refuse new connections once the process uses this share of system memory.
    pub max_memory_fraction: f64,
    /// How often the DHT routing table is refreshed (a Kademlia bootstrap).
    pub dht_refresh: Duration,
    /// Directory servers to register with, publish to and search
    /// (`.../p2p/PEERID`).
    pub directories: Vec<Multiaddr>,
    /// Run as a directory server: accept rendezvous registrations and
    /// index published records.
    pub directory_server: bool,
    /// How long directory registrations and records live unless renewed;
    /// clients renew at half of it.
    pub directory_ttl: Duration,
    /// Index neighbours' records and answer for them (a super-peer), so
    /// queries need fewer messages.
    pub super_peer: bool,
    /// Limits of the flooding search.
    pub flood: crate::search::FloodConfig,
    /// Pub/sub messages a second accepted (and relayed) from one author.
    pub pubsub_rate: u32,
    /// Pub/sub messages accepted from one author in a burst.
    pub pubsub_burst: u32,
    /// Pub/sub messages a second accepted from one delivering peer, whoever
    /// their authors (a fresh key per message does not get around it).
    /// Default 4 x `pubsub_rate`: a relay passes on several authors at once.
    /// Never below `pubsub_rate`. Messages over it are rejected and lower
    /// the peer's gossipsub score.
    pub pubsub_peer_rate: u32,
    /// Pub/sub messages accepted from one delivering peer in a burst
    /// (default 4 x `pubsub_burst`; never below it).
    pub pubsub_peer_burst: u32,
    /// A swarm key file (IPFS `swarm.key` format): only nodes with the same
    /// key can connect (a private network). TCP only: QUIC listen
    /// addresses are dropped, since pnet cannot protect QUIC. See
    /// [`crate::swarm_key`].
    pub swarm_key: Option<PathBuf>,
    /// NAT traversal: relay service limits, reservations kept while private.
    pub nat: crate::nat::NatConfig,
    /// Bytes of disk offered to store other peers' shards (0: none).
    pub offer_storage: u64,
    /// How often a holder asks the other holders of its objects whether
    /// they still hold their shards.
    pub storage_probe_every: Duration,
    /// How long a holder may be unreachable before its shard is rebuilt
    /// and placed elsewhere.
    pub storage_repair_after: Duration,
    /// Run on libp2p's in-process memory transport (`/memory/PORT`
    /// addresses) instead of TCP and QUIC: **only for tests and
    /// simulations** of many nodes in one process ([`NodeConfig::memory`]).
    /// Such a node binds no socket, runs no mDNS and no NAT traversal
    /// (relay, hole punching, AutoNAT), and reaches only nodes of the same
    /// process. Not available with a swarm key.
    pub memory_transport: bool,
    /// Caps on blob traffic, across all peers (default: none).
    pub rate_limits: crate::RateLimits,
    /// Compute for others (off by default) and its limits.
    pub compute: crate::compute::ComputeConfig,
}

impl NodeConfig {
    /// Defaults for a node whose data lives in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen: vec![
                DEFAULT_TCP_LISTEN.parse().expect("valid"),
                DEFAULT_QUIC_LISTEN.parse().expect("valid"),
            ],
            bootstrap: Vec::new(),
            mdns: true,
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
            max_connections_per_peer: 4,
            max_inbound: 512 - 64,
            max_inbound_per_ip: 8,
            max_memory_fraction: 0.9,
            dht_refresh: Duration::from_secs(5 * 60),
            directories: Vec::new(),
            directory_server: false,
            directory_ttl: Duration::from_secs(10 * 60),
            super_peer: false,
            flood: Default::default(),
            pubsub_rate: 50,
            pubsub_burst: 100,
            pubsub_peer_rate: 200,
            pubsub_peer_burst: 400,
            swarm_key: None,
            nat: crate::nat::NatConfig::default(),
            offer_storage: 0,
            storage_probe_every: Duration::from_secs(60),
            storage_repair_after: Duration::from_secs(15 * 60),
            memory_transport: false,
            rate_limits: crate::RateLimits::default(),
            compute: crate::compute::ComputeConfig::default(),
        }
    }

    /// The established inbound connections allowed: `max_inbound`, but
    /// never more than `max_connections` less a quarter of it (at most 64),
    /// which stays free for outbound connections.
    pub fn inbound_cap(&self) -> u32 {
        let reserved = (self.max_connections / 4).clamp(1, 64);
        self.max_inbound
            .min(self.max_connections.saturating_sub(reserved))
    }

    /// A node on 127.0.0.1 with OS-chosen ports, no mDNS and no per-IP
    /// inbound limit: handy for tests and in-process demos.
    pub fn loopback(data_dir: impl Into<PathBuf>) -> Self {
        let mut config = Self::new(data_dir);
        config.listen = vec![
            "/ip4/127.0.0.1/tcp/0".parse().expect("valid"),
            "/ip4/127.0.0.1/udp/0/quic-v1".parse().expect("valid"),
        ];
        config.mdns = false;
        // Every peer of such a node is on 127.0.0.1 too.
        config.max_inbound_per_ip = config.max_connections;
        config
    }
}

impl NodeConfig {
    /// A node on libp2p's in-process memory transport (`/memory/0`: a free
    /// port is picked), for tests and simulations only: no socket, no
    /// mDNS, no NAT traversal, no per-IP inbound limit (see
    /// [`NodeConfig::memory_transport`]).
    pub fn memory(data_dir: impl Into<PathBuf>) -> Self {
        let mut config = Self::new(data_dir);
        config.listen = vec!["/memory/0".parse().expect("valid")];
        config.mdns = false;
        config.memory_transport = true;
        config.max_inbound_per_ip = config.max_connections;
        config
    }
}

/// The platform data directory for Plexus (e.g. `~/.local/share/plexus`).
pub fn default_data_dir() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("plexus")
}

/// Settings read from `config.toml`; every field is optional and command-line
/// flags override it.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Listen multiaddrs.
    pub listen: Option<Vec<Multiaddr>>,
    /// Bootstrap multiaddrs ending in `/p2p/PEERID`.
    pub bootstrap: Option<Vec<Multiaddr>>,
    /// Local API address of the daemon, `HOST:PORT`.
    pub api: Option<String>,
    /// Where the daemon serves `GET /metrics` (Prometheus), `HOST:PORT`;
    /// none: no metrics listener.
    pub metrics: Option<String>,
    /// Whether mDNS discovery is on.
    pub mdns: Option<bool>,
    /// Idle connection timeout in seconds.
    pub idle_timeout_secs: Option<u64>,
    /// Most established connections in total.
    pub max_connections: Option<u32>,
    /// Most established connections to one peer.
    pub max_connections_per_peer: Option<u32>,
    /// Most established inbound connections.
    pub max_inbound: Option<u32>,
    /// Most inbound connections from one IP address.
    pub max_inbound_per_ip: Option<u32>,
    /// Directory servers (multiaddrs ending in `/p2p/PEERID`).
    pub directories: Option<Vec<Multiaddr>>,
    /// Whether this node is a super-peer.
    pub super_peer: Option<bool>,
    /// Pub/sub messages a second accepted from one author.
    pub pubsub_rate: Option<u32>,
    /// Pub/sub messages accepted from one author in a burst.
    pub pubsub_burst: Option<u32>,
    /// Pub/sub messages a second accepted from one delivering peer.
    pub pubsub_peer_rate: Option<u32>,
    /// Pub/sub messages accepted from one delivering peer in a burst.
    pub pubsub_peer_burst: Option<u32>,
    /// Swarm key file of a private network; a relative path is taken from
    /// the data directory.
    pub swarm_key: Option<PathBuf>,
    /// Disk offered to store for others, e.g. `"20GiB"`.
    pub offer_storage: Option<String>,
    /// Seconds between a holder's probes (and audits) of the other holders.
    pub storage_probe_secs: Option<u64>,
    /// Seconds a holder may be unreachable before its shard is repaired.
    pub storage_repair_after_secs: Option<u64>,
    /// Cap on blob uploads, e.g. `"20Mbit"` or `"2.5MB/s"`.
    pub max_upload: Option<String>,
    /// Cap on blob downloads, e.g. `"50Mbit"`.
    pub max_download: Option<String>,
    /// The `[compute]` table: compute for others.
    pub compute: Option<crate::compute::ComputeFile>,
}

impl FileConfig {
    /// Reads `data_dir/config.toml`; a missing file gives the defaults.
    pub fn load(data_dir: &Path) -> Result<Self, Error> {
        let path = data_dir.join(CONFIG_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let mut file =
                    Self::parse(&text).map_err(|reason| Error::Config { path, reason })?;
                file.swarm_key = file.swarm_key.map(|key| data_dir.join(key));
                Ok(file)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Error::Config {
                path,
                reason: e.to_string(),
            }),
        }
    }

    /// Parses the text of a `config.toml`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let file: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        if let Some(compute) = &file.compute {
            compute.check()?;
        }
        if let Some(size) = &file.offer_storage {
            parse_size(size).map_err(|e| format!("offer_storage: {e}"))?;
        }
        for (key, rate) in [
            ("max_upload", &file.max_upload),
            ("max_download", &file.max_download),
        ] {
            if let Some(rate) = rate {
                crate::bandwidth::parse_rate(rate).map_err(|e| format!("{key}: {e}"))?;
            }
        }
        Ok(file)
    }

    /// Applies the file's settings on top of `config`.
    pub fn apply(&self, config: &mut NodeConfig) {
        if let Some(listen) = &self.listen {
            config.listen = listen.clone();
        }
        if let Some(bootstrap) = &self.bootstrap {
            config.bootstrap = bootstrap.clone();
        }
        if let Some(mdns) = self.mdns {
            config.mdns = mdns;
        }
        if let Some(secs) = self.idle_timeout_secs {
            config.idle_timeout = Duration::from_secs(secs);
        }
        if let Some(n) = self.max_connections {
            config.max_connections = n;
        }
        if let Some(n) = self.max_connections_per_peer {
            config.max_connections_per_peer = n;
        }
        if let Some(n) = self.max_inbound {
            config.max_inbound = n;
        }
        if let Some(n) = self.max_inbound_per_ip {
            config.max_inbound_per_ip = n;
        }
        if let Some(d) = &self.directories {
            config.directories = d.clone();
        }
        if let Some(s) = self.super_peer {
            config.super_peer = s;
        }
        if let Some(n) = self.pubsub_rate {
            config.pubsub_rate = n;
        }
        if let Some(n) = self.pubsub_burst {
            config.pubsub_burst = n;
        }
        if let Some(n) = self.pubsub_peer_rate {
            config.pubsub_peer_rate = n;
        }
        if let Some(n) = self.pubsub_peer_burst {
            config.pubsub_peer_burst = n;
        }
        if let Some(key) = &self.swarm_key {
            config.swarm_key = Some(key.clone());
        }
        // Checked by `parse`.
        if let Some(Ok(bytes)) = self.offer_storage.as_deref().map(parse_size) {
            config.offer_storage = bytes;
        }
        if let Some(compute) = &self.compute {
            compute.apply(&mut config.compute);
        }
        if let Some(secs) = self.storage_probe_secs {
            config.storage_probe_every = Duration::from_secs(secs.max(1));
        }
        if let Some(secs) = self.storage_repair_after_secs {
            config.storage_repair_after = Duration::from_secs(secs.max(1));
        }
        // Checked by `parse`; 0 ("off") means no cap.
        let rate = |r: &Option<String>| {
            r.as_deref()
                .and_then(|r| crate::bandwidth::parse_rate(r).ok())
        };
        if let Some(up) = rate(&self.max_upload) {
            config.rate_limits.max_upload = (up > 0).then_some(up);
        }
        if let Some(down) = rate(&self.max_download) {
            config.rate_limits.max_download = (down > 0).then_some(down);
        }
    }
}

/// Parses a size such as `20GiB`, `500MB`, `1.5TiB` or `4096` (bytes):
/// KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB powers of 1024.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1000,
        "kib" => 1 << 10,
        "mb" | "m" => 1000 * 1000,
        "mib" => 1 << 20,
        "gb" | "g" => 1000 * 1000 * 1000,
        "gib" => 1 << 30,
        "tb" | "t" => 1000 * 1000 * 1000 * 1000,
        "tib" => 1 << 40,
        _ => return Err(format!("{text:?} is not a size (e.g. 20GiB, 500MB, 4096)")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 20GiB, 500MB, 4096)"))?;
    let bytes = value * scale as f64;
    if !(0.0..1.8e19).contains(&bytes) {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_config_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "listen = [\"/ip4/127.0.0.1/tcp/0\"]\nmdns = false\nidle_timeout_secs = 5\npubsub_rate = 7\npubsub_peer_burst = 30\nswarm_key = \"swarm.key\"\n",
        )
        .unwrap();
        let file = FileConfig::load(dir.path()).unwrap();
        let mut config = NodeConfig::new(dir.path());
        file.apply(&mut config);
        assert_eq!(config.listen.len(), 1);
        assert!(!config.mdns);
        assert_eq!(config.idle_timeout, Duration::from_secs(5));
        assert_eq!((config.pubsub_rate, config.pubsub_burst), (7, 100));
        assert_eq!(
            (config.pubsub_peer_rate, config.pubsub_peer_burst),
            (200, 30)
        );
        assert_eq!(config.swarm_key, Some(dir.path().join("swarm.key")));
    }

    #[test]
    fn inbound_leaves_room_for_outbound() {
        let mut config = NodeConfig::new("x");
        assert_eq!(config.inbound_cap(), 448);
        config.max_connections = 100;
        assert_eq!(config.inbound_cap(), 75);
        config.max_inbound = 20;
        assert_eq!(config.inbound_cap(), 20);
        config.max_connections = 4000;
        config.max_inbound = 10_000;
        assert_eq!(config.inbound_cap(), 4000 - 64);
        config.max_connections = 1;
        assert_eq!(config.inbound_cap(), 0);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "max_inbound = 30\nmax_inbound_per_ip = 2\n",
        )
        .unwrap();
        FileConfig::load(dir.path()).unwrap().apply(&mut config);
        assert_eq!((config.max_inbound, config.max_inbound_per_ip), (30, 2));
    }

    #[test]
    fn sizes_parse_in_both_unit_systems() {
        assert_eq!(parse_size("20GiB"), Ok(20 << 30));
        assert_eq!(parse_size("500 MB"), Ok(500_000_000));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("4096"), Ok(4096));
        for bad in ["", "GiB", "12 parsecs", "-1GB", "1e30"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        let file = FileConfig::parse(
            "offer_storage = \"2MiB\"\nstorage_probe_secs = 5\nstorage_repair_after_secs = 30\n",
        )
        .unwrap();
        let mut config = NodeConfig::new("x");
        file.apply(&mut config);
        assert_eq!(config.offer_storage, 2 << 20);
        assert_eq!(config.storage_probe_every, Duration::from_secs(5));
        assert_eq!(config.storage_repair_after, Duration::from_secs(30));
        let file =
            FileConfig::parse("max_upload = \"20Mbit\"\nmax_download = \"2.5MB/s\"\n").unwrap();
        file.apply(&mut config);
        assert_eq!(config.rate_limits.max_upload, Some(2_500_000));
        assert_eq!(config.rate_limits.max_download, Some(2_500_000));
        let err = FileConfig::parse("max_upload = \"fast\"\n").unwrap_err();
        assert!(
            err.contains("max_upload") && err.contains("20Mbit"),
            "{err}"
        );
        let err = FileConfig::parse("offer_storage = \"lots\"\n").unwrap_err();
        assert!(
            err.contains("offer_storage") && err.contains("20GiB"),
            "{err}"
        );
    }

    #[test]
    fn bad_config_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "listen = 3\n").unwrap();
        let err = FileConfig::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("config.toml"), "{err}");
    }
}
