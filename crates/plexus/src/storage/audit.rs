//! Audits: a holder asks another for one random chunk group (16 KiB) of the
//! shard it should hold, through the blob protocol, and checks the bao
//! proof against the shard's hash. A holder that sends nothing, the wrong
//! bytes or a broken proof has lost its shard, whatever its `Status` says.
//! Choosing the range and checking the answer are pure; [`check_own`] runs
//! the same check on this node's own copy (its file there, whole, a random
//! chunk group matching the hash), so a holder whose shard file was deleted
//! or damaged behind its back notices and gives up its claim.

use bao_tree::{
    io::{sync::DecodeResponseIter, BaoContentItem},
    BaoTree,
};

use crate::content::{
    group_count, group_ranges, range_bytes, ChunkRanges, Hash, Store, BLOCK_SIZE,
};

/// A random chunk group of a blob of `size` bytes.
pub(crate) fn pick(size: u64) -> ChunkRanges {
    let groups = group_count(size).max(1);
    let g = rand::random_range(0..groups);
    group_ranges(g, g + 1)
}

/// Checks that `encoded` holds all of `ranges` of the blob `hash` of
/// `size` bytes, with valid proofs.
pub(crate) fn verify(
    hash: Hash,
    size: u64,
    ranges: &ChunkRanges,
    encoded: &[u8],
) -> Result<(), String> {
    let tree = BaoTree::new(size, BLOCK_SIZE);
    let mut got = 0u64;
    for item in DecodeResponseIter::new(hash.to_blake3(), tree, encoded, ranges) {
        match item {
            Ok(BaoContentItem::Parent(_)) => {}
            Ok(BaoContentItem::Leaf(leaf)) => got += leaf.data.len() as u64,
            Err(e) => return Err(format!("the proof fails: {e}")),
        }
    }
    let want = range_bytes(ranges, size);
    if got == want {
        Ok(())
    } else {
        Err(format!("{got} of the {want} bytes asked for came back"))
    }
}

/// Checks this node's own copy of blob `hash`: recorded whole, its file
/// there at the recorded length, and a random chunk group read back with
/// a valid proof. Blocking (file I/O).
pub(crate) fn check_own(store: &Store, hash: &Hash) -> Result<(), String> {
    let size = match store.get(hash) {
        Ok(Some(info)) if info.complete => info.size,
        Ok(_) => return Err("the store does not have it whole".into()),
        Err(e) => return Err(format!("the store cannot say: {e}")),
    };
    let path = store.blob_path(hash);
    let gone = |e: &dyn std::fmt::Display| format!("its file {} is gone: {e}", path.display());
    let len = store
        .data(hash)
        .map_err(|e| gone(&e))?
        .stored_len()
        .map_err(|e| gone(&e))?;
    if len < size {
        return Err(format!(
            "its file {} is {len} bytes, {size} expected",
            path.display()
        ));
    }
    let ranges = pick(size);
    let encoded = store
        .encode(hash, &ranges)
        .map_err(|e| format!("reading it back failed: {e}"))?;
    verify(*hash, size, &ranges, &encoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_honest_range_passes_and_a_wrong_one_fails() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        let hash = store.import_bytes(&bytes).unwrap();
        let size = bytes.len() as u64;
        for _ in 0..20 {
            let ranges = pick(size);
            let encoded = store.encode(&hash, &ranges).unwrap();
            verify(hash, size, &ranges, &encoded).unwrap();
            let mut flipped = encoded.clone();
            let last = flipped.len() - 1;
            flipped[last] ^= 1;
            assert!(verify(hash, size, &ranges, &flipped).is_err());
            assert!(verify(hash, size, &ranges, &[]).is_err());
            assert!(verify(Hash::of(b"other"), size, &ranges, &encoded).is_err());
        }
    }

    #[test]
    fn an_own_copy_deleted_cut_short_or_zeroed_fails_its_check() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let hash = store.import_bytes(&bytes).unwrap();
        check_own(&store, &hash).unwrap();
        let path = store.blob_path(&hash);
        std::fs::write(&path, vec![0u8; bytes.len()]).unwrap();
        let err = check_own(&store, &hash).unwrap_err();
        assert!(
            err.contains("reading it back") || err.contains("proof"),
            "{err}"
        );
        std::fs::write(&path, &bytes[..1000]).unwrap();
        assert!(check_own(&store, &hash).unwrap_err().contains("1000 bytes"));
        std::fs::remove_file(&path).unwrap();
        assert!(check_own(&store, &hash).unwrap_err().contains("gone"));
        assert!(check_own(&store, &Hash::of(b"x")).is_err());
    }
}
