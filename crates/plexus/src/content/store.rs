//! The blob store: data and outboard (hash tree) files on disk, metadata in
//! redb. A range is recorded as present only after its bytes were verified
//! and synced, so a kill -9 never leaves a blob wrongly marked complete.

use std::{
    fs::{self, File},
    io::{self, Read, Write},
    path::{Path, PathBuf},
    sync::Arc,
};

use bao_tree::{
    io::{
        outboard::PreOrderOutboard,
        sync::{encode_ranges_validated, DecodeResponseIter, OutboardMut, WriteAt},
        BaoContentItem,
    },
    BaoTree, ChunkNum, ChunkRanges,
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::{meta::SignedRecord, BlobFormat, Hash, BLOCK_SIZE};
use crate::Error;

const BLOBS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("blobs");
const SHARES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("shares");
/// Signed metadata records ([`super::meta::SignedRecord`]) of shared content.
const RECORDS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("records");

/// What the store knows about one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// Size in bytes.
    pub size: u64,
    /// Every chunk group is present and verified.
    pub complete: bool,
    /// The verified chunk ranges present (all of them when complete).
    pub present: ChunkRanges,
}

impl BlobInfo {
    /// Bytes present and verified.
    pub fn present_bytes(&self) -> u64 {
        super::range_bytes(&self.present, self.size)
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.complete as u8];
        out.extend_from_slice(&self.size.to_le_bytes());
        for b in self.present.boundaries() {
            out.extend_from_slice(&b.0.to_le_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let (&complete, rest) = bytes.split_first()?;
        let size = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
        let bounds: smallvec::SmallVec<[ChunkNum; 2]> = rest[8..]
            .chunks_exact(8)
            .map(|c| ChunkNum(u64::from_le_bytes(c.try_into().unwrap())))
            .collect();
        Some(Self {
            size,
            complete: complete == 1,
            present: ChunkRanges::new(bounds)?,
        })
    }
}

/// The human metadata recorded when content is shared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareInfo {
    /// Display name, e.g. the file or folder name.
    pub name: String,
    /// Blob or collection.
    pub format: BlobFormat,
}

/// One line of `plexus ls`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlobEntry {
    /// The blob's hash.
    pub hash: Hash,
    /// Size in bytes.
    pub size: u64,
    /// Verified bytes present.
    pub present_bytes: u64,
    /// All present and verified.
    pub complete: bool,
    /// Name and format, when the blob was shared or fetched by name.
    pub share: Option<ShareInfo>,
}

/// The store in a data directory.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    /// `None` once closed, so a stopped node releases the database lock
    /// even while handles to it remain.
    db: std::sync::RwLock<Option<Database>>,
}

fn store_err(e: impl std::fmt::Display) -> Error {
    Error::Store(e.to_string())
}

impl Store {
    /// Opens (or creates) the store under `data_dir/store`.
    pub fn open(data_dir: &Path) -> Result<Arc<Self>, Error> {
        let dir = data_dir.join("store");
        fs::create_dir_all(dir.join("blobs")).map_err(|source| Error::DataDir {
            path: dir.clone(),
            source,
        })?;
        let db = Database::create(dir.join("meta.redb")).map_err(store_err)?;
        let tx = db.begin_write().map_err(store_err)?;
        tx.open_table(BLOBS).map_err(store_err)?;
        tx.open_table(SHARES).map_err(store_err)?;
        tx.open_table(RECORDS).map_err(store_err)?;
        tx.commit().map_err(store_err)?;
        // Leftovers of imports interrupted by a crash.
        if let Ok(entries) = fs::read_dir(dir.join("blobs")) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with("tmp-") {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(Arc::new(Self {
            dir,
            db: std::sync::RwLock::new(Some(db)),
        }))
    }

    /// Closes the database; later calls fail with [`Error::Stopped`].
    pub fn close(&self) {
        self.db.write().unwrap_or_else(|e| e.into_inner()).take();
    }

    fn db(&self) -> Result<std::sync::RwLockReadGuard<'_, Option<Database>>, Error> {
        let guard = self.db.read().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            return Err(Error::Stopped);
        }
        Ok(guard)
    }

    fn begin_read(&self) -> Result<redb::ReadTransaction, Error> {
        self.db()?
            .as_ref()
            .expect("open")
            .begin_read()
            .map_err(store_err)
    }

    fn begin_write(&self) -> Result<redb::WriteTransaction, Error> {
        self.db()?
            .as_ref()
            .expect("open")
            .begin_write()
            .map_err(store_err)
    }

    fn data_path(&self, hash: &Hash) -> PathBuf {
        self.dir.join("blobs").join(format!("{hash}.data"))
    }

    fn outboard_path(&self, hash: &Hash) -> PathBuf {
        self.dir.join("blobs").join(format!("{hash}.obao"))
    }

    /// Where a complete blob's bytes are, for reading them out.
    pub fn blob_path(&self, hash: &Hash) -> PathBuf {
        self.data_path(hash)
    }

    /// What the store has of `hash`.
    pub fn get(&self, hash: &Hash) -> Result<Option<BlobInfo>, Error> {
        let tx = self.begin_read()?;
        let table = tx.open_table(BLOBS).map_err(store_err)?;
        let value = table.get(&hash.0).map_err(store_err)?;
        Ok(value.and_then(|v| BlobInfo::decode(v.value())))
    }

    fn put(&self, hash: &Hash, info: &BlobInfo) -> Result<(), Error> {
        let tx = self.begin_write()?;
        {
            let mut table = tx.open_table(BLOBS).map_err(store_err)?;
            table
                .insert(&hash.0, info.encode().as_slice())
                .map_err(store_err)?;
        }
        tx.commit().map_err(store_err)
    }

    /// Records a name and format for shared content.
    pub fn set_share(&self, hash: &Hash, share: &ShareInfo) -> Result<(), Error> {
        let json = serde_json::to_vec(share).expect("serializable");
        let tx = self.begin_write()?;
        {
            let mut table = tx.open_table(SHARES).map_err(store_err)?;
            table.insert(&hash.0, json.as_slice()).map_err(store_err)?;
        }
        tx.commit().map_err(store_err)
    }

    /// Every shared item: hash with name and format.
    pub fn shares(&self) -> Result<Vec<(Hash, ShareInfo)>, Error> {
        let tx = self.begin_read()?;
        let table = tx.open_table(SHARES).map_err(store_err)?;
        let mut out = Vec::new();
        for row in table.iter().map_err(store_err)? {
            let (k, v) = row.map_err(store_err)?;
            if let Ok(share) = serde_json::from_slice(v.value()) {
                out.push((Hash(*k.value()), share));
            }
        }
        Ok(out)
    }

    /// Stores the signed metadata record of `hash`, replacing an older one.
    pub fn set_record(&self, hash: &Hash, record: &SignedRecord) -> Result<(), Error> {
        let json = serde_json::to_vec(record).expect("serializable");
        let tx = self.begin_write()?;
        {
            let mut table = tx.open_table(RECORDS).map_err(store_err)?;
            table.insert(&hash.0, json.as_slice()).map_err(store_err)?;
        }
        tx.commit().map_err(store_err)
    }

    /// Every signed metadata record this node publishes.
    pub fn records(&self) -> Result<Vec<SignedRecord>, Error> {
        let tx = self.begin_read()?;
        let table = tx.open_table(RECORDS).map_err(store_err)?;
        let mut out = Vec::new();
        for row in table.iter().map_err(store_err)? {
            let (_, v) = row.map_err(store_err)?;
            if let Ok(record) = serde_json::from_slice(v.value()) {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// Every blob, complete or partial, with its share info if any.
    pub fn list(&self) -> Result<Vec<BlobEntry>, Error> {
        let shares: std::collections::HashMap<Hash, ShareInfo> =
            self.shares()?.into_iter().collect();
        let tx = self.begin_read()?;
        let table = tx.open_table(BLOBS).map_err(store_err)?;
        let mut out = Vec::new();
        for row in table.iter().map_err(store_err)? {
            let (k, v) = row.map_err(store_err)?;
            let hash = Hash(*k.value());
            if let Some(info) = BlobInfo::decode(v.value()) {
                out.push(BlobEntry {
                    hash,
                    size: info.size,
                    present_bytes: info.present_bytes(),
                    complete: info.complete,
                    share: shares.get(&hash).cloned(),
                });
            }
        }
        Ok(out)
    }

    /// Drops a blob and its share info; returns whether it was there.
    pub fn remove(&self, hash: &Hash) -> Result<bool, Error> {
        let tx = self.begin_write()?;
        let existed = {
            let mut blobs = tx.open_table(BLOBS).map_err(store_err)?;
            let mut shares = tx.open_table(SHARES).map_err(store_err)?;
            let mut records = tx.open_table(RECORDS).map_err(store_err)?;
            records.remove(&hash.0).map_err(store_err)?;
            let a = blobs.remove(&hash.0).map_err(store_err)?.is_some();
            let b = shares.remove(&hash.0).map_err(store_err)?.is_some();
            a || b
        };
        tx.commit().map_err(store_err)?;
        let _ = fs::remove_file(self.data_path(hash));
        let _ = fs::remove_file(self.outboard_path(hash));
        Ok(existed)
    }

    /// Imports a file by streaming it once: copied into the store while its
    /// hash tree is computed. The same content imported twice is stored once.
    pub fn import_file(&self, path: &Path) -> Result<(Hash, u64), Error> {
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
                data: File::create(&tmp_obao)?,
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
            outboard.data.sync_all()?;
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
            fs::rename(&tmp_obao, self.outboard_path(&hash)).map_err(store_err)?;
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

    /// Reads a whole small blob (at most `limit` bytes) into memory.
    pub fn read_small(&self, hash: &Hash, limit: u64) -> Result<Vec<u8>, Error> {
        let info = self.get(hash)?.ok_or(Error::NotFound(*hash))?;
        if !info.complete {
            return Err(Error::NotFound(*hash));
        }
        if info.size > limit {
            return Err(Error::Store(format!(
                "blob {hash} is {} bytes, over the {limit} byte limit",
                info.size
            )));
        }
        fs::read(self.data_path(hash)).map_err(store_err)
    }

    /// Encodes `ranges` of `hash` with their proofs, validating the data on
    /// the way out. Fails when any requested range is not present.
    pub fn encode(&self, hash: &Hash, ranges: &ChunkRanges) -> Result<Vec<u8>, Error> {
        let info = self.get(hash)?.ok_or(Error::NotFound(*hash))?;
        if !info.complete && !ranges.is_subset(&info.present) {
            return Err(Error::RangeMissing(*hash));
        }
        let data = File::open(self.data_path(hash)).map_err(store_err)?;
        let outboard = PreOrderOutboard {
            root: hash.to_blake3(),
            tree: BaoTree::new(info.size, BLOCK_SIZE),
            data: File::open(self.outboard_path(hash)).map_err(store_err)?,
        };
        let mut out = Vec::new();
        encode_ranges_validated(data, outboard, ranges, &mut out).map_err(store_err)?;
        Ok(out)
    }

    /// Opens a blob for downloading: creates it when new, or returns the
    /// verified ranges already present (resume).
    pub fn begin_download(self: &Arc<Self>, hash: Hash, size: u64) -> Result<PartialBlob, Error> {
        let existing = self.get(&hash)?;
        let present = match &existing {
            Some(info) if info.size == size => info.present.clone(),
            _ => ChunkRanges::empty(),
        };
        let open = |path: PathBuf| {
            fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(store_err)
        };
        let data = open(self.data_path(&hash))?;
        let obao = open(self.outboard_path(&hash))?;
        let tree = BaoTree::new(size, BLOCK_SIZE);
        if existing.as_ref().is_none_or(|i| i.size != size) {
            data.set_len(size).map_err(store_err)?;
            obao.set_len(tree.outboard_size()).map_err(store_err)?;
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
        })
    }
}

/// Why a response could not be applied to a [`PartialBlob`].
#[derive(Debug)]
pub enum ApplyError {
    /// The data failed verification against the hash: the sender lied or
    /// its copy is corrupt.
    Invalid(String),
    /// Writing verified data failed (disk full, I/O error): not the
    /// sender's fault.
    Write(io::Error),
}

/// A blob being downloaded: verified writes, committed in batches.
pub struct PartialBlob {
    store: Arc<Store>,
    hash: Hash,
    size: u64,
    data: File,
    outboard: PreOrderOutboard<File>,
    present: ChunkRanges,
    complete: bool,
}

impl PartialBlob {
    /// The blob's size.
    pub fn size(&self) -> u64 {
        self.size
    }

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
    pub fn commit(&mut self) -> Result<(), Error> {
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
