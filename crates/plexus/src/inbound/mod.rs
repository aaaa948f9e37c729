//! Inbound connection limits: at most `max_inbound_per_ip` inbound
//! connections (pending or established) from one IP address (one /64 for
//! IPv6) and at most `max_inbound` established inbound connections in all.
//! Outbound connections are never counted, and `max_inbound` stays below
//! `max_connections`, so a flood of inbound connections from any number of
//! identities never takes the room the node needs to dial providers.
//!
//! [`counter::InboundCounter`] is the sans-IO counting; [`Behaviour`] feeds
//! it the swarm's connection events and refuses what it denies.

mod behaviour;
mod counter;
#[cfg(test)]
mod counter_tests;

pub(crate) use behaviour::Behaviour;
