//! Pub/sub delivery without I/O: the local subscribers of each topic, the
//! checks every received message passes before it is relayed or delivered
//! (signed, one of our topics, envelope and size, per-peer and per-author
//! rate) and handing messages to subscribers.
//!
//! Nothing here touches the swarm or reads a clock: the caller passes the
//! time, and carries out the topic joins and leaves that the methods answer.
//!
//! # Two rate limits, and whom they blame
//!
//! Every message has an author (the key that signed it) and a delivering
//! peer (the connection gossipsub read it from). Authors cost nothing to
//! make, so the per-author limit alone is bypassed by signing each message
//! with a fresh key; the delivering peer is a live connection and cannot be
//! faked, so it gets a limit of its own, a multiple of the per-author one
//! (a relay legitimately forwards many authors' messages).
//!
//! The verdict follows one rule for both: a message over a limit is
//! [`MessageAcceptance::Reject`]ed (gossipsub then counts an invalid
//! delivery against the delivering peer's score) when the delivering peer
//! is itself the one over its limit, and only
//! [`MessageAcceptance::Ignore`]d (dropped, nobody scored) when someone else
//! is. So:
//!
//! - over the per-peer limit: always Reject; it is the delivering peer's
//!   own rate that was exceeded, whatever author signed the messages;
//! - over the per-author limit: Reject when the author delivered it itself,
//!   Ignore when a relay did (the relay only passed on what it got).
//!
//! The per-peer check comes first, so every message a peer hands us counts
//! against it (including relayed ones we then ignore), and a flood of fresh
//! authors is stopped before it fills the per-author table.

use std::{
    collections::HashMap,
    time::{Instant, SystemTime},
};

use libp2p::{
    gossipsub::{self, IdentTopic, MessageAcceptance, TopicHash},
    PeerId,
};
use tokio::sync::mpsc;

use super::{check_topic, decode, topic_name, wire_topic, Message, MAX_MESSAGE_BYTES};
use crate::{
    ratelimit::{Rate, RateLimiter},
    Error,
};

/// Messages buffered for one local subscriber; beyond this a slow reader
/// misses messages instead of stalling the node.
pub(crate) const SUBSCRIBER_BUFFER: usize = 1024;

/// A local subscriber: its id and the receiving end of its messages.
pub(crate) type Subscriber = (u64, mpsc::Receiver<Message>);

/// Local subscribers per topic and the per-author and per-peer rate
/// limiters.
pub(crate) struct Delivery {
    subscribers: HashMap<TopicHash, Vec<(u64, mpsc::Sender<Message>)>>,
    next_id: u64,
    /// Keyed by the author that signed each message.
    authors: RateLimiter,
    /// Keyed by the peer that delivered each message to us (gossipsub's
    /// propagation source). Not forgotten when the peer disconnects, so
    /// reconnecting does not refill it; idle buckets are pruned.
    peers: RateLimiter,
}

impl Delivery {
    /// No subscribers yet; `author` limits each author's messages and `peer`
    /// the messages each peer delivers to us, whoever their authors. The
    /// per-peer limit is never below the per-author one (an author that
    /// sends its own messages is also their delivering peer).
    pub(crate) fn new(author: Rate, peer: Rate) -> Self {
        let peer = Rate {
            per_second: peer.per_second.max(author.per_second),
            burst: peer.burst.max(author.burst),
        };
        Self {
            subscribers: HashMap::new(),
            next_id: 0,
            authors: RateLimiter::new(author),
            peers: RateLimiter::new(peer),
        }
    }

    /// Adds a local subscriber to topic `name`. Also answers the gossipsub
    /// topic to join when it is the topic's first local subscriber; if
    /// joining fails, take the subscriber back with
    /// [`Delivery::handle_unsubscribe`].
    pub(crate) fn handle_subscribe(
        &mut self,
        name: &str,
    ) -> Result<(Subscriber, Option<IdentTopic>), Error> {
        check_topic(name)?;
        let topic = wire_topic(name);
        let subs = self.subscribers.entry(topic.hash()).or_default();
        let join = subs.is_empty().then_some(topic);
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        let id = self.next_id;
        self.next_id += 1;
        subs.push((id, tx));
        Ok(((id, rx), join))
    }

    /// Removes subscriber `id` from topic `name`; answers the gossipsub
    /// topic to leave when no local subscriber is left on it.
    pub(crate) fn handle_unsubscribe(&mut self, name: &str, id: u64) -> Option<TopicHash> {
        let hash = wire_topic(name).hash();
        if let Some(subs) = self.subscribers.get_mut(&hash) {
            subs.retain(|(i, _)| *i != id);
        }
        self.leave_if_unused(hash)
    }

    /// Whether topic `name` has a local subscriber.
    #[cfg(test)]
    pub(crate) fn is_subscribed(&self, name: &str) -> bool {
        self.subscribers.contains_key(&wire_topic(name).hash())
    }

    /// Our checks on top of gossipsub's signature check, for `message`
    /// received from `via` at `now` (`received_at` by the wall clock): the
    /// verdict for gossipsub and, when accepted, the message to deliver.
    /// Messages over `via`'s per-peer limit are rejected (scoring `via`
    /// down: it is the one sending too fast, whoever signed them). Messages
    /// over their author's limit are rejected only when they come straight
    /// from their author; relayed ones are ignored so honest relays keep
    /// their score. See the module documentation.
    pub(crate) fn handle_message(
        &mut self,
        via: &PeerId,
        message: gossipsub::Message,
        now: Instant,
        received_at: SystemTime,
    ) -> (MessageAcceptance, Option<Message>) {
        let Some(author) = message.source else {
            return (MessageAcceptance::Reject, None);
        };
        let Some(name) = topic_name(&message.topic) else {
            return (MessageAcceptance::Reject, None);
        };
        let Some((sent_at, data)) = decode(&message.data) else {
            tracing::debug!(%author, "malformed pub/sub message");
            return (MessageAcceptance::Reject, None);
        };
        if !self.peers.allow(*via, now) {
            tracing::debug!(%author, %via, "pub/sub peer over its delivery rate limit");
            return (MessageAcceptance::Reject, None);
        }
        if !self.authors.allow(author, now) {
            tracing::debug!(%author, %via, "pub/sub author over its rate limit");
            let verdict = if *via == author {
                MessageAcceptance::Reject
            } else {
                MessageAcceptance::Ignore
            };
            return (verdict, None);
        }
        let message = Message {
            topic: name.to_string(),
            from: author,
            sent_at,
            received_at,
            data: data.to_vec(),
        };
        (MessageAcceptance::Accept, Some(message))
    }

    /// Checks a message this node wants to publish: the gossipsub topic to
    /// send it on.
    pub(crate) fn check_publish(name: &str, data: &[u8]) -> Result<IdentTopic, Error> {
        check_topic(name)?;
        if data.len() > MAX_MESSAGE_BYTES {
            return Err(Error::MessageTooLarge {
                size: data.len(),
                max: MAX_MESSAGE_BYTES,
            });
        }
        Ok(wire_topic(name))
    }

    /// Hands `message` to every local subscriber of its topic, forgetting
    /// those that went away; answers the gossipsub topic to leave when none
    /// is left.
    pub(crate) fn deliver(&mut self, message: Message) -> Option<TopicHash> {
        let hash = wire_topic(&message.topic).hash();
        let subs = self.subscribers.get_mut(&hash)?;
        subs.retain(|(_, tx)| match tx.try_send(message.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(topic = %message.topic, "subscriber too slow; message dropped");
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
        self.leave_if_unused(hash)
    }

    /// Forgets `hash` once no local subscriber is left on it, answering it.
    fn leave_if_unused(&mut self, hash: TopicHash) -> Option<TopicHash> {
        if self.subscribers.get(&hash).is_some_and(|s| s.is_empty()) {
            self.subscribers.remove(&hash);
            Some(hash)
        } else {
            None
        }
    }
}

#[cfg(test)]
#[path = "delivery_tests.rs"]
mod tests;
