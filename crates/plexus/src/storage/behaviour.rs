//! The storage component as a libp2p behaviour: request-response on
//! `/plexus/storage/1`, carried by [`crate::service::Carrier`]. This node's requests
//! come in as [`Command`]s; peers' requests go out on a channel to the
//! storage service (which needs the node to fetch shards) and its answers come back.

use std::time::Duration;

use libp2p::{request_response::json::codec::Codec, StreamProtocol};

use super::{
    protocol::{codec, Request, Response, PROTOCOL},
    Command,
};
use crate::service::{Carrier, Service};

/// The storage service's part in the carrier.
pub(crate) struct Storage;

impl Service for Storage {
    type Request = Request;
    type Response = Response;
    const NAME: &'static str = "storage";
    const EVENT: &'static str = "a storage protocol event";
    const PROTOCOL: StreamProtocol = PROTOCOL;
    /// A `Put` makes the storer fetch a whole shard before it answers.
    const TIMEOUT: Duration = Duration::from_secs(300);

    fn codec() -> Codec<Request, Response> {
        codec()
    }

    fn busy() -> Response {
        Response::Refused("busy, try again later".into())
    }
}

/// Carries storage requests both ways.
pub(crate) type Behaviour = Carrier<Storage>;
/// A peer's request for the storage service, with the way to answer it.
pub(crate) type Inbound = crate::service::Inbound<Storage>;

impl Behaviour {
    /// Handles a command from the node.
    pub(crate) fn on_command(&mut self, command: Command) {
        match command {
            Command::Request {
                peer,
                addrs,
                request,
                reply,
            } => self.send(peer, addrs, request, reply),
        }
    }
}
