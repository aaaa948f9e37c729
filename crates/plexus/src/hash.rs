//! The BLAKE3 root hash that names content: a leaf every module may use.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// The BLAKE3 root hash that names a blob: the key of the
/// [`Store`](crate::content::Store), of [`Node::get`](crate::Node::get) and
/// of a [`Ticket`](crate::content::Ticket). Shown as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// Hashes `bytes` in memory.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// As a `blake3::Hash`.
    pub fn to_blake3(self) -> blake3::Hash {
        blake3::Hash::from_bytes(self.0)
    }
}

impl From<blake3::Hash> for Hash {
    fn from(h: blake3::Hash) -> Self {
        Self(*h.as_bytes())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl FromStr for Hash {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(format!(
                "a hash is 64 hex digits, got {} characters",
                s.len()
            ));
        }
        // Digits only: `from_str_radix` alone would also take a sign
        // ("+f"), so two spellings would name one hash.
        if !bytes.iter().all(u8::is_ascii_hexdigit) {
            return Err("a hash is 64 hex digits".into());
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let hex = std::str::from_utf8(pair).map_err(|_| "not hex".to_string())?;
            out[i] = u8::from_str_radix(hex, 16).map_err(|_| format!("not hex: {hex}"))?;
        }
        Ok(Self(out))
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_round_trips_through_hex() {
        let h = Hash::of(b"plexus");
        assert_eq!(h.to_string().parse::<Hash>().unwrap(), h);
        assert!("abc".parse::<Hash>().is_err());
        assert!("zz".repeat(32).parse::<Hash>().is_err());
    }

    #[test]
    fn a_hash_has_one_spelling_up_to_case() {
        // Found by the `ticket` fuzz target: "+f" parsed as the byte 0x0f.
        let signed = format!("+f{}", "0".repeat(62));
        assert!(signed.parse::<Hash>().is_err());
        assert!(format!("-0{}", "0".repeat(62)).parse::<Hash>().is_err());
        let h = Hash::of(b"x");
        assert_eq!(h.to_string().to_uppercase().parse::<Hash>().unwrap(), h);
    }
}
