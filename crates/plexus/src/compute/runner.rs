//! The runner: puts a job's module and inputs in this node's store (where
//! workers fetch them by hash), finds workers, and drives the
//! [`Scheduler`](super::scheduler::Scheduler) with the answers until every
//! unit is decided.
//!
//! Finding workers: the peers connected now and the DHT providers of
//! [`super::compute_key`] (workers announce it at start, as storers
//! announce their offer) are each asked `Hello`; those that answer with an
//! offer whose limits cover the job's take part. A DHT provider record
//! needs no topic subscription or directory server, any node can look it
//! up, and the provider machinery (caps, republishing) exists already;
//! connected peers are asked too, so a small network whose DHT has not
//! settled still finds its workers. Workers are looked for again while the
//! job runs, so ones that join late take part.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{stream::FuturesUnordered, FutureExt, StreamExt};
use libp2p::PeerId;
use tokio::sync::watch;

use super::{
    compute_key,
    job::{Job, JobProgress, JobResult, WorkerReport},
    limits::{Limits, UnitError},
    network::ComputeNetwork,
    protocol::{Request, Response, MAX_OUTPUT},
    sandbox,
    scheduler::{Decision, Digest, Scheduler},
    service::Service,
};
use crate::{content::Hash, Error};

/// How often workers are looked for while a job runs.
const RESCAN: Duration = Duration::from_secs(5);
/// How long a `Hello` may take.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// A peer that did not answer `Hello` is not asked again for this long: a
/// dead worker (a stale DHT provider record, a killed process) would
/// otherwise cost a whole [`HELLO_TIMEOUT`] at every rescan, and the job
/// loop waits for the rescan.
const SILENT_BACKOFF: Duration = Duration::from_secs(60);

/// The hash a result is voted on by.
pub(crate) fn digest(result: &Result<Vec<u8>, UnitError>) -> Digest {
    let mut h = blake3::Hasher::new();
    match result {
        Ok(bytes) => {
            h.update(b"output\0");
            h.update(bytes);
        }
        Err(e) => {
            h.update(b"error\0");
            h.update(e.to_string().as_bytes());
        }
    }
    *h.finalize().as_bytes()
}

/// How long a copy may take: its time limit thrice (a slow worker), and
/// a minute to fetch module and input.
fn unit_timeout(limits: &Limits) -> Duration {
    Limits::time_of(limits.fuel) * 3 + Duration::from_secs(60)
}

/// Runs `job` on the workers this node finds; `progress` follows it.
pub(crate) async fn run<N: ComputeNetwork>(
    net: &N,
    service: &Arc<Service>,
    id: u64,
    job: Job,
    progress: watch::Sender<JobProgress>,
) -> Result<JobResult, Error> {
    sandbox::check(&job.wasm).map_err(|e| Error::BadInput(e.to_string()))?;
    if job.inputs.is_empty() {
        return Err(Error::BadInput("the job has no units (no inputs)".into()));
    }
    if job.limits.output_bytes > MAX_OUTPUT {
        return Err(Error::BadInput(format!(
            "the output limit is over the {MAX_OUTPUT} bytes a unit may return"
        )));
    }
    let started = Instant::now();
    let store = net.content().clone();
    let (module, inputs) = {
        let wasm = job.wasm.clone();
        let data = job.inputs.clone();
        crate::content::blocking(move || {
            let module = (store.import_bytes(&wasm)?, wasm.len() as u64);
            let inputs = data
                .iter()
                .map(|d| Ok((store.import_bytes(d)?, d.len() as u64)))
                .collect::<Result<Vec<(Hash, u64)>, Error>>()?;
            Ok((module, inputs))
        })
        .await?
    };
    let mut state = JobProgress::new(module.0, inputs.len());
    state.id = id;
    service.update_job(&state);
    drive(
        net, service, &job, module, &inputs, &mut state, &progress, started,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn drive<N: ComputeNetwork>(
    net: &N,
    service: &Arc<Service>,
    job: &Job,
    module: (Hash, u64),
    inputs: &[(Hash, u64)],
    state: &mut JobProgress,
    progress: &watch::Sender<JobProgress>,
    started: Instant,
) -> Result<JobResult, Error> {
    let mut scheduler = Scheduler::new(inputs.len(), job.quorum, unit_timeout(&job.limits));
    let mut refusals: Vec<String> = Vec::new();
    let mut results: HashMap<(usize, Digest), Result<Vec<u8>, UnitError>> = HashMap::new();
    let mut inflight = FuturesUnordered::new();
    let mut last_scan: Option<Instant> = None;
    let mut silent: HashMap<PeerId, Instant> = HashMap::new();
    loop {
        if last_scan.is_none_or(|t| t.elapsed() >= RESCAN) {
            find_workers(
                net,
                service,
                job,
                &mut scheduler,
                &mut refusals,
                &mut silent,
            )
            .await;
            last_scan = Some(Instant::now());
        }
        let mut wait_until = Instant::now() + RESCAN;
        for decision in scheduler.poll(Instant::now()) {
            match decision {
                Decision::Assign { unit, worker } => {
                    tracing::debug!(%worker, unit, "unit copy assigned");
                    let (input, input_size) = inputs[unit];
                    let request = Request::Unit {
                        module: module.0,
                        module_size: module.1,
                        input,
                        input_size,
                        limits: job.limits,
                    };
                    let net = net.clone();
                    inflight.push(async move {
                        (unit, worker, net.compute_request(worker, request).await)
                    });
                }
                Decision::Wait(at) => wait_until = wait_until.min(at),
                Decision::Finished => {
                    return Ok(finish(&scheduler, results, module.0, state, started));
                }
                Decision::Stuck(reason) if inflight.is_empty() => {
                    let workers = scheduler.workers().values().filter(|w| !w.gone).count();
                    let mut reason = format!("the job cannot finish: {reason} ({workers} workers)");
                    if workers == 0 && !refusals.is_empty() {
                        refusals.dedup();
                        reason = format!(
                            "no worker found: every peer asked refused: {}",
                            refusals.join("; ")
                        );
                    }
                    return Err(Error::BadInput(reason));
                }
                Decision::Stuck(_) => {}
            }
        }
        let wake = tokio::time::Instant::from_std(wait_until.max(Instant::now()));
        tokio::select! {
            Some(answered) = inflight.next() => {
                // This answer, and every other one already in: one rescan
                // per answer would hold answers back.
                let mut next = Some(answered);
                while let Some((unit, worker, answer)) = next {
                    let copy = Copy { unit, worker, answer };
                    copy.handle(&mut scheduler, &mut results, &mut refusals, state);
                    next = inflight.next().now_or_never().flatten();
                }
            }
            _ = tokio::time::sleep_until(wake) => {}
        }
        state.done = scheduler.done();
        state.workers = scheduler.workers().values().filter(|w| !w.gone).count();
        state.secs = started.elapsed().as_secs_f64();
        service.update_job(state);
        progress.send_replace(state.clone());
    }
}

/// One copy's answer as the network gave it.
struct Copy {
    unit: usize,
    worker: PeerId,
    answer: Result<Response, Error>,
}

impl Copy {
    /// Counts the answer: a result is a vote, anything else drops the copy.
    fn handle(
        self,
        scheduler: &mut Scheduler,
        results: &mut HashMap<(usize, Digest), Result<Vec<u8>, UnitError>>,
        refusals: &mut Vec<String>,
        state: &mut JobProgress,
    ) {
        let Copy {
            unit,
            worker,
            answer,
        } = self;
        let result = match answer {
            Ok(Response::Output(bytes)) => Some(Ok(bytes)),
            Ok(Response::Failed(error)) => Some(Err(error)),
            Ok(Response::Refused(reason)) => {
                refusals.push(format!("{worker}: {reason}"));
                None
            }
            Ok(other) => {
                refusals.push(format!("{worker}: unexpected answer {other:?}"));
                None
            }
            Err(e) => {
                tracing::debug!(%worker, unit, "unit copy failed: {e}");
                None
            }
        };
        match result {
            Some(result) => {
                let d = digest(&result);
                tracing::debug!(%worker, unit, ok = result.is_ok(), "unit copy answered");
                results.entry((unit, d)).or_insert(result);
                state.copies += 1;
                scheduler.on_result(unit, worker, d);
            }
            None => scheduler.on_failure(unit, worker),
        }
    }
}

/// Asks new candidates `Hello` and adds those that compute within the
/// job's limits; `silent` holds those that did not answer, and since when.
async fn find_workers<N: ComputeNetwork>(
    net: &N,
    service: &Arc<Service>,
    job: &Job,
    scheduler: &mut Scheduler,
    refusals: &mut Vec<String>,
    silent: &mut HashMap<PeerId, Instant>,
) {
    let local = net.local_peer_id();
    silent.retain(|_, since| since.elapsed() < SILENT_BACKOFF);
    let fresh: Vec<PeerId> = net
        .candidates(compute_key())
        .await
        .into_iter()
        .filter(|p| *p != local && scheduler.workers().get(p).is_none_or(|w| w.gone))
        .filter(|p| !silent.contains_key(p))
        .collect();
    let hellos = fresh.into_iter().map(|peer| {
        let net = net.clone();
        async move {
            let answer =
                tokio::time::timeout(HELLO_TIMEOUT, net.compute_request(peer, Request::Hello))
                    .await;
            (peer, answer, net.peer_ips(peer).await)
        }
    });
    for (peer, answer, ips) in futures::future::join_all(hellos).await {
        match answer {
            Ok(Ok(Response::Offer { threads, limits })) if job.limits.within(&limits) => {
                // One unit more than its threads: the next one is fetched
                // while the last runs, so no thread waits on the network.
                let slots = threads as usize + 1;
                scheduler.add_worker(peer, ips, slots, service.mark(&peer));
            }
            Ok(Ok(Response::Offer { limits, .. })) => refusals.push(format!(
                "{peer}: grants at most {limits:?}, less than the job asks"
            )),
            Ok(Ok(Response::Refused(reason))) => refusals.push(format!("{peer}: {reason}")),
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => {
                silent.insert(peer, Instant::now());
            }
        }
    }
}

fn finish(
    scheduler: &Scheduler,
    mut results: HashMap<(usize, Digest), Result<Vec<u8>, UnitError>>,
    module: Hash,
    state: &JobProgress,
    started: Instant,
) -> JobResult {
    let outputs = (0..state.units)
        .map(|unit| {
            let d = scheduler.decided(unit).expect("finished");
            results
                .remove(&(unit, d))
                .expect("a decided result was kept")
        })
        .collect();
    JobResult {
        module,
        outputs,
        workers: scheduler
            .workers()
            .iter()
            .map(|(peer, w)| WorkerReport {
                peer: *peer,
                agreed: w.agreed,
                lost: w.lost,
                gone: w.gone,
            })
            .collect(),
        copies: state.copies,
        secs: started.elapsed().as_secs_f64(),
    }
}
