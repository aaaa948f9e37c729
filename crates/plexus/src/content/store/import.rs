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
    store_err, BlobInfo, Store,
};
use crate::{
    content::{Hash, BLOCK_SIZE},
    Error,
};

impl Store {
    /// Imports a file by streaming it once: copied into the store while its
    /// hash tree is computed. The same content imported twice is stored once.
    pub(crate) fn import_file(&self, path: &Path) -> Result<(Hash, u64), Error> {
        let io_err = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut source = File::open(path).map_err(io_err)?;
        let size = source.metadata().map_err(io_err)?.len();
        self.import_reader(&mut source, size).map_err(|e| match e {
            Error::Store(msg) => Error::Store(format!("importing {}: {msg}", path.display())),
            other => other,
        })
    }

    /// Imports bytes held in memory (small blobs such as collections).
    pub fn import_bytes(&self, bytes: &[u8]) -> Result<Hash, Error> {
        self.import_reader(&mut &bytes[..], bytes.len() as u64)
            .map(|(h, _)| h)
    }

    fn import_reader(&self, source: &mut dyn Read, size: u64) -> Result<(Hash, u64), Error> {
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
            copy.sync_all()?;
            outboard.data.sync_data()?;
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
            self.put(
                &hash,
                &BlobInfo {
                    size,
                    complete: true,
                    present: ChunkRanges::from(ChunkNum(0)..),
                },
            )?;
        }
        Ok((hash, size))
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
        let io_err = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let source = File::open(path).map_err(io_err)?;
        let plain = source.metadata().map_err(io_err)?.len();
        let size = crate::seal::sealed_len(plain);
        let mut sealer = crate::seal::Sealer::new(key, io::BufReader::new(source).take(plain));
        let (hash, size) = self.import_reader(&mut sealer, size).map_err(|e| match e {
            Error::Store(msg) => Error::Store(format!("importing {}: {msg}", path.display())),
            other => other,
        })?;
        Ok((hash, size, plain))
    }
}
