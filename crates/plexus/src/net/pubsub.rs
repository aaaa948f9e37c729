//! Topics on the node: subscribe, publish, and who is on a topic.

use libp2p::PeerId;

use super::{event_loop::Command, Node, Subscription};
use crate::{pubsub, Error};

impl Node {
    /// Subscribes to `topic` (1 to 64 letters, digits, `.`, `_`, `-`): the
    /// returned [`Subscription`] yields every message published on it from
    /// now on, each exactly once. Dropping it unsubscribes.
    pub async fn subscribe(&self, topic: &str) -> Result<Subscription, Error> {
        let (id, rx) = self
            .ask(|reply| {
                Command::Pubsub(pubsub::Command::Subscribe {
                    topic: topic.to_string(),
                    reply,
                })
            })
            .await??;
        Ok(Subscription::new(
            topic.to_string(),
            id,
            rx,
            self.commands.clone(),
        ))
    }

    /// Publishes `data` (at most [`crate::pubsub::MAX_MESSAGE_BYTES`]) on
    /// `topic`, signed by this node; returns how many subscribed peers it
    /// knows. Fails with [`Error::NoTopicPeers`] when it knows none.
    pub async fn publish(&self, topic: &str, data: impl Into<Vec<u8>>) -> Result<usize, Error> {
        let data = data.into();
        self.ask(|reply| {
            Command::Pubsub(pubsub::Command::Publish {
                topic: topic.to_string(),
                data,
                reply,
            })
        })
        .await?
    }

    /// Peers known to be subscribed to `topic`.
    pub async fn topic_peers(&self, topic: &str) -> Result<Vec<PeerId>, Error> {
        self.ask(|reply| {
            Command::Pubsub(pubsub::Command::TopicPeers {
                topic: topic.to_string(),
                mesh: false,
                reply,
            })
        })
        .await
    }

    /// Peers this node forwards full messages to on `topic` (its gossipsub
    /// mesh, built at each heartbeat from the subscribed peers).
    pub async fn mesh_peers(&self, topic: &str) -> Result<Vec<PeerId>, Error> {
        self.ask(|reply| {
            Command::Pubsub(pubsub::Command::TopicPeers {
                topic: topic.to_string(),
                mesh: true,
                reply,
            })
        })
        .await
    }

    /// The gossipsub score this node gives `peer` (negative: misbehaving),
    /// if it has one.
    pub async fn peer_score(&self, peer: PeerId) -> Result<Option<f64>, Error> {
        self.ask(|reply| Command::Pubsub(pubsub::Command::PeerScore { peer, reply }))
            .await
    }
}
