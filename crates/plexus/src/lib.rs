//! Plexus: a peer-to-peer node.
//!
//! A [`Node`] owns one libp2p swarm (TCP+Noise+Yamux and QUIC) in a background
//! task and is driven through a cheap, cloneable handle. Discovery mixes
//! Kademlia (with Plexus's own protocol name), bootstrap peers and mDNS.
//!
//! # Quick start
//!
//! Start a node from a [`NodeConfig`], share a file, and fetch it on
//! another node with the [`Ticket`](content::Ticket) the first one printed:
//!
//! ```no_run
//! use plexus::{content::{share, Ticket}, transfer::GetOptions, Node, NodeConfig};
//!
//! # async fn run() -> anyhow::Result<()> {
//! // On one machine: share a file; the ticket names the content and this node.
//! let a = Node::start(NodeConfig::new("/tmp/plexus-a")).await?;
//! let shared = a.share("photo.jpg".as_ref()).await?;
//! println!("{}", shared.ticket); // plexus1...
//!
//! // On another: fetch it by ticket, verified chunk by chunk, and write it out.
//! let b = Node::start(NodeConfig::new("/tmp/plexus-b")).await?;
//! let ticket: Ticket = "plexus1...".parse().map_err(anyhow::Error::msg)?;
//! let options = GetOptions {
//!     providers: vec![(ticket.provider, ticket.addrs.clone())],
//!     use_dht: true,
//!     ..GetOptions::default()
//! };
//! let stats = b.get(ticket.hash, Some(ticket.format), options).finish().await?;
//! share::export(b.store(), &ticket.hash, stats.format, "copy.jpg".as_ref(), false)?;
//! # Ok(()) }
//! ```
//!
//! [`NodeConfig::new`] listens on every interface with mDNS on;
//! [`NodeConfig::loopback`] keeps a node on 127.0.0.1, as the examples do.
//! Topics: [`Node::subscribe`] gives a [`Subscription`] of [`Message`]s,
//! [`Node::publish`] sends one. Search: [`Node::share_with`] records a name
//! and tags, [`Node::search`] streams [`search::SearchHit`]s, each with a
//! ticket. Runnable programs, two nodes in one process each, are in
//! `crates/plexus/examples/`:
//!
//! ```sh
//! cargo run -p plexus --example share_and_get   # share, then get by ticket and by hash
//! cargo run -p plexus --example chat            # a message each way on a topic
//! cargo run -p plexus --example search          # share with tags, search, get the hit
//! ```
//!
//! # Layout
//!
//! Each protocol is one component in its own module, owning its state: the
//! wire types, a state machine without I/O, and the `NetworkBehaviour` that
//! drives it.
//!
//! - [`blobs`]: serving blobs to peers and carrying this node's requests
//!   ([`blobs::protocol`]);
//! - [`search`]: flooding keyword search between neighbours, answered with
//!   [`search::SearchHit`]s;
//! - [`directory`]: the directory client and server (rendezvous
//!   registration, record index);
//! - [`pubsub`]: publish/subscribe delivery and limits over gossipsub
//!   ([`Message`], [`Subscription`]);
//! - `discovery`: Kademlia, mDNS, identify, ping and bootstrap peers;
//! - `nat`: reachability (AutoNAT v2), relay service and reservations
//!   (circuit relay v2), hole punching (DCUtR) ([`NatConfig`], [`NatStatus`]);
//! - `metrics`: the Prometheus registry ([`Node::metrics_text`]): libp2p's
//!   metrics and Plexus's counters;
//! - `inbound`: inbound connection limits per IP and in total, kept below
//!   the overall cap so the node can always dial out;
//! - `transport_choice`: a peer reachable over TCP and QUIC is kept on the
//!   preferred transport ([`Transport`], `NodeConfig::prefer_transport`).
//!
//! [`transfer`] is the download loop: it fetches a blob from many providers
//! at once ([`transfer::GetOptions`], [`transfer::Progress`]) and reaches the
//! network through a small `BlobNetwork` trait, not through the node.
//! [`content`] is the store ([`content::Store`]): blobs named by their
//! [`content::Hash`], collections, signed metadata and tickets.
//! [`seal`] encrypts content before it leaves its owner (chunked
//! XChaCha20-Poly1305, STREAM): [`seal::encrypt`], [`seal::decrypt`],
//! [`seal::sealed_range`]; the key travels only in tickets.
//!
//! The [`Node`] handle sends commands to one task that owns the swarm; that
//! task only routes commands and swarm events to the components. A
//! [`Node::get`] returns a [`Download`]; errors are [`Error`]; configuration
//! is [`NodeConfig`] (see [`config`]); [`swarm_key`] makes a private
//! network of the nodes that share a key.

#![deny(missing_docs)]

pub mod bandwidth;
pub mod blobs;
pub mod compute;
pub mod config;
pub mod content;
pub mod directory;
mod discovery;
mod error;
#[doc(hidden)]
pub mod fuzz;
mod guard;
mod hash;
pub mod identity;
mod inbound;
mod metrics;
mod nat;
mod net;
pub mod pubsub;
mod ratelimit;
pub mod seal;
pub mod search;
mod service;
pub mod storage;
pub mod swarm_key;
pub mod transfer;
pub mod transport;
mod transport_choice;
mod wrap;

pub use bandwidth::RateLimits;
pub use config::NodeConfig;
pub use discovery::{BucketFill, FoundPeer, PeerEntry, ProviderLookup};
pub use error::Error;
pub use libp2p::{multiaddr::Protocol, Multiaddr, PeerId};
pub use nat::{NatConfig, NatStatus, Reach};
pub use net::{Download, Node, NodeStatus, Shared, Subscription};
pub use pubsub::Message;
pub use transport_choice::Transport;
