//! Downloads in progress: a [`PartialBlob`] verifies each answer against the
//! root hash, writes what checks out, and records it once synced.

use std::{fs::File, io, sync::Arc};

use bao_tree::{
    io::{
        outboard::PreOrderOutboard,
        sync::{DecodeResponseIter, OutboardMut, WriteAt},
        BaoContentItem,
    },
    BaoTree, ChunkNum, ChunkRanges,
};

use super::{
    outboard::{create_rw, Obao},
    store_err, BlobInfo, Store,
};
use crate::{
    content::{Hash, BLOCK_SIZE},
    Error,
};

impl Store {
    /// Opens a blob for downloading: creates it when new, or returns the
    /// verified ranges already present (resume).
    /// With `batched`, nothing is recorded until the caller records the
    /// finished blob with [`Store::record_complete`] (small files of a
    /// folder); [`PartialBlob::commit`] then neither syncs nor records.
    pub(crate) fn begin_download(
        self: &Arc<Self>,
        hash: Hash,
        size: u64,
        batched: bool,
    ) -> Result<PartialBlob, Error> {
        let existing = self.get(&hash)?;
        let present = match &existing {
            Some(info) if info.size == size => info.present.clone(),
            _ => ChunkRanges::empty(),
        };
        let data = create_rw(&self.data_path(&hash))?;
        let obao = self.write_outboard(&hash, size)?;
        let tree = BaoTree::new(size, BLOCK_SIZE);
        if existing.as_ref().is_none_or(|i| i.size != size) {
            data.set_len(size).map_err(store_err)?;
            if let Obao::File(f) = &obao {
                f.set_len(tree.outboard_size()).map_err(store_err)?;
            }
        }
        if !batched && existing.as_ref().is_none_or(|i| i.size != size) {
            self.put(
                &hash,
                &BlobInfo {
                    size,
                    complete: false,
                    present: ChunkRanges::empty(),
                },
            )?;
        }
        let complete = existing
            .as_ref()
            .is_some_and(|i| i.complete && i.size == size);
        Ok(PartialBlob {
            store: self.clone(),
            hash,
            size,
            data,
            outboard: PreOrderOutboard {
                root: hash.to_blake3(),
                tree,
                data: obao,
            },
            present,
            complete,
            batched,
        })
    }
}

/// Why a response could not be applied to a [`PartialBlob`].
#[derive(Debug)]
pub(crate) enum ApplyError {
    /// The data failed verification against the hash: the sender lied or
    /// its copy is corrupt.
    Invalid(String),
    /// Writing verified data failed (disk full, I/O error): not the
    /// sender's fault.
    Write(io::Error),
}

/// A blob being downloaded: verified writes, committed in batches.
pub(crate) struct PartialBlob {
    store: Arc<Store>,
    hash: Hash,
    size: u64,
    data: File,
    outboard: PreOrderOutboard<Obao>,
    present: ChunkRanges,
    complete: bool,
    /// Recorded by the caller in a batch, not by [`PartialBlob::commit`].
    batched: bool,
}

impl PartialBlob {
    /// Verified ranges present (written, maybe not yet committed).
    pub fn present(&self) -> &ChunkRanges {
        &self.present
    }

    /// Whether every byte is present.
    pub fn is_complete(&self) -> bool {
        self.complete
            || ChunkRanges::from(ChunkNum(0)..bao_tree::ChunkNum::chunks(self.size))
                .is_subset(&self.present)
    }

    /// Verifies a response for `ranges` against the root hash and writes
    /// every chunk group that checks out. Returns the bytes written; on a
    /// proof failure or a failed write, the groups written before it are
    /// kept and the error says which of the two it was.
    pub fn apply(&mut self, ranges: &ChunkRanges, encoded: &[u8]) -> (u64, Result<(), ApplyError>) {
        let tree = self.outboard.tree;
        let mut written = 0;
        for item in DecodeResponseIter::new(self.hash.to_blake3(), tree, encoded, ranges) {
            match item {
                Ok(BaoContentItem::Parent(p)) => {
                    if let Err(e) = self.outboard.save(p.node, &p.pair) {
                        return (written, Err(ApplyError::Write(e)));
                    }
                }
                Ok(BaoContentItem::Leaf(leaf)) => {
                    if let Err(e) = self.data.write_all_at(leaf.offset, &leaf.data) {
                        return (written, Err(ApplyError::Write(e)));
                    }
                    let start = ChunkNum(leaf.offset / 1024);
                    let end = ChunkNum((leaf.offset + leaf.data.len() as u64).div_ceil(1024));
                    self.present |= ChunkRanges::from(start..end);
                    written += leaf.data.len() as u64;
                }
                Err(e) => return (written, Err(ApplyError::Invalid(e.to_string()))),
            }
        }
        (written, Ok(()))
    }

    /// Syncs the files, then records the present ranges (and completeness).
    /// A batched blob is neither synced nor recorded here (see
    /// [`Store::record_complete`]).
    pub fn commit(&mut self) -> Result<(), Error> {
        if self.batched {
            return Ok(());
        }
        self.data.sync_data().map_err(store_err)?;
        self.outboard.data.sync_data().map_err(store_err)?;
        let complete = self.is_complete();
        let present = if complete {
            ChunkRanges::from(ChunkNum(0)..)
        } else {
            self.present.clone()
        };
        self.complete = complete;
        self.store.put(
            &self.hash,
            &BlobInfo {
                size: self.size,
                complete,
                present,
            },
        )
    }
}
