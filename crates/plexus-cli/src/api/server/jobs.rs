//! `/v1/jobs`: compute jobs run by the daemon (started in the background,
//! followed and collected by id).

use axum::{
    extract::{Path, State},
    response::IntoResponse,
    Json,
};
use plexus::compute::{read_module, split_inputs, Job};

use super::{bad_request, ApiError, AppState};
use crate::api::types::{JobRequest, JobStarted, JobState};

pub(super) async fn start(
    State(s): State<AppState>,
    Json(body): Json<JobRequest>,
) -> Result<impl IntoResponse, ApiError> {
    if !body.module.is_absolute() || !body.inputs.is_absolute() {
        return Err(bad_request("module and inputs paths must be absolute"));
    }
    let (wasm, inputs) = tokio::task::spawn_blocking(move || {
        Ok::<_, plexus::Error>((
            read_module(&body.module)?,
            split_inputs(&body.inputs, body.units)?,
        ))
    })
    .await
    .map_err(|e| bad_request(e.to_string()))??;
    plexus::compute::check(&wasm).map_err(|e| bad_request(e.to_string()))?;
    let id = s.node.start_job(Job {
        wasm,
        inputs,
        quorum: body.quorum,
        limits: body.limits,
    });
    Ok(Json(JobStarted { id }))
}

pub(super) async fn list(State(s): State<AppState>) -> impl IntoResponse {
    Json(s.node.jobs())
}

pub(super) async fn state(State(s): State<AppState>, Path(id): Path<u64>) -> impl IntoResponse {
    let progress = s.node.jobs().into_iter().find(|j| j.id == id);
    let result = match progress {
        Some(_) => None,
        None => s.node.job_result(id),
    };
    Json(JobState { progress, result })
}
