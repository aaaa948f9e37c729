//! The one error type of the library.

use std::path::PathBuf;

use libp2p::{Multiaddr, PeerId};

use crate::hash::Hash;

/// Everything that can go wrong in a Plexus node, each with a message that
/// says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The data directory could not be created or read.
    #[error("cannot use data dir {path}: {source}")]
    DataDir {
        /// The data directory.
        path: PathBuf,
        /// Why it could not be used.
        source: std::io::Error,
    },
    /// Another daemon already holds this data directory.
    #[error("data dir {0} is in use by another running node (stop it first, or pick another --data-dir)")]
    DataDirLocked(PathBuf),
    /// The identity key file exists but cannot be used.
    #[error("identity key {path} is unreadable or corrupt: {reason} (restore it from a backup, or move it away to create a new identity)")]
    Identity {
        /// The key file.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// `config.toml` is malformed.
    #[error("config file {path}: {reason}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong in it.
        reason: String,
    },
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address that could not be bound.
        addr: Multiaddr,
        /// Why binding failed.
        reason: String,
    },
    /// The swarm key file (private network) is missing or malformed.
    #[error("swarm key {path}: {reason}; a swarm key file is {fmt}", fmt = crate::swarm_key::FORMAT)]
    SwarmKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A bootstrap address lacks the `/p2p/PEERID` suffix.
    #[error("bootstrap address {0} must end with /p2p/PEERID")]
    BootstrapWithoutPeerId(Multiaddr),
    /// Dialing a peer failed.
    #[error("cannot connect to {addr}: {reason}")]
    Dial {
        /// The address dialed.
        addr: Multiaddr,
        /// Why the dial failed.
        reason: String,
    },
    /// A DHT lookup did not find the peer.
    #[error("peer {0} was not found in the DHT (is it online and connected to this network?)")]
    PeerNotFound(PeerId),
    /// The node's event loop has stopped.
    #[error("the node has stopped")]
    Stopped,
    /// A swarm could not be built (transport or behaviour setup failed).
    #[error("cannot start the network stack: {0}")]
    Setup(String),
    /// Reading or writing a user's file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file read or written.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The content store failed (disk full, corrupt database...).
    #[error("store: {0}")]
    Store(String),
    /// The store does not have this blob.
    #[error("content {0} is not in the local store")]
    NotFound(Hash),
    /// The store has only part of this blob, not the range asked for.
    #[error("content {0} is only partly present")]
    RangeMissing(Hash),
    /// A request to a peer failed (timeout, closed connection, refused).
    #[error("request to {peer} failed: {reason}")]
    Request {
        /// The peer asked.
        peer: PeerId,
        /// Why the request failed.
        reason: String,
    },
    /// The connection a request ran over closed under it. Often the peer
    /// is still reachable (it had more than one connection, or one racing
    /// dial lost to another): asking again may work.
    #[error("request to {peer} failed: the connection closed under it ({reason})")]
    ConnectionLost {
        /// The peer asked.
        peer: PeerId,
        /// What the connection reported.
        reason: String,
    },
    /// A relay ended the relayed connection a transfer ran over (it
    /// carries only so many bytes and seconds per circuit), and no other
    /// provider was left ([`Error::relay_limit`] words it).
    #[error("{0}")]
    RelayLimit(String),
    /// Input that cannot be used (bad name, tags, search words...).
    #[error("{0}")]
    BadInput(String),
    /// A limit was reached; the message says what to wait for.
    #[error("{0}")]
    Busy(String),
    /// A pub/sub topic name is not allowed.
    #[error("topic name {0:?} must be 1 to 64 letters, digits, '.', '_' or '-'")]
    BadTopic(String),
    /// A pub/sub message is larger than the network accepts.
    #[error("message of {size} bytes is over the limit of {max} bytes (split it, or share it as a file)")]
    MessageTooLarge {
        /// Size of the message in bytes.
        size: usize,
        /// Largest size accepted in bytes.
        max: usize,
    },
    /// No peer subscribed to the topic is known, so a message would reach nobody.
    #[error("no peer subscribed to topic {0:?} is connected (connect to one, or wait until peers subscribe)")]
    NoTopicPeers(String),
    /// Publishing failed for another reason.
    #[error("cannot publish on topic {topic:?}: {reason}")]
    Publish {
        /// The topic published on.
        topic: String,
        /// Why publishing failed.
        reason: String,
    },
    /// Downloaded data could not be written to the store (disk full, I/O
    /// error). No provider is blamed; the verified ranges stay stored.
    #[error("cannot store {hash}: {reason}; the verified part is kept: free some space, then run the same command again to resume")]
    StoreWrite {
        /// The blob being downloaded.
        hash: Hash,
        /// Why the write failed.
        reason: String,
    },
    /// A stored object could not be placed: too few peers with room.
    #[error("cannot place {needed} shards of {bytes} bytes: found {found} peers with room for one (wait for more storers, ask fewer holders with --erasure K/N or --replicas N, or store a smaller file)")]
    Unplaceable {
        /// Peers found that had room and took a shard.
        found: usize,
        /// Holders needed (N).
        needed: usize,
        /// Room needed on each holder.
        bytes: u64,
    },
    /// Encrypted content could not be opened: wrong key, altered or cut
    /// content, unknown format.
    #[error(transparent)]
    Seal(#[from] crate::seal::Error),
    /// Encrypted content was asked for without its key.
    #[error("content {0} is encrypted, and only its ticket carries the key that opens it: fetch it with `plexus get TICKET` (this node keeps only the encrypted bytes, and serves them to others)")]
    Encrypted(Hash),
    /// A download could not complete.
    #[error("download of {hash} failed: {reason}")]
    Download {
        /// The blob being downloaded.
        hash: Hash,
        /// Why the download failed.
        reason: String,
    },
}

impl Error {
    /// `relay` (when known) ended the relayed connection to `peer` a
    /// transfer ran over, at its `limit` ("128 KiB and 120 s").
    pub fn relay_limit(peer: PeerId, relay: Option<PeerId>, limit: &str) -> Self {
        let relay = relay.map(|r| format!(" {r}")).unwrap_or_default();
        Error::RelayLimit(format!(
            "the relay{relay} ended the relayed connection to {peer} at its limit ({limit} per circuit) \
             before the transfer was done: a relay limited like this carries hole punching and small \
             messages, not this content. Get it from a peer you can reach directly (a hole punch works \
             unless both sides are behind symmetric NATs), or through a relay whose operator allows \
             more (`plexus daemon --relay-circuit-bytes/--relay-circuit-secs`)"
        ))
    }
}
