//! Small blobs fetched together (the files of a folder): written without
//! an fsync each and recorded in one redb transaction after one sync of
//! the file system. A kill -9 or power loss before the record leaves them
//! unrecorded (fetched again on the next get), never recorded unsynced.
//! Blobs kept inline (`inline.rs`, the small files of a shared folder)
//! need no file sync: the record's synced transaction makes them durable.

use std::{fs::File, path::Path};

use bao_tree::{ChunkNum, ChunkRanges};

use super::{store_err, BlobInfo, Store, BLOBS};
use crate::{content::Hash, Error};

impl Store {
    /// Syncs every file written to the store, then records the blobs
    /// `done` (hash and size) as complete, in one synced transaction
    /// (which also makes earlier unsynced writes, such as
    /// [`Store::put_inline`]'s, durable).
    pub(crate) fn record_complete(&self, done: &[(Hash, u64)]) -> Result<(), Error> {
        if done.is_empty() {
            return Ok(());
        }
        sync_file_system(&self.dir.join("blobs"))?;
        let tx = self.begin_write()?;
        {
            let mut table = tx.open_table(BLOBS).map_err(store_err)?;
            for (hash, size) in done {
                let info = BlobInfo {
                    size: *size,
                    complete: true,
                    present: ChunkRanges::from(ChunkNum(0)..),
                };
                table
                    .insert(&hash.0, info.encode().as_slice())
                    .map_err(store_err)?;
            }
        }
        tx.commit().map_err(store_err)
    }
}

/// One `syncfs` for the file system holding `dir`: cheaper than an fsync
/// per file when there are thousands.
#[cfg(target_os = "linux")]
pub(crate) fn sync_file_system(dir: &Path) -> Result<(), Error> {
    use std::os::fd::AsRawFd;
    let handle = File::open(dir).map_err(store_err)?;
    // SAFETY: syncfs only reads the descriptor, which `handle` keeps open.
    if unsafe { libc::syncfs(handle.as_raw_fd()) } != 0 {
        return Err(store_err(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Elsewhere: every blob file in `dir`, one fsync each.
#[cfg(not(target_os = "linux"))]
pub(crate) fn sync_file_system(dir: &Path) -> Result<(), Error> {
    for entry in std::fs::read_dir(dir).map_err(store_err)?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sync_file_system(&path)?;
        } else {
            File::open(path)
                .and_then(|f| f.sync_all())
                .map_err(store_err)?;
        }
    }
    Ok(())
}
