//! Publish/subscribe messages between peers over libp2p gossipsub.
//!
//! Every message is signed by its author (gossipsub `Signed` authenticity,
//! `Strict` validation: unsigned or badly signed messages are dropped before
//! the application sees them). On top of that each node checks the Plexus
//! envelope, the size, a per-author rate and a per-delivering-peer rate
//! (a token bucket each); messages that fail are rejected,
//! which lowers the gossipsub score of the peer that sent them (a relayed
//! message over its author's rate is only ignored: see `delivery.rs`).
//!
//! Topic names are short words; on the wire they become `plexus/topic/NAME`
//! so they never mix with other gossipsub networks.
//!
//! The component: `behaviour.rs` is the libp2p behaviour the node composes
//! (gossipsub with the idle rule of `idle.rs`, commands from the node's
//! handle, validation of received messages in its `poll`); `delivery.rs`
//! is the I/O-free part (subscribers, checks, per-author and per-peer
//! limits);
//! `envelope.rs` is the payload format and `scoring.rs` the gossipsub
//! settings.

mod behaviour;
mod delivery;
mod envelope;
mod idle;
mod scoring;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libp2p::{
    gossipsub::{self, IdentTopic},
    PeerId,
};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

pub(crate) use behaviour::Behaviour;
pub(crate) use envelope::decode;
pub use envelope::encode;

use crate::Error;

/// Prefix of every Plexus topic on the wire.
pub const TOPIC_PREFIX: &str = "plexus/topic/";

/// Largest message payload a node publishes or accepts, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 60 * 1024;

/// Largest gossipsub frame (payload, envelope, signature, topic, framing).
pub const MAX_TRANSMIT_BYTES: usize = 64 * 1024;

/// Longest topic name.
pub const MAX_TOPIC_LEN: usize = 64;

/// One message received on a topic, from a
/// [`Subscription`](crate::Subscription); sent with
/// [`Node::publish`](crate::Node::publish).
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

/// A new subscription's id and message receiver.
pub(crate) type Subscribed = Result<delivery::Subscriber, Error>;

/// Requests to the pub/sub component from the node's handle, each with its
/// reply channel.
pub(crate) enum Command {
    /// Adds a local subscriber to `topic` (joining it if it is the first).
    Subscribe {
        topic: String,
        reply: oneshot::Sender<Subscribed>,
    },
    /// Removes subscriber `id` from `topic` (leaving it if it was the last).
    Unsubscribe { topic: String, id: u64 },
    /// A message to sign and send on `topic`; answers how many subscribed
    /// peers are known.
    Publish {
        topic: String,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<usize, Error>>,
    },
    /// Peers subscribed to `topic`, or only those in its mesh.
    TopicPeers {
        topic: String,
        mesh: bool,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    /// The gossipsub score this node gives `peer`.
    PeerScore {
        peer: PeerId,
        reply: oneshot::Sender<Option<f64>>,
    },
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
pub(crate) fn topic_name(hash: &gossipsub::TopicHash) -> Option<&str> {
    hash.as_str().strip_prefix(TOPIC_PREFIX)
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
    fn short_id_is_the_tail() {
        let peer = PeerId::random();
        let s = short_id(&peer);
        assert_eq!(s.len(), 8);
        assert!(peer.to_string().ends_with(&s));
    }
}
