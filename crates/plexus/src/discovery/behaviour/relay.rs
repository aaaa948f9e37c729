//! This node's relay addresses in the DHT: Kademlia's mode, provider
//! records announced again and the relay-address record put, as they
//! change.

use std::{task::Context, time::Instant};

use libp2p::kad;

use super::{
    super::{announce::Origin, relay_publish::Decision, relay_record},
    Behaviour,
};
use crate::content::Hash;

impl Behaviour {
    /// Follows reachability: Kademlia is a client while `private`, a server
    /// otherwise ([`super::kad_mode`]).
    pub(crate) fn set_private(&mut self, private: bool) {
        if private != self.private {
            tracing::info!(private, "Kademlia mode follows reachability");
        }
        self.private = private;
        self.inner
            .kad
            .set_mode(Some(crate::discovery::kad_mode(private)));
        self.publisher.set_private(private, Instant::now());
    }

    /// Puts or withdraws this node's relay-address record when due
    /// ([`Publisher`]); wakes the behaviour when the next one is due.
    pub(super) fn publish(&mut self, cx: &mut Context<'_>) {
        let now = Instant::now();
        match self.publisher.poll(now) {
            Some(Decision::Put(addrs)) => match relay_record::signed(&self.key, &addrs) {
                Ok(record) => {
                    tracing::info!(addrs = addrs.len(), "putting the relay-address record");
                    if let Err(e) = self.inner.kad.put_record(record, kad::Quorum::One) {
                        tracing::warn!("cannot put the relay-address record: {e}");
                    }
                }
                Err(e) => tracing::warn!("cannot sign the relay-address record: {e}"),
            },
            Some(Decision::Withdraw) => {
                tracing::info!("withdrawing the relay-address record");
                self.inner.kad.remove_record(&relay_record::key(&self.me));
            }
            None => {}
        }
        self.publish_timer.set(self.publisher.due(), cx);
    }

    /// A private node's records must carry its relay addresses (Kademlia
    /// puts the node's confirmed external addresses in each announcement,
    /// and nobody else knows where a client is): each new relay address
    /// announces the node's own records again.
    pub(super) fn reannounce(&mut self) {
        let hashes: Vec<Hash> = kad::store::RecordStore::provided(self.inner.kad.store_mut())
            .filter_map(|r| crate::discovery::provided_hash(&r.key))
            .collect();
        tracing::debug!(
            records = hashes.len(),
            "new relay address: announcing again"
        );
        for hash in hashes {
            self.announcer.push(hash, Origin::Stored);
        }
    }
}
