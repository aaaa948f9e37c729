//! `/v1/share`, `/v1/publish`, `/v1/get` (progress streamed as NDJSON),
//! `/v1/downloads`, `/v1/blobs`.

use std::time::Duration;

use axum::{
    extract::{Path, State},
    response::{IntoResponse, Response},
    Json,
};
use plexus::content::Hash;
use tokio::{sync::oneshot, time::Instant};

use super::{bad_request, ApiError, AppState};
use crate::api::{
    downloads::{Ended, Started},
    ops::{self, Target},
    stream::ndjson,
    types::{DownloadKind, GetEvent, GetRequest, PublishRequest, ShareRequest, ShareResponse},
};

/// Shortest time between two progress lines of one download.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

pub(super) async fn share(
    State(s): State<AppState>,
    Json(body): Json<ShareRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let shared = ops::share(&s.node, &body).await?;
    Ok(Json(ShareResponse::from(shared)))
}

pub(super) async fn publish_meta(
    State(s): State<AppState>,
    Json(body): Json<PublishRequest>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        s.node.publish_meta(body.hash, body.name, body.tags).await?,
    ))
}

/// Starts a download in the daemon and streams [`GetEvent`]s: progress
/// (at most every 100 ms), then one `done` or `failed`. The download runs
/// in a task of its own: a client that goes away does not cancel it. It is
/// in the daemon's list of downloads (`/v1/downloads`) from start to end.
pub(super) async fn get(
    State(s): State<AppState>,
    Json(body): Json<GetRequest>,
) -> Result<Response, ApiError> {
    let mut target = Target::parse(&body.target).map_err(bad_request)?;
    target.options.allow_relay = body.allow_relay;
    let out = match (body.out, body.out_dir) {
        (Some(out), _) => out,
        (None, Some(dir)) if dir.is_absolute() => {
            std::fs::create_dir_all(&dir).map_err(|e| {
                bad_request(format!("cannot make the folder {}: {e}", dir.display()))
            })?;
            dir.join(target.out_path(None))
        }
        (None, _) => target.out_path(None),
    };
    if !out.is_absolute() {
        return Err(bad_request(format!(
            "output path {} must be absolute",
            out.display()
        )));
    }
    ops::check_out(&out, body.force).map_err(bad_request)?;
    let download = target.start(&s.node);
    let progress = download.progress.clone();
    let started = Started {
        kind: DownloadKind::Get,
        hash: target.hash,
        name: target.name.clone(),
        out: Some(out.clone()),
    };
    let tracked = s.downloads.start(started, Some(progress.clone()));
    let (done_tx, done_rx) = oneshot::channel();
    let node = s.node.clone();
    tokio::spawn(async move {
        let result = ops::finish(&node, &target, download, out, body.force).await;
        tracked.end(match &result {
            Ok(summary) => Ended::Done {
                size: summary.stats.size,
                peers: Some(summary.stats.per_peer.len()),
            },
            Err(e) => Ended::Failed(format!("{e:#}")),
        });
        let _ = done_tx.send(result); // the client may be gone: fine
    });
    let state = Some((progress, done_rx, Instant::now(), true));
    let events = futures::stream::unfold(state, |state| async move {
        let (mut progress, mut done_rx, mut next, mut open) = state?;
        loop {
            let throttled = Instant::now() < next;
            tokio::select! {
                biased;
                result = &mut done_rx => {
                    let event = match result {
                        Ok(Ok(summary)) => GetEvent::Done(summary),
                        Ok(Err(e)) => GetEvent::Failed { error: format!("{e:#}") },
                        Err(_) => GetEvent::Failed { error: "the download stopped".into() },
                    };
                    return Some((event, None));
                }
                _ = tokio::time::sleep_until(next), if throttled => {}
                changed = progress.changed(), if open && !throttled => match changed {
                    Ok(()) => {
                        let p = progress.borrow_and_update().clone();
                        next = Instant::now() + PROGRESS_EVERY;
                        return Some((GetEvent::Progress(p), Some((progress, done_rx, next, open))));
                    }
                    // No more progress: only the end is left to wait for.
                    Err(_) => open = false,
                },
            }
        }
    });
    Ok(ndjson(events))
}

/// The daemon's downloads: active ones, then the last that ended.
pub(super) async fn downloads(State(s): State<AppState>) -> impl IntoResponse {
    Json(s.downloads.list())
}

pub(super) async fn blobs(State(s): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(s.node.store().list()?))
}

pub(super) async fn remove(
    State(s): State<AppState>,
    Path(hash): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let hash: Hash = hash.parse().map_err(bad_request)?;
    Ok(Json(s.node.remove(hash).await?))
}
