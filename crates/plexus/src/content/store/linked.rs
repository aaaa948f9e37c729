//! Blobs exported by hard link: the output file and the store's data file
//! are one inode, so nothing is copied. The user may edit or truncate the
//! output later, so such a blob is trusted only while the inode's stamp
//! (size, mtime, ctime, inode number) is the one recorded after the
//! export; on any change it is verified again in full, and dropped from
//! the store when it no longer matches its hash. Data is also validated
//! on every read ([`Store::encode`]), so wrong bytes are never sent.
//!
//! The row is written (stamp unknown) before the link is made, so after a
//! kill -9 at any point a linked blob is verified before it is trusted.

use std::{fs::File, io, path::Path};

use bao_tree::{
    io::{outboard::PreOrderOutboard, sync::encode_ranges_validated},
    BaoTree, ChunkRanges,
};
use redb::{ReadableTable, TableDefinition};

use super::{store_err, Store, BLOBS};
use crate::{
    content::{Hash, BLOCK_SIZE},
    Error,
};

/// Blobs whose data file has links outside the store, with the stamp of
/// the inode when last known intact (empty: not known yet).
pub(super) const LINKED: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("linked");

impl Store {
    /// Records that `hashes` are about to be linked out (before the links
    /// exist: a crash in between costs one verification, never trust).
    /// Inline blobs have no file to link and are skipped.
    pub(crate) fn mark_linked(&self, hashes: &[Hash]) -> Result<(), Error> {
        let inline = self.inline_among(hashes)?;
        let files = hashes.iter().zip(inline).filter(|(_, i)| !i);
        self.set_stamps(files.map(|(h, _)| (*h, Vec::new())))
    }

    /// Records the current stamp of each linked blob, once its links are in
    /// place (hashes with no file, such as inline blobs, are skipped).
    pub(crate) fn stamp_linked(&self, hashes: &[Hash]) -> Result<(), Error> {
        let stamps: Vec<(Hash, Vec<u8>)> = hashes
            .iter()
            .filter_map(|h| stamp(&self.data_path(h)).map(|s| (*h, s)))
            .collect();
        self.set_stamps(stamps.into_iter())
    }

    fn set_stamps(&self, rows: impl Iterator<Item = (Hash, Vec<u8>)>) -> Result<(), Error> {
        let tx = self.begin_write()?;
        {
            let mut table = tx.open_table(LINKED).map_err(store_err)?;
            for (hash, stamp) in rows {
                table.insert(&hash.0, stamp.as_slice()).map_err(store_err)?;
            }
        }
        tx.commit().map_err(store_err)
    }

    /// Hard-links the complete blob `hash` to `target`; false when it
    /// cannot (another file system, or links not supported), so the
    /// caller copies instead. Call [`Store::mark_linked`] first.
    pub(crate) fn link_out(&self, hash: &Hash, target: &Path) -> bool {
        std::fs::hard_link(self.data_path(hash), target).is_ok()
    }

    /// For a complete blob with links outside the store (`stamp` as
    /// recorded): whether its data is still what `hash` names. A changed
    /// stamp means a full verification; a blob that fails it is dropped
    /// (the store's names only: the user's file stays as they left it).
    pub(super) fn linked_intact(
        &self,
        hash: &Hash,
        size: u64,
        recorded: &[u8],
    ) -> Result<bool, Error> {
        let path = self.data_path(hash);
        let now = stamp(&path);
        if now.as_deref() == Some(recorded) && !recorded.is_empty() {
            return Ok(true);
        }
        if now.is_some() && self.verify_all(hash, size).is_ok() {
            self.set_stamps(now.into_iter().map(|s| (*hash, s)))?;
            return Ok(true);
        }
        tracing::warn!(%hash, "a file exported from the store was changed: dropping the blob, it is no longer served");
        let tx = self.begin_write()?;
        {
            tx.open_table(BLOBS)
                .map_err(store_err)?
                .remove(&hash.0)
                .map_err(store_err)?;
            tx.open_table(LINKED)
                .map_err(store_err)?
                .remove(&hash.0)
                .map_err(store_err)?;
        }
        tx.commit().map_err(store_err)?;
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(self.outboard_path(hash));
        Ok(false)
    }

    /// Reads the whole blob, checking it against the hash tree.
    fn verify_all(&self, hash: &Hash, size: u64) -> Result<(), Error> {
        self.verifications
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let outboard = PreOrderOutboard {
            root: hash.to_blake3(),
            tree: BaoTree::new(size, BLOCK_SIZE),
            data: self.read_outboard(hash, size)?,
        };
        let data = File::open(self.data_path(hash)).map_err(store_err)?;
        if data.metadata().map_err(store_err)?.len() != size {
            return Err(Error::Store(format!("blob {hash} changed size")));
        }
        encode_ranges_validated(data, outboard, &ChunkRanges::all(), io::sink()).map_err(store_err)
    }

    /// How many times a linked blob was read and checked in full since the
    /// store was opened (each costs a read of the whole blob).
    #[doc(hidden)]
    pub fn full_verifications(&self) -> u64 {
        self.verifications
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The recorded stamp of `hash`, if it was ever linked out.
    pub(super) fn linked_stamp(
        table: &impl ReadableTable<&'static [u8; 32], &'static [u8]>,
        hash: &Hash,
    ) -> Result<Option<Vec<u8>>, Error> {
        Ok(table
            .get(&hash.0)
            .map_err(store_err)?
            .map(|v| v.value().to_vec()))
    }
}

/// Size, modification and change times and inode number of `path`: any
/// write, truncation or link change moves one of them.
#[cfg(unix)]
fn stamp(path: &Path) -> Option<Vec<u8>> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    let fields = [
        m.size(),
        m.mtime() as u64,
        m.mtime_nsec() as u64,
        m.ctime() as u64,
        m.ctime_nsec() as u64,
        m.ino(),
    ];
    Some(fields.iter().flat_map(|f| f.to_le_bytes()).collect())
}

#[cfg(not(unix))]
fn stamp(_: &Path) -> Option<Vec<u8>> {
    None
}
