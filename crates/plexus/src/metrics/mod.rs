//! The node's metrics, in one Prometheus registry: libp2p's own (swarm
//! connections, Kademlia, gossipsub, identify, ping, bytes per transport)
//! and Plexus's counters (transfers, store, search, topics).
//!
//! This module owns every metric definition. The places that count get a
//! handle: [`Recorders`] (cheap clones of the counters and libp2p's
//! recorder) goes to the event loop, discovery, pub/sub and the download
//! loop; figures other components already keep (blob bytes from
//! [`crate::bandwidth`], the store's size, search statistics) are read at
//! scrape time ([`Snapshot`]) instead of being counted twice.
//! [`crate::Node::metrics_text`] renders it all in the Prometheus text
//! format; `plexus daemon --metrics ADDR` serves that on `GET /metrics`.

mod path_note;
mod snapshot;
mod traffic;

use std::sync::{Arc, Mutex};

use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

pub(crate) use path_note::PathNote;
pub use snapshot::Snapshot;
pub(crate) use traffic::{Metered, Traffic};

/// Outcome label of a finished download.
type Outcome = [(&'static str, &'static str); 1];

/// Plexus's live counters (clones share the values).
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    /// 16 KiB chunk groups verified against their hash and stored.
    pub(crate) verified_chunks: Counter,
    /// Bytes verified against their hash and stored.
    pub(crate) verified_bytes: Counter,
    /// Blob answers that failed verification (dropped whole).
    pub(crate) corrupt_answers: Counter,
    /// Providers blamed for lying (once per download).
    pub(crate) liars: Counter,
    /// Downloads under way.
    pub(crate) downloads_active: Gauge,
    /// Downloads finished, by outcome (`ok` or `failed`).
    pub(crate) downloads_finished: Family<Outcome, Counter>,
    /// Messages this node published on topics.
    pub(crate) pubsub_published: Counter,
    /// Messages handed to local subscribers (own and received).
    pub(crate) pubsub_delivered: Counter,
}

impl Counters {
    /// Counts `bytes` newly verified and stored.
    pub(crate) fn verified(&self, bytes: u64) {
        self.verified_bytes.inc_by(bytes);
        self.verified_chunks
            .inc_by(bytes.div_ceil(crate::bandwidth::CHUNK as u64));
    }

    /// Counts a blob answer that failed verification.
    pub(crate) fn corrupt(&self) {
        self.corrupt_answers.inc();
    }

    /// Marks a download as under way until the guard is dropped.
    pub(crate) fn download_started(&self) -> ActiveDownload {
        self.downloads_active.inc();
        ActiveDownload(self.clone())
    }

    /// Counts a finished download and the liars it blamed.
    pub(crate) fn download_finished<T>(&self, result: &Result<T, crate::Error>, liars: usize) {
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        self.downloads_finished
            .get_or_create(&[("outcome", outcome)])
            .inc();
        self.liars.inc_by(liars as u64);
    }

    fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("plexus");
        r.register(
            "verified_chunks",
            "16 KiB chunk groups of blob data verified against their hash and stored",
            self.verified_chunks.clone(),
        );
        r.register(
            "verified_bytes",
            "Bytes of blob data verified against their hash and stored",
            self.verified_bytes.clone(),
        );
        r.register(
            "corrupt_answers",
            "Blob answers that failed verification and were dropped",
            self.corrupt_answers.clone(),
        );
        r.register(
            "liars",
            "Providers blamed for lying (bad data, a false size, refusing ranges they claimed)",
            self.liars.clone(),
        );
        r.register(
            "downloads_active",
            "Downloads under way",
            self.downloads_active.clone(),
        );
        r.register(
            "downloads_finished",
            "Downloads finished, by outcome",
            self.downloads_finished.clone(),
        );
        r.register(
            "pubsub_published",
            "Messages this node published on topics",
            self.pubsub_published.clone(),
        );
        r.register(
            "pubsub_delivered",
            "Topic messages delivered to local subscribers",
            self.pubsub_delivered.clone(),
        );
    }
}

/// Ends an active download in the gauge when dropped (finished, failed or
/// cancelled alike).
#[derive(Debug)]
pub(crate) struct ActiveDownload(Counters);

impl Drop for ActiveDownload {
    fn drop(&mut self) {
        self.0.downloads_active.dec();
    }
}

/// What the counting places hold: Plexus's counters and libp2p's recorder.
#[derive(Clone)]
pub(crate) struct Recorders {
    /// Plexus's counters.
    pub(crate) counters: Counters,
    /// libp2p's metrics; record events with [`libp2p::metrics::Recorder`].
    pub(crate) libp2p: Arc<libp2p::metrics::Metrics>,
}

impl std::fmt::Debug for Recorders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorders")
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

/// The node's registry and what feeds it.
pub(crate) struct Metrics {
    registry: Registry,
    recorders: Recorders,
    snapshot: Arc<Mutex<Snapshot>>,
    traffic: Traffic,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A registry with libp2p's metrics and Plexus's counters; the swarm
    /// builder adds libp2p's bandwidth metrics through
    /// [`Metrics::registry_mut`].
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let libp2p = Arc::new(libp2p::metrics::Metrics::new(&mut registry));
        let counters = Counters::default();
        counters.register(&mut registry);
        let snapshot = Arc::new(Mutex::new(Snapshot::default()));
        registry.register_collector(Box::new(snapshot::Collector(snapshot.clone())));
        let traffic = Traffic::default();
        registry.sub_registry_with_prefix("plexus").register(
            "protocol_bytes",
            "Bytes read and written on request-response streams, by protocol, direction (sent, received) and the connection's path (direct, relayed)",
            traffic.family(),
        );
        Self {
            registry,
            recorders: Recorders { counters, libp2p },
            snapshot,
            traffic,
        }
    }

    /// The registry, for libp2p's transport bandwidth metrics.
    pub(crate) fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The handles the counting places hold.
    pub(crate) fn recorders(&self) -> &Recorders {
        &self.recorders
    }

    /// The per-protocol byte counts, for the codecs ([`Metered`]).
    pub(crate) fn traffic(&self) -> Traffic {
        self.traffic.clone()
    }

    /// Plexus's counters.
    pub(crate) fn counters(&self) -> &Counters {
        &self.recorders.counters
    }

    /// Everything in the Prometheus text format, with `snapshot` as the
    /// figures read at scrape time.
    pub(crate) fn encode(&self, snapshot: Snapshot) -> String {
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = snapshot;
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_libp2p_metrics_are_in_one_text() {
        let metrics = Metrics::new();
        metrics.counters().verified(40 * 1024);
        let text = metrics.encode(Snapshot {
            store_bytes: 7,
            ..Default::default()
        });
        assert!(text.contains("plexus_verified_chunks_total 3"), "{text}");
        assert!(text.contains("plexus_verified_bytes_total 40960"), "{text}");
        assert!(text.contains("plexus_store_bytes 7"), "{text}");
        assert!(text.contains("libp2p_"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
