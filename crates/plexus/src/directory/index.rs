//! The directory server's index, without I/O: signed records published by
//! registered peers, searched by keyword, expiring unless republished.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use libp2p::{Multiaddr, PeerId};

use super::MAX_RESULTS;
use crate::{
    content::{Hash, SignedRecord},
    discovery,
    ratelimit::{Rate, RateLimiter},
    search::{Hit, MAX_WORDS},
};

/// Most addresses kept for one publisher (the first dialable ones it sent).
pub const MAX_ADDRS_PER_PEER: usize = 16;

/// Most records the index holds over all publishers (about 1 KiB each, so
/// some 100 MiB); a publish that would go beyond is refused.
pub const MAX_RECORDS: usize = 100_000;

/// Limits of a directory's index.
#[derive(Debug, Clone)]
pub struct IndexConfig {
    /// How long a peer's records are kept after it last published.
    pub ttl: Duration,
    /// Most records one peer may publish.
    pub max_per_peer: usize,
    /// Most peers with records.
    pub max_peers: usize,
    /// Most records over all peers.
    pub max_records: usize,
    /// Requests (searches and publishes) one peer may send in a burst.
    pub burst: u32,
    /// Requests per second one peer may send on average.
    pub per_second: f64,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(10 * 60),
            max_per_peer: 1000,
            max_peers: 10_000,
            max_records: MAX_RECORDS,
            burst: 20,
            per_second: 2.0,
        }
    }
}

struct Entry {
    records: Vec<(crate::content::Metadata, SignedRecord)>,
    addrs: Vec<Multiaddr>,
    expires: Instant,
}

/// Records by publisher.
pub struct Index {
    config: IndexConfig,
    peers: HashMap<PeerId, Entry>,
    /// Records over all peers.
    records: usize,
    limiter: RateLimiter,
}

impl Index {
    /// An empty index with `config`'s limits.
    pub fn new(config: IndexConfig) -> Self {
        Self {
            limiter: RateLimiter::new(Rate {
                per_second: config.per_second,
                burst: config.burst,
            }),
            config,
            peers: HashMap::new(),
            records: 0,
        }
    }

    /// How long records are kept.
    pub fn ttl(&self) -> Duration {
        self.config.ttl
    }

    /// Replaces `from`'s records and addresses (the first
    /// [`MAX_ADDRS_PER_PEER`] dialable ones are kept). Refuses the whole
    /// batch, keeping the earlier one, when any record is forged or names
    /// another publisher, or when there are too many for the peer or in all.
    pub fn publish(
        &mut self,
        from: PeerId,
        records: Vec<SignedRecord>,
        addrs: Vec<Multiaddr>,
        now: Instant,
    ) -> Result<usize, String> {
        self.expire(now);
        if records.len() > self.config.max_per_peer {
            return Err(format!(
                "at most {} records per peer, got {}",
                self.config.max_per_peer,
                records.len()
            ));
        }
        let old = self.peers.get(&from).map(|e| e.records.len());
        if old.is_none() && self.peers.len() >= self.config.max_peers {
            return Err("the directory is full; try again later".into());
        }
        if self.records - old.unwrap_or(0) + records.len() > self.config.max_records {
            return Err(format!(
                "the directory holds {} records of at most {}; try again later",
                self.records, self.config.max_records
            ));
        }
        let mut checked = Vec::with_capacity(records.len());
        let mut hashes: Vec<Hash> = Vec::new();
        for record in records {
            let meta = record
                .verify()
                .map_err(|e| format!("refused record: {e}"))?;
            if meta.publisher != from {
                return Err(format!(
                    "refused record for {}: a peer may only publish its own records (sent by {from})",
                    meta.publisher
                ));
            }
            if !hashes.contains(&meta.hash) {
                hashes.push(meta.hash);
                checked.push((meta, record));
            }
        }
        let accepted = checked.len();
        let addrs = addrs
            .into_iter()
            .filter(discovery::is_dialable)
            .take(MAX_ADDRS_PER_PEER)
            .collect();
        let entry = Entry {
            records: checked,
            addrs,
            expires: now + self.config.ttl,
        };
        if let Some(old) = self.peers.insert(from, entry) {
            self.records -= old.records.len();
        }
        self.records += accepted;
        Ok(accepted)
    }

    /// Drops peers whose records were not republished in time.
    pub fn expire(&mut self, now: Instant) {
        let records = &mut self.records;
        self.peers.retain(|_, e| {
            let keep = e.expires > now;
            if !keep {
                *records -= e.records.len();
            }
            keep
        });
        self.limiter.prune(now);
    }

    /// Counts a request from `peer` against its rate limit.
    pub fn admit(&mut self, peer: PeerId, now: Instant) -> Result<(), String> {
        if self.limiter.allow(peer, now) {
            Ok(())
        } else {
            Err("rate limited: too many directory requests; slow down".into())
        }
    }

    /// Peers with records now.
    #[cfg(test)]
    pub fn peers(&self) -> usize {
        self.peers.len()
    }

    /// Records held now, over all peers.
    #[cfg(test)]
    pub fn records(&self) -> usize {
        self.records
    }

    /// Records matching every word, at most [`MAX_RESULTS`].
    pub fn search(&mut self, words: &[String], now: Instant) -> Result<Vec<Hit>, String> {
        if words.is_empty() || words.len() > MAX_WORDS {
            return Err(format!("give 1 to {MAX_WORDS} search words"));
        }
        self.expire(now);
        let mut hits = Vec::new();
        for entry in self.peers.values() {
            for (meta, record) in &entry.records {
                if meta.matches(words) {
                    hits.push(Hit {
                        record: record.clone(),
                        addrs: entry.addrs.clone(),
                    });
                    if hits.len() >= MAX_RESULTS {
                        return Ok(hits);
                    }
                }
            }
        }
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use libp2p::identity::Keypair;

    fn record(key: &Keypair, name: &str) -> SignedRecord {
        crate::content::meta::test_record(key, name)
    }

    fn words(s: &str) -> Vec<String> {
        crate::content::meta::query_words(&[s])
    }

    #[test]
    fn publish_search_and_expire() {
        let key = Keypair::generate_ed25519();
        let me = key.public().to_peer_id();
        let mut index = Index::new(IndexConfig {
            ttl: Duration::from_secs(5),
            ..IndexConfig::default()
        });
        let now = Instant::now();
        let records = vec![record(&key, "alpha.txt"), record(&key, "beta.txt")];
        assert_eq!(index.publish(me, records, vec![], now), Ok(2));
        assert_eq!(index.search(&words("alpha"), now).unwrap().len(), 1);
        assert_eq!(index.search(&words("demo"), now).unwrap().len(), 2);
        assert!(index.search(&[], now).is_err());
        let later = now + Duration::from_secs(6);
        assert!(index.search(&words("demo"), later).unwrap().is_empty());
        assert_eq!(index.peers(), 0, "not republished: expired");
    }

    #[test]
    fn publishing_for_another_peer_is_refused() {
        let key = Keypair::generate_ed25519();
        let other = Keypair::generate_ed25519().public().to_peer_id();
        let mut index = Index::new(IndexConfig::default());
        let err = index
            .publish(other, vec![record(&key, "x")], vec![], Instant::now())
            .unwrap_err();
        assert!(err.contains("only publish its own"), "{err}");
        let mut forged = record(&key, "y");
        forged.payload = forged.payload.replace("\"y\"", "\"z\"");
        let me = key.public().to_peer_id();
        let err = index
            .publish(me, vec![forged], vec![], Instant::now())
            .unwrap_err();
        assert!(err.contains("signature"), "{err}");
        assert_eq!(index.peers(), 0);
    }

    #[test]
    fn requests_per_peer_are_rate_limited() {
        let mut index = Index::new(IndexConfig {
            burst: 2,
            per_second: 1.0,
            ..IndexConfig::default()
        });
        let (a, b) = (PeerId::random(), PeerId::random());
        let now = Instant::now();
        assert!(index.admit(a, now).is_ok());
        assert!(index.admit(a, now).is_ok());
        assert!(index.admit(a, now).unwrap_err().contains("rate limited"));
        assert!(index.admit(b, now).is_ok(), "each peer has its own budget");
        assert!(index.admit(a, now + Duration::from_millis(1100)).is_ok());
    }

    #[test]
    fn entries_per_peer_are_limited() {
        let key = Keypair::generate_ed25519();
        let me = key.public().to_peer_id();
        let mut index = Index::new(IndexConfig {
            max_per_peer: 2,
            ..IndexConfig::default()
        });
        let records: Vec<_> = (0..3).map(|i| record(&key, &format!("f{i}"))).collect();
        let err = index
            .publish(me, records, vec![], Instant::now())
            .unwrap_err();
        assert!(err.contains("at most 2"), "{err}");
    }

    #[test]
    fn records_in_all_are_capped_and_a_refusal_keeps_the_earlier_batch() {
        let keys: Vec<Keypair> = (0..3).map(|_| Keypair::generate_ed25519()).collect();
        let mut index = Index::new(IndexConfig {
            max_records: 5,
            ..IndexConfig::default()
        });
        let now = Instant::now();
        let batch = |key: &Keypair, n: usize| -> Vec<SignedRecord> {
            (0..n).map(|i| record(key, &format!("f{i}"))).collect()
        };
        let peer = |i: usize| keys[i].public().to_peer_id();
        assert_eq!(
            index.publish(peer(0), batch(&keys[0], 3), vec![], now),
            Ok(3)
        );
        assert_eq!(
            index.publish(peer(1), batch(&keys[1], 2), vec![], now),
            Ok(2)
        );
        let err = index
            .publish(peer(2), batch(&keys[2], 1), vec![], now)
            .unwrap_err();
        assert!(err.contains("holds 5 records of at most 5"), "{err}");
        // A peer may replace its own records within the total...
        assert_eq!(
            index.publish(peer(0), batch(&keys[0], 1), vec![], now),
            Ok(1)
        );
        assert_eq!(index.records(), 3);
        // ...and one refused keeps what it had.
        assert!(index
            .publish(peer(1), batch(&keys[1], 5), vec![], now)
            .is_err());
        assert_eq!(index.search(&words("demo"), now).unwrap().len(), 3);
        index.expire(now + Duration::from_secs(3600));
        assert_eq!((index.peers(), index.records()), (0, 0));
    }

    #[test]
    fn addresses_per_peer_are_capped() {
        let key = Keypair::generate_ed25519();
        let me = key.public().to_peer_id();
        let mut index = Index::new(IndexConfig::default());
        let addrs: Vec<Multiaddr> = (0..1000)
            .map(|i| format!("/ip4/192.0.2.1/tcp/{}", 1000 + i).parse().unwrap())
            .collect();
        let now = Instant::now();
        index
            .publish(me, vec![record(&key, "a")], addrs.clone(), now)
            .unwrap();
        let hits = index.search(&words("a"), now).unwrap();
        assert_eq!(hits[0].addrs, addrs[..MAX_ADDRS_PER_PEER].to_vec());
    }
}
