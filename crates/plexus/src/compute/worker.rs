//! The worker: answers peers' compute requests. A node without
//! `--compute` refuses every unit, saying how to turn it on. With it, a
//! unit whose limits are within this node's is fetched (module and input,
//! from the runner, through the verified blob transfer, unless the store
//! holds them already: the module is fetched once per job), run on a
//! blocking thread once one of `--compute-threads` is free, and answered
//! with its output or the reason it failed.

use std::sync::Arc;

use libp2p::PeerId;

use super::{
    limits::UnitError,
    network::ComputeNetwork,
    protocol::{Request, Response, MAX_OUTPUT},
    sandbox,
    service::{Ended, Service},
};
use crate::{
    blobs::protocol as blobs,
    content::{BlobFormat, Hash},
    transfer::{download, GetOptions},
    Error,
};

/// The refusal of a node that does not compute.
pub const NOT_ENABLED: &str =
    "this node does not compute for others (start it with `plexus daemon --compute`)";

/// Largest module a worker fetches.
pub const MAX_MODULE: u64 = 16 << 20;

/// Answers one request from `peer`.
pub(crate) async fn handle<N: ComputeNetwork>(
    net: &N,
    service: &Arc<Service>,
    peer: PeerId,
    request: Request,
) -> Response {
    if !service.config.enabled {
        if matches!(request, Request::Unit { .. }) {
            service.end(None, Ended::Refused);
        }
        return Response::Refused(NOT_ENABLED.into());
    }
    let Request::Unit {
        module,
        module_size,
        input,
        input_size,
        limits,
    } = request
    else {
        return Response::Offer {
            threads: service.config.threads as u32,
            limits: service.config.limits,
        };
    };
    let cap = service.config.limits;
    let refuse = |reason: String| {
        service.end(None, Ended::Refused);
        Response::Refused(reason)
    };
    if !limits.within(&cap) || limits.output_bytes > MAX_OUTPUT {
        return refuse(format!(
            "the unit asks for {limits:?}, over this worker's limits {cap:?} (output at most {MAX_OUTPUT} bytes)"
        ));
    }
    if module_size > MAX_MODULE || input_size > cap.memory_bytes {
        return refuse(format!(
            "module ({module_size} bytes) or input ({input_size} bytes) too large: at most {MAX_MODULE} and {} bytes",
            cap.memory_bytes
        ));
    }
    let id = service.begin(peer, module, input);
    let fetched = async {
        let wasm = fetch(net, peer, module, module_size).await?;
        let data = fetch(net, peer, input, input_size).await?;
        Ok::<_, Error>((wasm, data))
    }
    .await;
    let (wasm, data) = match fetched {
        Ok(both) => both,
        Err(e) => {
            service.end(Some(id), Ended::Refused);
            return Response::Refused(format!("could not fetch the unit: {e}"));
        }
    };
    let Ok(_permit) = service.threads.acquire().await else {
        service.end(Some(id), Ended::Refused);
        return Response::Refused("the node is stopping".into());
    };
    let ran = tokio::task::spawn_blocking(move || sandbox::run_unit(&wasm, &data, &limits))
        .await
        .unwrap_or_else(|e| Err(UnitError::Trap(format!("the unit's thread failed: {e}"))));
    match ran {
        Ok(output) => {
            service.end(Some(id), Ended::Done);
            Response::Output(output)
        }
        Err(error) => {
            tracing::debug!(%peer, %module, "unit failed: {error}");
            service.end(Some(id), Ended::Failed);
            Response::Failed(error)
        }
    }
}

/// The bytes of blob `hash` (`size` bytes, checked with the runner first),
/// from the store or fetched from `peer`.
async fn fetch<N: ComputeNetwork>(
    net: &N,
    peer: PeerId,
    hash: Hash,
    size: u64,
) -> Result<Vec<u8>, Error> {
    let store = net.content().clone();
    let held = {
        let store = store.clone();
        crate::content::blocking(move || store.get(&hash)).await?
    };
    if !held.is_some_and(|i| i.complete) {
        match net
            .request(peer, Vec::new(), blobs::Request::Have(hash))
            .await?
        {
            blobs::Response::Have { size: s, .. } if s == size => {}
            other => {
                return Err(Error::BadInput(format!(
                    "the runner does not serve {hash} at {size} bytes: {other:?}"
                )))
            }
        }
        let from = GetOptions {
            providers: vec![(peer, Vec::new())],
            use_dht: false,
            allow_relay: false,
        };
        let (tx, _) = tokio::sync::watch::channel(Default::default());
        download::fetch(net, &store, hash, Some(BlobFormat::Raw), None, &from, &tx).await?;
    }
    crate::content::blocking(move || store.read_small(&hash, size.max(1))).await
}
