//! `POST /v1/pubsub/{topic}` publishes; `GET` streams the topic as NDJSON.

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    response::{IntoResponse, Response},
    Json,
};
use futures::StreamExt;

use super::{ApiError, AppState};
use crate::api::{
    ops::publish_waiting,
    stream::ndjson,
    types::{ApiMessage, PublishResponse, MAX_WAIT_SECS},
};

#[derive(serde::Deserialize)]
pub(super) struct PublishQuery {
    /// Seconds to wait for a subscribed peer before giving up.
    #[serde(default)]
    wait_secs: u64,
}

/// Publishes the request body on the topic.
pub(super) async fn publish(
    State(s): State<AppState>,
    Path(topic): Path<String>,
    Query(q): Query<PublishQuery>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let wait = std::time::Duration::from_secs(q.wait_secs.min(MAX_WAIT_SECS));
    let bytes = body.len();
    let peers = publish_waiting(&s.node, &topic, body.to_vec(), wait).await?;
    Ok(Json(PublishResponse {
        topic,
        bytes,
        peers,
    }))
}

/// Streams the topic's messages, one JSON [`ApiMessage`] a line; the
/// subscription ends when the client goes (noticed at the latest by the
/// next heartbeat).
pub(super) async fn subscribe(
    State(s): State<AppState>,
    Path(topic): Path<String>,
) -> Result<Response, ApiError> {
    let sub = s.node.subscribe(&topic).await?;
    Ok(ndjson(sub.map(|m| ApiMessage::from(&m))))
}
