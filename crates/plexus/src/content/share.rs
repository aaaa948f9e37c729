//! Bringing files into the store and writing them back out.

use std::{
    fs,
    path::{Path, PathBuf},
};

use super::{
    collection::{self, safe_relative_path, walk_files, MAX_COLLECTION_BYTES},
    sealed, BlobData, BlobFormat, Collection, CollectionEntry, Hash, Store,
};
use crate::{seal::Key, Error};

/// Imports a file as a blob, or a folder as a collection of blobs.
/// Returns the hash, its format and the total bytes.
pub(crate) fn import_path(store: &Store, path: &Path) -> Result<(Hash, BlobFormat, u64), Error> {
    let meta = fs::metadata(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.is_file() {
        let (hash, size) = store.import_file(path)?;
        return Ok((hash, BlobFormat::Raw, size));
    }
    let files = walk_files(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut entries = Vec::with_capacity(files.len());
    let mut batch = store.import_batch();
    for (rel, full) in files {
        let (hash, size) = batch.import_file(&full)?;
        entries.push(CollectionEntry {
            path: rel,
            hash,
            size,
            mode: collection::file_mode(&full),
        });
    }
    batch.finish()?;
    let collection = Collection::new(entries);
    let total = collection.total_size();
    let hash = store.import_bytes(&collection.to_bytes())?;
    Ok((hash, BlobFormat::Collection, total))
}

/// Removes shared or fetched content: the blob, and for a collection every
/// file in it that no other share still uses. Returns the hashes removed
/// (`hash` first when it was there).
pub(crate) fn remove(store: &Store, hash: &Hash) -> Result<Vec<Hash>, Error> {
    let shares = store.shares()?;
    // A listing read from the store, or for an encrypted one the files
    // recorded when it was shared or fetched with its key.
    let listed = |h: &Hash| -> Vec<Hash> {
        store
            .read_small(h, MAX_COLLECTION_BYTES)
            .ok()
            .and_then(|b| Collection::from_bytes(&b).ok())
            .map(|c| c.entries.iter().map(|e| e.hash).collect())
            .unwrap_or_else(|| store.sealed_files(h).unwrap_or_default())
    };
    let format = store.share(hash)?.map(|s| s.format);
    let files = match format {
        Some(BlobFormat::Collection) => listed(hash),
        _ => Vec::new(),
    };
    // What the other shares keep: themselves and their collections' files.
    let mut kept = std::collections::HashSet::new();
    for (other, share) in shares.iter().filter(|(h, _)| h != hash) {
        kept.insert(*other);
        if share.format == BlobFormat::Collection {
            kept.extend(listed(other));
        }
    }
    let mut removed = Vec::new();
    if store.remove(hash)? {
        removed.push(*hash);
    }
    for file in files {
        if !kept.contains(&file) && !removed.contains(&file) && store.remove(&file)? {
            removed.push(file);
        }
    }
    Ok(removed)
}

/// Writes complete content from the store to `out`: a file for a blob, a
/// folder for a collection. Refuses to replace an existing path unless
/// `force`; writes through a temporary name so a failure leaves nothing half-written.
/// Encrypted content is refused ([`Error::Encrypted`]); see [`export_with`].
pub fn export(
    store: &Store,
    hash: &Hash,
    format: BlobFormat,
    out: &Path,
    force: bool,
) -> Result<(), Error> {
    export_with(store, hash, format, None, out, force)
}

/// [`export`], opening encrypted content with `key` (from its ticket) on
/// the way out, chunk by chunk: the store keeps only the encrypted bytes.
/// A wrong key is [`crate::seal::Error::WrongKey`], before anything is
/// written; encrypted content without a key is [`Error::Encrypted`].
pub fn export_with(
    store: &Store,
    hash: &Hash,
    format: BlobFormat,
    key: Option<&Key>,
    out: &Path,
    force: bool,
) -> Result<(), Error> {
    if out.exists() && !force {
        return Err(Error::Io {
            path: out.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "already exists (use --force to replace it)",
            ),
        });
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    // Plain content is hard-linked out of the store, not copied; the
    // store is told first, so it checks those blobs before serving them.
    let link = key.is_none();
    match format {
        BlobFormat::Raw => {
            // Looked up before the mark: a blob marked but not yet stamped
            // counts as changed and would be verified in full.
            let size = complete_size(store, hash)?;
            if link {
                store.mark_linked(&[*hash])?;
            }
            copy_blob(store, hash, size, key, out, 0o644, link, false)?;
            if link {
                store.stamp_linked(&[*hash])?;
            }
            Ok(())
        }
        BlobFormat::Collection => {
            let collection = sealed::read_listing(store, hash, key)?;
            let mut hashes: Vec<Hash> = collection.entries.iter().map(|e| e.hash).collect();
            hashes.sort();
            hashes.dedup();
            let sizes = hashes
                .iter()
                .map(|h| Ok((*h, complete_size(store, h)?)))
                .collect::<Result<std::collections::HashMap<Hash, u64>, Error>>()?;
            if link {
                store.mark_linked(&hashes)?;
            }
            let mut linked = std::collections::HashSet::new();
            let tmp = sibling(out, "tmp");
            let _ = fs::remove_dir_all(&tmp);
            fs::create_dir_all(&tmp).map_err(io(&tmp))?;
            // Folders made so far: a folder of 10,000 files asks once, not
            // 10,000 times.
            let mut made = std::collections::HashSet::new();
            // Whether any file was written rather than linked (linked
            // files are the store's, synced there).
            let mut written = false;
            for entry in &collection.entries {
                let rel = safe_relative_path(&entry.path).map_err(Error::Store)?;
                let target = tmp.join(rel);
                if let Some(parent) = target.parent() {
                    if made.insert(parent.to_path_buf()) {
                        fs::create_dir_all(parent).map_err(io(parent))?;
                    }
                }
                // A second file with the same content is copied: one inode
                // has one mode.
                let link = link && linked.insert(entry.hash);
                let size = sizes[&entry.hash];
                // The staging folder is renamed into place whole, so each
                // file goes straight to its place in it.
                written |= copy_blob(
                    store,
                    &entry.hash,
                    size,
                    key,
                    &target,
                    entry.mode,
                    link,
                    true,
                )?;
            }
            // Written files are synced before the folder takes its name,
            // all at once: one sync for 10,000 small files, not 10,000.
            if written {
                super::store::sync_file_system(&tmp)?;
            }
            if link {
                store.stamp_linked(&hashes)?;
            }
            if out.exists() {
                let old = sibling(out, "old");
                fs::rename(out, &old).map_err(io(out))?;
                let _ = fs::remove_dir_all(&old).or_else(|_| fs::remove_file(&old));
            }
            fs::rename(&tmp, out).map_err(io(out))
        }
    }
}

fn sibling(path: &Path, tag: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.plexus-{tag}"))
}

/// The size of `hash` if the store has all of it.
fn complete_size(store: &Store, hash: &Hash) -> Result<u64, Error> {
    store
        .get(hash)?
        .filter(|i| i.complete)
        .map(|i| i.size)
        .ok_or(Error::NotFound(*hash))
}

/// Copies the complete blob `hash` of `size` bytes out of the store,
/// opening it with `key` if given; with `link`, hard-links it instead when
/// the file system allows (and the mode lets the store still read it).
/// With `staged`, `target` is new in a staging folder nobody else sees, so
/// it is written in place rather than beside it and renamed, and left for
/// the caller to sync. Returns whether it wrote the bytes (not a link).
#[allow(clippy::too_many_arguments)]
fn copy_blob(
    store: &Store,
    hash: &Hash,
    size: u64,
    key: Option<&Key>,
    target: &Path,
    mode: u32,
    link: bool,
    staged: bool,
) -> Result<bool, Error> {
    let tmp = if staged {
        target.to_path_buf()
    } else {
        sibling(target, "part")
    };
    let io = |source| Error::Io {
        path: target.to_path_buf(),
        source,
    };
    if let Some(key) = key {
        if let Err(e) = sealed::open_blob(store, hash, key, &tmp, !staged) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        set_mode(&tmp, mode).map_err(io)?;
        return place(&tmp, target).map(|_| true).map_err(io);
    }
    if sealed::is_sealed_blob(store, hash, size)? {
        return Err(Error::Encrypted(*hash));
    }
    if !staged {
        let _ = fs::remove_file(&tmp);
    }
    // An inline blob has no file to link: the link fails and it is copied.
    if link && mode & 0o400 != 0 && store.link_out(hash, &tmp) {
        set_mode(&tmp, mode).map_err(io)?;
        return place(&tmp, target).map(|_| false).map_err(io);
    }
    let copied = match store.data(hash)? {
        BlobData::File(_) => fs::copy(store.blob_path(hash), &tmp).map_err(io)?,
        BlobData::Inline(bytes) => {
            fs::write(&tmp, bytes.get_ref()).map_err(io)?;
            bytes.get_ref().len() as u64
        }
    };
    if copied != size {
        let _ = fs::remove_file(&tmp);
        return Err(Error::Store(format!(
            "blob {hash} has {copied} bytes on disk, expected {size}"
        )));
    }
    set_mode(&tmp, mode).map_err(io)?;
    if !staged {
        fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
    }
    place(&tmp, target).map(|_| true).map_err(io)
}

/// Renames `tmp` to `target` unless they are the same path (staged).
fn place(tmp: &Path, target: &Path) -> std::io::Result<()> {
    if tmp == target {
        return Ok(());
    }
    fs::rename(tmp, target)
}

/// Sets the permission bits of `path` to `mode`'s, if they differ (a
/// stat costs less than a change, which goes to the file system's journal).
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let want = mode & 0o777;
        if fs::metadata(path)?.permissions().mode() & 0o777 != want {
            fs::set_permissions(path, fs::Permissions::from_mode(want))?;
        }
    }
    let _ = (path, mode);
    Ok(())
}
