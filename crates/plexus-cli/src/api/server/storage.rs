//! `/v1/storage/{store,get,pins,unstore}`: storage that outlives its owner.

use std::time::Instant;

use axum::{extract::State, response::IntoResponse, Json};
use plexus::storage::StoreTicket;

use super::{bad_request, ApiError, AppState};
use crate::api::{
    downloads::{Ended, Started},
    ops,
    types::{DownloadKind, StoreRequest, StoredGetRequest, StoredGetResponse, UnstoreRequest},
};

pub(super) async fn store(
    State(s): State<AppState>,
    Json(body): Json<StoreRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let redundancy = ops::redundancy(body.erasure.as_deref(), body.replicas)?;
    let started = Instant::now();
    let stored = s.node.store_file(&body.path, redundancy).await?;
    Ok(Json(ops::store_response(stored, started)))
}

pub(super) async fn get(
    State(s): State<AppState>,
    Json(body): Json<StoredGetRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let ticket: StoreTicket = body.ticket.parse().map_err(bad_request)?;
    if !body.out.is_absolute() {
        return Err(bad_request(format!(
            "output path {} must be absolute",
            body.out.display()
        )));
    }
    let what = Started {
        kind: DownloadKind::Stored,
        hash: ticket.manifest,
        name: ticket.name.clone(),
        out: Some(body.out.clone()),
    };
    let tracked = s.downloads.start(what, None);
    let started = Instant::now();
    let result = s.node.get_stored(&ticket, &body.out, body.force).await;
    tracked.end(match &result {
        Ok(size) => Ended::Done {
            size: *size,
            peers: None,
        },
        Err(e) => Ended::Failed(e.to_string()),
    });
    let size = result?;
    Ok(Json(StoredGetResponse {
        out: body.out,
        size,
        secs: started.elapsed().as_secs_f64(),
    }))
}

pub(super) async fn pins(State(s): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(s.node.pins().await?))
}

pub(super) async fn unstore(
    State(s): State<AppState>,
    Json(body): Json<UnstoreRequest>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(s.node.unstore(body.object).await?))
}
