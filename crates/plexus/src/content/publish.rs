//! Naming and publishing content: checking a name and tags, describing what
//! the store holds, recording a share with its signed metadata record, and
//! remembering fetched content by name.
//!
//! Everything here touches the store (redb reads and commits), so callers in
//! async code run it through [`super::blocking`].

use libp2p::{identity::Keypair, PeerId};

use super::{
    collection::MAX_COLLECTION_BYTES,
    meta::{self, Metadata, SignedRecord},
    BlobFormat, Collection, Hash, ShareInfo, Store,
};
use crate::Error;

/// Checks a name and tags before any work is done.
pub(crate) fn check_meta(name: &str, tags: &[String]) -> Result<(), Error> {
    Metadata {
        hash: Hash([0; 32]),
        format: BlobFormat::Raw,
        size: 0,
        name: name.to_string(),
        tags: tags.to_vec(),
        publisher: PeerId::random(),
        timestamp: 0,
    }
    .check()
    .map_err(Error::BadInput)
}

/// The format and total size of complete content in the store: the format
/// recorded when it was shared or fetched (a raw blob when none was), and for
/// a collection the sum of its files.
pub(crate) fn describe(store: &Store, hash: &Hash) -> Result<(BlobFormat, u64), Error> {
    let info = store
        .get(hash)?
        .filter(|i| i.complete)
        .ok_or(Error::NotFound(*hash))?;
    let format = store.share(hash)?.map_or(BlobFormat::Raw, |s| s.format);
    let size = match format {
        BlobFormat::Raw => info.size,
        BlobFormat::Collection => {
            let bytes = store.read_small(hash, MAX_COLLECTION_BYTES)?;
            Collection::from_bytes(&bytes)
                .map_err(Error::Store)?
                .total_size()
        }
    };
    Ok((format, size))
}

/// Records `name` and `format` as the share of `hash`, signs a metadata
/// record (publisher: `key`'s peer, timestamp: now) and stores it, replacing
/// an older one. Returns the metadata and the signed record to publish.
pub(crate) fn record(
    store: &Store,
    key: &Keypair,
    hash: Hash,
    format: BlobFormat,
    size: u64,
    name: String,
    tags: Vec<String>,
) -> Result<(Metadata, SignedRecord), Error> {
    store.set_share(
        &hash,
        &ShareInfo {
            name: name.clone(),
            format,
        },
    )?;
    let meta = Metadata {
        hash,
        format,
        size,
        name,
        tags,
        publisher: key.public().to_peer_id(),
        timestamp: meta::now_secs(),
    };
    let record = meta.sign(key).map_err(Error::BadInput)?;
    store.set_record(&hash, &record)?;
    Ok((meta, record))
}

/// Remembers fetched content so it is served and listed by name: records
/// the first 12 hex digits of the hash as its name, unless it already has
/// one (shared here, or fetched before).
pub(crate) fn remember_fetched(
    store: &Store,
    hash: &Hash,
    format: BlobFormat,
) -> Result<(), Error> {
    if store.share(hash)?.is_none() {
        let name = hash.to_string()[..12].to_string();
        store.set_share(hash, &ShareInfo { name, format })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::CollectionEntry;

    fn store() -> (tempfile::TempDir, std::sync::Arc<Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn check_meta_refuses_blank_names_and_tags() {
        assert!(check_meta("song.mp3", &["jazz".into()]).is_ok());
        assert!(matches!(check_meta(" ", &[]), Err(Error::BadInput(_))));
        assert!(matches!(
            check_meta("x", &["".into()]),
            Err(Error::BadInput(_))
        ));
    }

    #[test]
    fn record_stores_the_share_and_a_record_that_verifies() {
        let (_dir, store) = store();
        let key = Keypair::generate_ed25519();
        let hash = store.import_bytes(b"hello").unwrap();
        let tags = vec!["greeting".to_string()];
        let (meta, record) = record(
            &store,
            &key,
            hash,
            BlobFormat::Raw,
            5,
            "hello.txt".into(),
            tags.clone(),
        )
        .unwrap();
        assert_eq!(meta.publisher, key.public().to_peer_id());
        assert_eq!((meta.name.as_str(), meta.size), ("hello.txt", 5));
        assert_eq!(meta.tags, tags);
        assert_eq!(record.verify().unwrap(), meta);
        assert_eq!(store.records().unwrap(), vec![record]);
        assert_eq!(
            store.share(&hash).unwrap(),
            Some(ShareInfo {
                name: "hello.txt".into(),
                format: BlobFormat::Raw
            })
        );
    }

    #[test]
    fn describe_gives_the_recorded_format_and_the_collection_size() {
        let (_dir, store) = store();
        let file = store.import_bytes(&[7; 3000]).unwrap();
        assert_eq!(describe(&store, &file).unwrap(), (BlobFormat::Raw, 3000));
        let listing = Collection::new(vec![CollectionEntry {
            path: "a/b.bin".into(),
            hash: file,
            size: 3000,
            mode: 0o644,
        }]);
        let folder = store.import_bytes(&listing.to_bytes()).unwrap();
        let share = ShareInfo {
            name: "a".into(),
            format: BlobFormat::Collection,
        };
        store.set_share(&folder, &share).unwrap();
        assert_eq!(
            describe(&store, &folder).unwrap(),
            (BlobFormat::Collection, 3000)
        );
        let missing = Hash::of(b"missing");
        assert!(matches!(describe(&store, &missing), Err(Error::NotFound(h)) if h == missing));
    }

    #[test]
    fn remember_fetched_names_new_content_and_keeps_an_existing_name() {
        let (_dir, store) = store();
        let fetched = Hash::of(b"fetched");
        remember_fetched(&store, &fetched, BlobFormat::Collection).unwrap();
        assert_eq!(
            store.share(&fetched).unwrap(),
            Some(ShareInfo {
                name: fetched.to_string()[..12].to_string(),
                format: BlobFormat::Collection
            })
        );
        let named = Hash::of(b"named");
        let mine = ShareInfo {
            name: "my song.mp3".into(),
            format: BlobFormat::Raw,
        };
        store.set_share(&named, &mine).unwrap();
        remember_fetched(&store, &named, BlobFormat::Raw).unwrap();
        assert_eq!(store.share(&named).unwrap(), Some(mine));
    }
}
