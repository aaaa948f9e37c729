//! Encrypted shares: files and folders sealed ([`crate::seal`]) on their
//! way into the store, opened on their way out. The store holds and serves
//! only the sealed bytes and names them by their BLAKE3 hash, so every peer
//! verifies them without the key. A folder is sealed whole: each file is a
//! sealed blob, and the listing (paths, hashes, sizes, modes) is a sealed
//! blob too, whose hash the ticket names; the listing's sizes are the
//! sealed blobs' sizes, which the download checks.

use std::{
    fs::File,
    io::{BufReader, BufWriter, Read},
    path::Path,
};

use super::{
    collection::{walk_files, MAX_COLLECTION_BYTES},
    BlobFormat, Collection, CollectionEntry, Hash, Store,
};
use crate::{seal, seal::Key, Error};

/// Largest sealed listing: a listing of [`MAX_COLLECTION_BYTES`], sealed.
pub(crate) fn max_listing_bytes() -> u64 {
    seal::sealed_len(MAX_COLLECTION_BYTES)
}

/// Seals a file into a blob, or a folder into sealed blobs and a sealed
/// listing, all under `key`. Returns the hash, its format and the total
/// plaintext bytes.
pub(crate) fn import_path(
    store: &Store,
    path: &Path,
    key: &Key,
) -> Result<(Hash, BlobFormat, u64), Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        let (hash, _, plain) = store.import_sealed_file(path, key)?;
        return Ok((hash, BlobFormat::Raw, plain));
    }
    let mut entries = Vec::new();
    let mut total = 0u64;
    let mut batch = store.import_batch();
    for (rel, full) in walk_files(path).map_err(io)? {
        let (hash, size, plain) = batch.import_sealed_file(&full, key)?;
        total += plain;
        entries.push(CollectionEntry {
            path: rel,
            hash,
            size,
            mode: super::collection::file_mode(&full),
        });
    }
    batch.finish()?;
    let files: Vec<Hash> = entries.iter().map(|e| e.hash).collect();
    let listing = Collection::new(entries).to_bytes();
    let mut sealed = Vec::with_capacity(seal::sealed_len(listing.len() as u64) as usize);
    seal::encrypt_with(key, &listing[..], &mut sealed)?;
    let hash = store.import_bytes(&sealed)?;
    store.set_sealed_files(&hash, &files)?;
    Ok((hash, BlobFormat::Collection, total))
}

/// Records the files of the encrypted collection `hash`, fetched with its
/// key, so that removing it removes them too.
pub(crate) fn remember_files(store: &Store, hash: &Hash, key: &Key) -> Result<(), Error> {
    let listing = read_listing(store, hash, Some(key))?;
    let files: Vec<Hash> = listing.entries.iter().map(|e| e.hash).collect();
    store.set_sealed_files(hash, &files)
}

/// Parses a collection listing: opened with `key` when there is one; a
/// sealed listing without a key is [`Error::Encrypted`].
pub(crate) fn open_listing(
    hash: &Hash,
    bytes: &[u8],
    key: Option<&Key>,
) -> Result<Collection, Error> {
    match key {
        Some(key) => {
            let mut plain = Vec::new();
            seal::decrypt(key, bytes, &mut plain)?;
            Collection::from_bytes(&plain).map_err(Error::Store)
        }
        None if looks_sealed(bytes, bytes.len() as u64) => Err(Error::Encrypted(*hash)),
        None => Collection::from_bytes(bytes).map_err(Error::Store),
    }
}

/// Reads and parses the listing of the complete collection `hash`.
pub(crate) fn read_listing(
    store: &Store,
    hash: &Hash,
    key: Option<&Key>,
) -> Result<Collection, Error> {
    let bytes = store.read_small(hash, max_listing_bytes())?;
    open_listing(hash, &bytes, key)
}

/// Whether content of `len` bytes starting with `prefix` is taken for
/// sealed content: the magic, and a length that some plaintext seals to.
/// A plain file that starts with the magic and has such a length by chance
/// (or on purpose) is taken for sealed: a keyless `get` refuses to write it.
fn looks_sealed(prefix: &[u8], len: u64) -> bool {
    seal::is_sealed(prefix) && seal::plain_len(len).is_some()
}

/// Whether the complete blob `hash` of `size` bytes is sealed content (by
/// its header and size).
pub(crate) fn is_sealed_blob(store: &Store, hash: &Hash, size: u64) -> Result<bool, Error> {
    let mut head = [0u8; seal::MAGIC.len() + 1];
    let got = store
        .data(hash)?
        .take(head.len() as u64)
        .read(&mut head)
        .map_err(|e| Error::Store(format!("reading {hash}: {e}")))?;
    Ok(looks_sealed(&head[..got], size))
}

/// Opens the complete sealed blob `hash` with `key` into the new file
/// `target`, chunk by chunk, and syncs it if `sync`; returns the
/// plaintext bytes written.
pub(crate) fn open_blob(
    store: &Store,
    hash: &Hash,
    key: &Key,
    target: &Path,
    sync: bool,
) -> Result<u64, Error> {
    let info = store
        .get(hash)?
        .filter(|i| i.complete)
        .ok_or(Error::NotFound(*hash))?;
    let io = |source| Error::Io {
        path: target.to_path_buf(),
        source,
    };
    let data = store.data(hash)?;
    let mut out = BufWriter::with_capacity(1 << 20, File::create(target).map_err(io)?);
    let written = seal::decrypt(key, BufReader::with_capacity(1 << 20, data), &mut out).map_err(
        |e| match e {
            seal::Error::Io(source) => Error::Io {
                path: target.to_path_buf(),
                source,
            },
            other => Error::Seal(other),
        },
    )?;
    let out = out.into_inner().map_err(|e| io(e.into_error()))?;
    if sync {
        out.sync_all().map_err(io)?;
    }
    if Some(written) != seal::plain_len(info.size) {
        return Err(Error::Store(format!(
            "blob {hash} opened to {written} bytes, its size says {:?}",
            seal::plain_len(info.size)
        )));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::share::{export, export_with};

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_sealed_folder_opens_with_its_key_only_and_its_blobs_hide_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("deep")).unwrap();
        let big: Vec<u8> = b"MARKER-xyz ".repeat(20_000);
        std::fs::write(src.join("deep/Zorblax.txt"), &big).unwrap();
        std::fs::write(src.join("empty.txt"), b"").unwrap();
        let key = Key::generate();
        let (hash, format, total) = import_path(&store, &src, &key).unwrap();
        assert_eq!((format, total), (BlobFormat::Collection, big.len() as u64));
        for entry in std::fs::read_dir(dir.path().join("data/store/blobs")).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(!contains(&bytes, b"MARKER-xyz") && !contains(&bytes, b"Zorblax"));
        }

        let out = dir.path().join("out");
        export_with(&store, &hash, format, Some(&key), &out, false).unwrap();
        assert_eq!(std::fs::read(out.join("deep/Zorblax.txt")).unwrap(), big);
        assert_eq!(std::fs::read(out.join("empty.txt")).unwrap(), b"");

        let other = dir.path().join("other");
        let wrong = export_with(&store, &hash, format, Some(&Key::generate()), &other, false);
        assert!(
            matches!(wrong, Err(Error::Seal(seal::Error::WrongKey))),
            "{wrong:?}"
        );
        let keyless = export(&store, &hash, format, &other, false);
        assert!(
            matches!(keyless, Err(Error::Encrypted(h)) if h == hash),
            "{keyless:?}"
        );
        let as_raw = export(&store, &hash, BlobFormat::Raw, &other, false);
        assert!(matches!(as_raw, Err(Error::Encrypted(_))), "{as_raw:?}");
        assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| {
            let name = e.unwrap().file_name();
            name != "other" && !name.to_string_lossy().starts_with(".other")
        }));
    }

    #[test]
    fn a_plain_file_that_merely_starts_like_sealed_content_is_written_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        let fake = [&seal::MAGIC[..], b"\x01 not really sealed"].concat();
        let hash = store.import_bytes(&fake).unwrap();
        let out = dir.path().join("out");
        export(&store, &hash, BlobFormat::Raw, &out, false).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), fake);
    }
}
