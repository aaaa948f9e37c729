//! `POST /v1/search`: results streamed as NDJSON as they arrive.

use axum::{extract::State, response::Response, Json};

use super::{bad_request, ApiError, AppState};
use crate::api::{
    stream::ndjson,
    types::{SearchRequest, SearchResult},
};

/// Streams results, one line per hit as it arrives, until the request's
/// timeout.
pub(super) async fn search(
    State(s): State<AppState>,
    Json(body): Json<SearchRequest>,
) -> Result<Response, ApiError> {
    if body.ttl > plexus::search::MAX_TTL || !(1..=60).contains(&body.timeout_secs) {
        return Err(bad_request(
            "ttl must be 0 to 7 and timeout 1 to 60 seconds",
        ));
    }
    let words = plexus::content::meta::query_words(&body.words);
    let rx = s.node.search(words, body.ttl).await?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(body.timeout_secs);
    let results = futures::stream::unfold(rx, move |mut rx| async move {
        let hit = tokio::time::timeout_at(deadline, rx.recv()).await.ok()??;
        Some((SearchResult::from(hit), rx))
    });
    Ok(ndjson(results))
}
