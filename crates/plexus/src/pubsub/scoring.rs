//! Gossipsub settings of a Plexus node: configuration, peer scoring and
//! which topic subscriptions of other peers are tracked.

use std::time::Duration;

use libp2p::gossipsub::{
    self, MaxCountSubscriptionFilter, PeerScoreParams, PeerScoreThresholds, TopicHash,
    TopicScoreParams, TopicSubscriptionFilter,
};

use super::{check_topic, topic_name, MAX_TRANSMIT_BYTES};

/// Most topics tracked for one peer (gossipsub keeps every topic a peer
/// says it joined); a subscription message that would go beyond, or that
/// names more than this many topics at once, is ignored whole.
pub(crate) const MAX_TOPICS_PER_PEER: usize = 64;

/// Only well-formed Plexus topics (`plexus/topic/NAME`, NAME as
/// [`check_topic`] wants), so other peers cannot fill our tables with
/// topics no Plexus node uses.
#[derive(Debug, Default)]
pub struct PlexusTopics;

impl TopicSubscriptionFilter for PlexusTopics {
    fn can_subscribe(&mut self, topic: &TopicHash) -> bool {
        topic_name(topic).is_some_and(|name| check_topic(name).is_ok())
    }
}

/// The subscription filter: Plexus topics, at most [`MAX_TOPICS_PER_PEER`].
pub type Filter = MaxCountSubscriptionFilter<PlexusTopics>;

/// The subscription filter of a Plexus node.
pub(crate) fn subscription_filter() -> Filter {
    MaxCountSubscriptionFilter {
        filter: PlexusTopics,
        max_subscribed_topics: MAX_TOPICS_PER_PEER,
        max_subscriptions_per_request: MAX_TOPICS_PER_PEER,
    }
}

/// The gossipsub configuration of a Plexus node: strict signatures, our own
/// validation step, bounded frame size.
pub(crate) fn gossipsub_config() -> gossipsub::Config {
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
pub(crate) fn peer_score_params() -> PeerScoreParams {
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
pub(crate) fn peer_score_thresholds() -> PeerScoreThresholds {
    PeerScoreThresholds::default()
}

/// Score parameters for every Plexus topic. Rejected messages (bad
/// envelope, over the rate limit, bad signature) count squared with weight
/// -1 and decay slowly (x0.9 a second), so a flooder sinks far below the
/// graylist threshold while an honest relay that forwarded one or two bad
/// messages stays well above it. Mesh-delivery penalties (P3) are off: a
/// quiet chat topic is not a fault.
pub(crate) fn topic_score_params() -> TopicScoreParams {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pubsub::wire_topic;

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
    fn only_plexus_topics_pass_the_filter() {
        let mut filter = subscription_filter();
        assert!(filter.can_subscribe(&wire_topic("chat").hash()));
        assert!(!filter.can_subscribe(&gossipsub::IdentTopic::new("other").hash()));
        let bad = gossipsub::IdentTopic::new("plexus/topic/a b").hash();
        assert!(!filter.can_subscribe(&bad));
    }
}
