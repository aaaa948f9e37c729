//! `plexus daemon`'s flags: listening, peers, limits, the local API and
//! what the node offers others (storage, compute).

use std::path::PathBuf;

use clap::Args;
use plexus::Multiaddr;

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Address to listen on (repeatable). Default: TCP and QUIC on port 4001
    /// of every interface. Port 0 picks a free port.
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<Multiaddr>,

    /// Peer to join the network through, ending in /p2p/PEERID (repeatable).
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<Multiaddr>,

    /// Where the local HTTP API listens; port 0 picks a free port.
    #[arg(long, value_name = "HOST:PORT")]
    pub api: Option<std::net::SocketAddr>,

    /// Also serve `GET /metrics` (Prometheus text format: libp2p's metrics
    /// and Plexus's counters) on this address, without the API token: it is
    /// read-only, so Prometheus can scrape it with no secret, and nothing
    /// else is served there. Off by default; keep it on 127.0.0.1 or a
    /// private network (it shows traffic figures and peer counts).
    /// Port 0 picks a free port (printed at start).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics: Option<std::net::SocketAddr>,

    /// Do not look for peers on the local network with mDNS.
    #[arg(long)]
    pub no_mdns: bool,

    /// Never relay for peers behind NATs (by default a node that others can
    /// dial offers relay service, within limits).
    #[arg(long)]
    pub no_relay_service: bool,

    /// Relay service: most bytes one relayed circuit may carry in each
    /// direction (default 131072: enough for hole punching and small
    /// messages; raise it to let getters run `get --allow-relay` through
    /// this relay).
    #[arg(long, value_name = "BYTES")]
    pub relay_circuit_bytes: Option<u64>,

    /// Relay service: longest a relayed circuit may stay open (default 120).
    #[arg(long, value_name = "SECS")]
    pub relay_circuit_secs: Option<u64>,

    /// Relay service: circuits and reservations one peer, and one IP
    /// address, may open per minute (default: libp2p's, 30 per peer per 2
    /// minutes and 60 per address per minute).
    #[arg(long, value_name = "N")]
    pub relay_rate: Option<std::num::NonZeroU32>,

    /// An address others can dial this node at (repeatable): the node is
    /// public from the start (a network's first node, a relay).
    #[arg(long = "external-address", value_name = "MULTIADDR")]
    pub external_address: Vec<plexus::Multiaddr>,

    /// Close connections unused for this many seconds.
    #[arg(long, value_name = "SECS")]
    pub idle_timeout: Option<u64>,

    /// Test this node's reachability again every this many seconds (AutoNAT;
    /// default 300, at least 20: one round of tests takes up to about 15 s):
    /// how soon a node that became dialable, or stopped being dialable,
    /// notices.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(20..))]
    pub reachability_recheck: Option<u64>,

    /// Directory server to register with, publish to and search, ending in
    /// /p2p/PEERID (repeatable).
    #[arg(long, value_name = "MULTIADDR")]
    pub directory: Vec<Multiaddr>,

    /// Index neighbours' records and answer searches for them (super-peer).
    #[arg(long)]
    pub super_peer: bool,

    /// Join a private network: only nodes with this swarm key can connect.
    /// TCP only (QUIC listen addresses are dropped). Make one with
    /// `plexus swarm-key new FILE`.
    #[arg(long, value_name = "FILE")]
    pub swarm_key: Option<PathBuf>,

    /// Disk to offer for other peers' stored objects, e.g. 20GiB or 500MB
    /// (default: none). Shards over the free room are refused.
    #[arg(long, value_name = "SIZE", value_parser = plexus::config::parse_size)]
    pub offer_storage: Option<u64>,

    /// Stored objects: how often a holder asks the other holders of each
    /// object it holds a shard of whether they still hold theirs, audits
    /// one random 16 KiB piece of each, and checks its own copy (default
    /// 60). A failed repair is tried again after this long, doubling.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub storage_probe_secs: Option<u64>,

    /// Stored objects: how long a holder may be unreachable before the
    /// other holders rebuild its shard and place it elsewhere (default 900,
    /// 15 minutes: a restart or a short outage does not move data). A
    /// holder that answers without its shard, or fails an audit, is
    /// replaced at once.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub storage_repair_after_secs: Option<u64>,

    /// Cap on blob uploads to all peers together, e.g. 20Mbit or 2.5MB/s
    /// (default: none). Change it later with `plexus limits`.
    #[arg(long, value_name = "RATE", value_parser = plexus::bandwidth::parse_rate)]
    pub max_upload: Option<u64>,

    /// Cap on blob downloads from all peers together, e.g. 50Mbit
    /// (default: none).
    #[arg(long, value_name = "RATE", value_parser = plexus::bandwidth::parse_rate)]
    pub max_download: Option<u64>,

    /// Compute for others (`--compute` and its limits).
    #[command(flatten)]
    pub compute: crate::job::ComputeArgs,
}
