//! The manifest of a stored object: what it takes to rebuild it. It is an
//! ordinary blob, so its hash names the object and never changes: repair
//! moves shards to new holders without touching it (the holders are
//! tracked apart, in the holders' pin lists).

use serde::{Deserialize, Serialize};

use super::{erasure::shard_size, redundancy::Redundancy};
use crate::content::Hash;

/// Largest manifest accepted, in bytes (N at most
/// [`MAX_SHARDS`](super::redundancy::MAX_SHARDS) hashes).
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
/// Largest object `plexus store` takes: the object is coded in memory, in
/// one stripe.
pub const MAX_OBJECT_BYTES: u64 = 1 << 30;

/// What rebuilds an object: its size, how it was split, and the hash of
/// every shard (shard `i` at index `i`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `1`; tells a manifest from other blobs.
    pub plexus_manifest: u8,
    /// Bytes of the stored (encrypted) object.
    pub size: u64,
    /// Replicas or K-of-N.
    pub redundancy: Redundancy,
    /// Bytes in every shard.
    pub shard_size: u64,
    /// Hash of shard `i` at index `i`.
    pub shards: Vec<Hash>,
    /// How the object was encrypted before it was split (`None`: plain).
    pub sealed: Option<String>,
}

impl Manifest {
    /// The manifest's bytes (JSON), the blob whose hash names the object.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serializable")
    }

    /// Parses and checks a manifest fetched from a peer.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| format!("not a storage manifest: {e}"))?;
        let (_, n) = m.redundancy.k_n();
        if m.plexus_manifest != 1 {
            return Err(format!("manifest version {} is unknown", m.plexus_manifest));
        }
        m.redundancy.check().map_err(|e| e.to_string())?;
        if m.shards.len() != usize::from(n) {
            return Err(format!(
                "manifest lists {} shards for {}",
                m.shards.len(),
                m.redundancy
            ));
        }
        if m.shard_size != shard_size(m.size, m.redundancy) {
            return Err(format!(
                "manifest shard size {} does not fit size {}",
                m.shard_size, m.size
            ));
        }
        Ok(m)
    }

    /// Index of the first shard with `hash` (replicas share one hash).
    pub fn index_of(&self, hash: &Hash) -> Option<usize> {
        self.shards.iter().position(|h| h == hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips_and_is_checked() {
        let r = Redundancy::Erasure { k: 2, n: 3 };
        let m = Manifest {
            plexus_manifest: 1,
            size: 10,
            redundancy: r,
            shard_size: 6,
            shards: vec![Hash::of(b"a"), Hash::of(b"b"), Hash::of(b"c")],
            sealed: None,
        };
        assert_eq!(Manifest::from_bytes(&m.to_bytes()).unwrap(), m);
        let short = Manifest {
            shards: m.shards[..2].to_vec(),
            ..m.clone()
        };
        assert!(Manifest::from_bytes(&short.to_bytes()).is_err());
        let wrong = Manifest {
            shard_size: 4,
            ..m.clone()
        };
        assert!(Manifest::from_bytes(&wrong.to_bytes()).is_err());
        assert!(Manifest::from_bytes(b"{\"plexus_collection\":1}").is_err());
    }
}
