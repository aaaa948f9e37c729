//! DHT provider records: announcing, withdrawing and finding who holds a
//! hash.

use std::collections::HashSet;

use libp2p::{kad, PeerId};
use tokio::sync::oneshot;

use super::EventLoop;
use crate::content::Hash;

/// A provider lookup collecting peers until its query ends.
pub(crate) struct PendingProviders {
    pub(crate) found: HashSet<PeerId>,
    pub(crate) reply: oneshot::Sender<Vec<PeerId>>,
}

impl EventLoop {
    /// Stops announcing `hash`: drops this node's own provider record, so
    /// it is neither republished nor given out by this node.
    pub(super) fn stop_providing(&mut self, hash: Hash) {
        let key = kad::RecordKey::new(&hash.0);
        self.swarm.behaviour_mut().kad.stop_providing(&key);
    }

    pub(super) fn provide(&mut self, hash: Hash) {
        let key = kad::RecordKey::new(&hash.0);
        if let Err(e) = self.swarm.behaviour_mut().kad.start_providing(key) {
            tracing::warn!(%hash, "cannot announce content: {e}");
        }
    }

    pub(super) fn find_providers(&mut self, hash: Hash, reply: oneshot::Sender<Vec<PeerId>>) {
        let key = kad::RecordKey::new(&hash.0);
        let id = self.swarm.behaviour_mut().kad.get_providers(key);
        self.providers.insert(
            id,
            PendingProviders {
                found: HashSet::new(),
                reply,
            },
        );
    }

    pub(super) fn on_providers(
        &mut self,
        id: kad::QueryId,
        result: kad::GetProvidersResult,
        last: bool,
    ) {
        let Some(pending) = self.providers.get_mut(&id) else {
            return;
        };
        if let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = result {
            pending.found.extend(providers);
        }
        if last {
            let pending = self.providers.remove(&id).expect("present");
            let me = self.peer_id();
            let _ = pending
                .reply
                .send(pending.found.into_iter().filter(|p| *p != me).collect());
        }
    }
}
