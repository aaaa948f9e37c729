//! One way to fetch content, used by `plexus get` with or without a daemon:
//! parse the target, download, verify, write it out.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use plexus::{
    content::{share, BlobFormat, Hash, ShareInfo, Ticket},
    transfer::{DownloadStats, GetOptions},
    Download, Node,
};
use serde::{Deserialize, Serialize};

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
                },
                name: t.name,
            });
        }
        match text.parse::<Hash>() {
            Ok(hash) => Ok(Self {
                hash,
                format: None,
                options: GetOptions {
                    providers: Vec::new(),
                    use_dht: true,
                },
                name: None,
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
        node.get(self.hash, self.format, self.options.clone())
    }
}

/// The end of a `get`: figures and where the content was written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetSummary {
    /// Download figures.
    #[serde(flatten)]
    pub stats: DownloadStats,
    /// The file or folder written.
    pub out: PathBuf,
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
    let (hash, format, path) = (stats.hash, stats.format, out.clone());
    tokio::task::spawn_blocking(move || share::export(&store, &hash, format, &path, force))
        .await??;
    Ok(GetSummary { stats, out })
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
