//! Node operations shared by the daemon's routes and by the commands that
//! run a node of their own when no daemon runs: starting that node,
//! fetching a [`Target`], searching, publishing after waiting for peers.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{bail, Result};
use plexus::{
    config::FileConfig,
    content::{meta::query_words, share, BlobFormat, Hash, ShareInfo, Ticket},
    pubsub::MAX_MESSAGE_BYTES,
    seal::Key,
    storage::{Redundancy, Stored},
    transfer::GetOptions,
    Download, Error, Node, NodeConfig, Shared,
};

use super::types::{GetSummary, SearchRequest, SearchResult, ShareRequest, StoreResponse};

/// A node of this command's own when no daemon runs: the data dir's config,
/// any free ports unless `listen_default`.
pub async fn own_node(data_dir: &Path, listen_default: bool) -> Result<Node> {
    let mut config = NodeConfig::new(data_dir);
    FileConfig::load(data_dir)?.apply(&mut config);
    if !listen_default {
        config.listen = vec![
            "/ip4/0.0.0.0/tcp/0".parse()?,
            "/ip4/0.0.0.0/udp/0/quic-v1".parse()?,
        ];
    }
    Ok(Node::start(config).await?)
}

/// Shares what `request` asks for: encrypted (no tags: nothing is
/// published for search), or in the clear with its name and tags.
pub async fn share(node: &Node, request: &ShareRequest) -> Result<Shared, Error> {
    let r = request.clone();
    if !r.encrypt {
        return node.share_with(&r.path, r.name, r.tags).await;
    }
    if !r.tags.is_empty() {
        return Err(Error::BadInput("an encrypted share publishes nothing for search, so it takes no tags: drop --tag, or share without --encrypt".into()));
    }
    node.share_encrypted(&r.path, r.name).await
}

/// What `get` was asked for.
pub struct Target {
    /// The content hash.
    pub hash: Hash,
    /// Blob or collection, when the ticket says.
    pub format: Option<BlobFormat>,
    /// Where to look.
    pub options: GetOptions,
    /// Suggested name from the ticket.
    pub name: Option<String>,
    /// The key of encrypted content, from the ticket.
    pub key: Option<Key>,
}

impl Target {
    /// Parses a ticket (`plexus1...`) or a bare 64-digit hash.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.starts_with("plexus1") {
            let t: Ticket = text
                .parse()
                .map_err(|e| anyhow::anyhow!("bad ticket: {e}"))?;
            return Ok(Self {
                hash: t.hash,
                format: Some(t.format),
                options: GetOptions {
                    providers: vec![(t.provider, t.addrs)],
                    use_dht: true,
                    allow_relay: false,
                },
                name: t.name,
                key: t.key,
            });
        }
        match text.parse::<Hash>() {
            Ok(hash) => Ok(Self {
                hash,
                format: None,
                options: GetOptions {
                    providers: Vec::new(),
                    use_dht: true,
                    allow_relay: false,
                },
                name: None,
                key: None,
            }),
            Err(_) => bail!("expected a ticket (plexus1...) or a 64-digit hex hash, got {text:?}"),
        }
    }

    /// Where the content lands: `out`, or the ticket's name when it is a
    /// plain, visible name (not `.ssh`, no control characters: the ticket's
    /// author chose it), or else the hash.
    pub fn out_path(&self, out: Option<&Path>) -> PathBuf {
        match out {
            Some(p) => p.to_path_buf(),
            None => {
                let name = self
                    .name
                    .as_deref()
                    .filter(|n| plexus::content::collection::is_safe_file_name(n))
                    .map(str::to_string)
                    .unwrap_or_else(|| self.hash.to_string()[..16].to_string());
                PathBuf::from(name)
            }
        }
    }

    /// Starts the download on `node`.
    pub fn start(&self, node: &Node) -> Download {
        let key = self.key.clone();
        node.get_keyed(self.hash, self.format, key, self.options.clone())
    }
}

/// Refuses early when the output exists and `force` is off.
pub fn check_out(out: &Path, force: bool) -> Result<()> {
    if out.exists() && !force {
        bail!(
            "{} already exists (use --force to replace it, or -o to pick another path)",
            out.display()
        );
    }
    Ok(())
}

/// Waits for `download`, then writes the content to `out`.
pub async fn finish(
    node: &Node,
    target: &Target,
    download: Download,
    out: PathBuf,
    force: bool,
) -> Result<GetSummary> {
    let stats = download.finish().await?;
    if let Some(name) = &target.name {
        node.store().set_share(
            &target.hash,
            &ShareInfo {
                name: name.clone(),
                format: stats.format,
            },
        )?;
    }
    let store = node.store().clone();
    let (hash, format, path, key) = (stats.hash, stats.format, out.clone(), target.key.clone());
    let decrypted = tokio::task::spawn_blocking(move || {
        share::export_with(&store, &hash, format, key.as_ref(), &path, force)?;
        Ok::<_, Error>(key.map(|_| bytes_under(&path)))
    })
    .await??;
    Ok(GetSummary {
        stats,
        out,
        decrypted,
    })
}

/// Bytes of the file at `path`, or of every file under the folder.
fn bytes_under(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| bytes_under(&e.path()))
        .sum()
}

/// Runs a search on `node`, handing each result to `emit` until `timeout`
/// (or until `emit` returns false).
pub async fn run_search(
    node: &Node,
    request: &SearchRequest,
    mut emit: impl FnMut(SearchResult) -> bool,
) -> Result<(), Error> {
    let mut rx = node
        .search(query_words(&request.words), request.ttl)
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(request.timeout_secs);
    while let Ok(Some(hit)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        if !emit(hit.into()) {
            break;
        }
    }
    Ok(())
}

/// The redundancy `plexus store` asked for: `--erasure K/N`, `--replicas
/// N`, or the default (4-of-8).
pub fn redundancy(erasure: Option<&str>, replicas: Option<u8>) -> Result<Redundancy, Error> {
    let r = match (erasure, replicas) {
        (Some(_), Some(_)) => {
            return Err(Error::BadInput(
                "give --erasure K/N or --replicas N, not both".into(),
            ))
        }
        (Some(kn), None) => kn.parse()?,
        (None, Some(n)) => Redundancy::Replicas(n),
        (None, None) => Redundancy::default(),
    };
    r.check()?;
    Ok(r)
}

/// The API's answer for a stored object.
pub fn store_response(stored: Stored, started: Instant) -> StoreResponse {
    StoreResponse {
        object: stored.ticket.manifest,
        ticket: stored.ticket.to_string(),
        size: stored.size,
        stored_bytes: stored.stored_bytes,
        holders: stored.holders,
        secs: started.elapsed().as_secs_f64(),
    }
}

/// Waits up to `wait` for a subscribed peer, then publishes.
pub async fn publish_waiting(
    node: &Node,
    topic: &str,
    data: Vec<u8>,
    wait: Duration,
) -> Result<usize, Error> {
    plexus::pubsub::check_topic(topic)?;
    if data.len() > MAX_MESSAGE_BYTES {
        return Err(Error::MessageTooLarge {
            size: data.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    let deadline = Instant::now() + wait;
    while node.topic_peers(topic).await?.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.publish(topic, data).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str) -> Target {
        Target {
            hash: Hash::from(blake3::hash(b"x")),
            format: Some(BlobFormat::Raw),
            options: GetOptions::default(),
            name: Some(name.to_string()),
            key: None,
        }
    }

    #[test]
    fn a_ticket_name_cannot_pick_a_hidden_or_odd_output_path() {
        assert_eq!(target("photos").out_path(None), PathBuf::from("photos"));
        for bad in [
            ".ssh",
            ".bashrc",
            "../x",
            "a/b",
            "x\u{1b}[2J",
            "line\nbreak",
        ] {
            let out = target(bad).out_path(None);
            assert_eq!(
                out,
                PathBuf::from(&target(bad).hash.to_string()[..16]),
                "{bad:?}"
            );
        }
        // An explicit -o is the user's choice.
        let chosen = Path::new(".config-copy");
        assert_eq!(target(".ssh").out_path(Some(chosen)), chosen);
    }
}
