//! Storage that outlives its owner: `plexus store` seals a file, splits it
//! into N shards of which any K rebuild it, and places each shard on its
//! own peer that offers room; `plexus get` rebuilds it from whichever K
//! holders answer, with the owner offline.
//!
//! # Shape
//!
//! - **Shards are blobs.** Each shard is an ordinary BLAKE3 blob in its
//!   holder's content store, announced in the DHT like any share. Fetching
//!   one is the existing multi-provider transfer, verified chunk group by
//!   chunk group, and an audit is a blob `Get` of a random range checked
//!   with its bao proof against the shard hash: no new data path.
//! - **Erasure coding** ([`erasure`](self)`.rs`): Reed-Solomon from
//!   `reed-solomon-simd` over the ciphertext. K data shards of size/K
//!   (rounded up to an even length) and N - K recovery shards. Replicas mode
//!   is the same shape with K = 1 and every shard the whole ciphertext, so
//!   the rest of the component only knows "any K of N".
//! - **The manifest** ([`Manifest`]): size, K/N, shard size, the N shard
//!   hashes, the cipher's name. It is a blob too, and its hash names the
//!   object. Unlike the first sketch it does **not** list the holders:
//!   holders change on every repair, and a manifest that changed would
//!   change the object's name and strand every ticket. The holder list is
//!   mutable state that holders keep for each other (`Holders` messages,
//!   `pins.rs`); a getter finds holders from the ticket's hints and, for
//!   holders placed since, the DHT providers of each shard hash.
//! - **The ticket** ([`StoreTicket`], `plexusstore1...`): the manifest hash,
//!   the key (the capability: without it the shards are ciphertext), a name
//!   and the holders at the time of storing.
//! - **Sealing**: one call site (`seal.rs`) encrypts the whole object before
//!   it is split and opens it after it is rebuilt, so holders, the DHT and
//!   repair only ever see ciphertext, and repair needs no key.
//!
//! # Offers
//!
//! `plexus daemon --offer-storage 20GiB` (or `offer_storage = "20GiB"` in
//! `config.toml`). A storer announces itself as a DHT provider of the
//! well-known key [`offer_key`] (`BLAKE3("plexus/storage-offer/1")`): the
//! provider machinery, its caps and its republishing exist already, any
//! node can look offers up without a directory server or a topic
//! subscription, and the record stays small. Free room changes with every
//! shard, so it is not put in the record: the storer is asked (`Offer`)
//! when placing. Connected peers are asked too, so a small network whose
//! DHT has not settled still places. A storer refuses a shard over its free
//! quota (held shards + shards being fetched + their manifests) and says
//! how much it has.
//!
//! # Protocol
//!
//! `/plexus/storage/1` ([`protocol`]), request-response with JSON frames of
//! at most 64 KiB: `Offer`, `Put` (the storer reserves the room, fetches the
//! manifest and the shard from the sender through the blob transfer, checks
//! the shard is the one the manifest lists at that index, and pins it),
//! `Holders` (the holder list), `Status` (which shards of an object a peer
//! still holds whole), `Release` (only from the owner).
//!
//! # Placement
//!
//! N distinct peers, never the owner, each with free room for a shard and
//! a manifest; the roomiest first, the others kept as spares for storers
//! that refuse or fail. A store that cannot be placed fails with
//! [`crate::Error::Unplaceable`], which says how many holders had room.
//!
//! # The default, 4-of-8
//!
//! Storage overhead N/K = 2x, survives any 4 lost holders. With holders
//! online independently with probability p and no repair, the chance an
//! object cannot be read at a given moment is, for p = 0.9: 4-of-8
//! 4.3e-4, 3 replicas 1.0e-3 (at 3x), 2-of-4 3.7e-3; for p = 0.8: 4-of-8
//! 1.0e-2, 3 replicas 8.0e-3. Tahoe-LAFS's 3-of-10 (3.3x, 3.7e-7 at
//! p = 0.9) and Storj's 29-of-80 (2.8x, below 1e-15) do better, but need 10
//! and 80 storers; a young Plexus network (the test bed has 12 hosts) often
//! has fewer, and then every store would fail. 4-of-8 halves the bytes of
//! 3 replicas with fewer unreadable moments at p = 0.9, and fits in 8
//! storers; `--erasure 3/10` is there for larger networks.
//!
//! # Repair without the owner
//!
//! Every holder runs the repair machine (`repair.rs`, no I/O, time passed
//! in; driven by `repairer.rs` from a loop in the node). Each
//! `storage_probe_every` (60 s) it asks the other holders of each object
//! it holds (`Status`, whose answer also carries the holder's list, so
//! getters and the owner learn holders placed by repairs). A holder unheard
//! of for `storage_repair_after` (15 min), or one that answers without its
//! shard or fails an audit, has lost its shard. Exactly one survivor
//! repairs it: the alive holder whose BLAKE3(peer id) is XOR-closest to
//! BLAKE3(object, index), the same choice on every holder, so there is no
//! storm. It fetches any K shards (ciphertext: no key needed), rebuilds the
//! lost one, checks its hash against the manifest, places it on a new peer
//! with room (which records the original owner, so `unstore` still works),
//! and sends the new list to every holder and to the one replaced, which
//! releases its copy: a holder that comes back is not counted twice. A
//! failed repair is tried again after one probe period, doubling up to
//! `storage_repair_after`.
//!
//! Holder lists are merged, never replaced (`holders.rs`): each entry
//! (one per shard index) has a generation a repair raises by one, and a
//! merge keeps per index the highest generation, ties going to the lower
//! peer id. So when N - K holders vanish at once and several survivors
//! repair different shards at the same time, every holder ends with all
//! the repairs, in whatever order it hears of them (from the repairer's
//! announcement or from any holder's `Status` answer); two repairs of the
//! same shard agree on one winner, whose loser drops its copy. A storer
//! refuses a second shard of an object it holds a shard of, so concurrent
//! repairs never put two shards on one peer.
//!
//! # Audits
//!
//! With each probe of a holder that says it holds its shard, the prober
//! asks for one random 16 KiB chunk group of that shard over the blob
//! protocol and checks the bao proof against the shard hash
//! (`audit.rs`). Wrong bytes or a broken proof count the shard as lost at
//! once, long before anyone needs the data. A holder checks its own copy
//! the same way (file there at full length, a random chunk group against
//! its proof) when it answers `Status`, every round, and before it repairs
//! as the elected holder: a shard file deleted or damaged behind its back
//! makes it give up its claim, so the others rebuild the shard elsewhere
//! instead of electing a repairer that cannot read its own shard.

mod audit;
pub(crate) mod behaviour;
pub(crate) mod client;
mod erasure;
pub(crate) mod get;
mod holders;
pub mod manifest;
pub(crate) mod network;
pub(crate) mod pins;
mod placement;
pub mod protocol;
pub mod redundancy;
pub(crate) mod repair;
#[cfg(test)]
mod repair_tests;
pub(crate) mod repairer;
mod seal;
pub(crate) mod server;
pub mod ticket;

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::{content::Hash, Error};
pub(crate) use behaviour::Behaviour;
pub use manifest::Manifest;
pub use protocol::HolderInfo;
pub use redundancy::Redundancy;
pub use ticket::StoreTicket;

/// The DHT key storers provide: `BLAKE3("plexus/storage-offer/1")`.
pub fn offer_key() -> Hash {
    Hash::of(b"plexus/storage-offer/1")
}

/// What the node asks of the storage component.
pub(crate) enum Command {
    /// Send one request to `peer` (dialing `addrs` if needed).
    Request {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: protocol::Request,
        reply: oneshot::Sender<Result<protocol::Response, Error>>,
    },
}

/// A stored object: its ticket and figures.
#[derive(Debug, Clone)]
pub struct Stored {
    /// What a getter needs (keep it: it holds the key).
    pub ticket: StoreTicket,
    /// Bytes of the file.
    pub size: u64,
    /// Bytes placed in the network (all shards).
    pub stored_bytes: u64,
    /// Holders placed.
    pub holders: usize,
}

/// One line of `plexus pins`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PinEntry {
    /// `own` (stored by this node) or `held` (a shard held for another).
    pub kind: String,
    /// The object (its manifest's hash).
    pub object: Hash,
    /// File name (own objects).
    pub name: Option<String>,
    /// Bytes: the file's (own) or counted against the quota (held).
    pub bytes: u64,
    /// How it is spread (own objects).
    pub redundancy: Option<Redundancy>,
    /// Distinct shards alive now (own objects: holders that answered).
    pub alive: Option<usize>,
    /// Shards needed to rebuild (own objects: K).
    pub needed: Option<usize>,
    /// Shards placed (own objects: N).
    pub placed: Option<usize>,
    /// The shard index held (held shards).
    pub index: Option<u8>,
}
