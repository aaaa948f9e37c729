//! The event loop's share of publish/subscribe: local subscribers per
//! topic, publishing, and the validation step every received message passes
//! (envelope, size, per-author rate) before it is relayed or delivered.

use std::{
    collections::HashMap,
    time::{Instant, SystemTime},
};

use libp2p::{
    gossipsub::{self, MessageAcceptance, TopicHash},
    PeerId,
};
use tokio::sync::{mpsc, oneshot};

use super::EventLoop;
use crate::{
    pubsub::{self, Message},
    ratelimit::{Rate, RateLimiter},
    Error,
};

/// Messages buffered for one local subscriber; beyond this a slow reader
/// misses messages instead of stalling the node.
pub(crate) const SUBSCRIBER_BUFFER: usize = 1024;

/// A new subscription's id and message receiver.
pub(crate) type Subscribed = Result<(u64, mpsc::Receiver<Message>), Error>;

/// Local subscribers and the per-author rate limiter.
pub(crate) struct PubsubState {
    subscribers: HashMap<TopicHash, Vec<(u64, mpsc::Sender<Message>)>>,
    next_id: u64,
    limiter: RateLimiter,
}

impl PubsubState {
    /// No subscribers yet; `rate`/`burst` limit each author's messages.
    pub(crate) fn new(rate: u32, burst: u32) -> Self {
        Self {
            subscribers: HashMap::new(),
            next_id: 0,
            limiter: RateLimiter::new(Rate {
                per_second: f64::from(rate),
                burst,
            }),
        }
    }
}

impl EventLoop {
    pub(super) fn subscribe(&mut self, topic: String, reply: oneshot::Sender<Subscribed>) {
        let _ = reply.send(self.try_subscribe(topic));
    }

    fn try_subscribe(&mut self, name: String) -> Subscribed {
        pubsub::check_topic(&name)?;
        let topic = pubsub::wire_topic(&name);
        let hash = topic.hash();
        if !self.pubsub.subscribers.contains_key(&hash) {
            let gossip = &mut self.swarm.behaviour_mut().gossipsub;
            gossip
                .set_topic_params(topic.clone(), pubsub::topic_score_params())
                .map_err(|e| Error::Setup(e.to_string()))?;
            gossip.subscribe(&topic).map_err(|e| Error::Publish {
                topic: name.clone(),
                reason: e.to_string(),
            })?;
        }
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        let id = self.pubsub.next_id;
        self.pubsub.next_id += 1;
        self.pubsub
            .subscribers
            .entry(hash)
            .or_default()
            .push((id, tx));
        Ok((id, rx))
    }

    pub(super) fn unsubscribe(&mut self, name: &str, id: u64) {
        let hash = pubsub::wire_topic(name).hash();
        if let Some(subs) = self.pubsub.subscribers.get_mut(&hash) {
            subs.retain(|(i, _)| *i != id);
        }
        self.leave_if_unused(&hash);
    }

    /// Unsubscribes from the network once no local subscriber is left.
    fn leave_if_unused(&mut self, hash: &TopicHash) {
        if self
            .pubsub
            .subscribers
            .get(hash)
            .is_some_and(|s| s.is_empty())
        {
            self.pubsub.subscribers.remove(hash);
            let topic = gossipsub::IdentTopic::new(hash.as_str());
            self.swarm.behaviour_mut().gossipsub.unsubscribe(&topic);
        }
    }

    /// Peers known to be subscribed to `name`.
    pub(super) fn topic_peers(&self, name: &str) -> Vec<PeerId> {
        let hash = pubsub::wire_topic(name).hash();
        self.swarm
            .behaviour()
            .gossipsub
            .all_peers()
            .filter(|(_, topics)| topics.contains(&&hash))
            .map(|(p, _)| *p)
            .collect()
    }

    /// Peers this node exchanges full messages with on `name` (its mesh).
    pub(super) fn mesh_peers(&self, name: &str) -> Vec<PeerId> {
        let hash = pubsub::wire_topic(name).hash();
        let gossip = &self.swarm.behaviour().gossipsub;
        gossip.mesh_peers(&hash).copied().collect()
    }

    /// The gossipsub score this node gives `peer`.
    pub(super) fn peer_score(&self, peer: &PeerId) -> Option<f64> {
        self.swarm.behaviour().gossipsub.peer_score(peer)
    }

    /// Publishes `data` on `name`; answers how many subscribed peers are known.
    pub(super) fn publish(&mut self, name: String, data: Vec<u8>) -> Result<usize, Error> {
        pubsub::check_topic(&name)?;
        if data.len() > pubsub::MAX_MESSAGE_BYTES {
            return Err(Error::MessageTooLarge {
                size: data.len(),
                max: pubsub::MAX_MESSAGE_BYTES,
            });
        }
        let topic = pubsub::wire_topic(&name);
        let sent_at = SystemTime::now();
        let bytes = pubsub::encode(&data, sent_at);
        match self.swarm.behaviour_mut().gossipsub.publish(topic, bytes) {
            Ok(_) => {}
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                return Err(Error::NoTopicPeers(name))
            }
            Err(gossipsub::PublishError::MessageTooLarge) => {
                return Err(Error::MessageTooLarge {
                    size: data.len(),
                    max: pubsub::MAX_MESSAGE_BYTES,
                })
            }
            Err(e) => {
                return Err(Error::Publish {
                    topic: name,
                    reason: e.to_string(),
                })
            }
        }
        let peers = self.topic_peers(&name).len();
        // Other subscribers on this node see it too.
        let message = Message {
            topic: name,
            from: self.peer_id(),
            sent_at,
            received_at: sent_at,
            data,
        };
        self.deliver(&pubsub::wire_topic(&message.topic).hash(), message);
        Ok(peers)
    }

    pub(super) fn on_gossipsub_event(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                let (acceptance, delivered) = self.validate(&propagation_source, message);
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
                if let Some(message) = delivered {
                    let hash = pubsub::wire_topic(&message.topic).hash();
                    self.deliver(&hash, message);
                }
            }
            gossipsub::Event::SlowPeer { peer_id, .. } => {
                tracing::debug!(%peer_id, "pub/sub peer cannot keep up");
            }
            _ => {}
        }
    }

    /// Our checks on top of gossipsub's signature check. Over-rate messages
    /// are rejected (scoring the sender down) only when they come straight
    /// from their author; relayed ones are ignored so honest relays keep
    /// their score.
    fn validate(
        &mut self,
        via: &PeerId,
        message: gossipsub::Message,
    ) -> (MessageAcceptance, Option<Message>) {
        let Some(author) = message.source else {
            return (MessageAcceptance::Reject, None);
        };
        let Some(name) = pubsub::topic_name(&message.topic) else {
            return (MessageAcceptance::Reject, None);
        };
        let Some((sent_at, data)) = pubsub::decode(&message.data) else {
            tracing::debug!(%author, "malformed pub/sub message");
            return (MessageAcceptance::Reject, None);
        };
        if !self.pubsub.limiter.allow(author, Instant::now()) {
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
            received_at: SystemTime::now(),
            data: data.to_vec(),
        };
        (MessageAcceptance::Accept, Some(message))
    }

    /// Hands `message` to every local subscriber of `hash`, forgetting those
    /// that went away.
    fn deliver(&mut self, hash: &TopicHash, message: Message) {
        let Some(subs) = self.pubsub.subscribers.get_mut(hash) else {
            return;
        };
        subs.retain(|(_, tx)| match tx.try_send(message.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(topic = %message.topic, "subscriber too slow; message dropped");
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
        self.leave_if_unused(hash);
    }
}
