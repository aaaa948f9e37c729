//! Content addressing: blobs named by their BLAKE3 root hash, verified in
//! 16 KiB chunk groups (bao-tree), folders as collections, tickets.

pub mod collection;
pub mod meta;
pub(crate) mod publish;
pub(crate) mod sealed;
pub mod share;
pub mod store;
pub mod ticket;

use bao_tree::BlockSize;
use serde::{Deserialize, Serialize};

pub use bao_tree::{ChunkNum, ChunkRanges};
pub use collection::{Collection, CollectionEntry};
pub use meta::{Metadata, SignedRecord};
pub(crate) use store::{Applied, ApplyError, BlobFiles, PartialBlob};
pub use store::{BlobData, BlobEntry, BlobInfo, ShareInfo, Store};
pub use ticket::Ticket;

pub use crate::hash::Hash;

/// Chunk groups of 16 chunks of 1 KiB: the unit that is verified and stored.
pub const BLOCK_SIZE: BlockSize = BlockSize::from_chunk_log(4);

/// Bytes in one chunk group.
pub const GROUP_BYTES: u64 = 16 * 1024;

/// What a hash names: raw bytes, or a collection (a folder listing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobFormat {
    /// A single file's bytes.
    Raw,
    /// A [`Collection`] whose entries name other blobs.
    Collection,
}

/// Runs store work (redb commits, file writes, fsync) on the blocking pool,
/// off the async workers; a panic in it is an error, not a crash.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, crate::Error> + Send + 'static,
) -> Result<T, crate::Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| crate::Error::Store(format!("store task failed: {e}")))?
}

/// Number of chunk groups in a blob of `size` bytes.
pub(crate) fn group_count(size: u64) -> u64 {
    size.div_ceil(GROUP_BYTES)
}

/// Chunk ranges covering chunk groups `start..end`.
pub(crate) fn group_ranges(start: u64, end: u64) -> ChunkRanges {
    ChunkRanges::from(ChunkNum(start * 16)..ChunkNum(end * 16))
}

/// Bytes covered by `ranges` in a blob of `size` bytes.
///
/// Chunk numbers may come from other peers, so the arithmetic saturates:
/// a range reaching past `u64::MAX` bytes counts as `u64::MAX`, never as a
/// wrapped small number (and never panics).
pub(crate) fn range_bytes(ranges: &ChunkRanges, size: u64) -> u64 {
    let b = ranges.boundaries();
    let at = |i: usize| {
        b.get(i)
            .map_or(size, |c| c.0.saturating_mul(1024).min(size))
    };
    (0..b.len().div_ceil(2))
        .map(|i| at(2 * i + 1).saturating_sub(at(2 * i)))
        .fold(0u64, u64::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_bytes_counts_open_and_closed_ranges() {
        let r = group_ranges(0, 1) | ChunkRanges::from(ChunkNum(32)..);
        assert_eq!(range_bytes(&r, 40 * 1024 + 5), 16 * 1024 + 8 * 1024 + 5);
        assert_eq!(range_bytes(&ChunkRanges::empty(), 99), 0);
        assert_eq!(range_bytes(&ChunkRanges::from(ChunkNum(0)..), 7), 7);
    }

    #[test]
    fn range_bytes_of_hostile_chunk_numbers_saturates() {
        // 2^54 chunks of 1 KiB is 2^64 bytes: it used to wrap to 0 (or
        // panic in a debug build).
        let wraps = ChunkRanges::from(ChunkNum(0)..ChunkNum(1 << 54));
        assert_eq!(range_bytes(&wraps, u64::MAX), u64::MAX);
        let far = ChunkRanges::from(ChunkNum(u64::MAX - 1)..ChunkNum(u64::MAX));
        assert_eq!(range_bytes(&far, u64::MAX), 0);
        let many = (0..100u64).fold(ChunkRanges::empty(), |acc, i| {
            acc | ChunkRanges::from(ChunkNum(i << 56)..ChunkNum((i << 56) + (1 << 55)))
        });
        assert_eq!(range_bytes(&many, u64::MAX), u64::MAX);
    }
}
