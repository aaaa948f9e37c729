//! The node's content operations: sharing, publishing names, removing and
//! fetching. The work is the content and transfer modules'; the node adds
//! the network commands (announce, publish the record, stop providing).

use super::{event_loop::Command, Node};
use crate::{
    content::{self, publish, BlobFormat, Hash, Metadata, ShareInfo, Store, Ticket},
    seal::Key,
    transfer::{download, DownloadStats, GetOptions, Progress},
    Error,
};

/// Content that was shared ([`Node::share`]): its ticket, name and size.
#[derive(Debug, Clone)]
pub struct Shared {
    /// Everything a peer needs to fetch it.
    pub ticket: Ticket,
    /// The file or folder name.
    pub name: String,
    /// Total bytes.
    pub size: u64,
    /// Tags recorded with it.
    pub tags: Vec<String>,
}

/// A download under way, from [`Node::get`]: watch [`Download::progress`]
/// ([`Progress`]), await [`Download::finish`] ([`DownloadStats`]).
pub struct Download {
    /// Live figures.
    pub progress: tokio::sync::watch::Receiver<Progress>,
    task: tokio::task::JoinHandle<Result<DownloadStats, Error>>,
}

impl Download {
    /// Stops the download; verified ranges already committed stay stored.
    pub fn abort(self) {
        self.task.abort();
    }

    /// Waits for the end and returns the figures.
    pub async fn finish(self) -> Result<DownloadStats, Error> {
        self.task
            .await
            .map_err(|e| Error::Store(format!("download task failed: {e}")))?
    }
}

impl Node {
    /// Imports a file or folder, records its name, announces it, and
    /// returns what a peer needs to fetch it.
    pub async fn share(&self, path: &std::path::Path) -> Result<Shared, Error> {
        self.share_with(path, None, Vec::new()).await
    }

    /// Like [`Node::share`], with a name (default: the file or folder name)
    /// and tags recorded in a signed metadata record that searches find.
    pub async fn share_with(
        &self,
        path: &std::path::Path,
        name: Option<String>,
        tags: Vec<String>,
    ) -> Result<Shared, Error> {
        publish::check_meta(name.as_deref().unwrap_or("x"), &tags)?;
        let store = self.store.clone();
        let owned = path.to_path_buf();
        let (hash, format, size) =
            content::blocking(move || content::share::import_path(&store, &owned)).await?;
        let name = name.unwrap_or_else(|| {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| hash.to_string())
        });
        self.sign_and_publish(hash, format, size, name.clone(), tags.clone())
            .await?;
        Ok(Shared {
            tags,
            ticket: self.ticket(hash, format, Some(name.clone()), None).await,
            name,
            size,
        })
    }

    /// Shares a file or folder encrypted ([`crate::seal`]): sealed under a
    /// fresh random key on its way into the store, so the store holds and
    /// serves only ciphertext, named by the ciphertext's hash. The key is
    /// only in the returned ticket; the name too (no metadata record is
    /// published, so searches do not find it). The hash is announced in the
    /// DHT so that peers can fetch, store and serve the ciphertext.
    pub async fn share_encrypted(
        &self,
        path: &std::path::Path,
        name: Option<String>,
    ) -> Result<Shared, Error> {
        let name = name.unwrap_or_else(|| {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "content".into())
        });
        publish::check_meta(&name, &[])?;
        let key = Key::generate();
        let (store, owned, sealing) = (self.store.clone(), path.to_path_buf(), key.clone());
        let share = name.clone();
        let (hash, format, size) = content::blocking(move || {
            let (hash, format, size) = content::sealed::import_path(&store, &owned, &sealing)?;
            store.set_share(
                &hash,
                &ShareInfo {
                    name: share,
                    format,
                },
            )?;
            Ok((hash, format, size))
        })
        .await?;
        self.announce(hash).await;
        Ok(Shared {
            tags: Vec::new(),
            ticket: self
                .ticket(hash, format, Some(name.clone()), Some(key))
                .await,
            name,
            size,
        })
    }

    /// A ticket naming this node as the provider, at its addresses now, not
    /// at start: a node behind a NAT has gained relay (`/p2p-circuit`)
    /// addresses since.
    async fn ticket(
        &self,
        hash: Hash,
        format: BlobFormat,
        name: Option<String>,
        key: Option<Key>,
    ) -> Ticket {
        let addrs = match self.status().await {
            Ok(status) if !status.listen_addrs.is_empty() => status.listen_addrs,
            _ => self.listen_addrs.clone(),
        };
        Ticket {
            hash,
            format,
            provider: self.peer_id,
            addrs,
            name,
            key,
        }
    }

    /// Records a name and tags for content already in the store, signs
    /// them and publishes them (to super-peers and directories).
    pub async fn publish_meta(
        &self,
        hash: Hash,
        name: String,
        tags: Vec<String>,
    ) -> Result<Metadata, Error> {
        publish::check_meta(&name, &tags)?;
        let store = self.store.clone();
        let (format, size) = content::blocking(move || publish::describe(&store, &hash)).await?;
        self.sign_and_publish(hash, format, size, name, tags).await
    }

    /// Records the name, announces the hash in the DHT, and signs and
    /// publishes the metadata record.
    async fn sign_and_publish(
        &self,
        hash: Hash,
        format: BlobFormat,
        size: u64,
        name: String,
        tags: Vec<String>,
    ) -> Result<Metadata, Error> {
        let (store, key) = (self.store.clone(), self.key.clone());
        let (meta, record) = content::blocking(move || {
            publish::record(&store, &key, hash, format, size, name, tags)
        })
        .await?;
        self.announce(hash).await;
        // Answered once the event loop uses the record, so a search that
        // starts after this returns sees it.
        self.ask(|reply| Command::PublishRecord { record, reply })
            .await?;
        Ok(meta)
    }

    /// Removes content from the store (for a folder, also its files that no
    /// other share uses), stops announcing and serving it, and stops
    /// publishing its record; returns whether it was there.
    pub async fn remove(&self, hash: Hash) -> Result<bool, Error> {
        let store = self.store.clone();
        let removed = content::blocking(move || content::share::remove(&store, &hash)).await?;
        let existed = removed.contains(&hash);
        self.ask(|reply| Command::Unpublish {
            hash,
            removed,
            reply,
        })
        .await?;
        Ok(existed)
    }

    /// Starts fetching `hash` from the given providers and the DHT; the
    /// handle reports progress and resolves to the download's figures.
    pub fn get(&self, hash: Hash, format: Option<BlobFormat>, options: GetOptions) -> Download {
        self.get_keyed(hash, format, None, options)
    }

    /// Like [`Node::get`], with the key of encrypted content (from its
    /// ticket), needed to read an encrypted folder's listing. The store
    /// keeps the encrypted bytes; [`content::share::export_with`] opens them.
    pub fn get_keyed(
        &self,
        hash: Hash,
        format: Option<BlobFormat>,
        key: Option<Key>,
        options: GetOptions,
    ) -> Download {
        let (tx, rx) = tokio::sync::watch::channel(Progress::default());
        let node = self.clone();
        let active = self.metrics.counters().download_started();
        let task = tokio::spawn(async move {
            let _active = active;
            let getter = super::blob_network::Getter {
                node: node.clone(),
                allow_relay: options.allow_relay,
            };
            let (store, key) = (&node.store, key.as_ref());
            let result = download::fetch(&getter, store, hash, format, key, &options, &tx).await;
            let liars = result.as_ref().map_or(0, |s| s.liars.len());
            node.metrics.counters().download_finished(&result, liars);
            let stats = result?;
            // Remember what was fetched so it is served and listed by name
            // (and an encrypted folder's files, so removing it takes them).
            let (store, format) = (node.store.clone(), stats.format);
            let key = key.cloned().filter(|_| format == BlobFormat::Collection);
            content::blocking(move || {
                if let Some(key) = key {
                    content::sealed::remember_files(&store, &hash, &key)?;
                }
                publish::remember_fetched(&store, &hash, format)
            })
            .await?;
            Ok(stats)
        });
        Download { progress: rx, task }
    }

    /// The node's content store.
    pub fn store(&self) -> &std::sync::Arc<Store> {
        &self.store
    }
}
