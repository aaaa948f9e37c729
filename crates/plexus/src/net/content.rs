//! The node's content operations: sharing, publishing names, removing and
//! fetching. The work is the content and transfer modules'; the node adds
//! the network commands (announce, publish the record, stop providing).

use super::{event_loop::Command, Node};
use crate::{
    content::{self, publish, BlobFormat, Hash, Metadata, Store, Ticket},
    transfer::{download, DownloadStats, GetOptions, Progress},
    Error,
};

/// Content that was shared: its ticket, name and size.
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

/// A download under way: watch [`Download::progress`], await [`Download::finish`].
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
        // The addresses now, not at start: a node behind a NAT has gained
        // relay (`/p2p-circuit`) addresses since.
        let addrs = match self.status().await {
            Ok(status) if !status.listen_addrs.is_empty() => status.listen_addrs,
            _ => self.listen_addrs.clone(),
        };
        Ok(Shared {
            tags,
            ticket: Ticket {
                hash,
                format,
                provider: self.peer_id,
                addrs,
                name: Some(name.clone()),
            },
            name,
            size,
        })
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
        let (tx, rx) = tokio::sync::watch::channel(Progress::default());
        let node = self.clone();
        let task = tokio::spawn(async move {
            let getter = super::blob_network::Getter {
                node: node.clone(),
                allow_relay: options.allow_relay,
            };
            let stats = download::fetch(&getter, &node.store, hash, format, &options, &tx).await?;
            // Remember what was fetched so it is served and listed by name.
            let (store, format) = (node.store.clone(), stats.format);
            content::blocking(move || publish::remember_fetched(&store, &hash, format)).await?;
            Ok(stats)
        });
        Download { progress: rx, task }
    }

    /// The node's content store.
    pub fn store(&self) -> &std::sync::Arc<Store> {
        &self.store
    }
}
