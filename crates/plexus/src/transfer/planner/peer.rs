//! What the planner knows of one peer: what it has, what is in flight to
//! it, and how fast it delivers.

use std::time::{Duration, Instant};

use bao_tree::ChunkRanges;

use super::{PIECE_BYTES, QUEUE_TIME};

/// What the planner knows of one peer.
#[derive(Debug, Clone)]
pub struct PeerStats {
    /// Ranges it has; `None` means the whole blob.
    pub have: Option<ChunkRanges>,
    /// Requests in flight now.
    pub in_flight: usize,
    /// Bytes asked for by those requests.
    pub in_flight_bytes: u64,
    /// Requests it may have in flight.
    pub window: usize,
    /// Verified bytes received from it.
    pub bytes: u64,
    /// Transient failures in a row.
    pub failures: u32,
    /// `Missing` answers in a row.
    pub missing: u32,
    /// Sent bad data or failed too often: no more requests.
    pub banned: bool,
    /// Time with at least one request in flight, before `busy_since`.
    pub(super) busy: Duration,
    /// Since when requests are in flight (`None`: idle).
    pub(super) busy_since: Option<Instant>,
}

impl PeerStats {
    /// A peer not asked anything yet, with a window of 2.
    pub(super) fn new() -> Self {
        Self {
            have: None,
            in_flight: 0,
            in_flight_bytes: 0,
            window: 2,
            bytes: 0,
            failures: 0,
            missing: 0,
            banned: false,
            busy: Duration::ZERO,
            busy_since: None,
        }
    }

    /// Delivery rate in bytes per second: verified bytes over the time the
    /// peer had requests in flight (0 until it has answered). A stalled
    /// peer's rate falls while it stays busy without answering.
    pub fn rate(&self, now: Instant) -> f64 {
        let busy = self.busy
            + self
                .busy_since
                .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        if self.bytes == 0 || busy.is_zero() {
            0.0
        } else {
            self.bytes as f64 / busy.as_secs_f64().max(1e-3)
        }
    }

    /// Bytes worth keeping in flight to this peer: [`QUEUE_TIME`] at its
    /// rate, at least one piece. Not two: in a flash crowd every uploader
    /// shares its link among some 20 peers, and each piece asked waits
    /// behind all the others (`plexus-testbed crowd`, 24 getters: the last
    /// finished at 1.73 x the bound with two, 1.43 x with one).
    pub(super) fn budget(&self, now: Instant) -> u64 {
        ((self.rate(now) * QUEUE_TIME.as_secs_f64()) as u64).max(PIECE_BYTES)
    }
}
