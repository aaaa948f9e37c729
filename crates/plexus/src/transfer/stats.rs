//! What a download is asked (where to look) and what it reports: live
//! progress, and the figures of a finished download.

use std::{collections::HashMap, time::Instant};

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

use crate::content::{BlobFormat, Hash};

/// Where to look for content.
#[derive(Debug, Clone, Default)]
pub struct GetOptions {
    /// Known providers with their addresses (e.g. from a ticket).
    pub providers: Vec<(PeerId, Vec<Multiaddr>)>,
    /// Also look for providers in the DHT.
    pub use_dht: bool,
    /// Let blob requests run over a relayed connection when hole punching
    /// gives no direct one (the relay must allow the bytes: its
    /// per-circuit limit is small by default). Off: they fail instead.
    pub allow_relay: bool,
}

/// Live figures of a download.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Progress {
    /// Total bytes to have at the end (known once sizes are known).
    pub total: u64,
    /// Bytes present and verified so far.
    pub done: u64,
    /// Providers currently being asked.
    pub peers: usize,
}

/// Bytes one provider delivered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerBytes {
    /// The provider.
    pub peer_id: PeerId,
    /// Verified bytes it sent.
    pub bytes: u64,
}

/// What a finished download did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DownloadStats {
    /// The content's hash.
    pub hash: Hash,
    /// Blob or collection.
    pub format: BlobFormat,
    /// Total size of the content (all files for a collection).
    pub size: u64,
    /// Bytes fetched over the network this time (less than `size` on resume).
    pub fetched: u64,
    /// Wall-clock seconds, provider lookup included.
    pub secs: f64,
    /// Seconds from the first data request to the end (0 when nothing was
    /// fetched): the figure to compare with link rates.
    pub transfer_secs: f64,
    /// Seconds from the start (provider lookup included) to the first
    /// byte verified against the hash and stored; `None` when nothing was
    /// fetched.
    pub first_byte_secs: Option<f64>,
    /// Verified bytes per provider.
    pub per_peer: Vec<PeerBytes>,
    /// Providers dropped for lying: data that failed verification, a size
    /// the hash disproves, or ranges claimed and then refused again and again.
    pub liars: Vec<PeerId>,
}

/// What the blob downloads of one `fetch` add up to.
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) first_request: Option<Instant>,
    pub(crate) first_byte: Option<Instant>,
    pub(crate) fetched: u64,
    pub(crate) per_peer: HashMap<PeerId, u64>,
    pub(crate) liars: Vec<PeerId>,
}

impl Tally {
    /// Counts `new` verified bytes from `peer`, noting when the first came.
    pub(crate) fn add(&mut self, peer: PeerId, new: u64) {
        if new > 0 {
            self.first_byte.get_or_insert_with(Instant::now);
        }
        self.fetched += new;
        *self.per_peer.entry(peer).or_default() += new;
    }

    /// Records `peer` as a liar (once).
    pub(crate) fn blame(&mut self, peer: PeerId) {
        if !self.liars.contains(&peer) {
            self.liars.push(peer);
        }
    }

    /// Adds the figures of a part of the download (a file fetched alongside).
    pub(crate) fn merge(&mut self, other: Tally) {
        if let Some(t) = other.first_request {
            let first = self.first_request.get_or_insert(t);
            *first = (*first).min(t);
        }
        self.fetched += other.fetched;
        for (peer, bytes) in other.per_peer {
            *self.per_peer.entry(peer).or_default() += bytes;
        }
        for peer in other.liars {
            self.blame(peer);
        }
    }
}
