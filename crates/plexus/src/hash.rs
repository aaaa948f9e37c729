//! The BLAKE3 root hash that names content: a leaf every module may use.
//!
//! Other libp2p implementations name content by a CID; a Plexus hash has
//! one too ([`Hash::cid`]), and its multihash ([`Hash::multihash`]) is the
//! key of provider records in the DHT, so any libp2p node on the Plexus DHT
//! finds providers with its own `findProviders(cid)`.

use std::{fmt, str::FromStr};

use libp2p::multihash::Multihash;
use serde::{Deserialize, Serialize};

/// Multicodec of BLAKE3 (256-bit output) in a multihash.
pub const BLAKE3_CODE: u64 = 0x1e;

/// Multicodec of raw bytes, the content type of a CID that names a blob.
pub const RAW_CODEC: u64 = 0x55;

/// CID version 1.
const CID_V1: u64 = 1;

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

    /// The multihash: `blake3` (0x1e), 32 bytes, the hash. Its bytes
    /// (`1e 20` and the hash) are the DHT key of this content's provider
    /// records, as a CID's multihash is in other libp2p implementations.
    pub fn multihash(self) -> Multihash<64> {
        Multihash::wrap(BLAKE3_CODE, &self.0).expect("32 bytes fit a 64-byte multihash")
    }

    /// The hash in `multihash`, if it is a 32-byte BLAKE3 multihash.
    pub fn from_multihash(multihash: &Multihash<64>) -> Option<Self> {
        if multihash.code() != BLAKE3_CODE {
            return None;
        }
        multihash.digest().try_into().ok().map(Self)
    }

    /// The CIDv1 of this blob as other libp2p and IPFS software writes it:
    /// content type `raw`, this multihash, base32 (`b...`).
    ///
    /// The CID's binary form is two varints (version 1, codec 0x55; one
    /// byte each) and the multihash. The multihash crate (libp2p's) and
    /// multibase (multiaddr's) do the encoding; the `cid` crate would add a
    /// crate to the build for these two bytes.
    pub fn cid(self) -> String {
        let mut bytes = vec![CID_V1 as u8, RAW_CODEC as u8];
        bytes.extend_from_slice(&self.multihash().to_bytes());
        multibase::encode(multibase::Base::Base32Lower, bytes)
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

    /// The BLAKE3 hash of no bytes.
    const EMPTY: &str = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

    #[test]
    fn the_cid_is_what_js_multiformats_writes() {
        // interop/js: `CID.createV1(0x55, Digest.create(0x1e, bytes)).toString()`
        // (multiformats 14.0.5) for the BLAKE3 hash of no bytes.
        let h: Hash = EMPTY.parse().unwrap();
        assert_eq!(h, Hash::of(b""));
        assert_eq!(
            h.cid(),
            "bafkr4ifpcne3t5pzugtkaqcn5i3nzskjtpfslsnnyejlpte2spfoihzsmi"
        );
        let bytes = h.multihash().to_bytes();
        assert_eq!(bytes[..2], [0x1e, 0x20]);
        assert_eq!(bytes[2..], h.0);
    }

    #[test]
    fn only_a_blake3_multihash_gives_back_a_hash() {
        let h = Hash::of(b"plexus");
        assert_eq!(Hash::from_multihash(&h.multihash()), Some(h));
        let sha256 = Multihash::<64>::wrap(0x12, &h.0).unwrap();
        assert_eq!(Hash::from_multihash(&sha256), None);
        let short = Multihash::<64>::wrap(BLAKE3_CODE, &h.0[..16]).unwrap();
        assert_eq!(Hash::from_multihash(&short), None);
    }
}
