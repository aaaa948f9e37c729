//! The blob protocol, `/plexus/blobs/1.1.0` (and `1.0.0`), as one component: the wire
//! format ([`protocol`]) and its codec (`codec.rs`), who may be served how
//! much and for how long (`serve.rs`, no I/O, tested in `serve_tests.rs`),
//! and the
//! `NetworkBehaviour` (`behaviour.rs`) whose two sides are answering peers
//! from the store (`answers.rs`) and carrying this node's own requests for
//! the download loop (`requests.rs`). When many getters fetch one blob at
//! once, `seeding.rs` (no I/O) decides which pieces each is offered.

mod answers;
pub(crate) mod behaviour;
mod codec;
pub(crate) mod direct;
pub mod protocol;
mod ranges;
mod requests;
pub(crate) mod seeding;
pub(crate) mod serve;
#[cfg(test)]
mod serve_tests;

use libp2p::{Multiaddr, PeerId};
use tokio::sync::oneshot;

use crate::Error;
pub(crate) use behaviour::Behaviour;

/// What the node asks of the blob component.
pub(crate) enum Command {
    /// Send one request to `peer` (dialing `addrs` if needed) and reply
    /// with its answer.
    Request {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: protocol::Request,
        /// Send it over a relayed connection if no direct one comes.
        allow_relay: bool,
        reply: oneshot::Sender<Result<protocol::Response, Error>>,
    },
}
