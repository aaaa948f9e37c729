//! The compute component as a libp2p behaviour: request-response on
//! `/plexus/compute/1`, carried by [`crate::service::Carrier`]. This node's requests
//! come in as [`Command`]s; peers' requests go out on a channel to the
//! worker (which needs the node to fetch blobs) and its answers come back.

use std::time::Duration;

use libp2p::{request_response::json::codec::Codec, StreamProtocol};

use super::{
    protocol::{codec, Request, Response, PROTOCOL},
    Command,
};
use crate::service::{Carrier, Service};

/// The compute service's part in the carrier.
pub(crate) struct Compute;

impl Service for Compute {
    type Request = Request;
    type Response = Response;
    const NAME: &'static str = "compute";
    const EVENT: &'static str = "a compute protocol event";
    const PROTOCOL: StreamProtocol = PROTOCOL;
    /// A unit is fetched and run before it is answered; the runner keeps
    /// its own, shorter, deadline per unit.
    const TIMEOUT: Duration = Duration::from_secs(3600);

    fn codec() -> Codec<Request, Response> {
        codec()
    }

    fn busy() -> Response {
        Response::Refused("busy, try again later".into())
    }
}

/// Carries compute requests both ways.
pub(crate) type Behaviour = Carrier<Compute>;
/// A peer's request for the worker, with the way to answer it.
pub(crate) type Inbound = crate::service::Inbound<Compute>;

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
