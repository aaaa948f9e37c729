//! The Kademlia record store: this node's own provider records apart from
//! everyone else's, so remote announcements can never crowd them out.
//!
//! libp2p's `MemoryStore` keeps at most 1,024 provider keys in total, own
//! and remote together, first come first served: a node sharing more than
//! 1,024 blobs silently announces only the first 1,024, and a peer flooding
//! announcements can fill the store before the node's own records arrive.
//! [`ProviderStore`] instead keeps
//!
//! - **own provider records** (provider == this node) in their own map,
//!   limited only by [`StoreLimits::max_own_provided`] (default 1,000,000).
//!   Each costs about 250 bytes (key and peer id with their heap parts,
//!   expiry, an empty address list, two hash-map slots), so the default cap
//!   is about 250 MB, reached only by a node sharing a million items;
//!   [`RecordStore::provided`] returns all of them for republishing;
//! - **remote provider records** bounded per providing peer
//!   ([`StoreLimits::max_keys_per_remote`], default 1,024) and in total
//!   ([`StoreLimits::max_remote_provider_records`], default 65,536, about
//!   25 MB with their addresses), at most [`StoreLimits::max_providers_per_key`]
//!   remote providers per key; beyond a limit `add_provider` refuses with
//!   [`store::Error::MaxProvidedKeys`] and nothing already stored is evicted;
//! - **plain records** in a `MemoryStore` with its usual bounds (1,024
//!   records of under 65 KiB), only valid signed relay-address records
//!   ([`super::relay_record`]): nobody can store anything else here.
//!
//! The per-peer cap means a peer holds at most 1,024 of another node's keys:
//! in a small network, a node sharing more than that is still found through
//! its own store (lookups reach it), but fewer of its records are replicated
//! elsewhere, so they vanish sooner if it goes offline.

use std::{
    borrow::Cow,
    collections::{hash_map, HashMap},
    time::{Duration, Instant},
};

use libp2p::{
    kad::{
        store::{self, MemoryStore, MemoryStoreConfig, RecordStore},
        ProviderRecord, Record, RecordKey, K_VALUE,
    },
    Multiaddr, PeerId,
};

use super::provider_addrs::ProviderAddrs;

/// The bounds of a [`ProviderStore`].
#[derive(Debug, Clone)]
pub struct StoreLimits {
    /// Keys this node itself provides (shared or fetched items).
    pub max_own_provided: usize,
    /// Provider records from other peers, all keys together.
    pub max_remote_provider_records: usize,
    /// Keys one remote peer may have announced here.
    pub max_keys_per_remote: usize,
    /// Remote providers kept for one key (the replication factor).
    pub max_providers_per_key: usize,
    /// Plain (value) records.
    pub max_records: usize,
    /// Size of a plain record's value, in bytes.
    pub max_value_bytes: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            max_own_provided: 1_000_000,
            max_remote_provider_records: 65_536,
            max_keys_per_remote: 1_024,
            max_providers_per_key: K_VALUE.get(),
            max_records: 1_024,
            max_value_bytes: 65 * 1024,
        }
    }
}

/// A Kademlia [`RecordStore`] whose own provider records are never evicted
/// or refused because of remote ones (see the module documentation).
pub struct ProviderStore {
    local: PeerId,
    limits: StoreLimits,
    /// Plain records; its provider side is unused.
    records: MemoryStore,
    /// Keys this node provides.
    own: HashMap<RecordKey, ProviderRecord>,
    /// Other peers' provider records, by key.
    remote: HashMap<RecordKey, Vec<ProviderRecord>>,
    /// How many keys each remote peer has records for.
    per_peer: HashMap<PeerId, usize>,
    /// Number of remote provider records.
    remote_total: usize,
    /// When expired remote records were last swept out.
    last_sweep: Option<Instant>,
    /// Addresses for remote records announced without any.
    addrs: ProviderAddrs,
}

/// Kademlia drops an expired provider record only when that key is looked
/// up, so a full store is swept for expired records, at most this often.
const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

impl ProviderStore {
    /// A store for the node `local` with the default [`StoreLimits`].
    pub fn new(local: PeerId) -> Self {
        Self::with_limits(local, StoreLimits::default())
    }

    /// A store for the node `local` with the given limits.
    pub fn with_limits(local: PeerId, limits: StoreLimits) -> Self {
        let records = MemoryStore::with_config(
            local,
            MemoryStoreConfig {
                max_records: limits.max_records,
                max_value_bytes: limits.max_value_bytes,
                max_providers_per_key: limits.max_providers_per_key,
                max_provided_keys: 0,
            },
        );
        Self {
            local,
            limits,
            records,
            own: HashMap::new(),
            remote: HashMap::new(),
            per_peer: HashMap::new(),
            remote_total: 0,
            last_sweep: None,
            addrs: ProviderAddrs::default(),
        }
    }

    /// Number of keys this node provides.
    #[cfg(test)]
    pub fn own_count(&self) -> usize {
        self.own.len()
    }

    /// Number of provider records from other peers.
    #[cfg(test)]
    pub fn remote_count(&self) -> usize {
        self.remote_total
    }

    /// Number of keys `peer` has provider records for here.
    pub fn remote_count_of(&self, peer: &PeerId) -> usize {
        self.per_peer.get(peer).copied().unwrap_or(0)
    }

    fn add_own(&mut self, record: ProviderRecord) -> store::Result<()> {
        let len = self.own.len();
        match self.own.entry(record.key.clone()) {
            hash_map::Entry::Occupied(mut e) => {
                e.insert(record);
            }
            hash_map::Entry::Vacant(e) => {
                if len >= self.limits.max_own_provided {
                    return Err(store::Error::MaxProvidedKeys);
                }
                e.insert(record);
            }
        }
        Ok(())
    }

    fn is_full_for(&self, peer: &PeerId) -> bool {
        self.remote_total >= self.limits.max_remote_provider_records
            || self.remote_count_of(peer) >= self.limits.max_keys_per_remote
    }

    /// Drops expired remote provider records, unless it did so less than
    /// [`SWEEP_INTERVAL`] ago (a flood must not make every refusal a scan).
    fn sweep_expired(&mut self, now: Instant) {
        if self
            .last_sweep
            .is_some_and(|t| now.saturating_duration_since(t) < SWEEP_INTERVAL)
        {
            return;
        }
        self.last_sweep = Some(now);
        let expired: Vec<(RecordKey, PeerId)> = self
            .remote
            .values()
            .flatten()
            .filter(|r| r.is_expired(now))
            .map(|r| (r.key.clone(), r.provider))
            .collect();
        for (key, peer) in expired {
            self.remove_provider(&key, &peer);
        }
    }

    /// Identify says connected `peer` listens at `addrs` (filtered as for
    /// the routing table): its records that came without addresses get
    /// them (see [`ProviderAddrs`]).
    pub(crate) fn handle_listen_addrs(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        for key in self.addrs.handle_listen_addrs(peer, addrs.clone()) {
            let records = self.remote.get_mut(&key).into_iter().flatten();
            for r in records.filter(|r| r.provider == peer && r.addresses.is_empty()) {
                r.addresses.clone_from(&addrs);
            }
        }
    }

    /// `peer`'s last connection closed.
    pub(crate) fn handle_disconnected(&mut self, peer: &PeerId) {
        self.addrs.handle_disconnected(peer);
    }

    /// `record` as stored: with the provider's known addresses when it
    /// came without any.
    fn addressed(&mut self, mut record: ProviderRecord) -> ProviderRecord {
        if record.addresses.is_empty() {
            record.addresses = self.addrs.for_record(record.provider, &record.key);
        }
        record
    }

    fn add_remote(&mut self, record: ProviderRecord) -> store::Result<()> {
        let providers = self.remote.get(&record.key);
        if let Some(existing) = providers
            .into_iter()
            .flatten()
            .position(|p| p.provider == record.provider)
        {
            // Refreshing a record already held costs nothing new.
            let record = self.addressed(record);
            let slot = &mut self.remote.get_mut(&record.key).expect("present")[existing];
            *slot = record;
            return Ok(());
        }
        if providers.is_some_and(|p| p.len() >= self.limits.max_providers_per_key) {
            // Like MemoryStore: a full key keeps its first providers.
            return Ok(());
        }
        if self.is_full_for(&record.provider) {
            self.sweep_expired(Instant::now());
            if self.is_full_for(&record.provider) {
                return Err(store::Error::MaxProvidedKeys);
            }
        }
        let record = self.addressed(record);
        *self.per_peer.entry(record.provider).or_default() += 1;
        self.remote_total += 1;
        self.remote
            .entry(record.key.clone())
            .or_default()
            .push(record);
        Ok(())
    }
}

impl RecordStore for ProviderStore {
    type RecordsIter<'a> = <MemoryStore as RecordStore>::RecordsIter<'a>;
    type ProvidedIter<'a> = std::iter::Map<
        hash_map::Values<'a, RecordKey, ProviderRecord>,
        fn(&'a ProviderRecord) -> Cow<'a, ProviderRecord>,
    >;

    fn get(&self, k: &RecordKey) -> Option<Cow<'_, Record>> {
        self.records.get(k)
    }

    /// Only valid relay-address records ([`super::relay_record`]), and of
    /// those only one no older than the one held: libp2p's store errors
    /// have no kind for an invalid record, so a refused one is reported as
    /// too large (Kademlia only logs it and resets the putter's stream).
    fn put(&mut self, r: Record) -> store::Result<()> {
        let new = match super::relay_record::verify(&r) {
            Ok(new) => new,
            Err(why) => {
                tracing::info!(publisher = ?r.publisher, "refused a DHT record: {why}");
                return Err(store::Error::ValueTooLarge);
            }
        };
        let held = self.records.get(&r.key);
        let old = held.and_then(|old| super::relay_record::verify(&old).ok());
        if old.is_some_and(|old| !super::relay_record::replaces(&new, &old)) {
            tracing::debug!(peer = %new.peer_id(), "kept the newer relay-address record");
            return Ok(());
        }
        self.records.put(r)
    }

    fn remove(&mut self, k: &RecordKey) {
        self.records.remove(k)
    }

    fn records(&self) -> Self::RecordsIter<'_> {
        self.records.records()
    }

    fn add_provider(&mut self, record: ProviderRecord) -> store::Result<()> {
        if record.provider == self.local {
            self.add_own(record)
        } else {
            self.add_remote(record)
        }
    }

    fn providers(&self, key: &RecordKey) -> Vec<ProviderRecord> {
        self.own
            .get(key)
            .into_iter()
            .chain(self.remote.get(key).into_iter().flatten())
            .cloned()
            .collect()
    }

    fn provided(&self) -> Self::ProvidedIter<'_> {
        self.own.values().map(Cow::Borrowed)
    }

    fn remove_provider(&mut self, key: &RecordKey, provider: &PeerId) {
        if *provider == self.local {
            self.own.remove(key);
            return;
        }
        let hash_map::Entry::Occupied(mut e) = self.remote.entry(key.clone()) else {
            return;
        };
        if let Some(i) = e.get().iter().position(|p| &p.provider == provider) {
            e.get_mut().swap_remove(i);
            self.remote_total -= 1;
            if let hash_map::Entry::Occupied(mut n) = self.per_peer.entry(*provider) {
                *n.get_mut() -= 1;
                if *n.get() == 0 {
                    n.remove();
                    self.addrs.handle_forgotten(provider);
                }
            }
        }
        if e.get().is_empty() {
            e.remove();
        }
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
