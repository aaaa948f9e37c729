//! Publish/subscribe messages between peers over libp2p gossipsub.
//!
//! Every message is signed by its author (gossipsub `Signed` authenticity,
//! `Strict` validation: unsigned or badly signed messages are dropped before
//! the application sees them). On top of that each node checks the Plexus
//! envelope, the size and a per-author rate ([`crate::ratelimit::RateLimiter`]);
//! messages that fail are rejected, which lowers the gossipsub score of the
//! peer that sent them.
//!
//! Topic names are short words; on the wire they become `plexus/topic/NAME`
//! so they never mix with other gossipsub networks.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libp2p::{
    gossipsub::{self, IdentTopic, PeerScoreParams, PeerScoreThresholds, TopicScoreParams},
    PeerId,
};
use serde::{Deserialize, Serialize};

use crate::Error;

/// Prefix of every Plexus topic on the wire.
pub const TOPIC_PREFIX: &str = "plexus/topic/";

/// Largest message payload a node publishes or accepts, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 60 * 1024;

/// Largest gossipsub frame (payload, envelope, signature, topic, framing).
pub const MAX_TRANSMIT_BYTES: usize = 64 * 1024;

/// Longest topic name.
pub const MAX_TOPIC_LEN: usize = 64;

/// Envelope version byte; the envelope is `[1][sent time, µs since the Unix
/// epoch, u64 big-endian][payload]`.
const ENVELOPE_V1: u8 = 1;
const ENVELOPE_HEADER: usize = 9;

/// One message received on a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The topic name (without the wire prefix).
    pub topic: String,
    /// The author, from the message's verified signature.
    pub from: PeerId,
    /// When the author sent it, by the author's clock.
    pub sent_at: SystemTime,
    /// When this node received it.
    pub received_at: SystemTime,
    /// The payload.
    pub data: Vec<u8>,
}

impl Message {
    /// Delivery latency: receive time minus the author's send time (only
    /// meaningful when both clocks agree, e.g. on one machine).
    pub fn latency(&self) -> Duration {
        self.received_at
            .duration_since(self.sent_at)
            .unwrap_or_default()
    }
}

/// Checks a topic name: 1 to 64 ASCII letters, digits, `.`, `_` or `-`.
pub fn check_topic(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= MAX_TOPIC_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::BadTopic(name.to_string()))
    }
}

/// The gossipsub topic for a Plexus topic name.
pub fn wire_topic(name: &str) -> IdentTopic {
    IdentTopic::new(format!("{TOPIC_PREFIX}{name}"))
}

/// The Plexus topic name of a gossipsub topic hash, if it is one of ours.
pub fn topic_name(hash: &gossipsub::TopicHash) -> Option<&str> {
    hash.as_str().strip_prefix(TOPIC_PREFIX)
}

/// Wraps `data` in the envelope with the current time.
pub fn encode(data: &[u8], sent_at: SystemTime) -> Vec<u8> {
    let micros = sent_at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64;
    let mut out = Vec::with_capacity(ENVELOPE_HEADER + data.len());
    out.push(ENVELOPE_V1);
    out.extend_from_slice(&micros.to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Unwraps an envelope: the send time and the payload. `None` when it is
/// malformed or the payload is over [`MAX_MESSAGE_BYTES`].
pub fn decode(bytes: &[u8]) -> Option<(SystemTime, &[u8])> {
    if bytes.len() < ENVELOPE_HEADER || bytes[0] != ENVELOPE_V1 {
        return None;
    }
    let micros = u64::from_be_bytes(bytes[1..ENVELOPE_HEADER].try_into().ok()?);
    let data = &bytes[ENVELOPE_HEADER..];
    if data.len() > MAX_MESSAGE_BYTES {
        return None;
    }
    Some((UNIX_EPOCH + Duration::from_micros(micros), data))
}

/// The gossipsub configuration of a Plexus node: strict signatures, our own
/// validation step, bounded frame size.
pub fn gossipsub_config() -> gossipsub::Config {
    gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .max_transmit_size(MAX_TRANSMIT_BYTES)
        .heartbeat_interval(Duration::from_millis(700))
        .build()
        .expect("valid gossipsub config")
}

/// Peer-score parameters. Topic scores come from [`topic_score_params`];
/// peers on one IP are not penalised when that IP is loopback (nodes on one
/// machine).
pub fn peer_score_params() -> PeerScoreParams {
    let mut params = PeerScoreParams::default();
    params
        .ip_colocation_factor_whitelist
        .insert(std::net::Ipv4Addr::LOCALHOST.into());
    params
        .ip_colocation_factor_whitelist
        .insert(std::net::Ipv6Addr::LOCALHOST.into());
    params
}

/// Score thresholds: gossip is withheld below -10, own messages are not
/// sent to peers below -50, and everything from a peer below -80 is ignored.
pub fn peer_score_thresholds() -> PeerScoreThresholds {
    PeerScoreThresholds::default()
}

/// Score parameters for every Plexus topic. Rejected messages (bad
/// envelope, over the rate limit, bad signature) count squared with weight
/// -1 and decay slowly (x0.9 a second), so a flooder sinks far below the
/// graylist threshold while an honest relay that forwarded one or two bad
/// messages stays well above it. Mesh-delivery penalties (P3) are off: a
/// quiet chat topic is not a fault.
pub fn topic_score_params() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.5,
        first_message_deliveries_cap: 10.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -1.0,
        invalid_message_deliveries_decay: 0.9,
        ..TopicScoreParams::default()
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

/// The last 8 characters of a peer id: enough to tell peers apart in a chat.
pub fn short_id(peer: &PeerId) -> String {
    let s = peer.to_string();
    s[s.len().saturating_sub(8)..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips() {
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        let bytes = encode(b"hello", t);
        assert_eq!(decode(&bytes), Some((t, &b"hello"[..])));
        assert_eq!(decode(&encode(b"", t)), Some((t, &b""[..])));
    }

    #[test]
    fn malformed_or_oversized_envelopes_are_refused() {
        assert_eq!(decode(b""), None);
        assert_eq!(decode(&[1, 0, 0]), None);
        let mut wrong_version = encode(b"x", SystemTime::now());
        wrong_version[0] = 2;
        assert_eq!(decode(&wrong_version), None);
        let big = vec![0u8; MAX_MESSAGE_BYTES + 1];
        assert_eq!(decode(&encode(&big, SystemTime::now())), None);
        let max = vec![0u8; MAX_MESSAGE_BYTES];
        assert!(decode(&encode(&max, SystemTime::now())).is_some());
    }

    #[test]
    fn topic_names_are_checked_and_prefixed() {
        for good in ["chat", "a", "room-1.b_c", &"x".repeat(MAX_TOPIC_LEN)] {
            check_topic(good).unwrap();
        }
        for bad in ["", "a b", "a/b", "é", &"x".repeat(MAX_TOPIC_LEN + 1)] {
            let err = check_topic(bad).unwrap_err().to_string();
            assert!(err.contains("letters, digits"), "{err}");
        }
        let hash = wire_topic("chat").hash();
        assert_eq!(hash.as_str(), "plexus/topic/chat");
        assert_eq!(topic_name(&hash), Some("chat"));
        assert_eq!(topic_name(&IdentTopic::new("other").hash()), None);
    }

    #[test]
    fn score_settings_are_valid() {
        let mut params = peer_score_params();
        params
            .topics
            .insert(wire_topic("t").hash(), topic_score_params());
        params.validate().unwrap();
        peer_score_thresholds().validate().unwrap();
    }

    #[test]
    fn short_id_is_the_tail() {
        let peer = PeerId::random();
        let s = short_id(&peer);
        assert_eq!(s.len(), 8);
        assert!(peer.to_string().ends_with(&s));
    }
}
