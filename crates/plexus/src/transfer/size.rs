//! Proving a blob's size before trusting it.
//!
//! A BLAKE3 root hash commits to the length of what it names, and the bao
//! proof of the last chunk checks that commitment: the path from the root to
//! the last chunk only verifies for the true size. So a getter never takes
//! a size from what peers claim (any number of them may lie); it asks a
//! claimer for the last chunk with its proof and keeps the size only when
//! that proof verifies against the hash. Peers that claimed another size are
//! liars.
//!
//! The functions here do no I/O; the download loop (`blob_fetch/size_proof.rs`)
//! sends the requests.

use bao_tree::{
    io::{sync::DecodeResponseIter, BaoContentItem},
    BaoTree, ChunkNum, ChunkRanges,
};

use crate::blobs::protocol::MAX_CHUNK;
use crate::content::{Hash, BLOCK_SIZE};

/// The chunk ranges whose proof fixes a blob of `size` bytes: its last chunk
/// (chunk 0 for the empty blob).
pub fn proof_ranges(size: u64) -> ChunkRanges {
    let last = ChunkNum::chunks(size).0.saturating_sub(1);
    ChunkRanges::from(ChunkNum(last)..ChunkNum(last + 1))
}

/// Whether a peer's claim of `size` can be checked at all: sizes past the
/// largest a chunk number can address are refused without asking.
pub(crate) fn is_plausible(size: u64) -> bool {
    ChunkNum::chunks(size).0 <= MAX_CHUNK
}

/// Checks that `encoded`, a response to [`proof_ranges`]`(size)`, proves
/// that `hash` names a blob of exactly `size` bytes.
pub(crate) fn verify(hash: Hash, size: u64, encoded: &[u8]) -> Result<(), String> {
    if size == 0 {
        // The empty blob has one hash; no proof is needed or possible.
        return if hash == Hash::of(b"") {
            Ok(())
        } else {
            Err("claimed 0 bytes, but the hash is not the empty blob's".into())
        };
    }
    if !is_plausible(size) {
        return Err(format!("claimed {size} bytes, more than a blob can have"));
    }
    let tree = BaoTree::new(size, BLOCK_SIZE);
    let ranges = proof_ranges(size);
    let mut reached_end = false;
    for item in DecodeResponseIter::new(hash.to_blake3(), tree, encoded, &ranges) {
        match item {
            Ok(BaoContentItem::Parent(_)) => {}
            Ok(BaoContentItem::Leaf(leaf)) => {
                reached_end |= leaf.offset.checked_add(leaf.data.len() as u64) == Some(size);
            }
            Err(e) => return Err(format!("claimed {size} bytes, but the proof fails: {e}")),
        }
    }
    if reached_end {
        Ok(())
    } else {
        Err(format!(
            "claimed {size} bytes, but sent no proof of the last byte"
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::content::Store;

    fn stored(bytes: &[u8]) -> (tempfile::TempDir, Arc<Store>, Hash) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let hash = store.import_bytes(bytes).unwrap();
        (dir, store, hash)
    }

    #[test]
    fn the_true_size_verifies_and_others_do_not() {
        for len in [1usize, 1023, 1024, 1025, 16 * 1024, 16 * 1024 + 1, 100_000] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let (_dir, store, hash) = stored(&bytes);
            let size = len as u64;
            let proof = store.encode(&hash, &proof_ranges(size)).unwrap();
            assert_eq!(verify(hash, size, &proof), Ok(()), "len {len}");
            for lie in [0, 1, size - 1, size + 1, size * 2, 8 << 40] {
                if lie == size {
                    continue;
                }
                // The honest proof does not prove a wrong size ...
                assert!(verify(hash, lie, &proof).is_err(), "len {len} lie {lie}");
                // ... and neither does anything a liar can send for it.
                let junk = vec![0xAB; 2048];
                assert!(verify(hash, lie, &junk).is_err(), "len {len} lie {lie}");
                assert!(verify(hash, lie, &[]).is_err(), "len {len} lie {lie}");
            }
        }
    }

    #[test]
    fn the_empty_blob_needs_no_proof_and_cannot_be_claimed_for_others() {
        assert_eq!(verify(Hash::of(b""), 0, &[]), Ok(()));
        let err = verify(Hash::of(b"not empty"), 0, &[]).unwrap_err();
        assert!(err.contains("not the empty blob"), "{err}");
    }

    #[test]
    fn absurd_sizes_are_refused_without_arithmetic_overflow() {
        // u64::MAX bytes is 2^54 chunks: the largest size there can be.
        assert!(is_plausible(u64::MAX));
        assert!(verify(Hash::of(b"x"), u64::MAX, &[]).is_err());
        assert!(verify(Hash::of(b"x"), u64::MAX, &[7; 4096]).is_err());
        assert_eq!(proof_ranges(u64::MAX).boundaries().len(), 2);
        assert!(is_plausible(8 << 40));
    }
}
