//! The directory (hybrid network, like a tracker): peers register with a
//! directory server by libp2p rendezvous, publish their signed records to
//! it and search its index.
//!
//! This folder is the directory component, client and server:
//! - [`protocol`]: the wire types;
//! - `index.rs`: the server's record index; `server.rs`: its answers;
//! - `client.rs`: renewal scheduling, redials, searches and discovered
//!   peers, without I/O;
//! - `behaviour.rs`: the `NetworkBehaviour` that drives both, with the
//!   rendezvous client and server.

mod behaviour;
mod client;
pub(crate) mod index;
pub mod protocol;
pub(crate) mod server;

use libp2p::{Multiaddr, PeerId};

use crate::search::Hit;
pub(crate) use behaviour::Behaviour;
pub use protocol::{DirRequest, DirResponse, DIRECTORY_PROTOCOL, MAX_RESULTS, NAMESPACE};

/// What the directory component tells the rest of the node.
#[derive(Debug)]
pub(crate) enum Event {
    /// A directory's hits for local search `query`.
    Hits {
        /// The local search's id (from the search component).
        query: u64,
        /// The directory's answers.
        hits: Vec<Hit>,
    },
    /// A peer registered at a directory: Kademlia should learn its `addrs`
    /// and the search component should make it a neighbour.
    Discovered {
        /// The registered peer.
        peer: PeerId,
        /// Its dialable registered addresses.
        addrs: Vec<Multiaddr>,
    },
    /// A configured directory that is down is being dialled: Kademlia
    /// should learn its address.
    Redialing {
        /// The directory.
        peer: PeerId,
        /// Its configured address.
        addr: Multiaddr,
    },
}
