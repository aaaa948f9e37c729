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
    outboard::{create_rw, no_parents, Obao},
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
            size,
            files: BlobFiles {
                hash,
                data: Shared(Some(Arc::new(data))),
                outboard: PreOrderOutboard {
                    root: hash.to_blake3(),
                    tree,
                    data: Shared(match obao {
                        Obao::File(f) => Some(Arc::new(f)),
                        Obao::Empty => None,
                    }),
                },
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
    size: u64,
    files: BlobFiles,
    present: ChunkRanges,
    complete: bool,
    /// Recorded by the caller in a batch, not by [`PartialBlob::commit`].
    batched: bool,
}

/// The files of a [`PartialBlob`]: verifies answers and writes what checks
/// out. [`PartialBlob::files`] hands out copies that share the open files
/// (positional writes need no `&mut`), so answers are verified and written
/// on several threads at once without a file descriptor each; what one
/// wrote is present once given back with [`PartialBlob::add_written`].
#[derive(Clone)]
pub(crate) struct BlobFiles {
    hash: Hash,
    data: Shared,
    outboard: PreOrderOutboard<Shared>,
}

/// An open file written at offsets from several threads; `None` for an
/// outboard without parent nodes (one chunk group or less).
#[derive(Clone)]
struct Shared(Option<Arc<File>>);

impl Shared {
    fn file(&self) -> io::Result<&File> {
        self.0.as_deref().ok_or_else(no_parents)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.as_deref().map_or(Ok(()), File::sync_data)
    }
}

impl WriteAt for Shared {
    fn write_at(&mut self, pos: u64, buf: &[u8]) -> io::Result<usize> {
        #[cfg(unix)]
        return std::os::unix::fs::FileExt::write_at(self.file()?, buf, pos);
        #[cfg(windows)]
        return std::os::windows::fs::FileExt::seek_write(self.file()?, buf, pos);
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What [`BlobFiles::apply`] did with one answer.
#[derive(Debug)]
pub(crate) struct Applied {
    /// Bytes of data written.
    pub written: u64,
    /// The chunks written, verified.
    pub ranges: ChunkRanges,
    /// Whether the whole answer checked out and was written.
    pub result: Result<(), ApplyError>,
}

impl BlobFiles {
    /// Verifies a response for `ranges` against the root hash and writes
    /// every chunk group that checks out. On a proof failure or a failed
    /// write, the groups written before it are kept (and in
    /// [`Applied::ranges`]) and the error says which of the two it was.
    pub fn apply(&mut self, ranges: &ChunkRanges, encoded: &[u8]) -> Applied {
        let tree = self.outboard.tree;
        let mut done = Applied {
            written: 0,
            ranges: ChunkRanges::empty(),
            result: Ok(()),
        };
        for item in DecodeResponseIter::new(self.hash.to_blake3(), tree, encoded, ranges) {
            match item {
                Ok(BaoContentItem::Parent(p)) => {
                    if let Err(e) = self.outboard.save(p.node, &p.pair) {
                        done.result = Err(ApplyError::Write(e));
                        break;
                    }
                }
                Ok(BaoContentItem::Leaf(leaf)) => {
                    if let Err(e) = self.data.write_all_at(leaf.offset, &leaf.data) {
                        done.result = Err(ApplyError::Write(e));
                        break;
                    }
                    let start = ChunkNum(leaf.offset / 1024);
                    let end = ChunkNum((leaf.offset + leaf.data.len() as u64).div_ceil(1024));
                    done.ranges |= ChunkRanges::from(start..end);
                    done.written += leaf.data.len() as u64;
                }
                Err(e) => {
                    done.result = Err(ApplyError::Invalid(e.to_string()));
                    break;
                }
            }
        }
        done
    }
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

    /// Verifies a response for `ranges` and writes what checks out (see
    /// [`BlobFiles::apply`]); returns the bytes written and whether all
    /// of it checked out and was written.
    pub fn apply(&mut self, ranges: &ChunkRanges, encoded: &[u8]) -> (u64, Result<(), ApplyError>) {
        let applied = self.files.apply(ranges, encoded);
        self.add_written(&applied.ranges);
        (applied.written, applied.result)
    }

    /// This blob's files, to verify and write answers elsewhere.
    pub fn files(&self) -> BlobFiles {
        self.files.clone()
    }

    /// Marks `ranges`, verified and written through [`PartialBlob::files`],
    /// present.
    pub fn add_written(&mut self, ranges: &ChunkRanges) {
        self.present = &self.present | ranges;
    }

    /// Syncs the files, then records the present ranges (and completeness).
    /// A batched blob is neither synced nor recorded here (see
    /// [`Store::record_complete`]).
    pub fn commit(&mut self) -> Result<(), Error> {
        match self.begin_commit()? {
            Some(commit) => commit.run(),
            None => Ok(()),
        }
    }

    /// What [`PartialBlob::commit`] would record now, to be synced and
    /// recorded by [`Commit::run`] while this blob goes on taking answers;
    /// `None` for a batched blob.
    pub fn begin_commit(&mut self) -> Result<Option<Commit>, Error> {
        if self.batched {
            return Ok(None);
        }
        let complete = self.is_complete();
        let present = if complete {
            ChunkRanges::from(ChunkNum(0)..)
        } else {
            self.present.clone()
        };
        self.complete = complete;
        let files = self.files();
        Ok(Some(Commit {
            store: self.store.clone(),
            info: BlobInfo {
                size: self.size,
                complete,
                present,
            },
            files,
        }))
    }
}

/// The ranges of a [`PartialBlob`] present when it was taken, with its
/// files. Writes made after it was taken are not part of it, so
/// they may be synced or not: it records only what it syncs.
pub(crate) struct Commit {
    store: Arc<Store>,
    info: BlobInfo,
    files: BlobFiles,
}

impl Commit {
    /// Syncs the files' data, then records the ranges: after a crash at
    /// any point, what is recorded was on disk.
    pub fn run(self) -> Result<(), Error> {
        self.files.data.sync_data().map_err(store_err)?;
        self.files.outboard.data.sync_data().map_err(store_err)?;
        self.store.put(&self.files.hash, &self.info)
    }
}

#[cfg(test)]
#[path = "partial_tests.rs"]
mod tests;
