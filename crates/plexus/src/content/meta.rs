//! Signed metadata records: the human side of shared content (name, tags)
//! carried with its hash, size and kind, signed by the peer that shares it.
//!
//! A record travels as the exact JSON bytes that were signed plus the
//! publisher's public key, so any peer can check it without re-encoding.

use data_encoding::HEXLOWER;
use libp2p::{
    identity::{Keypair, PublicKey},
    Multiaddr, PeerId,
};
use serde::{Deserialize, Serialize};

use super::{BlobFormat, Hash, Ticket};

/// Longest name in bytes.
pub const MAX_NAME_BYTES: usize = 255;
/// Most tags on one record.
pub const MAX_TAGS: usize = 16;
/// Longest tag in bytes.
pub const MAX_TAG_BYTES: usize = 64;
/// Largest signed payload in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// What a record says about a piece of content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The content's root hash.
    pub hash: Hash,
    /// Blob or collection.
    pub format: BlobFormat,
    /// Total bytes.
    pub size: u64,
    /// Display name.
    pub name: String,
    /// Keywords.
    pub tags: Vec<String>,
    /// The peer that shares the content and signed the record.
    pub publisher: PeerId,
    /// When it was signed, in seconds since the Unix epoch.
    pub timestamp: u64,
}

/// A [`Metadata`] with the publisher's ed25519 signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRecord {
    /// The JSON of the metadata, exactly as signed.
    pub payload: String,
    /// The publisher's public key, protobuf-encoded, in hex.
    pub public_key: String,
    /// The signature over `payload`, in hex.
    pub signature: String,
}

impl Metadata {
    /// Checks the limits on name and tags; the message says which was broken.
    pub fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("the name is empty (give one with --name)".into());
        }
        if self.name.len() > MAX_NAME_BYTES {
            return Err(format!("the name is longer than {MAX_NAME_BYTES} bytes"));
        }
        if self.tags.len() > MAX_TAGS {
            return Err(format!("at most {MAX_TAGS} tags, got {}", self.tags.len()));
        }
        if let Some(t) = self
            .tags
            .iter()
            .find(|t| t.trim().is_empty() || t.len() > MAX_TAG_BYTES)
        {
            return Err(format!(
                "tag {t:?} must be 1 to {MAX_TAG_BYTES} bytes and not blank"
            ));
        }
        Ok(())
    }

    /// Signs the record with `key`, which must be the publisher's.
    pub fn sign(&self, key: &Keypair) -> Result<SignedRecord, String> {
        self.check()?;
        if key.public().to_peer_id() != self.publisher {
            return Err("a record can only be signed by its publisher's key".into());
        }
        let payload = serde_json::to_string(self).expect("serializable");
        let signature = key
            .sign(payload.as_bytes())
            .map_err(|e| format!("cannot sign: {e}"))?;
        Ok(SignedRecord {
            payload,
            public_key: HEXLOWER.encode(&key.public().encode_protobuf()),
            signature: HEXLOWER.encode(&signature),
        })
    }

    /// The lower-case words a search can match: name words and tags.
    pub fn terms(&self) -> Vec<String> {
        let mut terms: Vec<String> = self
            .name
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        terms.push(self.name.to_lowercase());
        terms.extend(self.tags.iter().map(|t| t.to_lowercase()));
        terms
    }

    /// Whether every query word is a prefix of some term (name word or tag).
    /// An empty query matches nothing.
    pub fn matches(&self, words: &[String]) -> bool {
        if words.is_empty() {
            return false;
        }
        let terms = self.terms();
        words.iter().all(|w| {
            let w = w.to_lowercase();
            terms.iter().any(|t| t.starts_with(&w))
        })
    }

    /// A ticket to fetch the content from its publisher at `addrs`.
    pub fn ticket(&self, addrs: Vec<Multiaddr>) -> Ticket {
        Ticket {
            hash: self.hash,
            format: self.format,
            provider: self.publisher,
            addrs,
            name: Some(self.name.clone()),
            key: None,
        }
    }
}

impl SignedRecord {
    /// Checks the signature against the key and the key against the
    /// publisher's peer id; returns the metadata when all hold.
    pub fn verify(&self) -> Result<Metadata, String> {
        if self.payload.len() > MAX_PAYLOAD_BYTES {
            return Err(format!("record larger than {MAX_PAYLOAD_BYTES} bytes"));
        }
        let meta: Metadata =
            serde_json::from_str(&self.payload).map_err(|e| format!("bad record: {e}"))?;
        meta.check()?;
        let key_bytes = HEXLOWER
            .decode(self.public_key.as_bytes())
            .map_err(|_| "record key is not hex".to_string())?;
        let key = PublicKey::try_decode_protobuf(&key_bytes)
            .map_err(|e| format!("bad record key: {e}"))?;
        if key.to_peer_id() != meta.publisher {
            return Err(format!(
                "record names publisher {} but is signed by {}",
                meta.publisher,
                key.to_peer_id()
            ));
        }
        let signature = HEXLOWER
            .decode(self.signature.as_bytes())
            .map_err(|_| "record signature is not hex".to_string())?;
        if !key.verify(self.payload.as_bytes(), &signature) {
            return Err("record signature does not match its content".into());
        }
        Ok(meta)
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Splits search text into lower-case words.
pub fn query_words<S: AsRef<str>>(text: &[S]) -> Vec<String> {
    text.iter()
        .flat_map(|t| {
            t.as_ref()
                .split(|c: char| c.is_whitespace())
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A record named `name`, tagged `demo`, signed by `key` (for tests).
#[cfg(test)]
pub(crate) fn test_record(key: &Keypair, name: &str) -> SignedRecord {
    Metadata {
        hash: Hash::of(name.as_bytes()),
        format: BlobFormat::Raw,
        size: 1,
        name: name.into(),
        tags: vec!["demo".into()],
        publisher: key.public().to_peer_id(),
        timestamp: 0,
    }
    .sign(key)
    .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(key: &Keypair) -> Metadata {
        Metadata {
            hash: Hash::of(b"song"),
            format: BlobFormat::Raw,
            size: 4,
            name: "Blue Moon.mp3".into(),
            tags: vec!["jazz".into(), "1961".into()],
            publisher: key.public().to_peer_id(),
            timestamp: 1,
        }
    }

    #[test]
    fn signed_record_verifies_and_matches() {
        let key = Keypair::generate_ed25519();
        let record = meta(&key).sign(&key).unwrap();
        let m = record.verify().unwrap();
        assert_eq!(m, meta(&key));
        let q = |s: &str| query_words(&[s]);
        assert!(m.matches(&q("blue")));
        assert!(m.matches(&q("MOON jazz")));
        assert!(m.matches(&q("mo")), "prefix of a name word");
        assert!(!m.matches(&q("blue rock")), "every word must match");
        assert!(!m.matches(&[]));
    }

    #[test]
    fn tampered_or_foreign_records_are_refused() {
        let key = Keypair::generate_ed25519();
        let other = Keypair::generate_ed25519();
        let mut record = meta(&key).sign(&key).unwrap();
        record.payload = record.payload.replace("Blue", "Pink");
        assert!(record.verify().unwrap_err().contains("signature"));

        // Someone signs a record that names another peer as publisher.
        let mut forged = meta(&key);
        assert!(forged.sign(&other).is_err(), "sign refuses a foreign key");
        forged.publisher = other.public().to_peer_id();
        let mut record = forged.sign(&other).unwrap();
        record.public_key = meta(&key).sign(&key).unwrap().public_key;
        assert!(record.verify().unwrap_err().contains("signed by"));
    }

    #[test]
    fn limits_are_checked() {
        let key = Keypair::generate_ed25519();
        let mut m = meta(&key);
        m.name = "x".repeat(MAX_NAME_BYTES + 1);
        assert!(m.sign(&key).unwrap_err().contains("name"));
        let mut m = meta(&key);
        m.tags = vec!["t".into(); MAX_TAGS + 1];
        assert!(m.sign(&key).unwrap_err().contains("tags"));
        let mut m = meta(&key);
        m.tags = vec![" ".into()];
        assert!(m.sign(&key).unwrap_err().contains("tag"));
    }
}
