//! The size of a blob comes from a proof, never from a vote: claimers of
//! each size are asked for the proof of the last chunk (see
//! [`crate::transfer::size`]).

use std::collections::{BTreeMap, HashMap, VecDeque};

use futures::{stream::FuturesUnordered, StreamExt};
use libp2p::{Multiaddr, PeerId};

use super::{ask, Claim, Limits};
use crate::{
    blobs::protocol::{Request, Response},
    content::Hash,
    transfer::{network::BlobNetwork, size, stats::Tally},
    Error,
};

/// Finds the blob's true size: asks claimers of each size, all sizes at
/// once, for the proof of the last chunk, and returns the first size whose
/// proof verifies, with the proof (valid data to keep) and who sent it
/// (nobody for the empty blob). Claimers whose
/// proof fails are blamed; peers without the last chunk cannot prove and
/// are not asked.
pub(super) async fn prove_size<N: BlobNetwork>(
    net: &N,
    hash: Hash,
    addrs: &HashMap<PeerId, Vec<Multiaddr>>,
    claims: &[Claim],
    limits: &Limits,
    tally: &mut Tally,
) -> Result<(u64, Vec<u8>, Option<PeerId>), Error> {
    let mut failures = Vec::new();
    let mut by_size: BTreeMap<u64, VecDeque<PeerId>> = BTreeMap::new();
    for claim in claims {
        let last = size::proof_ranges(claim.size);
        if !size::is_plausible(claim.size) || claim.size == 0 {
            match size::verify(hash, claim.size, &[]) {
                Ok(()) => return Ok((0, Vec::new(), None)),
                Err(reason) => {
                    tally.blame(claim.peer);
                    failures.push(format!("{}: {reason}", claim.peer));
                }
            }
        } else if claim.complete || last.is_subset(&claim.present) {
            by_size.entry(claim.size).or_default().push_back(claim.peer);
        } else {
            failures.push(format!(
                "{}: has only part of it, not the last chunk that proves its size",
                claim.peer
            ));
        }
    }
    let ask = |size: u64, peer: PeerId| {
        let (net, addrs) = (net.clone(), addrs.get(&peer).cloned().unwrap_or_default());
        let request = Request::Get {
            hash,
            ranges: size::proof_ranges(size),
        };
        let limit = limits.have_timeout;
        async move { (size, peer, ask(net, peer, addrs, request, limit).await) }
    };
    let mut asking = FuturesUnordered::new();
    for (size, claimers) in &mut by_size {
        if let Some(peer) = claimers.pop_front() {
            asking.push(ask(*size, peer));
        }
    }
    while let Some((size, peer, answer)) = asking.next().await {
        match answer {
            Ok(Response::Data(bytes)) => match size::verify(hash, size, &bytes) {
                Ok(()) => return Ok((size, bytes, Some(peer))),
                Err(reason) => {
                    tracing::warn!(%peer, %hash, "dropping provider: {reason}");
                    tally.blame(peer);
                    failures.push(format!("{peer}: {reason}"));
                }
            },
            Ok(other) => failures.push(format!(
                "{peer}: answered {other:?} when asked to prove its size"
            )),
            Err(e) => failures.push(e.to_string()),
        }
        if let Some(next) = by_size.get_mut(&size).and_then(VecDeque::pop_front) {
            asking.push(ask(size, next));
        }
    }
    Err(Error::Download {
        hash,
        reason: format!(
            "no peer proved the size of the content; nothing was stored ({})",
            failures.join("; ")
        ),
    })
}
