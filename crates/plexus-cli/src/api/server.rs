//! The API server: axum routes over a [`plexus::Node`] handle, behind a
//! bearer-token check.

use axum::{
    body::Bytes,
    extract::{Path, Query, Request, State},
    http::{header, StatusCode},
    middleware::{self, Next},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    routing::{delete, get, post},
    Json, Router,
};
use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use plexus::{content::Hash, Error, Node, PeerId};

use crate::{
    content::{GetRequest, GetStatus, ShareResponse},
    fetch::{self, Target},
    pubsub::{ApiMessage, PublishResponse, MAX_WAIT_SECS},
    search::{PublishRequest, SearchRequest, SearchResult},
};

use super::{ConnectRequest, ConnectResponse, ErrorBody};

#[derive(Clone)]
struct AppState {
    node: Node,
    token: String,
    downloads: Arc<Mutex<HashMap<u64, GetStatus>>>,
    next_id: Arc<AtomicU64>,
}

/// The API's routes for `node`, refusing requests without `token`.
pub fn router(node: Node, token: String) -> Router {
    let state = AppState {
        node,
        token,
        downloads: Default::default(),
        next_id: Default::default(),
    };
    Router::new()
        .route("/v1/id", get(id))
        .route("/v1/status", get(status))
        .route("/v1/peers", get(peers))
        .route("/v1/dht/find-peer/{peer}", get(find_peer))
        .route("/v1/connect", post(connect))
        .route("/v1/share", post(share))
        .route("/v1/publish", post(publish_meta))
        .route("/v1/search", post(search))
        .route("/v1/get", post(get_start))
        .route("/v1/get/{id}", get(get_status))
        .route("/v1/blobs", get(blobs))
        .route("/v1/blobs/{hash}", delete(remove))
        .route("/v1/pubsub/{topic}", post(publish).get(subscribe))
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
}

/// An error answer: status code and a one-line message.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::PeerNotFound(_) | Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Io { .. }
            | Error::Download { .. }
            | Error::BadInput(_)
            | Error::BadTopic(_)
            | Error::MessageTooLarge { .. } => StatusCode::BAD_REQUEST,
            Error::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::NoTopicPeers(_) => StatusCode::CONFLICT,
            Error::Dial { .. } => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(code, e.to_string())
    }
}

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), state.token.as_bytes()) {
        next.run(request).await
    } else {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "missing or wrong API token".into(),
        )
        .into_response()
    }
}

/// Compares without an early exit, so timing does not leak the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn id(State(s): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "peer_id": s.node.peer_id(),
        "listen_addrs": s.node.listen_addrs(),
    }))
}

async fn status(State(s): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(s.node.status().await?))
}

async fn peers(State(s): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(s.node.peers().await?))
}

async fn find_peer(
    State(s): State<AppState>,
    Path(peer): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let peer: PeerId = peer
        .parse()
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("bad peer id {peer}: {e}")))?;
    Ok(Json(s.node.find_peer(peer).await?))
}

async fn connect(
    State(s): State<AppState>,
    Json(body): Json<ConnectRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let addr = body.addr.parse().map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("bad multiaddr {}: {e}", body.addr),
        )
    })?;
    let peer_id = s.node.connect(addr).await?;
    Ok(Json(ConnectResponse { peer_id }))
}

fn bad_request(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, e.to_string())
}

#[derive(serde::Deserialize)]
struct ShareBody {
    path: PathBuf,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

async fn share(
    State(s): State<AppState>,
    Json(body): Json<ShareBody>,
) -> Result<impl IntoResponse, ApiError> {
    let shared = s.node.share_with(&body.path, body.name, body.tags).await?;
    Ok(Json(ShareResponse {
        ticket: shared.ticket.to_string(),
        hash: shared.ticket.hash,
        name: shared.name,
        size: shared.size,
        tags: shared.tags,
    }))
}

async fn publish_meta(
    State(s): State<AppState>,
    Json(body): Json<PublishRequest>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        s.node.publish_meta(body.hash, body.name, body.tags).await?,
    ))
}

/// Streams results as NDJSON, one line per hit as it arrives, until the
/// request's timeout.
async fn search(
    State(s): State<AppState>,
    Json(body): Json<SearchRequest>,
) -> Result<Response, ApiError> {
    if body.ttl > plexus::search::flood::MAX_TTL || !(1..=60).contains(&body.timeout_secs) {
        return Err(bad_request(
            "ttl must be 0 to 7 and timeout 1 to 60 seconds",
        ));
    }
    let words = plexus::content::meta::query_words(&body.words);
    let rx = s.node.search(words, body.ttl).await?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(body.timeout_secs);
    let lines = futures::stream::unfold(rx, move |mut rx| async move {
        let hit = tokio::time::timeout_at(deadline, rx.recv()).await.ok()??;
        let mut line = serde_json::to_string(&SearchResult::from(hit)).expect("serializable");
        line.push('\n');
        Some((Ok::<_, std::convert::Infallible>(line), rx))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        axum::body::Body::from_stream(lines),
    )
        .into_response())
}

/// Starts a download in the daemon; the client polls `/v1/get/{id}`.
async fn get_start(
    State(s): State<AppState>,
    Json(body): Json<GetRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let target = Target::parse(&body.target).map_err(bad_request)?;
    let out = body.out.unwrap_or_else(|| target.out_path(None));
    if !out.is_absolute() {
        return Err(bad_request(format!(
            "output path {} must be absolute",
            out.display()
        )));
    }
    fetch::check_out(&out, body.force).map_err(bad_request)?;
    let id = s.next_id.fetch_add(1, Ordering::Relaxed);
    s.downloads.lock().unwrap().insert(id, GetStatus::default());
    let download = target.start(&s.node);
    let mut progress = download.progress.clone();
    let downloads = s.downloads.clone();
    let watcher = tokio::spawn(async move {
        while progress.changed().await.is_ok() {
            let p = progress.borrow().clone();
            if let Some(status) = downloads.lock().unwrap().get_mut(&id) {
                status.progress = p;
            }
        }
    });
    let (node, downloads) = (s.node.clone(), s.downloads.clone());
    tokio::spawn(async move {
        let result = fetch::finish(&node, &target, download, out, body.force).await;
        watcher.abort();
        if let Some(status) = downloads.lock().unwrap().get_mut(&id) {
            match result {
                Ok(summary) => {
                    status.progress.done = summary.stats.size;
                    status.progress.total = summary.stats.size;
                    status.summary = Some(summary);
                }
                Err(e) => status.error = Some(format!("{e:#}")),
            }
        }
    });
    Ok(Json(id))
}

async fn get_status(
    State(s): State<AppState>,
    Path(id): Path<u64>,
) -> Result<impl IntoResponse, ApiError> {
    let mut downloads = s.downloads.lock().unwrap();
    let status = downloads
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no download {id}")))?;
    if status.summary.is_some() || status.error.is_some() {
        downloads.remove(&id);
    }
    Ok(Json(status))
}

async fn blobs(State(s): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(s.node.store().list()?))
}

async fn remove(
    State(s): State<AppState>,
    Path(hash): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let hash: Hash = hash.parse().map_err(bad_request)?;
    Ok(Json(s.node.remove(hash).await?))
}

#[derive(serde::Deserialize)]
struct PublishQuery {
    /// Seconds to wait for a subscribed peer before giving up.
    #[serde(default)]
    wait_secs: u64,
}

/// Publishes the request body on the topic.
async fn publish(
    State(s): State<AppState>,
    Path(topic): Path<String>,
    Query(q): Query<PublishQuery>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let wait = std::time::Duration::from_secs(q.wait_secs.min(MAX_WAIT_SECS));
    let bytes = body.len();
    let peers = crate::pubsub::publish_waiting(&s.node, &topic, body.to_vec(), wait).await?;
    Ok(Json(PublishResponse {
        topic,
        bytes,
        peers,
    }))
}

/// Streams the topic's messages as server-sent events, one JSON
/// [`ApiMessage`] each; the subscription ends when the client goes.
async fn subscribe(
    State(s): State<AppState>,
    Path(topic): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    use futures::StreamExt;
    let sub = s.node.subscribe(&topic).await?;
    let events = sub.map(|m| {
        Event::default()
            .json_data(ApiMessage::from(&m))
            .map_err(|e| std::io::Error::other(e.to_string()))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
