//! The manifest of a stored object: what it takes to rebuild it. It is an
//! ordinary blob, so its hash names the object and never changes: repair
//! moves shards to new holders without touching it (the holders are
//! tracked apart, in the holders' pin lists).

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{content::Hash, Error};

/// Largest manifest accepted, in bytes (N at most [`MAX_SHARDS`] hashes).
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
/// Most shards an object may have.
pub const MAX_SHARDS: u8 = 64;
/// Largest object `plexus store` takes: the object is coded in memory, in
/// one stripe.
pub const MAX_OBJECT_BYTES: u64 = 1 << 30;

/// How an object is spread: whole copies, or K-of-N erasure coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Redundancy {
    /// N whole copies on N peers (N x the size stored; survives N - 1 lost).
    Replicas(u8),
    /// N shards of size/K on N peers, any K rebuild the object (N/K x the
    /// size stored; survives N - K lost).
    Erasure {
        /// Shards needed.
        k: u8,
        /// Shards placed.
        n: u8,
    },
}

impl Default for Redundancy {
    /// 4-of-8: see the module docs of [`crate::storage`] for why.
    fn default() -> Self {
        Redundancy::Erasure { k: 4, n: 8 }
    }
}

impl Redundancy {
    /// (K, N): shards needed and shards placed.
    pub fn k_n(self) -> (u8, u8) {
        match self {
            Redundancy::Replicas(n) => (1, n),
            Redundancy::Erasure { k, n } => (k, n),
        }
    }

    /// Refuses shapes that make no sense, saying what would.
    pub fn check(self) -> Result<(), Error> {
        let (k, n) = self.k_n();
        if k == 0 || n < k || n > MAX_SHARDS {
            return Err(Error::BadInput(format!(
                "cannot store with {self}: K must be at least 1, N at least K and at most {MAX_SHARDS} (e.g. --erasure 4/8 or --replicas 3)"
            )));
        }
        Ok(())
    }
}

impl fmt::Display for Redundancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Redundancy::Replicas(n) => write!(f, "{n} replicas"),
            Redundancy::Erasure { k, n } => write!(f, "erasure {k}/{n}"),
        }
    }
}

impl FromStr for Redundancy {
    type Err = Error;
    /// `K/N` (erasure coding).
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::BadInput(format!(
                "{s:?} is not K/N (e.g. 4/8: any 4 of 8 shards rebuild the object)"
            ))
        };
        let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let r = Redundancy::Erasure {
            k: k.trim().parse().map_err(|_| bad())?,
            n: n.trim().parse().map_err(|_| bad())?,
        };
        r.check()?;
        Ok(r)
    }
}

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
        if m.shard_size != super::erasure::shard_size(m.size, m.redundancy) {
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
    fn redundancy_parses_and_refuses_nonsense() {
        assert_eq!(
            "4/8".parse::<Redundancy>().unwrap(),
            Redundancy::Erasure { k: 4, n: 8 }
        );
        for bad in ["0/3", "5/4", "4", "a/b", "1/65"] {
            let err = bad.parse::<Redundancy>().unwrap_err().to_string();
            assert!(err.contains("4/8"), "{bad}: {err}");
        }
        assert!(Redundancy::Replicas(0).check().is_err());
    }

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
