//! `plexus daemon --metrics ADDR`: `GET /metrics` in the Prometheus text
//! format (OpenMetrics), on a listener of its own.
//!
//! Why a separate listener without the API token, rather than a route of
//! the token-protected API: Prometheus and other scrapers are configured
//! with a URL and often run as another user, so they should not need the
//! API token, which drives the node (shares files, fetches, changes
//! limits). The metrics listener serves one read-only route and nothing
//! else, so handing its address out exposes figures, never control; the
//! API's surface stays as small as it was. It is off unless asked for.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use axum::{extract::State, http::header, response::IntoResponse, routing::get, Router};
use plexus::Node;

/// The content type of the OpenMetrics text that prometheus-client writes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds `addr` and serves `GET /metrics` for `node` in a task of its own;
/// returns the bound address and the task (abort it to stop).
pub async fn spawn(
    node: Node,
    addr: SocketAddr,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot serve metrics on {addr} (pick another with --metrics HOST:PORT, port 0 for any)")
    })?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(node);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("metrics listener stopped: {e}");
        }
    });
    Ok((bound, task))
}

async fn metrics(State(node): State<Node>) -> axum::response::Response {
    match node.metrics_text().await {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("metrics unavailable: {e}\n"),
        )
            .into_response(),
    }
}
