//! A blob's hash tree (outboard) on disk. A blob of at most one chunk group
//! (16 KiB) has no parent nodes, so its outboard is empty and gets no
//! file: a folder of 10,000 small files then costs 10,000 inodes in the
//! store, not 20,000 (`plexus bench` showed file creation, not the network,
//! as the cost of a folder of small files).

use std::{
    fs::{self, File},
    io,
    path::Path,
};

use bao_tree::{
    io::sync::{ReadAt, Size, WriteAt},
    BaoTree,
};

use super::{store_err, Store};
use crate::{
    content::{Hash, BLOCK_SIZE},
    Error,
};

/// Where a blob's parent nodes are: a file, or nowhere (no parents).
#[derive(Debug)]
pub(crate) enum Obao {
    /// The `.obao` file.
    File(File),
    /// The tree has no parent nodes (one chunk group or less).
    Empty,
}

impl Obao {
    /// Syncs the file's data, if there is a file.
    pub(crate) fn sync_data(&self) -> io::Result<()> {
        match self {
            Obao::File(f) => f.sync_data(),
            Obao::Empty => Ok(()),
        }
    }
}

/// Whether a blob of `size` bytes has parent nodes to keep.
pub(crate) fn has_outboard(size: u64) -> bool {
    BaoTree::new(size, BLOCK_SIZE).outboard_size() > 0
}

pub(super) fn no_parents() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "this blob has no hash-tree nodes",
    )
}

impl ReadAt for Obao {
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Obao::File(f) => f.read_at(pos, buf),
            Obao::Empty => Err(no_parents()),
        }
    }
}

impl WriteAt for Obao {
    fn write_at(&mut self, pos: u64, buf: &[u8]) -> io::Result<usize> {
        match self {
            Obao::File(f) => f.write_at(pos, buf),
            Obao::Empty => Err(no_parents()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Obao::File(f) => WriteAt::flush(f),
            Obao::Empty => Ok(()),
        }
    }
}

impl Size for Obao {
    fn size(&self) -> io::Result<Option<u64>> {
        match self {
            Obao::File(f) => f.size(),
            Obao::Empty => Ok(Some(0)),
        }
    }
}

impl Store {
    /// Opens the outboard of `hash` (`size` bytes) for reading.
    pub(crate) fn read_outboard(&self, hash: &Hash, size: u64) -> Result<Obao, Error> {
        if !has_outboard(size) {
            return Ok(Obao::Empty);
        }
        File::open(self.outboard_path(hash))
            .map(Obao::File)
            .map_err(store_err)
    }

    /// Opens (creating it if needed) the outboard of `hash` for a download
    /// of `size` bytes.
    pub(crate) fn write_outboard(&self, hash: &Hash, size: u64) -> Result<Obao, Error> {
        if !has_outboard(size) {
            return Ok(Obao::Empty);
        }
        create_rw(&self.outboard_path(hash)).map(Obao::File)
    }
}

/// Opens `path` for reading and writing, creating it, never truncating.
pub(crate) fn create_rw(path: &Path) -> Result<File, Error> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(store_err)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bao_tree::{ChunkNum, ChunkRanges};

    use super::*;

    fn obao_files(dir: &Path) -> usize {
        fs::read_dir(dir.join("store").join("blobs"))
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "obao"))
            .count()
    }

    #[test]
    fn a_blob_of_one_chunk_group_has_no_outboard_file_and_still_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let small = vec![7u8; 16 * 1024];
        let big = vec![9u8; 16 * 1024 + 1];
        let small_hash = store.import_bytes(&small).unwrap();
        assert_eq!(obao_files(dir.path()), 0, "16 KiB needs no tree file");
        let big_hash = store.import_bytes(&big).unwrap();
        assert_eq!(obao_files(dir.path()), 1, "16 KiB + 1 has parent nodes");

        // Served from the store, then downloaded into another store.
        let other_dir = tempfile::tempdir().unwrap();
        let other = Arc::new(Store::open(other_dir.path()).unwrap());
        for (hash, bytes) in [(small_hash, &small), (big_hash, &big)] {
            let size = bytes.len() as u64;
            let all = ChunkRanges::from(ChunkNum(0)..ChunkNum::chunks(size));
            let encoded = store.encode(&hash, &all).unwrap();
            let mut blob = other.begin_download(hash, size, false).unwrap();
            let (written, result) = blob.apply(&all, &encoded);
            result.unwrap();
            assert_eq!(written, size);
            blob.commit().unwrap();
            assert!(other.get(&hash).unwrap().unwrap().complete);
            assert_eq!(&other.read_small(&hash, 1 << 20).unwrap(), bytes);
        }
        assert_eq!(obao_files(other_dir.path()), 1);

        // A lying answer for the small blob still fails verification.
        let all = ChunkRanges::from(ChunkNum(0)..ChunkNum::chunks(small.len() as u64));
        let mut forged = store.encode(&small_hash, &all).unwrap();
        forged[100] ^= 1;
        let third = tempfile::tempdir().unwrap();
        let third = Arc::new(Store::open(third.path()).unwrap());
        let mut blob = third
            .begin_download(small_hash, small.len() as u64, false)
            .unwrap();
        assert!(blob.apply(&all, &forged).1.is_err());
    }
}
