//! Plexus: a peer-to-peer node.
//!
//! A [`Node`] owns one libp2p swarm (TCP+Noise+Yamux and QUIC) in a background
//! task and is driven through a cheap, cloneable handle. Discovery mixes
//! Kademlia (with Plexus's own protocol name), bootstrap peers and mDNS.
//!
//! ```no_run
//! # async fn run() -> Result<(), plexus::Error> {
//! let config = plexus::NodeConfig::new("/tmp/plexus-a");
//! let node = plexus::Node::start(config).await?;
//! println!("{} listening on {:?}", node.peer_id(), node.listen_addrs());
//! node.shutdown().await;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

pub mod blobs;
pub mod config;
pub mod content;
pub mod directory;
mod discovery;
mod error;
mod guard;
pub mod identity;
mod net;
pub mod pubsub;
mod ratelimit;
pub mod search;
pub mod transfer;
mod wrap;

pub use config::NodeConfig;
pub use error::Error;
pub use libp2p::{Multiaddr, PeerId};
pub use net::{Download, FoundPeer, Node, NodeStatus, PeerEntry, Shared, Subscription};
pub use pubsub::Message;
