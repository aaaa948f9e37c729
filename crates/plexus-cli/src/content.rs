//! `plexus share`, `get`, `ls`, `rm`: through the daemon when one runs for
//! the data dir, otherwise with a node of their own on the same data dir.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use plexus::{
    content::{BlobEntry, Hash, Store},
    transfer::Progress,
};
use reqwest::Method;

use crate::{
    api::{
        client::Client,
        ops::{self, own_node, Target},
        types::{GetEvent, GetRequest, GetSummary, ShareRequest, ShareResponse},
    },
    cli::MetaArgs,
    text::printable,
};

/// `plexus share PATH [--encrypt] [--name NAME] [--tag TAG]...`
pub async fn share(
    data_dir: &Path,
    path: &Path,
    encrypt: bool,
    meta: MetaArgs,
    json: bool,
) -> Result<()> {
    let path =
        std::fs::canonicalize(path).with_context(|| format!("cannot share {}", path.display()))?;
    let body = ShareRequest {
        path,
        name: meta.name,
        tags: meta.tags,
        encrypt,
    };
    if let Some((client, _)) = Client::running(data_dir).await {
        let r: ShareResponse = client.post("/v1/share", &body).await?;
        return print_share(&r, json, false);
    }
    let node = own_node(data_dir, true).await?;
    let shared = ops::share(&node, &body).await?;
    let response = ShareResponse::from(shared);
    print_share(&response, json, true)?;
    tokio::signal::ctrl_c().await?;
    node.shutdown().await;
    Ok(())
}

fn print_share(r: &ShareResponse, json: bool, serving: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
        return Ok(());
    }
    eprintln!(
        "shared {} ({} bytes) as {} (CID {})",
        r.name, r.size, r.hash, r.cid
    );
    if r.encrypted {
        eprintln!("encrypted: peers store and serve only ciphertext; the key is in the ticket, so whoever has the ticket can read it");
    }
    if serving {
        eprintln!("serving until Ctrl-C; fetch it with: plexus get TICKET");
    }
    println!("{}", r.ticket);
    Ok(())
}

/// `plexus get TARGET`
pub async fn get(
    data_dir: &Path,
    target_text: &str,
    out: Option<&Path>,
    force: bool,
    allow_relay: bool,
    json: bool,
) -> Result<()> {
    if plexus::storage::StoreTicket::is_store_ticket(target_text) {
        return crate::storage::get(data_dir, target_text, out, force, json).await;
    }
    let mut target = Target::parse(target_text)?;
    target.options.allow_relay = allow_relay;
    let out = std::path::absolute(target.out_path(out))?;
    ops::check_out(&out, force)?;
    let bar = progress_bar(json);
    let summary = match Client::running(data_dir).await {
        Some((client, _)) => {
            get_via_daemon(&client, target_text, &out, force, allow_relay, &bar).await?
        }
        None => get_locally(data_dir, &target, out, force, &bar).await?,
    };
    bar.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        let s = &summary.stats;
        let size = match summary.decrypted {
            Some(plain) => format!("{plain} bytes decrypted from {}", s.size),
            None => format!("{} bytes", s.size),
        };
        let first = s.first_byte_secs.map_or(String::new(), |t| {
            format!(", first verified byte after {t:.2}s")
        });
        println!(
            "got {} ({size}, {} fetched) in {:.2}s{first} from {} peers: {}",
            summary.out.display(),
            s.fetched,
            s.secs,
            s.per_peer.iter().filter(|p| p.bytes > 0).count(),
            summary.out.display()
        );
    }
    Ok(())
}

fn progress_bar(json: bool) -> ProgressBar {
    if json {
        let bar = ProgressBar::hidden();
        bar.finish(); // no plain progress lines either
        return bar;
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} from {msg} peers, eta {eta}",
        )
        .expect("valid template"),
    );
    bar
}

/// Updates the bar; when stderr is no terminal (logs, scripts) and the
/// bar is hidden, prints a plain line at every 5% instead.
fn show(bar: &ProgressBar, p: &Progress) {
    let step = |done: u64| (done * 20).checked_div(p.total).unwrap_or(0);
    if bar.is_hidden() && !bar.is_finished() && p.total > 0 && step(p.done) > step(bar.position()) {
        eprintln!(
            "progress {:>3}% {:.1}/{:.1} MiB from {} peers",
            step(p.done) * 5,
            p.done as f64 / 1048576.0,
            p.total as f64 / 1048576.0,
            p.peers
        );
    }
    bar.set_length(p.total);
    bar.set_position(p.done);
    bar.set_message(p.peers.to_string());
}

async fn get_locally(
    data_dir: &Path,
    target: &Target,
    out: PathBuf,
    force: bool,
    bar: &ProgressBar,
) -> Result<GetSummary> {
    let node = own_node(data_dir, false).await?;
    let download = target.start(&node);
    let mut progress = download.progress.clone();
    let ticker = {
        let bar = bar.clone();
        tokio::spawn(async move {
            while progress.changed().await.is_ok() {
                show(&bar, &progress.borrow().clone());
            }
        })
    };
    let result = ops::finish(&node, target, download, out, force).await;
    ticker.abort();
    node.shutdown().await;
    result
}

async fn get_via_daemon(
    client: &Client,
    target: &str,
    out: &Path,
    force: bool,
    allow_relay: bool,
    bar: &ProgressBar,
) -> Result<GetSummary> {
    let request = GetRequest {
        target: target.to_string(),
        out: Some(out.to_path_buf()),
        out_dir: None,
        force,
        allow_relay,
    };
    let mut events = client
        .stream::<_, GetEvent>(Method::POST, "/v1/get", Some(&request))
        .await?;
    let mut last = Progress::default();
    while let Some(event) = events.next().await? {
        match event {
            GetEvent::Progress(p) => {
                show(bar, &p);
                last = p;
            }
            GetEvent::Done(summary) => {
                last.done = summary.stats.size;
                last.total = summary.stats.size;
                show(bar, &last);
                return Ok(summary);
            }
            GetEvent::Failed { error } => anyhow::bail!(error),
        }
    }
    anyhow::bail!("the daemon closed the stream before the download ended (did it stop?)")
}

/// A line of `plexus ls --json`: the entry and its CID.
#[derive(serde::Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    entry: &'a BlobEntry,
    cid: String,
}

/// `plexus ls`
pub async fn ls(data_dir: &Path, json: bool) -> Result<()> {
    let mut entries: Vec<BlobEntry> = match Client::running(data_dir).await {
        Some((client, _)) => client.get("/v1/blobs").await?,
        None => Store::open(data_dir)?.list()?,
    };
    entries.sort_by(|a, b| {
        a.share
            .is_none()
            .cmp(&b.share.is_none())
            .then(a.hash.cmp(&b.hash))
    });
    if json {
        let listed: Vec<Listed> = entries
            .iter()
            .map(|entry| Listed {
                cid: entry.hash.cid(),
                entry,
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&listed)?);
        return Ok(());
    }
    if entries.is_empty() {
        println!("nothing stored yet (add something with: plexus share PATH)");
        return Ok(());
    }
    println!(
        "{:<64}  {:<59}  {:>12}  {:>8}  NAME",
        "HASH", "CID", "SIZE", "PRESENT"
    );
    for e in &entries {
        let present = if e.complete {
            "complete".to_string()
        } else {
            format!(
                "{:.0}%",
                100.0 * e.present_bytes as f64 / e.size.max(1) as f64
            )
        };
        let name = e.share.as_ref().map_or("-".into(), |s| printable(&s.name));
        println!(
            "{}  {}  {:>12}  {present:>8}  {name}",
            e.hash,
            e.hash.cid(),
            e.size
        );
    }
    Ok(())
}

/// `plexus rm HASH`
pub async fn rm(data_dir: &Path, hash: Hash) -> Result<()> {
    let removed: bool = match Client::running(data_dir).await {
        Some((client, _)) => client.delete(&format!("/v1/blobs/{hash}")).await?,
        None => Store::open(data_dir)?.remove(&hash)?,
    };
    if removed {
        println!("removed {hash}");
        Ok(())
    } else {
        anyhow::bail!("{hash} is not in the store (see: plexus ls)")
    }
}
