//! The optional `config.toml` in the data directory: [`FileConfig`], every
//! field optional, applied over a [`NodeConfig`] before command-line flags.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use libp2p::Multiaddr;
use serde::Deserialize;

use super::{NodeConfig, CONFIG_FILE};
use crate::Error;

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
    /// The transport kept to a peer reachable over both: `"tcp"`
    /// (default), `"quic"`, or `"any"` for whichever connects first.
    pub prefer_transport: Option<String>,
    /// The `[compute]` table: compute for others.
    pub compute: Option<crate::compute::ComputeFile>,
}

/// Reads a `prefer_transport` value: a transport, or `"any"` (none).
pub(crate) fn parse_preference(s: &str) -> Result<Option<crate::Transport>, String> {
    match s.to_ascii_lowercase().as_str() {
        "any" => Ok(None),
        other => other.parse().map(Some),
    }
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
        if let Some(p) = &file.prefer_transport {
            parse_preference(p).map_err(|e| format!("prefer_transport: {e}"))?;
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
        if let Some(Ok(prefer)) = self.prefer_transport.as_deref().map(parse_preference) {
            config.prefer_transport = prefer;
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
    fn the_preferred_transport_is_read_and_checked() {
        let mut config = NodeConfig::new("x");
        assert_eq!(config.prefer_transport, Some(crate::Transport::Tcp));
        FileConfig::parse("prefer_transport = \"quic\"\n")
            .unwrap()
            .apply(&mut config);
        assert_eq!(config.prefer_transport, Some(crate::Transport::Quic));
        FileConfig::parse("prefer_transport = \"any\"\n")
            .unwrap()
            .apply(&mut config);
        assert_eq!(config.prefer_transport, None);
        let err = FileConfig::parse("prefer_transport = \"udp\"\n").unwrap_err();
        assert!(
            err.contains("prefer_transport") && err.contains("\"any\""),
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
