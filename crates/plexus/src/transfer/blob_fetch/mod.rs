//! Fetching one blob from many peers at once: ask everyone what they have,
//! prove the size, keep each peer's request window full as the [`Planner`]
//! says, verify and store every answer as it arrives, and keep learning:
//! peers that hold only part of the blob (other getters) are asked again
//! every second, and new providers are looked up every few seconds, so
//! pieces spread among getters BitTorrent-style.
//!
//! [`Planner`]: super::planner::Planner

pub(super) mod many;
mod session;
mod size_proof;
mod small;

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use futures::{future::BoxFuture, FutureExt};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::watch;

use super::{
    network::BlobNetwork,
    planner::Planner,
    size,
    stats::{GetOptions, Progress, Tally},
    writer::BlobWriter,
};
use crate::{
    blobs::protocol::{Request, Response},
    content::{blocking, range_bytes, ApplyError, ChunkRanges, Hash, Store},
    Error,
};
use session::BlobFetch;

/// How long the steps of a download may take; tests shorten them.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// How long a peer may take to say what it has (or prove the size);
    /// longer than the wait for a hole punch (`blobs::direct`), so a
    /// request held for one fails with the blob layer's reason.
    pub(crate) have_timeout: Duration,
    /// How often partial holders are asked again what they have.
    pub(crate) refresh_every: Duration,
    /// How long the download waits with nothing in flight and no progress
    /// before it gives up.
    pub(crate) stall_limit: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            have_timeout: Duration::from_secs(10),
            // Other getters' new pieces are news for a flash crowd: the
            // sooner they are known, the sooner they are passed on.
            refresh_every: Duration::from_millis(250),
            stall_limit: Duration::from_secs(20),
        }
    }
}

/// A peer's answer to `Have`, or a fresh list of candidates.
enum Learned {
    Have(PeerId, Result<Response, Error>),
    Candidates(Vec<(PeerId, Vec<Multiaddr>)>),
}

/// How long a question cut with its connection waits before it is asked
/// once more (the peer's other connection, or a fresh dial, carries it).
const RETRY_AFTER_CUT: Duration = Duration::from_millis(200);

/// Sends `request` to `peer`, giving up after `limit`. A question whose
/// connection closed under it is asked once more: a peer reached by racing
/// dials (hole punching dials both ways, over TCP and QUIC) often sees
/// the losers closed just after a request went out on one of them.
async fn ask<N: BlobNetwork>(
    net: N,
    peer: PeerId,
    addrs: Vec<Multiaddr>,
    request: Request,
    limit: Duration,
) -> Result<Response, Error> {
    let asking = async {
        match net.request(peer, addrs.clone(), request.clone()).await {
            Err(e @ Error::ConnectionLost { .. }) => {
                tracing::debug!(%peer, "{e}: asking once more");
                tokio::time::sleep(RETRY_AFTER_CUT).await;
                net.request(peer, addrs, request).await
            }
            answer => answer,
        }
    };
    tokio::time::timeout(limit, asking)
        .await
        .unwrap_or_else(|_| {
            Err(Error::Request {
                peer,
                reason: format!("no answer in {}s", limit.as_secs()),
            })
        })
}

/// Asks `peer` what it has: `request` is a `Have` or a `Wants`.
fn ask_have<N: BlobNetwork>(
    net: &N,
    peer: PeerId,
    addrs: Vec<Multiaddr>,
    request: Request,
    limit: Duration,
) -> BoxFuture<'static, Learned> {
    let net = net.clone();
    async move {
        let asked = std::time::Instant::now();
        let answer = ask(net, peer, addrs, request, limit).await;
        let boundaries = match &answer {
            Ok(Response::Have { present, .. }) => present.boundaries().len(),
            _ => 0,
        };
        tracing::trace!(%peer, ms = asked.elapsed().as_millis() as u64, boundaries, "have answered");
        Learned::Have(peer, answer)
    }
    .boxed()
}

/// One peer's first answer: the size it claims and what it has.
struct Claim {
    peer: PeerId,
    size: u64,
    complete: bool,
    present: ChunkRanges,
    offer: bool,
}

/// Files of a collection up to this size are fetched in a batch: written
/// without an fsync and recorded later with [`Store::record_complete`],
/// and announced by the caller once recorded.
pub(super) const BATCH_MAX: u64 = 256 * 1024;

/// Files of a collection up to this size (one chunk group: its size proof
/// carries every byte) are asked for at once, without asking first who
/// has them.
const ONE_GROUP: u64 = 16 * 1024;

/// How a blob is fetched.
#[derive(Debug, Clone, Copy)]
pub(super) enum Role {
    /// On its own (or a collection's listing): announced, committed itself.
    Alone,
    /// A file of a collection, with the size its listing gives: small ones
    /// are batched (see [`BATCH_MAX`]); `index` spreads them over the peers.
    File { size: u64, index: usize },
}

/// Downloads one blob; returns its size and whether it is left to the
/// caller to record (a batched file). A blob already complete in the
/// store costs nothing.
#[allow(clippy::too_many_arguments)]
pub(super) async fn fetch_blob<N: BlobNetwork>(
    net: &N,
    store: &Arc<Store>,
    limits: &Limits,
    hash: Hash,
    role: Role,
    options: &GetOptions,
    peers: &[(PeerId, Vec<Multiaddr>)],
    progress: &watch::Sender<Progress>,
    base: u64,
    tally: &mut Tally,
) -> Result<(u64, bool), Error> {
    let known = {
        let store = store.clone();
        blocking(move || store.get(&hash)).await?
    };
    if let Some(info) = known {
        if info.complete {
            progress.send_modify(|p| {
                p.done = base + info.size;
                p.total = p.total.max(base + info.size);
            });
            return Ok((info.size, false));
        }
    }
    let addrs: HashMap<PeerId, Vec<Multiaddr>> = peers.iter().cloned().collect();
    if let Role::File { size, index } = role {
        if size <= ONE_GROUP && size > 0 {
            if let Some(size) =
                small::fetch_whole(net, store, limits, hash, size, index, peers, tally).await?
            {
                return Ok((size, true));
            }
        }
    }
    let first: Vec<Learned> = futures::future::join_all(peers.iter().map(|(peer, a)| {
        ask_have(
            net,
            *peer,
            a.clone(),
            Request::Have(hash),
            limits.have_timeout,
        )
    }))
    .await;
    let mut claims = Vec::new();
    let mut why = Vec::new();
    for learned in first {
        match learned {
            Learned::Have(
                peer,
                Ok(Response::Have {
                    size,
                    complete,
                    present,
                    offer,
                }),
            ) => claims.push(Claim {
                peer,
                size,
                complete,
                present,
                offer,
            }),
            Learned::Have(peer, Ok(Response::NotFound)) => {
                why.push(format!("{peer}: does not have it"))
            }
            Learned::Have(peer, Ok(other)) => why.push(format!("{peer}: answered {other:?}")),
            Learned::Have(_, Err(e)) => why.push(e.to_string()),
            Learned::Candidates(_) => {}
        }
    }
    if claims.is_empty() {
        let reason = if peers.is_empty() {
            "no provider found (check the hash, or that a peer sharing it is online)".to_string()
        } else {
            format!(
                "no provider found among the {} peers asked ({})",
                peers.len(),
                why.join("; ")
            )
        };
        return Err(Error::Download { hash, reason });
    }
    // The size comes from a proof checked against the hash, never from
    // what peers say; whoever claimed another size lied.
    let (size, proof, prover) =
        size_proof::prove_size(net, hash, &addrs, &claims, limits, tally).await?;
    let batched = matches!(role, Role::File { .. }) && size <= BATCH_MAX;
    if !batched {
        // From here on this node holds part of the blob: announce it, so
        // other getters find it and fetch what it already has.
        net.provide(hash).await;
    }
    let mut blob = BlobWriter::open(store.clone(), hash, size, batched).await?;
    let before = range_bytes(blob.present(), size);
    let (_, applied) = blob.apply(size::proof_ranges(size), proof).await?;
    applied.map_err(|e| apply_failure(hash, e))?;
    if let Some(peer) = prover {
        let new = range_bytes(blob.present(), size) - before;
        tally.add(peer, new);
        net.counters().inspect(|c| c.verified(new));
    }
    let plan = Planner::new(size, blob.present());
    progress.send_modify(|p| p.total = p.total.max(base + size));
    let mut run = BlobFetch {
        net,
        limits,
        hash,
        size,
        plan,
        blob,
        addrs,
        known: peers.iter().map(|(p, _)| *p).collect(),
        asking: HashSet::new(),
        partial: HashSet::new(),
        learning: tokio::task::JoinSet::new(),
        tally,
    };
    for claim in claims {
        run.learn(Learned::Have(
            claim.peer,
            Ok(Response::Have {
                size: claim.size,
                complete: claim.complete,
                present: claim.present,
                offer: claim.offer,
            }),
        ));
    }
    run.drive(options, progress, base).await?;
    Ok((size, batched))
}

/// The error for a response that could not be stored or verified.
pub(super) fn apply_failure(hash: Hash, e: ApplyError) -> Error {
    match e {
        ApplyError::Write(e) => store_write(hash, e.to_string(), e.kind()),
        ApplyError::Invalid(reason) => Error::Download { hash, reason },
    }
}

/// A failed write or commit: the disk's fault, not a provider's.
pub(super) fn store_write(hash: Hash, reason: String, kind: std::io::ErrorKind) -> Error {
    let reason = if kind == std::io::ErrorKind::StorageFull {
        format!("disk full ({reason})")
    } else {
        reason
    };
    Error::StoreWrite { hash, reason }
}
