//! The storage protocol, `/plexus/storage/1`: asking for room, handing a
//! shard over, telling holders about each other, asking what a peer
//! holds, releasing. Request-response with JSON frames of at most
//! [`MAX_FRAME`] bytes (libp2p's JSON codec with its limits lowered), so a
//! peer can make this node buffer no more than that per stream. Shard bytes
//! never travel here: the storer fetches them through the blob protocol,
//! verified against their hash, and audits ask for ranges the same way.

use libp2p::{Multiaddr, PeerId, StreamProtocol};
use serde::{Deserialize, Serialize};

use crate::content::Hash;

/// Protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/plexus/storage/1");

/// Largest request or response frame in bytes.
pub const MAX_FRAME: u64 = 64 * 1024;

/// One holder of one shard of an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolderInfo {
    /// The shard's index in the manifest.
    pub index: u8,
    /// The holder.
    pub peer: PeerId,
    /// Where it listens (at most a few addresses).
    pub addrs: Vec<Multiaddr>,
    /// How many times shard `index` has been moved by a repair: an entry
    /// with a higher generation replaces one with a lower
    /// (`storage/holders.rs`), so holders told lists in any order agree.
    #[serde(default)]
    pub generation: u32,
}

/// What a peer asks a storer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// How much room do you offer, and where do you listen?
    Offer,
    /// Hold shard `index` of `object` (the manifest's hash): fetch the
    /// manifest and the shard (`size` bytes, hash `shard`) from me.
    Put {
        /// The manifest's hash.
        object: Hash,
        /// Index of the shard in the manifest.
        index: u8,
        /// The shard's hash.
        shard: Hash,
        /// The shard's size in bytes.
        size: u64,
        /// The object's owner, when a holder places a repaired shard (the
        /// only peer that may release it); `None`: the sender.
        owner: Option<PeerId>,
    },
    /// The holders of `object` now (sent after placement and repair).
    Holders {
        /// The manifest's hash.
        object: Hash,
        /// One entry per shard placed.
        holders: Vec<HolderInfo>,
    },
    /// Which shards of `object` do you hold?
    Status {
        /// The manifest's hash.
        object: Hash,
    },
    /// Stop holding `object` (only its owner may ask).
    Release {
        /// The manifest's hash.
        object: Hash,
    },
}

/// A storer's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Room offered and free, in bytes, and listen addresses.
    Offer {
        /// Bytes offered in all (0: this node stores nothing for others).
        offered: u64,
        /// Bytes still free.
        free: u64,
        /// Where this node listens.
        addrs: Vec<Multiaddr>,
    },
    /// The shard is fetched, verified and held.
    Stored,
    /// The shard indexes of the object held whole (empty: none), and the
    /// holder list as this peer knows it (repairs change it).
    Holding {
        /// Shard indexes held.
        indexes: Vec<u8>,
        /// The object's holders, as last told.
        holders: Vec<HolderInfo>,
    },
    /// Done.
    Done,
    /// Refused, with the reason (over quota, not the owner, bad manifest...).
    Refused(String),
}

/// The codec: libp2p's JSON codec with [`MAX_FRAME`] as both limits.
pub(crate) fn codec() -> libp2p::request_response::json::codec::Codec<Request, Response> {
    libp2p::request_response::json::codec::Codec::default()
        .set_request_size_maximum(MAX_FRAME)
        .set_response_size_maximum(MAX_FRAME)
}
