//! Figures other components already keep, read when `/metrics` is scraped
//! and written out as constant metrics (nothing here counts twice).

use std::sync::{Arc, Mutex};

use prometheus_client::{
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge, MetricType},
};

/// Figures read at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Blob-protocol body bytes sent to peers (served), from the bandwidth caps'
    /// counters. Storage shards travel over the blob protocol too: the
    /// storage protocol carries only small JSON frames.
    pub blob_bytes_served: u64,
    /// Blob-protocol body bytes read from peers (fetched).
    pub blob_bytes_fetched: u64,
    /// Bytes of verified data in the content store.
    pub store_bytes: u64,
    /// Blobs in the content store, complete or partial.
    pub store_blobs: u64,
    /// Other peers' search queries handled.
    pub search_handled: u64,
    /// Copies of queries this node forwarded to neighbours.
    pub search_forwarded: u64,
    /// Copies of already-seen queries dropped.
    pub search_duplicates: u64,
    /// Queries refused (rate limit, open-query cap).
    pub search_refused: u64,
}

/// Writes the [`Snapshot`] last set by [`super::Metrics::encode`].
#[derive(Debug)]
pub(super) struct Collector(pub(super) Arc<Mutex<Snapshot>>);

impl prometheus_client::collector::Collector for Collector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let bytes = "plexus_bytes";
        let help = "Bytes of protocol payload, by protocol and direction (served: sent to peers, fetched: read from them)";
        let mut family = encoder.encode_descriptor(bytes, help, None, MetricType::Counter)?;
        for (direction, value) in [
            ("served", s.blob_bytes_served),
            ("fetched", s.blob_bytes_fetched),
        ] {
            let labels = [("protocol", "blobs"), ("direction", direction)];
            ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
        }
        let mut search = encoder.encode_descriptor(
            "plexus_search_queries",
            "Other peers' search queries, by what this node did: handled, forwarded (copies sent on), duplicate, refused",
            None,
            MetricType::Counter,
        )?;
        for (what, value) in [
            ("handled", s.search_handled),
            ("forwarded", s.search_forwarded),
            ("duplicate", s.search_duplicates),
            ("refused", s.search_refused),
        ] {
            ConstCounter::new(value).encode(search.encode_family(&[("result", what)])?)?;
        }
        for (name, help, value) in [
            (
                "plexus_store_bytes",
                "Bytes of verified data in the content store",
                s.store_bytes,
            ),
            (
                "plexus_store_blobs",
                "Blobs in the content store, complete or partial",
                s.store_blobs,
            ),
        ] {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value as i64).encode(metric)?;
        }
        Ok(())
    }
}
