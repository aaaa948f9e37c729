//! Importing local bytes: streamed once into the store while the hash
//! tree is computed, through a temporary name so a crash leaves no half blob.

use std::{
    fs::{self, File},
    io::{self, Read, Write},
    path::Path,
};

use bao_tree::{io::outboard::PreOrderOutboard, BaoTree, ChunkNum, ChunkRanges};

use super::{
    outboard::{has_outboard, Obao},
    store_err, BlobInfo, Store, INLINE_MAX,
};
use crate::{
    content::{Hash, BLOCK_SIZE},
    Error,
};

impl Store {
    /// Imports a file by streaming it once: copied into the store while its
    /// hash tree is computed. The same content imported twice is stored once.
    pub(crate) fn import_file(&self, path: &Path) -> Result<(Hash, u64), Error> {
        self.file_into(path, None)
    }

    /// [`Store::import_file`]; with `later`, see [`Store::import_reader`].
    fn file_into(&self, path: &Path, later: Option<&mut Unrecorded>) -> Result<(Hash, u64), Error> {
        let io_err = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut source = File::open(path).map_err(io_err)?;
        let size = source.metadata().map_err(io_err)?.len();
        self.import_reader(&mut source, size, later)
            .map_err(|e| naming(e, path))
    }

    /// Imports bytes held in memory (small blobs such as collections).
    pub fn import_bytes(&self, bytes: &[u8]) -> Result<Hash, Error> {
        self.import_reader(&mut &bytes[..], bytes.len() as u64, None)
            .map(|(h, _)| h)
    }

    /// Starts importing many files together ([`ImportBatch`]).
    pub(crate) fn import_batch(&self) -> ImportBatch<'_> {
        ImportBatch {
            store: self,
            pending: Unrecorded::default(),
        }
    }

    /// Streams `size` bytes of `source` into the store. With `later`, the
    /// blob is neither synced nor recorded here: it is added to `later`
    /// for [`ImportBatch`] to record (a blob of at most [`INLINE_MAX`]
    /// bytes is then kept in memory until then, and stored inline).
    fn import_reader(
        &self,
        source: &mut dyn Read,
        size: u64,
        later: Option<&mut Unrecorded>,
    ) -> Result<(Hash, u64), Error> {
        let later = match later {
            Some(pending) if size <= INLINE_MAX => return self.read_inline(source, size, pending),
            other => other,
        };
        let durable = later.is_none();
        let tag: u64 = rand_tag();
        let tmp_data = self.dir.join("blobs").join(format!("tmp-{tag}.data"));
        let tmp_obao = self.dir.join("blobs").join(format!("tmp-{tag}.obao"));
        let result = (|| -> io::Result<Hash> {
            let mut copy = File::create(&tmp_data)?;
            let tree = BaoTree::new(size, BLOCK_SIZE);
            let mut outboard = PreOrderOutboard {
                root: blake3::Hash::from_bytes([0; 32]),
                tree,
                data: if has_outboard(size) {
                    Obao::File(File::create(&tmp_obao)?)
                } else {
                    Obao::Empty
                },
            };
            let tee = Tee {
                inner: source.take(size),
                copy: &mut copy,
            };
            let root = bao_tree::io::sync::outboard(
                io::BufReader::with_capacity(1 << 20, tee),
                tree,
                &mut outboard,
            )?;
            if durable {
                copy.sync_all()?;
                outboard.data.sync_data()?;
            }
            Ok(root.into())
        })();
        let hash = match result {
            Ok(h) => h,
            Err(e) => {
                let _ = fs::remove_file(&tmp_data);
                let _ = fs::remove_file(&tmp_obao);
                return Err(store_err(e));
            }
        };
        if self.get(&hash)?.is_some_and(|i| i.complete) {
            let _ = fs::remove_file(&tmp_data);
            let _ = fs::remove_file(&tmp_obao);
        } else {
            fs::rename(&tmp_data, self.data_path(&hash)).map_err(store_err)?;
            if has_outboard(size) {
                fs::rename(&tmp_obao, self.outboard_path(&hash)).map_err(store_err)?;
            }
            match later {
                Some(pending) => pending.files.push((hash, size)),
                None => self.put(
                    &hash,
                    &BlobInfo {
                        size,
                        complete: true,
                        present: ChunkRanges::from(ChunkNum(0)..),
                    },
                )?,
            }
        }
        Ok((hash, size))
    }

    /// Reads the `size` bytes (at most [`INLINE_MAX`]) of `source` into
    /// `pending`, to be stored inline when it is recorded.
    fn read_inline(
        &self,
        source: &mut dyn Read,
        size: u64,
        pending: &mut Unrecorded,
    ) -> Result<(Hash, u64), Error> {
        let mut bytes = Vec::with_capacity(size as usize);
        source
            .take(size)
            .read_to_end(&mut bytes)
            .map_err(store_err)?;
        if bytes.len() as u64 != size {
            return Err(Error::Store(format!(
                "read {} bytes where {size} were expected: the file changed while it was read; share it again",
                bytes.len()
            )));
        }
        let hash = Hash::of(&bytes);
        let known = pending.inline.iter().any(|(h, _)| *h == hash);
        if !known && !self.get(&hash)?.is_some_and(|i| i.complete) {
            pending.inline.push((hash, bytes));
        }
        Ok((hash, size))
    }
}

/// Blobs imported by an [`ImportBatch`] and not yet recorded.
#[derive(Debug, Default)]
pub(crate) struct Unrecorded {
    /// Written to files, not synced.
    files: Vec<(Hash, u64)>,
    /// Small ones, held here until stored inline.
    inline: Vec<(Hash, Vec<u8>)>,
}

impl Unrecorded {
    fn len(&self) -> usize {
        self.files.len() + self.inline.len()
    }
}

/// How many files an [`ImportBatch`] imports between two records.
const RECORD_EVERY: usize = 1024;

/// Files imported together (the files of a folder): each written without
/// an fsync of its own and recorded complete in batches of
/// [`RECORD_EVERY`] ([`Store::record_complete`]: one sync of the file
/// system, one transaction). A folder of 10,000 small files so costs about
/// ten syncs instead of 30,000 (two fsyncs and a commit per file). Files
/// of at most [`INLINE_MAX`] bytes get no file in the store at all: they
/// are stored inline when the batch is recorded.
///
/// A crash before a batch is recorded leaves its files in the store
/// unrecorded, never recorded unsynced; the next import of the same bytes
/// writes them again. Call [`ImportBatch::finish`] to record the last ones:
/// a batch dropped without it (an import that failed half way) records
/// nothing more.
#[must_use = "files imported in a batch are recorded by `finish`"]
pub(crate) struct ImportBatch<'a> {
    store: &'a Store,
    pending: Unrecorded,
}

impl ImportBatch<'_> {
    /// [`Store::import_file`], recorded with the batch.
    pub(crate) fn import_file(&mut self, path: &Path) -> Result<(Hash, u64), Error> {
        let imported = self.store.file_into(path, Some(&mut self.pending))?;
        self.record_if_full()?;
        Ok(imported)
    }

    /// [`Store::import_sealed_file`], recorded with the batch.
    pub(crate) fn import_sealed_file(
        &mut self,
        path: &Path,
        key: &crate::seal::Key,
    ) -> Result<(Hash, u64, u64), Error> {
        let imported = self.store.sealed_into(path, key, Some(&mut self.pending))?;
        self.record_if_full()?;
        Ok(imported)
    }

    /// Records every file imported so far that is not recorded yet.
    pub(crate) fn finish(mut self) -> Result<(), Error> {
        self.record()
    }

    fn record_if_full(&mut self) -> Result<(), Error> {
        match self.pending.len() >= RECORD_EVERY {
            true => self.record(),
            false => Ok(()),
        }
    }

    fn record(&mut self) -> Result<(), Error> {
        let Unrecorded { files, inline } = std::mem::take(&mut self.pending);
        let blobs: Vec<(Hash, &[u8])> = inline.iter().map(|(h, b)| (*h, &b[..])).collect();
        // Synced here only when no file record follows: that one's synced
        // commit covers both.
        self.store.put_inline(&blobs, files.is_empty())?;
        self.store.record_complete(&files)
    }
}

/// Names the file an import failed on in a store error.
fn naming(e: Error, path: &Path) -> Error {
    match e {
        Error::Store(msg) => Error::Store(format!("importing {}: {msg}", path.display())),
        other => other,
    }
}

/// A reader that copies everything it reads into `copy`.
struct Tee<'a, R> {
    inner: R,
    copy: &'a mut File,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

fn rand_tag() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

impl Store {
    /// Imports a file sealed under `key` ([`crate::seal`]): read once,
    /// sealed chunk by chunk on the way in, its hash tree computed over the
    /// sealed bytes. Returns the hash, the sealed size and the plaintext size.
    pub(crate) fn import_sealed_file(
        &self,
        path: &Path,
        key: &crate::seal::Key,
    ) -> Result<(Hash, u64, u64), Error> {
        self.sealed_into(path, key, None)
    }

    /// [`Store::import_sealed_file`]; with `later`, see [`Store::import_reader`].
    fn sealed_into(
        &self,
        path: &Path,
        key: &crate::seal::Key,
        later: Option<&mut Unrecorded>,
    ) -> Result<(Hash, u64, u64), Error> {
        let io_err = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let source = File::open(path).map_err(io_err)?;
        let plain = source.metadata().map_err(io_err)?.len();
        let size = crate::seal::sealed_len(plain);
        let mut sealer = crate::seal::Sealer::new(key, io::BufReader::new(source).take(plain));
        let (hash, size) = self
            .import_reader(&mut sealer, size, later)
            .map_err(|e| naming(e, path))?;
        Ok((hash, size, plain))
    }
}

#[cfg(test)]
#[path = "import_tests.rs"]
mod tests;
