//! The API server: axum routes over a [`plexus::Node`] handle, behind a
//! bearer-token check.

use axum::{
    extract::{Path, Request, State},
    http::{header, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use plexus::{Error, Node, PeerId};

use super::{ConnectRequest, ConnectResponse, ErrorBody};

#[derive(Clone)]
struct AppState {
    node: Node,
    token: String,
}

/// The API's routes for `node`, refusing requests without `token`.
pub fn router(node: Node, token: String) -> Router {
    let state = AppState { node, token };
    Router::new()
        .route("/v1/id", get(id))
        .route("/v1/status", get(status))
        .route("/v1/peers", get(peers))
        .route("/v1/dht/find-peer/{peer}", get(find_peer))
        .route("/v1/connect", post(connect))
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
            Error::PeerNotFound(_) => StatusCode::NOT_FOUND,
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
