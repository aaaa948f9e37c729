//! The API server: axum routes over a [`plexus::Node`] handle, behind the
//! token and origin check of [`crate::dashboard::auth`]. It depends only on
//! the library, that check and `api`'s types, operations and stream format.

mod content;
mod jobs;
mod node;
mod pubsub;
mod search;
mod storage;

use axum::{
    extract::{Request, State},
    http::StatusCode,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
    Json, Router,
};
use plexus::{Error, Node};
use std::sync::Arc;

use super::{downloads::Downloads, types::ErrorBody};
use crate::dashboard::auth::Auth;

#[derive(Clone)]
struct AppState {
    node: Node,
    auth: Arc<Auth>,
    downloads: Downloads,
}

/// The API's routes for `node`, refusing requests that `auth` refuses.
pub fn router(node: Node, auth: Arc<Auth>) -> Router {
    let downloads = Downloads::default();
    let state = AppState {
        node,
        auth,
        downloads,
    };
    Router::new()
        .route("/v1/id", get(node::id))
        .route("/v1/status", get(node::status))
        .route("/v1/peers", get(node::peers))
        .route("/v1/dht/find-peer/{peer}", get(node::find_peer))
        .route("/v1/connect", post(node::connect))
        .route("/v1/limits", get(node::limits).post(node::set_limits))
        .route("/v1/share", post(content::share))
        .route("/v1/publish", post(content::publish_meta))
        .route("/v1/search", post(search::search))
        .route("/v1/get", post(content::get))
        .route("/v1/downloads", get(content::downloads))
        .route("/v1/blobs", get(content::blobs))
        .route("/v1/blobs/{hash}", delete(content::remove))
        .route("/v1/storage/store", post(storage::store))
        .route("/v1/storage/get", post(storage::get))
        .route("/v1/storage/pins", get(storage::pins))
        .route("/v1/storage/unstore", post(storage::unstore))
        .route("/v1/jobs", get(jobs::list).post(jobs::start))
        .route("/v1/jobs/{id}", get(jobs::state))
        .route(
            "/v1/pubsub/{topic}",
            post(pubsub::publish).get(pubsub::subscribe),
        )
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
            Error::Unplaceable { .. } => StatusCode::CONFLICT,
            Error::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::NoTopicPeers(_) => StatusCode::CONFLICT,
            Error::Dial { .. } => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(code, e.to_string())
    }
}

fn bad_request(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, e.to_string())
}

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match state.auth.check(request.method(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            let (code, message) = refusal.answer();
            ApiError(code, message.into()).into_response()
        }
    }
}
