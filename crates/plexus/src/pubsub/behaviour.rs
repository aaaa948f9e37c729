//! The pub/sub component as a libp2p behaviour: gossipsub (with the idle
//! rule of [`super::idle`]) plus [`Delivery`], which checks every received
//! message before gossipsub relays it and hands it to local subscribers.

use std::{
    task::{Context, Poll},
    time::{Instant, SystemTime},
};

use libp2p::{
    gossipsub::{self, IdentTopic, TopicHash},
    identity::Keypair,
    swarm::{NetworkBehaviour, THandlerInEvent, ToSwarm},
    PeerId,
};

use super::{
    delivery::{Delivery, Subscriber},
    idle::{Gossip, GossipBehaviour},
    scoring, Command, Message,
};
use crate::{guard::guarded, ratelimit::Rate, wrap::forward_to_inner, Error};

/// What the pub/sub component tells the rest of the node: nothing so far
/// (messages go straight to the subscribers' channels).
#[derive(Debug)]
pub(crate) enum Event {}

/// Pub/sub delivery and limits: gossipsub, the local subscribers and the
/// per-author and per-delivering-peer rate limits.
pub(crate) struct Behaviour {
    gossip: Gossip,
    delivery: Delivery,
    local: PeerId,
    /// Where gossipsub events and message counts are recorded (the node's
    /// metrics; none until the node sets it).
    pub(crate) metrics: Option<crate::metrics::Recorders>,
}

impl Behaviour {
    /// Gossipsub signing with `key`, scoring peers, limiting each author to
    /// `author_rate` and what each peer delivers to us to `peer_rate`.
    pub(crate) fn new(key: &Keypair, author_rate: Rate, peer_rate: Rate) -> std::io::Result<Self> {
        let mut gossip = GossipBehaviour::new_with_subscription_filter(
            gossipsub::MessageAuthenticity::Signed(key.clone()),
            scoring::gossipsub_config(),
            scoring::subscription_filter(),
        )
        .map_err(std::io::Error::other)?;
        gossip
            .with_peer_score(
                scoring::peer_score_params(),
                scoring::peer_score_thresholds(),
            )
            .map_err(std::io::Error::other)?;
        Ok(Self {
            gossip: Gossip(gossip),
            delivery: Delivery::new(author_rate, peer_rate),
            local: key.public().to_peer_id(),
            metrics: None,
        })
    }

    /// Carries out one request from the node's handle.
    pub(crate) fn on_command(&mut self, command: Command) {
        match command {
            Command::Subscribe { topic, reply } => {
                let _ = reply.send(self.subscribe(&topic));
            }
            Command::Unsubscribe { topic, id } => {
                if let Some(hash) = self.delivery.handle_unsubscribe(&topic, id) {
                    self.leave(hash);
                }
            }
            Command::Publish { topic, data, reply } => {
                let _ = reply.send(self.publish(topic, data));
            }
            Command::TopicPeers { topic, mesh, reply } => {
                let peers = if mesh {
                    self.mesh_peers(&topic)
                } else {
                    self.topic_peers(&topic)
                };
                let _ = reply.send(peers);
            }
            Command::PeerScore { peer, reply } => {
                let _ = reply.send(self.peer_score(&peer));
            }
        }
    }

    /// The gossipsub score this node gives `peer`.
    pub(crate) fn peer_score(&self, peer: &PeerId) -> Option<f64> {
        self.gossip.peer_score(peer)
    }

    fn subscribe(&mut self, name: &str) -> Result<Subscriber, Error> {
        let (subscriber, join) = self.delivery.handle_subscribe(name)?;
        if let Some(topic) = join {
            if let Err(e) = self.join(name, topic) {
                // Never joined, so nothing to leave.
                let _ = self.delivery.handle_unsubscribe(name, subscriber.0);
                return Err(e);
            }
        }
        Ok(subscriber)
    }

    fn join(&mut self, name: &str, topic: IdentTopic) -> Result<(), Error> {
        self.gossip
            .set_topic_params(topic.clone(), scoring::topic_score_params())
            .map_err(|e| Error::Setup(e.to_string()))?;
        self.gossip.subscribe(&topic).map_err(|e| Error::Publish {
            topic: name.to_string(),
            reason: e.to_string(),
        })?;
        Ok(())
    }

    /// Leaves the gossipsub topic `hash` (its last local subscriber went).
    fn leave(&mut self, hash: TopicHash) {
        self.gossip.unsubscribe(&IdentTopic::new(hash.as_str()));
    }

    /// Peers known to be subscribed to `name`.
    fn topic_peers(&self, name: &str) -> Vec<PeerId> {
        let hash = super::wire_topic(name).hash();
        self.gossip
            .all_peers()
            .filter(|(_, topics)| topics.contains(&&hash))
            .map(|(p, _)| *p)
            .collect()
    }

    /// Peers this node exchanges full messages with on `name` (its mesh).
    fn mesh_peers(&self, name: &str) -> Vec<PeerId> {
        let hash = super::wire_topic(name).hash();
        self.gossip.mesh_peers(&hash).copied().collect()
    }

    /// Publishes `data` on `name`; answers how many subscribed peers are known.
    fn publish(&mut self, name: String, data: Vec<u8>) -> Result<usize, Error> {
        let topic = Delivery::check_publish(&name, &data)?;
        let sent_at = SystemTime::now();
        let bytes = super::encode(&data, sent_at);
        match self.gossip.publish(topic, bytes) {
            Ok(_) => {}
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                return Err(Error::NoTopicPeers(name))
            }
            Err(gossipsub::PublishError::MessageTooLarge) => {
                return Err(Error::MessageTooLarge {
                    size: data.len(),
                    max: super::MAX_MESSAGE_BYTES,
                })
            }
            Err(e) => {
                return Err(Error::Publish {
                    topic: name,
                    reason: e.to_string(),
                })
            }
        }
        if let Some(m) = &self.metrics {
            m.counters.pubsub_published.inc();
        }
        let peers = self.topic_peers(&name).len();
        // Other subscribers on this node see it too.
        self.deliver(Message {
            topic: name,
            from: self.local,
            sent_at,
            received_at: sent_at,
            data,
        });
        Ok(peers)
    }

    fn deliver(&mut self, message: Message) {
        if let Some(m) = &self.metrics {
            m.counters.pubsub_delivered.inc();
        }
        if let Some(hash) = self.delivery.deliver(message) {
            self.leave(hash);
        }
    }

    fn on_gossip_event(&mut self, event: gossipsub::Event) {
        if let Some(m) = &self.metrics {
            libp2p::metrics::Recorder::record(&*m.libp2p, &event);
        }
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                let (acceptance, delivered) = self.delivery.handle_message(
                    &propagation_source,
                    message,
                    Instant::now(),
                    SystemTime::now(),
                );
                self.gossip.report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    acceptance,
                );
                if let Some(message) = delivered {
                    self.deliver(message);
                }
            }
            gossipsub::Event::SlowPeer { peer_id, .. } => {
                tracing::debug!(%peer_id, "pub/sub peer cannot keep up");
            }
            _ => {}
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = <Gossip as NetworkBehaviour>::ConnectionHandler;
    type ToSwarm = Event;

    forward_to_inner!(gossip);

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Event, THandlerInEvent<Self>>> {
        loop {
            match self.gossip.poll(cx) {
                Poll::Ready(ToSwarm::GenerateEvent(event)) => {
                    guarded("a pub/sub event", || self.on_gossip_event(event));
                }
                Poll::Ready(action) => {
                    return Poll::Ready(action.map_out(|_| unreachable!("handled above")));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
