//! How an object is spread over peers: whole copies or K-of-N erasure
//! coding, and the shapes that make sense.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::Error;

/// Most shards an object may have.
pub const MAX_SHARDS: u8 = 64;
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
}
