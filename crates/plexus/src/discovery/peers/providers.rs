//! Provider lookups in the [`PeerBook`]: found providers collected until
//! the query ends or [`PROVIDER_GRACE`] after the first, and answered with
//! the providers this node could not dial apart (see [`Unreachable`]).

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use libp2p::{kad, PeerId};
use tokio::sync::oneshot;

use super::{PeerBook, ProviderLookup};
#[cfg(doc)]
use crate::discovery::unreachable::Unreachable;

/// A provider lookup collecting peers until its query ends.
pub(super) struct PendingProviders {
    found: HashSet<PeerId>,
    started: Instant,
    /// When the first provider was found.
    first: Option<Instant>,
    /// Requests and hops of a query that ended while some provider's dial
    /// was still open: answered when due (see [`PeerBook::handle_providers`]).
    ended: Option<(u32, Option<u32>)>,
    reply: oneshot::Sender<ProviderLookup>,
}

/// How long a provider lookup goes on once it has found a first provider.
/// Kademlia's query ends only when the closest peers have all answered or
/// failed, and a peer that is gone costs a dial timeout (5 s on QUIC):
/// seen in the test bed, where a lookup for a stored object waited over
/// 20 s on dead holders while live ones had answered at once.
pub(crate) const PROVIDER_GRACE: Duration = Duration::from_millis(500);

/// A provider whose last dial failed this long before a lookup (and which
/// has not connected since) is still unreachable: on a loaded node the
/// lookup's own dial may not fail within [`PROVIDER_GRACE`], and the
/// departed provider would be named again (the CI's 40-node `dht_sim`,
/// one run: 1 of 5 departed providers returned 11 s after the churn). A
/// provider that comes back is named again once a dial to it connects.
pub(crate) const RECENT_FAILURE: Duration = Duration::from_secs(60);

impl PeerBook {
    /// A provider lookup started as `query`.
    pub(crate) fn start_providers(
        &mut self,
        query: kad::QueryId,
        now: Instant,
        reply: oneshot::Sender<ProviderLookup>,
    ) {
        let pending = PendingProviders {
            found: HashSet::new(),
            started: now,
            first: None,
            ended: None,
            reply,
        };
        self.providers.insert(query, pending);
    }

    /// Providers found by `query`; `end` (the requests sent and the hops,
    /// once the query is over) ends it and replies (without `me`), the
    /// providers this node could not dial apart: those not connected whose
    /// last dial (each found provider is dialed, see `behaviour/lookups.rs`)
    /// failed during the lookup or within [`RECENT_FAILURE`] before it. A
    /// query that ends before
    /// [`PROVIDER_GRACE`] while such a dial is still open waits for it
    /// until then. A dial that outlasts that (a host gone from a real
    /// network costs a dial timeout) leaves the provider listed.
    pub(crate) fn handle_providers(
        &mut self,
        query: kad::QueryId,
        found: impl IntoIterator<Item = PeerId>,
        end: Option<(u32, Option<u32>)>,
        me: PeerId,
        now: Instant,
    ) {
        let Some(pending) = self.providers.get_mut(&query) else {
            return;
        };
        pending.found.extend(found.into_iter().filter(|p| *p != me));
        if !pending.found.is_empty() {
            pending.first.get_or_insert(now);
        }
        let Some(end) = end else { return };
        let end = *pending.ended.get_or_insert(end);
        let (connected, unreachable) = (&self.connected, &self.unreachable);
        let since = pending
            .started
            .checked_sub(RECENT_FAILURE)
            .unwrap_or(pending.started);
        let failed = |p: &PeerId| !connected.contains(p) && unreachable.failed_since(p, since);
        let dialing = |p: &PeerId| !connected.contains(p) && !failed(p);
        let due = pending.first.is_some_and(|at| now >= at + PROVIDER_GRACE);
        if !due && pending.found.iter().any(dialing) {
            return;
        }
        let (unreachable, providers) = pending.found.iter().partition(|p| failed(p));
        let pending = self.providers.remove(&query).expect("present");
        let _ = pending.reply.send(ProviderLookup {
            providers,
            unreachable,
            requests: end.0,
            millis: now.saturating_duration_since(pending.started).as_millis() as u64,
            hops: end.1,
        });
    }

    /// Provider lookups to answer now: [`PROVIDER_GRACE`] past their first
    /// provider.
    pub(crate) fn providers_due(&self, now: Instant) -> Vec<kad::QueryId> {
        self.providers
            .iter()
            .filter(|(_, p)| p.first.is_some_and(|at| now >= at + PROVIDER_GRACE))
            .map(|(id, _)| *id)
            .collect()
    }

    /// When the next provider lookup is due an answer, if any is.
    pub(crate) fn next_providers_due(&self) -> Option<Instant> {
        self.providers
            .values()
            .filter_map(|p| p.first)
            .min()
            .map(|at| at + PROVIDER_GRACE)
    }
}
