//! `/v1/id`, `/v1/status`, `/v1/peers`, `/v1/dht/find-peer`, `/v1/connect`.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::IntoResponse,
    Json,
};
use plexus::PeerId;

use super::{ApiError, AppState};
use crate::api::types::{ConnectRequest, ConnectResponse, IdResponse, LimitsRequest};

pub(super) async fn id(State(s): State<AppState>) -> Json<IdResponse> {
    Json(IdResponse {
        peer_id: s.node.peer_id(),
        listen_addrs: s.node.listen_addrs().to_vec(),
    })
}

pub(super) async fn status(State(s): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(s.node.status().await?))
}

pub(super) async fn peers(State(s): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(s.node.peers().await?))
}

pub(super) async fn find_peer(
    State(s): State<AppState>,
    Path(peer): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let peer: PeerId = peer
        .parse()
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("bad peer id {peer}: {e}")))?;
    Ok(Json(s.node.find_peer(peer).await?))
}

pub(super) async fn connect(
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

pub(super) async fn limits(State(s): State<AppState>) -> Json<plexus::RateLimits> {
    Json(s.node.rate_limits())
}

/// Changes the caps named in the body (0: no cap); returns them all.
pub(super) async fn set_limits(
    State(s): State<AppState>,
    Json(body): Json<LimitsRequest>,
) -> Json<plexus::RateLimits> {
    let mut limits = s.node.rate_limits();
    if let Some(up) = body.max_upload {
        limits.max_upload = (up > 0).then_some(up);
    }
    if let Some(down) = body.max_download {
        limits.max_download = (down > 0).then_some(down);
    }
    s.node.set_rate_limits(limits);
    Json(limits)
}
