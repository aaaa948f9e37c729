//! Which transport a node keeps to a peer it can reach over both TCP and
//! QUIC: the one it prefers ([`crate::NodeConfig::prefer_transport`]).
//!
//! A dial to a peer with several addresses races them, and whichever
//! handshake ends first wins: often QUIC, which needs fewer round trips.
//! But the faster handshake is not the faster link. On this project's
//! test machine a bulk transfer over QUIC moves 0.76-1.08x what it moves
//! over TCP+Noise+Yamux (`plexus bench`, "QUIC x TCP"; 0.73-0.76x before
//! QUIC was made to prefer AES-GCM, `patches/libp2p-tls`): quinn runs
//! congestion control, acknowledgements and encryption per 1,452-byte
//! packet in user space, where the kernel does the TCP work in large
//! segments. So a node dials the preferred transport too once it knows
//! an address of it, and then closes its own connection over the other.
//!
//! Only connections this node dialled are changed: an inbound connection
//! is the other side's choice, so two nodes preferring different
//! transports keep one connection each way and never close each other's.
//! The preferred address must be on the IP the peer is reached at now
//! (no dials to a NAT-ed peer's private addresses), it is tried once per
//! connection, and relayed or other connections are left alone.
//!
//! Closing a peer's first connection and keeping a later one needs
//! `patches/libp2p-gossipsub`: upstream's gossipsub handler on the kept
//! connection was not woken for messages queued after the close (its
//! `PATCH.md`; the test `pubsub_goes_on_over_the_kept_connection`).
//!
//! [`choice::TransportChoice`] is the decision without I/O; [`Behaviour`]
//! feeds it the swarm's connection events and the peers' addresses that
//! identify reports.

mod behaviour;
mod choice;
#[cfg(test)]
mod choice_tests;

pub(crate) use behaviour::Behaviour;
pub use choice::Transport;
