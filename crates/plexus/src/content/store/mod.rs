//! The blob store: data and outboard (hash tree) files on disk, metadata in
//! redb. A range is recorded as present only after its bytes were verified
//! and synced, so a kill -9 never leaves a blob wrongly marked complete.

mod batch;
mod import;
mod inline;
mod linked;
mod outboard;
mod partial;

use std::{
    fs,
    path::{Path, PathBuf},
    sync::Arc,
};

use bao_tree::{
    io::{outboard::PreOrderOutboard, sync::encode_ranges_validated},
    BaoTree, ChunkNum, ChunkRanges,
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::{meta::SignedRecord, BlobFormat, Hash, BLOCK_SIZE};
use crate::Error;

pub(crate) use batch::sync_file_system;
pub use inline::BlobData;
use inline::INLINE_MAX;
pub(crate) use partial::{Applied, ApplyError, BlobFiles, PartialBlob};

const BLOBS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("blobs");
const SHARES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("shares");
/// Signed metadata records ([`super::meta::SignedRecord`]) of shared content.
const RECORDS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("records");
/// The files of encrypted collections, whose listings the store cannot
/// read without the key: 32-byte hashes one after another.
const SEALED_FILES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("sealed_files");

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
    /// Blobs read and checked in full (see `linked.rs`), for tests.
    verifications: std::sync::atomic::AtomicU64,
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
        tx.open_table(SEALED_FILES).map_err(store_err)?;
        tx.open_table(linked::LINKED).map_err(store_err)?;
        tx.open_table(inline::INLINE).map_err(store_err)?;
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
            verifications: Default::default(),
        }))
    }

    /// Closes the database; later calls fail with [`Error::Stopped`].
    pub(crate) fn close(&self) {
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

    /// Where a blob kept as a file has its bytes (small blobs may be kept
    /// inline instead: read through [`Store::data`]).
    pub fn blob_path(&self, hash: &Hash) -> PathBuf {
        self.data_path(hash)
    }

    /// What the store has of `hash`.
    /// A blob exported by hard link is checked first (`store/linked.rs`): one
    /// whose output file was changed is dropped, so never offered.
    pub fn get(&self, hash: &Hash) -> Result<Option<BlobInfo>, Error> {
        let (info, stamp) = {
            let tx = self.begin_read()?;
            let table = tx.open_table(BLOBS).map_err(store_err)?;
            let value = table.get(&hash.0).map_err(store_err)?;
            let info = value.and_then(|v| BlobInfo::decode(v.value()));
            let links = tx.open_table(linked::LINKED).map_err(store_err)?;
            let mut stamp = Self::linked_stamp(&links, hash)?;
            // Inline blobs are never linked out; a stale row (from before
            // the blob was inline) must not make it look changed.
            if stamp.is_some() {
                let inline = tx.open_table(inline::INLINE).map_err(store_err)?;
                if inline.get(&hash.0).map_err(store_err)?.is_some() {
                    stamp = None;
                }
            }
            (info, stamp)
        };
        match (info, stamp) {
            (Some(info), Some(stamp)) if info.complete => {
                Ok(self.linked_intact(hash, info.size, &stamp)?.then_some(info))
            }
            (info, _) => Ok(info),
        }
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

    /// The name and format recorded for `hash`, if it was shared or fetched
    /// by name (a keyed lookup, not a scan).
    pub fn share(&self, hash: &Hash) -> Result<Option<ShareInfo>, Error> {
        let tx = self.begin_read()?;
        let table = tx.open_table(SHARES).map_err(store_err)?;
        let value = table.get(&hash.0).map_err(store_err)?;
        Ok(value.and_then(|v| serde_json::from_slice(v.value()).ok()))
    }

    /// Every shared item: hash with name and format.
    pub(crate) fn shares(&self) -> Result<Vec<(Hash, ShareInfo)>, Error> {
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
    pub(crate) fn set_record(&self, hash: &Hash, record: &SignedRecord) -> Result<(), Error> {
        let json = serde_json::to_vec(record).expect("serializable");
        let tx = self.begin_write()?;
        {
            let mut table = tx.open_table(RECORDS).map_err(store_err)?;
            table.insert(&hash.0, json.as_slice()).map_err(store_err)?;
        }
        tx.commit().map_err(store_err)
    }

    /// Every signed metadata record this node publishes.
    pub(crate) fn records(&self) -> Result<Vec<SignedRecord>, Error> {
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

    /// Records the files of the encrypted collection `hash`, so removing
    /// it removes them too.
    pub(crate) fn set_sealed_files(&self, hash: &Hash, files: &[Hash]) -> Result<(), Error> {
        let bytes: Vec<u8> = files.iter().flat_map(|h| h.0).collect();
        let tx = self.begin_write()?;
        {
            let mut table = tx.open_table(SEALED_FILES).map_err(store_err)?;
            table.insert(&hash.0, bytes.as_slice()).map_err(store_err)?;
        }
        tx.commit().map_err(store_err)
    }

    /// The files recorded for the encrypted collection `hash` (none if
    /// it is not one).
    pub(crate) fn sealed_files(&self, hash: &Hash) -> Result<Vec<Hash>, Error> {
        let tx = self.begin_read()?;
        let table = tx.open_table(SEALED_FILES).map_err(store_err)?;
        let value = table.get(&hash.0).map_err(store_err)?;
        Ok(value.map_or_else(Vec::new, |v| {
            v.value()
                .chunks_exact(32)
                .map(|c| Hash(c.try_into().expect("32 bytes")))
                .collect()
        }))
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
            let mut sealed = tx.open_table(SEALED_FILES).map_err(store_err)?;
            sealed.remove(&hash.0).map_err(store_err)?;
            let mut links = tx.open_table(linked::LINKED).map_err(store_err)?;
            links.remove(&hash.0).map_err(store_err)?;
            let mut inline = tx.open_table(inline::INLINE).map_err(store_err)?;
            inline.remove(&hash.0).map_err(store_err)?;
            let a = blobs.remove(&hash.0).map_err(store_err)?.is_some();
            let b = shares.remove(&hash.0).map_err(store_err)?.is_some();
            a || b
        };
        tx.commit().map_err(store_err)?;
        let _ = fs::remove_file(self.data_path(hash));
        let _ = fs::remove_file(self.outboard_path(hash));
        Ok(existed)
    }

    /// Reads a whole small blob (at most `limit` bytes) into memory.
    pub(crate) fn read_small(&self, hash: &Hash, limit: u64) -> Result<Vec<u8>, Error> {
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
        let mut bytes = Vec::with_capacity(info.size as usize);
        std::io::Read::read_to_end(&mut self.data(hash)?, &mut bytes).map_err(store_err)?;
        Ok(bytes)
    }

    /// Encodes `ranges` of `hash` with their proofs, validating the data on
    /// the way out. Fails when any requested range is not present.
    pub fn encode(&self, hash: &Hash, ranges: &ChunkRanges) -> Result<Vec<u8>, Error> {
        let info = self.get(hash)?.ok_or(Error::NotFound(*hash))?;
        if !info.complete && !ranges.is_subset(&info.present) {
            return Err(Error::RangeMissing(*hash));
        }
        let data = self.data(hash)?;
        let outboard = PreOrderOutboard {
            root: hash.to_blake3(),
            tree: BaoTree::new(info.size, BLOCK_SIZE),
            data: self.read_outboard(hash, info.size)?,
        };
        let mut out = Vec::new();
        encode_ranges_validated(data, outboard, ranges, &mut out).map_err(store_err)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_is_looked_up_by_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b) = (Hash::of(b"a"), Hash::of(b"b"));
        let info = |name: &str, format| ShareInfo {
            name: name.into(),
            format,
        };
        store
            .set_share(&a, &info("a.txt", BlobFormat::Raw))
            .unwrap();
        store
            .set_share(&b, &info("folder", BlobFormat::Collection))
            .unwrap();
        assert_eq!(
            store.share(&a).unwrap(),
            Some(info("a.txt", BlobFormat::Raw))
        );
        assert_eq!(
            store.share(&b).unwrap(),
            Some(info("folder", BlobFormat::Collection))
        );
        assert_eq!(store.share(&Hash::of(b"c")).unwrap(), None);
        store.remove(&a).unwrap();
        assert_eq!(store.share(&a).unwrap(), None);
        store.close();
        assert!(matches!(store.share(&b), Err(Error::Stopped)));
    }
}
