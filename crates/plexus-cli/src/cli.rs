//! Command-line syntax: every command, flag and help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use plexus::{Multiaddr, PeerId};

pub use crate::cli_daemon::DaemonArgs;

/// Plexus: a peer-to-peer node. Run `plexus daemon` to start a node, then
/// drive it with the other commands (they talk to the daemon's local API).
#[derive(Debug, Parser)]
#[command(name = "plexus", version, propagate_version = true)]
#[command(
    after_help = "Examples:\n  plexus demo                 nodes on this machine share a file and fetch it from all at once\n  plexus daemon               start a node on the default ports\n  plexus share ./photos       print a ticket; `plexus get TICKET` fetches it elsewhere\n  plexus search holiday       ask neighbours and directories for matching content\n  plexus chat lobby           talk with everyone on a topic\n  plexus status               ask the running daemon how it is doing"
)]
pub struct Cli {
    /// Data directory: identity key, config.toml, API address and token.
    /// Default: the platform data dir, e.g. ~/.local/share/plexus.
    #[arg(long, global = true, env = "PLEXUS_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Print machine-readable JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node in the foreground until Ctrl-C.
    #[command(
        after_help = "Examples:\n  plexus daemon\n  plexus daemon --listen /ip4/0.0.0.0/tcp/0 --api 127.0.0.1:0 --no-mdns\n  plexus daemon --bootstrap /ip4/192.0.2.7/tcp/4001/p2p/12D3KooW...\n  plexus daemon --directory /ip4/192.0.2.7/tcp/4100/p2p/12D3KooW... --super-peer\n  plexus daemon --swarm-key ~/plexus-team.key     a private network (see `plexus swarm-key --help`)\n  plexus daemon --max-upload 20Mbit --max-download 50Mbit     caps on blob traffic\n  plexus daemon --metrics 127.0.0.1:9464     Prometheus scrapes http://127.0.0.1:9464/metrics\n  plexus daemon --compute --compute-threads 2     run compute units for others (see `plexus job --help`)\n\nEvery flag can also be set in DIR/config.toml (listen, bootstrap, api, metrics, mdns,\nidle_timeout_secs, max_connections, max_connections_per_peer, max_inbound,\nmax_inbound_per_ip, directories, super_peer, pubsub_rate, pubsub_burst,\npubsub_peer_rate, pubsub_peer_burst, swarm_key, offer_storage, storage_probe_secs,\nstorage_repair_after_secs, max_upload, max_download, and a [compute] table with\nenabled, threads, memory, time_secs); flags win."
    )]
    Daemon(Box<DaemonArgs>),

    /// Private networks: make a swarm key that only your nodes hold.
    #[command(subcommand)]
    SwarmKey(SwarmKeyCommand),

    /// Show this node's peer id and listen addresses.
    #[command(after_help = "Example:\n  plexus id --json")]
    Id,

    /// Show counts: connected peers, DHT routing table size, uptime.
    #[command(after_help = "Example:\n  plexus status")]
    Status,

    /// Open the running daemon's web dashboard in a browser.
    #[command(
        after_help = "Examples:\n  plexus open\n  plexus open --print     only print the URL (it holds the token once)"
    )]
    Open {
        /// Print the URL instead of starting a browser.
        #[arg(long)]
        print: bool,
    },

    /// Show or change the caps on blob traffic of the running daemon.
    #[command(
        after_help = "The caps apply to blob data sent to (upload) and read from (download) all\npeers together; upload is shared in turn among the peers asking. They take\neffect at once, also for transfers under way, and last until the daemon\nstops (set them for good with `plexus daemon --max-upload` or in config.toml).\nRATE: e.g. 20Mbit, 2.5MB/s, 500KiB/s; off for no cap.\n\nExamples:\n  plexus limits                          show the caps\n  plexus limits --max-upload 10Mbit\n  plexus limits --max-upload off --max-download 50Mbit"
    )]
    Limits {
        /// Cap on blob uploads, e.g. 10Mbit or 1.5MB/s; off for none.
        #[arg(long, value_name = "RATE", value_parser = plexus::bandwidth::parse_rate)]
        max_upload: Option<u64>,
        /// Cap on blob downloads, e.g. 50Mbit; off for none.
        #[arg(long, value_name = "RATE", value_parser = plexus::bandwidth::parse_rate)]
        max_download: Option<u64>,
    },

    /// List connected peers and peers in the DHT routing table.
    #[command(after_help = "Example:\n  plexus peers --json")]
    Peers,

    /// Distributed hash table (Kademlia) queries.
    #[command(subcommand)]
    Dht(DhtCommand),

    /// Connect to a peer by address.
    #[command(after_help = "Example:\n  plexus connect /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...")]
    Connect {
        /// The peer's multiaddr; a /p2p/PEERID suffix makes sure it is the right peer.
        #[arg(value_name = "MULTIADDR")]
        addr: Multiaddr,
    },

    /// Share a file or folder: prints a ticket others can `plexus get`.
    #[command(
        after_help = "With a daemon running for the data dir, the daemon keeps serving it;\notherwise this command serves it until Ctrl-C. The name and tags go into a\nrecord signed by this node that `plexus search` finds.\n\nWith --encrypt, the file or folder (file names too) is encrypted before it\nenters the store: peers store, verify and serve only ciphertext, and the key\nis only in the ticket (anyone with the ticket can read it). Nothing is\npublished for search, so no tags.\n\nExamples:\n  plexus share ./video.mkv\n  plexus share ./photos --name \"Holiday 2024\" --tag beach --tag family --json\n  plexus share --encrypt ./tax-returns"
    )]
    Share {
        /// The file or folder.
        #[arg(value_name = "PATH")]
        path: PathBuf,
        /// Encrypt it (XChaCha20-Poly1305); the key goes only into the ticket.
        #[arg(long, conflicts_with = "tags")]
        encrypt: bool,
        #[command(flatten)]
        meta: MetaArgs,
    },

    /// Name and tag content already in the store, and publish the signed record.
    #[command(
        after_help = "Example:\n  plexus publish 3f2a...c9 --name \"Blue Moon.mp3\" --tag jazz"
    )]
    Publish {
        /// The content hash.
        #[arg(value_name = "HASH")]
        hash: plexus::content::Hash,
        #[command(flatten)]
        meta: MetaArgs,
    },

    /// Search neighbours (flooding) and directories by keywords; results
    /// stream in with a ready ticket.
    #[command(
        after_help = "Every word must match a word of the name or a tag (prefixes match).\nTTL is the number of hops the query travels (0: ask only directories).\n\nExamples:\n  plexus search blue moon\n  plexus search jazz --ttl 5 --timeout 10 --json"
    )]
    Search {
        /// Keywords.
        #[arg(value_name = "WORDS", required = true)]
        words: Vec<String>,
        /// Hops the query may travel, 0 to 7.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(0..=7))]
        ttl: u8,
        /// Seconds to wait for results, 1 to 60.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=60))]
        timeout: u64,
    },

    /// Run a directory server: peers register with it (rendezvous), publish
    /// their records to it and search its index.
    #[command(
        after_help = "Examples:\n  plexus directory --listen /ip4/0.0.0.0/tcp/4100\n  plexus daemon --directory /ip4/192.0.2.7/tcp/4100/p2p/12D3KooW..."
    )]
    Directory {
        /// Address to listen on (repeatable). Default: TCP and QUIC on port 4100.
        #[arg(long, value_name = "MULTIADDR")]
        listen: Vec<Multiaddr>,
        /// Seconds registrations and records live unless renewed.
        #[arg(long, default_value_t = 600, value_name = "SECS")]
        ttl: u64,
    },

    /// Download content by ticket or hash, verified chunk by chunk.
    #[command(
        after_help = "A ticket names a provider; a bare hash is looked up in the DHT. Different\nranges come from different providers at once; an interrupted get resumes.\nThe ticket of encrypted content (share --encrypt) carries its key: the store\nkeeps the ciphertext and the content is decrypted while it is written out.\n\nExamples:\n  plexus get plexus1aeb...\n  plexus get 3f2a...c9 -o ./copy.bin --force\n  plexus get plexus1aeb... --allow-relay"
    )]
    Get {
        /// A ticket (plexus1... or plexusstore1...) or a 64-digit hash.
        #[arg(value_name = "TICKET|HASH")]
        target: String,
        /// Where to write the file or folder (default: its name in this folder).
        #[arg(short, long, value_name = "PATH")]
        out: Option<PathBuf>,
        /// Replace the output path if it exists.
        #[arg(long)]
        force: bool,
        /// When hole punching gives no direct connection to a peer behind a
        /// NAT, fetch through the relay instead of failing (the relay must
        /// allow the bytes; by default relays carry only 128 KiB per circuit).
        #[arg(long)]
        allow_relay: bool,
    },

    /// Store a file in the network so it outlives this node: sealed, split
    /// into N shards of which any K rebuild it, placed on N peers that offer
    /// storage. Prints a ticket for `plexus get`.
    #[command(
        after_help = "The default is --erasure 4/8: 2x the file's size stored, survives 4 lost holders\n(3 replicas cost 3x and survive 2). Peers offer room with\n`plexus daemon --offer-storage 20GiB`. Keep the ticket: it holds the key.\n\nExamples:\n  plexus store ./thesis.pdf\n  plexus store ./backup.tar --erasure 3/10\n  plexus store ./notes.txt --replicas 3 --json"
    )]
    Store {
        /// The file.
        #[arg(value_name = "PATH")]
        path: PathBuf,
        /// Erasure coding: N shards, any K rebuild the file (default 4/8).
        #[arg(long, value_name = "K/N", conflicts_with = "replicas")]
        erasure: Option<String>,
        /// N whole copies instead of erasure coding.
        #[arg(long, value_name = "N")]
        replicas: Option<u8>,
    },

    /// List what this node stores: its own objects with their health
    /// (shards alive / needed) and the shards it holds for others.
    #[command(after_help = "Example:\n  plexus pins --json")]
    Pins,

    /// End an object this node stored: its holders release the shards.
    #[command(
        after_help = "Example:\n  plexus unstore 3f2a...c9   (the OBJECT column of plexus pins)"
    )]
    Unstore {
        /// The object (its manifest hash, as `plexus pins` shows).
        #[arg(value_name = "OBJECT")]
        object: plexus::content::Hash,
    },

    /// List local content: hash, size, complete or % present, name.
    #[command(after_help = "Example:\n  plexus ls --json")]
    Ls,

    /// Remove content from the local store.
    #[command(after_help = "Example:\n  plexus rm 3f2a...c9")]
    Rm {
        /// The content hash.
        #[arg(value_name = "HASH")]
        hash: plexus::content::Hash,
    },

    /// Publish a message on a topic (signed by this node).
    #[command(
        name = "pub",
        after_help = "Through the daemon when one runs for the data dir, otherwise with a node of\nits own (bootstrap peers and mDNS from config.toml).\n\nExamples:\n  plexus pub news \"hello everyone\"\n  plexus pub news hi --wait 30 --json"
    )]
    Pub {
        /// Topic name: 1 to 64 letters, digits, '.', '_' or '-'.
        #[arg(value_name = "TOPIC")]
        topic: String,
        /// The message text (at most 61440 bytes).
        #[arg(value_name = "MESSAGE")]
        message: String,
        /// Seconds to wait for a subscribed peer before giving up.
        #[arg(long, default_value_t = 10, value_name = "SECS")]
        wait: u64,
    },

    /// Print messages on a topic as they arrive, until Ctrl-C.
    #[command(
        after_help = "Each line is [SENDER] TEXT, SENDER being the last 8 characters of the\nauthor's peer id; --json prints one JSON object a line.\n\nExamples:\n  plexus sub news\n  plexus sub news --json --count 1"
    )]
    Sub {
        /// Topic name.
        #[arg(value_name = "TOPIC")]
        topic: String,
        /// Exit after this many messages.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
    },

    /// Chat on a topic: type a line to send it, see others' lines; Ctrl-D leaves.
    #[command(after_help = "Example:\n  plexus chat lobby")]
    Chat {
        /// Topic name.
        #[arg(value_name = "TOPIC")]
        topic: String,
    },

    /// Start nodes on this machine: share a file from several, download it
    /// from all of them at once, verify it and print the figures.
    #[command(after_help = "Example:\n  plexus demo --size-mib 64 --providers 2")]
    Demo {
        /// Size of the generated file in MiB.
        #[arg(long, default_value_t = 256)]
        size_mib: u64,
        /// How many nodes share it (1 to 16).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=16))]
        providers: u16,
    },

    /// Measure verified transfer speed next to plain TCP and BLAKE3 speed,
    /// or (`bench pubsub`) message latency and throughput on many nodes.
    #[command(
        after_help = "Build in release mode first for meaningful figures:\n  cargo run --release --bin plexus -- bench --size-mib 1024 --runs 3\n  cargo run --release --bin plexus -- bench pubsub --nodes 20 --messages 2000"
    )]
    Bench {
        /// What to measure.
        #[arg(value_enum, default_value_t = BenchKind::Transfer)]
        kind: BenchKind,
        /// pubsub: nodes on loopback, linked in a ring with chords.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(3..=64))]
        nodes: u16,
        /// pubsub: messages in the throughput run.
        #[arg(long, default_value_t = 2000)]
        messages: usize,
        /// Size of the test file in MiB.
        #[arg(long, default_value_t = 1024)]
        size_mib: u64,
        /// Runs per measurement; the median is printed.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Small files (4 KiB each) fetched as a folder and compared with
        /// the same bytes as one file; 0 skips it.
        #[arg(long, default_value_t = 10_000)]
        files: usize,
        /// Only the whole `get` between two daemons, with their peak memory
        /// (for large sizes: the other figures hold the file in memory).
        #[arg(long)]
        only_get: bool,
    },

    /// Compute jobs: run a WebAssembly job on peers that compute for
    /// others, list running jobs, or try it on nodes on this machine.
    #[command(subcommand)]
    Job(crate::job::JobCommand),

    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(crate::completions::CompletionsArgs),

    /// Print the man page (roff), or write one per command with --dir.
    Man(crate::completions::ManArgs),
}

/// What `plexus bench` measures.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BenchKind {
    /// Verified blob transfer.
    Transfer,
    /// Pub/sub delivery latency and messages a second.
    Pubsub,
}

#[derive(Debug, Subcommand)]
pub enum DhtCommand {
    /// Find a peer's addresses through the DHT, even when not connected to it.
    #[command(after_help = "Example:\n  plexus dht find-peer 12D3KooWB5...")]
    FindPeer {
        /// The peer id to look up.
        #[arg(value_name = "PEERID")]
        peer: PeerId,
    },
}

#[derive(Debug, Subcommand)]
pub enum SwarmKeyCommand {
    /// Write a fresh random swarm key (IPFS swarm.key format, mode 0600).
    #[command(
        after_help = "Nodes started with the same key form a private network: every TCP connection\nis encrypted with it (libp2p pnet) before anything else is said, so a node\nwithout the key cannot connect, find or fetch anything. Copy the file to\nyour other machines over a secure channel (scp, a password manager); whoever\nholds it is in. Private networks run over TCP only: pnet cannot protect\nQUIC, so QUIC listen addresses are dropped with a warning.\n\nThe file is three lines: /key/swarm/psk/1.0.0/, /base16/, 64 hex digits\n(the format of IPFS and go-libp2p, so their keys work too).\n\nExamples:\n  plexus swarm-key new ~/plexus-team.key\n  plexus daemon --swarm-key ~/plexus-team.key\n  echo 'swarm_key = \"/home/me/plexus-team.key\"' >> DIR/config.toml   also for share, get, pub..."
    )]
    New {
        /// Where to write it; never replaces an existing file.
        /// Default: DIR/swarm.key in the data directory.
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

/// Name and tags of shared content.
#[derive(Debug, Args)]
pub struct MetaArgs {
    /// Display name (default: the file or folder name).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// A keyword (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
}

impl Cli {
    /// The data directory to use: the flag, `PLEXUS_DATA_DIR`, or the default.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(plexus::config::default_data_dir)
    }
}
