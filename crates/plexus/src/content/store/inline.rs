//! Small blobs kept whole inside the database instead of as files.
//!
//! A folder shared with `plexus share` is imported in a batch
//! ([`super::ImportBatch`]); each of its files of at most [`INLINE_MAX`]
//! bytes (one chunk group, so it has no hash-tree nodes to keep) becomes a
//! row of the `inline` table instead of a file in the store: no inode, no
//! data file to sync, one database write for a batch of them. Sharing
//! 10,000 files of 4 KiB took 0.8-0.9 s with a file each and 0.4-0.5 s
//! inline (`plexus bench --files 10000`), and the store no longer doubles
//! the folder's file count. iroh-blobs keeps small blobs inline too.
//!
//! A getter keeps the small files it fetches as files, on purpose: it
//! writes them out with `get -o`, and hard links out of the store beat
//! writing each file again (a get of those 10,000 files, written out:
//! 0.77 s with files and links, 0.84-0.97 s inline and copied, alternated
//! runs of the same build).
//!
//! An inline blob is whole or absent: its row and its `blobs` row are
//! written in one transaction, and [`Store::put_inline`] checks the bytes
//! against the hash first, so a row never holds wrong bytes. Readers go
//! through [`Store::data`], which hands out either form; an inline blob is
//! exported as a copy, so a user editing it cannot touch the store's.

use std::{
    fs::File,
    io::{self, Cursor, Read},
};

use bao_tree::{io::sync::ReadAt, ChunkNum, ChunkRanges};
use redb::{Durability, TableDefinition};

use super::{store_err, BlobInfo, Store, BLOBS};
use crate::{content::Hash, Error};

/// Whole blobs of at most [`INLINE_MAX`] bytes, by hash.
pub(super) const INLINE: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("inline");

/// The largest blob kept in the database: one chunk group (16 KiB), whose
/// encoding is its bytes and whose hash is plain BLAKE3 of them.
pub(crate) const INLINE_MAX: u64 = crate::content::GROUP_BYTES;

/// A complete blob's bytes, wherever the store keeps them.
#[derive(Debug)]
pub enum BlobData {
    /// Kept in the database (small blobs).
    Inline(Cursor<Vec<u8>>),
    /// Kept as a file in the store's `blobs` folder.
    File(File),
}

impl BlobData {
    /// Bytes stored (for a file: its current length on disk).
    pub fn stored_len(&self) -> io::Result<u64> {
        match self {
            BlobData::Inline(c) => Ok(c.get_ref().len() as u64),
            BlobData::File(f) => Ok(f.metadata()?.len()),
        }
    }
}

impl Read for BlobData {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            BlobData::Inline(c) => c.read(buf),
            BlobData::File(f) => f.read(buf),
        }
    }
}

impl ReadAt for BlobData {
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            BlobData::Inline(c) => c.get_ref().read_at(pos, buf),
            BlobData::File(f) => f.read_at(pos, buf),
        }
    }
}

impl Store {
    /// Stores each of `blobs` whose bytes hash to its hash, and are at most
    /// [`INLINE_MAX`], as a complete inline blob; returns which were taken.
    /// With `durable` false the write is not synced: it becomes durable
    /// with the store's next synced commit (such as
    /// [`Store::record_complete`]'s), and a crash before that loses the
    /// blobs whole, never half.
    pub(crate) fn put_inline(
        &self,
        blobs: &[(Hash, &[u8])],
        durable: bool,
    ) -> Result<Vec<bool>, Error> {
        let taken: Vec<bool> = blobs
            .iter()
            .map(|(hash, bytes)| bytes.len() as u64 <= INLINE_MAX && Hash::of(bytes) == *hash)
            .collect();
        if !taken.contains(&true) {
            return Ok(taken);
        }
        let mut tx = self.begin_write()?;
        if !durable {
            tx.set_durability(Durability::None).map_err(store_err)?;
        }
        {
            let mut inline = tx.open_table(INLINE).map_err(store_err)?;
            let mut info = tx.open_table(BLOBS).map_err(store_err)?;
            for ((hash, bytes), _) in blobs.iter().zip(&taken).filter(|(_, t)| **t) {
                inline.insert(&hash.0, *bytes).map_err(store_err)?;
                let row = BlobInfo {
                    size: bytes.len() as u64,
                    complete: true,
                    present: ChunkRanges::from(ChunkNum(0)..),
                };
                info.insert(&hash.0, row.encode().as_slice())
                    .map_err(store_err)?;
            }
        }
        tx.commit().map_err(store_err)?;
        // Files of an earlier, unfinished download of the same blob.
        for ((hash, _), _) in blobs.iter().zip(&taken).filter(|(_, t)| **t) {
            let _ = std::fs::remove_file(self.data_path(hash));
        }
        Ok(taken)
    }

    /// Whether `hash` is kept inline.
    pub fn is_inline(&self, hash: &Hash) -> Result<bool, Error> {
        Ok(self.inline_among(std::slice::from_ref(hash))?[0])
    }

    /// For each of `hashes`, whether it is kept inline (one lookup each,
    /// in one read transaction).
    pub(crate) fn inline_among(&self, hashes: &[Hash]) -> Result<Vec<bool>, Error> {
        let tx = self.begin_read()?;
        let table = tx.open_table(INLINE).map_err(store_err)?;
        hashes
            .iter()
            .map(|h| Ok(table.get(&h.0).map_err(store_err)?.is_some()))
            .collect()
    }

    /// The bytes of the inline blob `hash`, if it is one.
    fn inline_bytes(&self, hash: &Hash) -> Result<Option<Vec<u8>>, Error> {
        let tx = self.begin_read()?;
        let table = tx.open_table(INLINE).map_err(store_err)?;
        let value = table.get(&hash.0).map_err(store_err)?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    /// The stored bytes of `hash` (complete or not), inline or from its
    /// file: the one way to read a blob's data.
    pub fn data(&self, hash: &Hash) -> Result<BlobData, Error> {
        if let Some(bytes) = self.inline_bytes(hash)? {
            return Ok(BlobData::Inline(Cursor::new(bytes)));
        }
        File::open(self.data_path(hash))
            .map(BlobData::File)
            .map_err(|e| Error::Store(format!("reading {hash}: {e}")))
    }
}

#[cfg(test)]
#[path = "inline_tests.rs"]
mod tests;
