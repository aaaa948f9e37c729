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
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::pubsub::encode;

    /// Each author limited to `per_second` and `burst`, each delivering
    /// peer to four times that.
    fn delivery(per_second: f64, burst: u32) -> Delivery {
        Delivery::new(
            Rate { per_second, burst },
            Rate {
                per_second: 4.0 * per_second,
                burst: 4 * burst,
            },
        )
    }

    /// A signed-looking gossipsub message from `author` on topic `name`.
    fn incoming(author: Option<PeerId>, topic: TopicHash, data: Vec<u8>) -> gossipsub::Message {
        gossipsub::Message {
            source: author,
            data,
            sequence_number: Some(1),
            topic,
        }
    }

    fn text(author: PeerId, name: &str, text: &str) -> gossipsub::Message {
        let data = encode(text.as_bytes(), SystemTime::now());
        incoming(Some(author), wire_topic(name).hash(), data)
    }

    fn message(name: &str, text: &str) -> Message {
        let now = SystemTime::now();
        Message {
            topic: name.into(),
            from: PeerId::random(),
            sent_at: now,
            received_at: now,
            data: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_first_subscriber_joins_the_topic_and_the_second_does_not() {
        let mut d = delivery(10.0, 10);
        let ((first, _rx1), join) = d.handle_subscribe("chat").unwrap();
        assert_eq!(join.map(|t| t.hash()), Some(wire_topic("chat").hash()));
        let ((second, _rx2), join) = d.handle_subscribe("chat").unwrap();
        assert!(join.is_none(), "already joined");
        assert_ne!(first, second);
        let ((_, _rx3), join) = d.handle_subscribe("other").unwrap();
        assert!(join.is_some(), "another topic is joined on its own");
    }

    #[test]
    fn bad_topic_names_are_refused_before_anything_is_joined() {
        let mut d = delivery(10.0, 10);
        for bad in ["", "a b", "a/b"] {
            assert!(matches!(d.handle_subscribe(bad), Err(Error::BadTopic(_))));
            assert!(!d.is_subscribed(bad));
        }
    }

    #[test]
    fn a_topic_is_left_only_when_its_last_subscriber_goes() {
        let mut d = delivery(10.0, 10);
        let ((a, _rx_a), _) = d.handle_subscribe("chat").unwrap();
        let ((b, _rx_b), _) = d.handle_subscribe("chat").unwrap();
        assert_eq!(d.handle_unsubscribe("chat", a), None);
        assert!(d.is_subscribed("chat"));
        assert_eq!(d.handle_unsubscribe("chat", a), None, "twice is harmless");
        assert_eq!(
            d.handle_unsubscribe("chat", b),
            Some(wire_topic("chat").hash())
        );
        assert!(!d.is_subscribed("chat"));
        assert_eq!(d.handle_unsubscribe("chat", b), None, "already left");
        assert_eq!(d.handle_unsubscribe("never", 7), None);
        // Joining again after leaving asks for a join again.
        assert!(d.handle_subscribe("chat").unwrap().1.is_some());
    }

    #[test]
    fn every_subscriber_gets_each_message_and_gone_ones_are_forgotten() {
        let mut d = delivery(10.0, 10);
        let ((_, mut rx_a), _) = d.handle_subscribe("chat").unwrap();
        let ((_, rx_b), _) = d.handle_subscribe("chat").unwrap();
        assert_eq!(d.deliver(message("chat", "one")), None);
        assert_eq!(rx_a.try_recv().unwrap().data, b"one");
        drop(rx_b);
        assert_eq!(d.deliver(message("chat", "two")), None, "a is still there");
        assert_eq!(rx_a.try_recv().unwrap().data, b"two");
        drop(rx_a);
        assert_eq!(
            d.deliver(message("chat", "three")),
            Some(wire_topic("chat").hash()),
            "the last subscriber went: leave"
        );
        assert!(!d.is_subscribed("chat"));
        assert_eq!(d.deliver(message("nobody", "x")), None);
    }

    #[test]
    fn a_slow_subscriber_misses_messages_but_stays() {
        let mut d = delivery(10.0, 10);
        let ((_, mut rx), _) = d.handle_subscribe("chat").unwrap();
        for _ in 0..SUBSCRIBER_BUFFER + 5 {
            assert_eq!(d.deliver(message("chat", "x")), None);
        }
        assert!(d.is_subscribed("chat"));
        let mut got = 0;
        while rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, SUBSCRIBER_BUFFER);
    }

    #[test]
    fn a_good_message_is_accepted_with_its_envelope_unwrapped() {
        let mut d = delivery(10.0, 10);
        let author = PeerId::random();
        let sent = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let data = encode(b"hello", sent);
        let received = SystemTime::now();
        let (verdict, message) = d.handle_message(
            &author,
            incoming(Some(author), wire_topic("chat").hash(), data),
            Instant::now(),
            received,
        );
        assert_eq!(verdict, MessageAcceptance::Accept);
        assert_eq!(
            message,
            Some(Message {
                topic: "chat".into(),
                from: author,
                sent_at: sent,
                received_at: received,
                data: b"hello".to_vec(),
            })
        );
    }

    #[test]
    fn unsigned_foreign_malformed_and_oversized_messages_are_rejected() {
        let mut d = delivery(10.0, 10);
        let author = PeerId::random();
        let now = Instant::now();
        let good = encode(b"x", SystemTime::now());
        let chat = wire_topic("chat").hash();
        let oversized = encode(&vec![0; MAX_MESSAGE_BYTES + 1], SystemTime::now());
        for bad in [
            incoming(None, chat.clone(), good.clone()),
            incoming(Some(author), IdentTopic::new("chat").hash(), good),
            incoming(Some(author), chat.clone(), b"not an envelope".to_vec()),
            incoming(Some(author), chat, oversized),
        ] {
            let (verdict, message) = d.handle_message(&author, bad, now, SystemTime::now());
            assert_eq!(verdict, MessageAcceptance::Reject);
            assert!(message.is_none());
        }
    }

    #[test]
    fn each_author_has_its_own_rate_limit() {
        let mut d = delivery(1.0, 2);
        let (flooder, other, relay) = (PeerId::random(), PeerId::random(), PeerId::random());
        let now = Instant::now();
        let verdict = |d: &mut Delivery, via: PeerId, author: PeerId, at: Instant| {
            d.handle_message(&via, text(author, "chat", "hi"), at, SystemTime::now())
                .0
        };
        assert_eq!(
            verdict(&mut d, flooder, flooder, now),
            MessageAcceptance::Accept
        );
        assert_eq!(
            verdict(&mut d, flooder, flooder, now),
            MessageAcceptance::Accept
        );
        // Over the burst: rejected from the author itself, ignored when
        // relayed (the relay is not to blame).
        assert_eq!(
            verdict(&mut d, flooder, flooder, now),
            MessageAcceptance::Reject
        );
        assert_eq!(
            verdict(&mut d, relay, flooder, now),
            MessageAcceptance::Ignore
        );
        // Another author is not held back by the flooder.
        assert_eq!(
            verdict(&mut d, relay, other, now),
            MessageAcceptance::Accept
        );
        // A second later the flooder has one more token.
        let later = now + Duration::from_secs(1);
        assert_eq!(
            verdict(&mut d, flooder, flooder, later),
            MessageAcceptance::Accept
        );
        assert_eq!(
            verdict(&mut d, flooder, flooder, later),
            MessageAcceptance::Reject
        );
    }

    /// The verdict for a message signed by `author` and delivered by `via`.
    fn verdict(d: &mut Delivery, via: PeerId, author: PeerId, at: Instant) -> MessageAcceptance {
        d.handle_message(&via, text(author, "chat", "hi"), at, SystemTime::now())
            .0
    }

    #[test]
    fn a_fresh_author_per_message_is_held_to_the_delivering_peers_limit() {
        // 1 a second and 2 at once per author; 4 a second and 8 at once per peer.
        let mut d = delivery(1.0, 2);
        let (flooder, other) = (PeerId::random(), PeerId::random());
        let now = Instant::now();
        let verdicts: Vec<_> = (0..20)
            .map(|_| verdict(&mut d, flooder, PeerId::random(), now))
            .collect();
        let accepted = verdicts
            .iter()
            .filter(|v| **v == MessageAcceptance::Accept)
            .count();
        assert_eq!(accepted, 8, "the per-peer burst, not 20 fresh authors");
        // Over it: rejected, so gossipsub scores the flooder down, even
        // though no author went over its own limit.
        assert!(verdicts[8..]
            .iter()
            .all(|v| *v == MessageAcceptance::Reject));
        // Another peer is not held back by the flooder.
        assert_eq!(
            verdict(&mut d, other, PeerId::random(), now),
            MessageAcceptance::Accept
        );
        // A second later the flooder has 4 more (the per-peer rate).
        let later = now + Duration::from_secs(1);
        let accepted = (0..20)
            .filter(|_| {
                verdict(&mut d, flooder, PeerId::random(), later) == MessageAcceptance::Accept
            })
            .count();
        assert_eq!(accepted, 4);
    }

    #[test]
    fn a_relay_forwarding_many_authors_within_its_limit_is_never_refused() {
        let mut d = delivery(1.0, 2);
        let relay = PeerId::random();
        let authors: Vec<_> = (0..4).map(|_| PeerId::random()).collect();
        let t0 = Instant::now();
        // Four authors at their full rate (1 a second each), all through
        // one relay, for a minute: 4 a second from the relay.
        for second in 0..60u64 {
            for (i, author) in authors.iter().enumerate() {
                let at = t0 + Duration::from_millis(1000 * second + 250 * i as u64);
                assert_eq!(
                    verdict(&mut d, relay, *author, at),
                    MessageAcceptance::Accept,
                    "second {second}, author {i}"
                );
            }
        }
    }

    #[test]
    fn relayed_messages_ignored_for_their_author_still_count_against_the_peer() {
        let mut d = delivery(1.0, 2);
        let (relay, author) = (PeerId::random(), PeerId::random());
        let now = Instant::now();
        let verdicts: Vec<_> = (0..8)
            .map(|_| verdict(&mut d, relay, author, now))
            .collect();
        assert_eq!(verdicts[..2], [MessageAcceptance::Accept; 2]);
        assert_eq!(verdicts[2..], [MessageAcceptance::Ignore; 6]);
        // The relay has handed over its 8 at once: the next is rejected
        // whoever signed it.
        assert_eq!(
            verdict(&mut d, relay, PeerId::random(), now),
            MessageAcceptance::Reject
        );
    }

    #[test]
    fn the_per_peer_limit_is_never_below_the_per_author_one() {
        let author_rate = Rate {
            per_second: 10.0,
            burst: 10,
        };
        let low = Rate {
            per_second: 1.0,
            burst: 1,
        };
        let mut d = Delivery::new(author_rate, low);
        let author = PeerId::random();
        let now = Instant::now();
        for i in 0..10 {
            assert_eq!(
                verdict(&mut d, author, author, now),
                MessageAcceptance::Accept,
                "message {i} of the author's own burst"
            );
        }
        assert_eq!(
            verdict(&mut d, author, author, now),
            MessageAcceptance::Reject
        );
    }

    #[test]
    fn publishing_checks_the_topic_and_the_size() {
        let topic = Delivery::check_publish("chat", b"hi").unwrap();
        assert_eq!(topic.hash(), wire_topic("chat").hash());
        assert!(Delivery::check_publish("chat", &vec![0; MAX_MESSAGE_BYTES]).is_ok());
        assert!(matches!(
            Delivery::check_publish("chat", &vec![0; MAX_MESSAGE_BYTES + 1]),
            Err(Error::MessageTooLarge { size, max }) if size == MAX_MESSAGE_BYTES + 1 && max == MAX_MESSAGE_BYTES
        ));
        assert!(matches!(
            Delivery::check_publish("a b", b"hi"),
            Err(Error::BadTopic(_))
        ));
    }
}
