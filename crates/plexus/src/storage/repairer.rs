//! Running the repair machine ([`super::repair`]) on a holder: each round
//! merges the holder lists from the pins, probes the other holders at once
//! (merging the lists they answer with), checks this node's own shards (a
//! deleted or damaged one is given up), and carries out repairs (check the
//! own shard first, rebuild the lost shard from any K, place it on a new
//! peer, tell every holder the new list) and drops.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures::future::join_all;

use super::{
    audit, client, erasure, get, holders,
    manifest::{Manifest, MAX_MANIFEST_BYTES},
    network::StorageNetwork,
    pins::Pins,
    protocol::{HolderInfo, Request, Response},
    repair::{Decision, Repair},
    server,
};
use crate::{
    blobs::protocol as blobs,
    content::{blocking, Hash},
    transfer::GetOptions,
    Error,
};

/// How long a holder told a new list may take to take it.
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a probed holder may take to answer: two probe periods, at
/// least 1 s and at most 5 s. A miss only starts the clock (a holder is
/// lost after `repair_after` of misses), and a dead holder's probe must
/// not hold the round up for long.
fn probe_timeout(machine: &Repair) -> Duration {
    (2 * machine.probe_every()).clamp(Duration::from_secs(1), Duration::from_secs(5))
}

/// What one repair did.
#[derive(Debug, Clone)]
pub(crate) struct Repaired {
    /// The new holder.
    pub(crate) holder: HolderInfo,
    /// Bytes fetched to rebuild and bytes the new holder fetched.
    pub(crate) bytes_moved: u64,
    /// How long it took.
    pub(crate) took: Duration,
}

/// One round: sync, probe, act on every decision.
pub(crate) async fn round<N: StorageNetwork>(net: &N, pins: &Arc<Pins>, machine: &mut Repair) {
    let now = Instant::now();
    let held = pins.all_held();
    for object in machine.objects() {
        if !held.iter().any(|h| h.object == object) {
            machine.handle_released(&object);
        }
    }
    for h in &held {
        if !h.holders.is_empty() && machine.holders(&h.object) != h.holders {
            machine.handle_holders(h.object, h.holders.clone(), now);
            sync(pins, machine, h.object);
        }
    }
    let mut probes = Vec::new();
    let mut tells = Vec::new();
    while let Some(decision) = machine.poll(Instant::now()) {
        if !matches!(decision, Decision::Probe { .. } | Decision::Check { .. }) {
            tracing::debug!(?decision, "storage repair decided");
        }
        match decision {
            Decision::Probe { object, holder } => probes.push((object, holder)),
            Decision::Tell { object, holder } => {
                let told = tell(net, object, holder.clone(), machine.holders(&object));
                tells.push(async move { log_untold(object, &holder, told.await) });
            }
            Decision::Repair {
                object,
                index,
                exclude,
            } => {
                if !server::intact(net, pins, object).await {
                    // Elected, but its own shard is gone: given up, so the
                    // others elect another repairer.
                    machine.handle_released(&object);
                    continue;
                }
                // Holders placed by repairs told here since the election
                // are not to get a second shard.
                let mut exclude = exclude;
                let latest = pins.held(&object).first().map(|h| h.holders.clone());
                exclude.extend(latest.unwrap_or_default().iter().map(|h| h.peer));
                let before = machine.holders(&object);
                let result = repair(net, pins, object, index, &exclude).await;
                let placed = match result {
                    Ok(r) => {
                        pins.count_repair(r.bytes_moved);
                        tracing::info!(
                            %object, index, holder = %r.holder.peer, bytes = r.bytes_moved,
                            secs = r.took.as_secs_f64(), "repaired a lost shard"
                        );
                        Some(r.holder)
                    }
                    Err(e) => {
                        tracing::warn!(%object, index, "repair failed: {e}");
                        None
                    }
                };
                let done = placed.is_some();
                machine.handle_repaired(object, index, placed, Instant::now());
                if done {
                    // Other holders' repairs may have been told here while
                    // this one ran: the list announced is merged with them
                    // (`holders.rs`), so a holder they placed stays listed.
                    let told = pins.held(&object).first().map(|h| h.holders.clone());
                    machine.handle_holders(object, told.unwrap_or_default(), Instant::now());
                    let list = machine.holders(&object);
                    announce(net, pins, object, list, &before).await;
                }
            }
            Decision::Drop { object } => server::drop_claim(net, pins, object).await,
            Decision::Check { object } => {
                // A shard file deleted or damaged here: the claim is given up.
                if !server::intact(net, pins, object).await {
                    machine.handle_released(&object);
                }
            }
        }
    }
    join_all(tells).await;
    let timeout = probe_timeout(machine);
    let sent = Instant::now();
    let answers = join_all(probes.into_iter().map(|(object, holder)| async move {
        let asked = net.storage_request(
            holder.peer,
            holder.addrs.clone(),
            Request::Status { object },
        );
        let (held, list) = match tokio::time::timeout(timeout, asked).await {
            Ok(Ok(Response::Holding { indexes, holders })) => (Some(indexes), holders),
            _ => (None, Vec::new()),
        };
        // It says it holds its shard: an audit checks a random piece.
        let held = match held {
            Some(indexes) if indexes.contains(&holder.index) => {
                match audit_one(net, object, &holder, timeout).await {
                    Ok(()) => Some(indexes),
                    Err(reason) => {
                        tracing::warn!(%object, peer = %holder.peer, index = holder.index, "audit failed: {reason}");
                        Some(indexes.into_iter().filter(|&i| i != holder.index).collect())
                    }
                }
            }
            other => other,
        };
        (object, holder.peer, held, list)
    }))
    .await;
    let now = Instant::now();
    for (object, peer, held, list) in answers {
        // What other holders heard of repairs reaches this one too.
        if !list.is_empty()
            && holders::merge(&machine.holders(&object), &list) != machine.holders(&object)
        {
            machine.handle_holders(object, list.clone(), now);
            sync(pins, machine, object);
        }
        if held.is_some() {
            machine.handle_heard_list(object, peer, &list);
        }
        // A silent holder has been silent since the probe went out.
        let at = if held.is_some() { now } else { sent };
        machine.handle_status(object, peer, held, at);
    }
}

/// Records the machine's list of `object` in the pins (merged), so
/// `Status` answers and getters see it.
fn sync(pins: &Pins, machine: &Repair, object: Hash) {
    let list = machine.holders(&object);
    if !list.is_empty() {
        let _ = pins.merge_holders(&object, &list);
    }
}

/// Asks `holder` for a random chunk group of its shard of `object` and
/// checks the proof against the shard's hash (from the manifest held here).
async fn audit_one<N: StorageNetwork>(
    net: &N,
    object: Hash,
    holder: &HolderInfo,
    timeout: Duration,
) -> Result<(), String> {
    let store = net.content().clone();
    let Ok(bytes) = blocking(move || store.read_small(&object, MAX_MANIFEST_BYTES)).await else {
        return Ok(()); // no manifest here: nothing to check against
    };
    let Ok(manifest) = Manifest::from_bytes(&bytes) else {
        return Ok(());
    };
    let Some(&shard) = manifest.shards.get(usize::from(holder.index)) else {
        return Err(format!("no shard {} in the manifest", holder.index));
    };
    let ranges = audit::pick(manifest.shard_size);
    let request = blobs::Request::Get {
        hash: shard,
        ranges: ranges.clone(),
    };
    let asked = net.request(holder.peer, holder.addrs.clone(), request);
    match tokio::time::timeout(timeout, asked).await {
        Ok(Ok(blobs::Response::Data(encoded))) => {
            audit::verify(shard, manifest.shard_size, &ranges, &encoded)
        }
        Ok(Ok(blobs::Response::Busy)) | Err(_) | Ok(Err(_)) => Ok(()), // no verdict this time
        Ok(Ok(other)) => Err(format!("answered {other:?}")),
    }
}

/// Records the new holder list and tells every other holder, and the one
/// it replaced (if that one still answers, it drops its copy; it is
/// likely gone, so its silence is not logged).
async fn announce<N: StorageNetwork>(
    net: &N,
    pins: &Arc<Pins>,
    object: Hash,
    holders: Vec<HolderInfo>,
    before: &[HolderInfo],
) {
    let _ = pins.merge_holders(&object, &holders);
    let me = net.local_peer_id();
    let listed = holders.iter().filter(|h| h.peer != me).map(|h| {
        let told = tell(net, object, h.clone(), holders.clone());
        async move { log_untold(object, h, told.await) }
    });
    let replaced = before
        .iter()
        .filter(|b| b.peer != me && !holders::lists(&holders, &b.peer))
        .map(|b| tell(net, object, b.clone(), holders.clone()));
    futures::join!(join_all(listed), join_all(replaced));
}

/// Sends `holder` the holder list of `object`.
async fn tell<N: StorageNetwork>(
    net: &N,
    object: Hash,
    holder: HolderInfo,
    holders: Vec<HolderInfo>,
) -> Result<(), String> {
    let request = Request::Holders { object, holders };
    let asked = net.storage_request(holder.peer, holder.addrs, request);
    match tokio::time::timeout(ANNOUNCE_TIMEOUT, asked).await {
        Ok(Ok(Response::Done)) => Ok(()),
        Ok(Ok(other)) => Err(format!("answered {other:?}")),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer in {}s", ANNOUNCE_TIMEOUT.as_secs())),
    }
}

/// A listed holder that was not told stays unsure of the list; the
/// others' probes find its list short and tell it again
/// ([`Decision::Tell`]), so a failure is only logged.
fn log_untold(object: Hash, holder: &HolderInfo, told: Result<(), String>) {
    if let Err(reason) = told {
        tracing::warn!(%object, peer = %holder.peer, "could not tell a holder the holder list: {reason}");
    }
}

/// Rebuilds shard `index` of `object` from any K and places it on a new
/// peer (none of `exclude`).
pub(crate) async fn repair<N: StorageNetwork>(
    net: &N,
    pins: &Arc<Pins>,
    object: Hash,
    index: u8,
    exclude: &[libp2p::PeerId],
) -> Result<Repaired, Error> {
    let started = Instant::now();
    let held = pins.held(&object);
    let mine = held
        .first()
        .ok_or_else(|| Error::BadInput(format!("{object} is not held here")))?;
    let owner = mine.owner;
    let store = net.content().clone();
    let manifest = {
        let store = store.clone();
        let bytes = blocking(move || store.read_small(&object, MAX_MANIFEST_BYTES)).await?;
        Manifest::from_bytes(&bytes).map_err(Error::BadInput)?
    };
    let index = usize::from(index);
    let others: Vec<_> = mine
        .holders
        .iter()
        .filter(|h| usize::from(h.index) != index)
        .map(|h| (h.peer, h.addrs.clone()))
        .collect();
    let answered = get::probe(net, object, &others).await;
    let hints = GetOptions {
        providers: others,
        use_dht: false,
        allow_relay: false,
    };
    let have = get::shards(net, object, &manifest, &answered, &hints, &[index]).await?;
    let fetched = have
        .iter()
        .filter(|i| !held.iter().any(|h| usize::from(h.index) == **i))
        .count() as u64;
    let (m, shard_hashes) = (
        manifest.clone(),
        have.iter()
            .map(|&i| (i, manifest.shards[i]))
            .collect::<Vec<_>>(),
    );
    let rebuilt = blocking(move || {
        let mut bytes = Vec::with_capacity(shard_hashes.len());
        for (i, h) in &shard_hashes {
            bytes.push((*i, store.read_small(h, m.shard_size)?));
        }
        let shard = erasure::rebuild(m.size, m.redundancy, bytes, index)?;
        let hash = store.import_bytes(&shard)?;
        if hash != m.shards[index] {
            return Err(Error::Store(format!(
                "rebuilt shard {index} has hash {hash}, the manifest says {}",
                m.shards[index]
            )));
        }
        Ok(hash)
    })
    .await;
    let placed = match rebuilt {
        Ok(_) => client::place(net, object, &manifest, &[index], exclude, Some(owner)).await,
        Err(e) => Err(e),
    };
    get::drop_fetched(net, pins, manifest.shards.clone()).await;
    let holder = placed?
        .pop()
        .ok_or_else(|| Error::Store("placed nowhere".into()))?;
    Ok(Repaired {
        holder,
        bytes_moved: (fetched + 1) * manifest.shard_size,
        took: started.elapsed(),
    })
}
