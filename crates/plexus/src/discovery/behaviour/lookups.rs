//! Provider lookups: started on a command, answered when Kademlia's query
//! ends or [`PROVIDER_GRACE`](super::super::peers::PROVIDER_GRACE) after it found a first provider, whichever
//! comes first (the query is then stopped); and Kademlia's answers read
//! for the hop counts of traced lookups.

use std::{task::Context, time::Instant};

use libp2p::{
    kad,
    swarm::{
        dial_opts::{DialOpts, PeerCondition},
        ToSwarm,
    },
    PeerId,
};
use tokio::sync::oneshot;

use super::{
    super::{hops::Goal, ProviderLookup},
    Behaviour,
};
use crate::content::Hash;

impl Behaviour {
    /// Starts a provider lookup of `hash`, answered on `reply`.
    pub(super) fn find_providers(&mut self, hash: Hash, reply: oneshot::Sender<ProviderLookup>) {
        let key = crate::discovery::provider_key(&hash);
        let table = self.table_peers();
        let query = self.inner.kad.get_providers(key);
        self.hops.start(query, Goal::Providers, table);
        self.book.start_providers(query, Instant::now(), reply);
    }

    /// A step of provider lookup `id`: its providers are dialed and kept;
    /// `last` ends it.
    pub(super) fn on_providers(
        &mut self,
        id: kad::QueryId,
        result: kad::GetProvidersResult,
        last: bool,
        stats: kad::QueryStats,
    ) {
        let found = match result {
            Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) => providers,
            _ => Default::default(),
        };
        // Dialed now, while the lookup still holds the addresses the
        // providers announced: a private provider (a Kademlia client) is in
        // no routing table, and these (its relay addresses) are the only
        // ones anybody has.
        for peer in &found {
            if *peer != self.me && !self.book.is_connected(peer) {
                let opts = DialOpts::peer_id(*peer)
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build();
                self.out.push_back(ToSwarm::Dial { opts });
            }
        }
        // Kademlia reports the providers in this node's own store first,
        // before it sends any request.
        if found.iter().any(|p| *p != self.me) && stats.num_requests() == 0 {
            self.hops.found_locally(&id);
        }
        let end = last.then(|| (stats.num_requests(), self.hops.finish(&id)));
        self.book
            .handle_providers(id, found, end, self.me, Instant::now());
    }

    /// Answers the lookups [`PROVIDER_GRACE`](super::super::peers::PROVIDER_GRACE) past their first provider and
    /// stops their queries; wakes the behaviour when the next one is due.
    pub(super) fn answer_due_lookups(&mut self, cx: &mut Context<'_>) {
        let now = Instant::now();
        for id in self.book.providers_due(now) {
            let requests = match self.inner.kad.query_mut(&id) {
                Some(mut query) => {
                    let requests = query.stats().num_requests();
                    query.finish();
                    requests
                }
                None => 0,
            };
            let end = Some((requests, self.hops.finish(&id)));
            self.book.handle_providers(id, [], end, self.me, now);
        }
        self.lookup_timer.set(self.book.next_providers_due(), cx);
    }

    /// Reads a Kademlia handler event from `peer` for answers to traced
    /// lookups (see [`super::super::hops`]).
    pub(super) fn trace_answer(&mut self, peer: PeerId, event: &impl std::fmt::Debug) {
        let text = format!("{event:?}");
        let traced = |t: &str| self.hops.query_named(t);
        if let Some(response) = super::super::hops::parse_response(&text, traced) {
            self.hops.on_response(peer, response);
        }
    }
}
