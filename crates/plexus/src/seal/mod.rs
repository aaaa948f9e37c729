//! Content encryption ("sealing"): chunked XChaCha20-Poly1305 in the STREAM
//! construction, so content can be encrypted on its owner's machine before
//! it is stored or served, and still be streamed, verified and fetched by
//! range.
//!
//! The one job of this module is turning plaintext into sealed bytes and
//! back. Storing, addressing and transferring sealed bytes is the content
//! store's job, and it never needs the key: the BLAKE3 address of sealed
//! content is the address of its ciphertext, so every peer verifies what it
//! stores and serves without being able to read it.
//!
//! # Format (version 1)
//!
//! ```text
//! header (48 bytes):  "PLXSEAL" | version 1 | nonce prefix (19) | 5 zero bytes | key check (16)
//! segment 0:          header | chunk 0 (65,472 plaintext bytes + 16-byte tag)
//! segment i > 0:      chunk i (65,520 plaintext bytes + 16-byte tag); the last one may be shorter
//! ```
//!
//! Every segment is 64 KiB, four of the 16 KiB chunk groups that verified
//! streaming checks, so a plaintext range maps to a whole range of chunk
//! groups ([`sealed_range`]). Chunk `i` is encrypted with the crate's STREAM
//! primitive (`aead::stream::StreamBE32`, from Hoang, Reyhanitabar, Rogaway
//! and Vizár, "Online Authenticated-Encryption and its Nonce-Reuse
//! Misuse-Resistance"): its nonce is the header's random 19-byte prefix,
//! then `i` as a 32-bit big-endian counter, then a flag byte that is 1 only
//! for the last chunk. So a chunk decrypts only at its own index (no
//! reordering, no dropping a middle chunk), and only the true last chunk
//! carries the last flag (no cutting chunks off the end: the new last chunk
//! fails). The whole header is the associated data of every chunk, so it
//! cannot be changed either. Chunks are authenticated one by one: a reader
//! never outputs a byte that was not authenticated, and at most one chunk
//! (64 KiB) is held in memory however large the content.
//!
//! The AEAD key and the key check are derived from the share [`Key`] with
//! BLAKE3's key derivation (separate contexts). The key check lets a wrong
//! key be told apart from altered content ([`Error::WrongKey`]) and commits
//! the content to one key. The nonce prefix is random per sealing, so one
//! key may seal many blobs (a folder's files and its listing).
//!
//! # What the header reveals
//!
//! Anyone holding sealed bytes sees that they are Plexus-sealed (the magic
//! and version, see [`is_sealed`]) and their length, from which the
//! plaintext length follows ([`plain_len`]). Nothing else: the nonce prefix
//! is random and the key check is a one-way function of a random key.

mod layout;
mod stream;

#[cfg(test)]
mod tests;

use std::{fmt, str::FromStr};

pub use layout::{
    chunk_count, chunk_of, chunk_plain_start, plain_len, sealed_len, sealed_range, segment_range,
    CHUNK_PLAIN, FIRST_PLAIN, HEADER_LEN, SEGMENT, TAG_LEN,
};
pub use stream::{decrypt, decrypt_range, encrypt, encrypt_with, Sealer};

/// The first bytes of all sealed content, before the version byte.
pub const MAGIC: &[u8; 7] = b"PLXSEAL";

/// The format version this code writes and reads.
pub const VERSION: u8 = 1;

/// Whether `prefix` (the first bytes of some content, at least 8 of them)
/// starts like sealed content of any version. This is all the marker tells:
/// that the content is encrypted, not what it is or who may open it.
pub fn is_sealed(prefix: &[u8]) -> bool {
    prefix.len() > MAGIC.len() && prefix.starts_with(MAGIC)
}

/// A share's secret: 32 random bytes. Whoever holds it can read the
/// content; it travels only inside tickets. Shown and parsed as 64
/// lowercase hex digits; `Debug` does not show it. Wiped from memory when
/// dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; 32]);

impl Key {
    /// A fresh random key from the operating system's generator (through
    /// `rand`'s thread-local CSPRNG, seeded by `getrandom`).
    pub fn generate() -> Self {
        Self(rand::random())
    }

    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The XChaCha20-Poly1305 key, derived so the share key itself is used
    /// by no cipher directly.
    fn aead_key(&self) -> [u8; 32] {
        blake3::derive_key("plexus seal v1 2026-11 chunk key", &self.0)
    }

    /// The 16 bytes stored in the header to tell a wrong key apart.
    fn check(&self) -> [u8; 16] {
        let full = blake3::derive_key("plexus seal v1 2026-11 key check", &self.0);
        full[..16].try_into().expect("16 bytes")
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(hidden)")
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
    }
}

impl FromStr for Key {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(s.trim().as_bytes())
            .map_err(|_| "a content key is 64 hex digits".to_string())?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "a content key is 64 hex digits".to_string())?;
        Ok(Self(bytes))
    }
}

/// Why sealed content could not be opened (or content not sealed).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes do not start with the sealed header's magic.
    #[error("this content is not encrypted (no Plexus seal header)")]
    NotSealed,
    /// Sealed by a format this code does not know.
    #[error("this content is encrypted with format version {0}, which this Plexus cannot read (upgrade Plexus)")]
    Version(u8),
    /// The header's key check does not match the key.
    #[error("the ticket's key does not open this content (check that the ticket was copied whole; a ticket for other content has another key)")]
    WrongKey,
    /// A chunk failed authentication: altered, moved, dropped or cut.
    #[error("chunk {chunk} of the encrypted content failed authentication: the content was altered, reordered or cut short")]
    Corrupt {
        /// The chunk's index.
        chunk: u64,
    },
    /// Fewer bytes than any sealed content has, or a length no plaintext
    /// seals to.
    #[error("the encrypted content is truncated ({0})")]
    Truncated(String),
    /// More chunks than the 32-bit STREAM counter can number (256 TiB).
    #[error("content too large to encrypt (over 2^32 chunks of 64 KiB)")]
    TooLarge,
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
