//! The event loop's share of blob transfer: serving requests from the store,
//! sending requests for the downloader, and DHT provider records.

use std::collections::HashSet;

use libp2p::{
    kad,
    request_response::{self, Message, ResponseChannel},
    Multiaddr, PeerId,
};
use tokio::sync::oneshot;

use super::EventLoop;
use crate::{
    content::Hash,
    transfer::protocol::{Request, Response, MAX_REQUEST_BYTES},
    Error,
};

/// Requests one peer may have being served at once; more get `Busy`.
pub(crate) const MAX_SERVING_PER_PEER: usize = 16;

/// A provider lookup collecting peers until its query ends.
pub(crate) struct PendingProviders {
    pub(crate) found: HashSet<PeerId>,
    pub(crate) reply: oneshot::Sender<Vec<PeerId>>,
}

/// A response computed off the event loop, to be sent by it.
pub(crate) struct Served {
    pub(crate) peer: PeerId,
    pub(crate) channel: ResponseChannel<Response>,
    pub(crate) response: Response,
}

impl EventLoop {
    pub(super) fn send_blob_request(
        &mut self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: Request,
        reply: oneshot::Sender<Result<Response, Error>>,
    ) {
        for addr in addrs {
            self.swarm.add_peer_address(peer, addr);
        }
        let id = self
            .swarm
            .behaviour_mut()
            .blobs
            .send_request(&peer, request);
        self.requests.insert(id, reply);
    }

    /// Stops announcing `hash`: drops this node's own provider record, so
    /// it is neither republished nor given out by this node.
    pub(super) fn stop_providing(&mut self, hash: Hash) {
        let key = kad::RecordKey::new(&hash.0);
        self.swarm.behaviour_mut().kad.stop_providing(&key);
    }

    pub(super) fn provide(&mut self, hash: Hash) {
        let key = kad::RecordKey::new(&hash.0);
        if let Err(e) = self.swarm.behaviour_mut().kad.start_providing(key) {
            tracing::warn!(%hash, "cannot announce content: {e}");
        }
    }

    pub(super) fn find_providers(&mut self, hash: Hash, reply: oneshot::Sender<Vec<PeerId>>) {
        let key = kad::RecordKey::new(&hash.0);
        let id = self.swarm.behaviour_mut().kad.get_providers(key);
        self.providers.insert(
            id,
            PendingProviders {
                found: HashSet::new(),
                reply,
            },
        );
    }

    pub(super) fn on_providers(
        &mut self,
        id: kad::QueryId,
        result: kad::GetProvidersResult,
        last: bool,
    ) {
        let Some(pending) = self.providers.get_mut(&id) else {
            return;
        };
        if let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = result {
            pending.found.extend(providers);
        }
        if last {
            let pending = self.providers.remove(&id).expect("present");
            let me = self.peer_id();
            let _ = pending
                .reply
                .send(pending.found.into_iter().filter(|p| *p != me).collect());
        }
    }

    pub(super) fn on_blobs_event(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.serve(peer, request, channel),
            request_response::Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = self.requests.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            } => {
                if let Some(reply) = self.requests.remove(&request_id) {
                    let _ = reply.send(Err(Error::Request {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, "inbound blob request failed: {error}");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn serve(&mut self, peer: PeerId, request: Request, channel: ResponseChannel<Response>) {
        match request {
            Request::Have(hash) => {
                let response = match self.store.get(&hash) {
                    Ok(Some(info)) => Response::Have {
                        size: info.size,
                        complete: info.complete,
                        present: info.present,
                    },
                    _ => Response::NotFound,
                };
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .blobs
                    .send_response(channel, response);
            }
            Request::Get { hash, ranges } => {
                let bytes = crate::content::range_bytes(&ranges, u64::MAX);
                if bytes > MAX_REQUEST_BYTES {
                    let why = format!("ask for at most {MAX_REQUEST_BYTES} bytes at once");
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .blobs
                        .send_response(channel, Response::Refused(why));
                    return;
                }
                let serving = self.serving.entry(peer).or_default();
                if *serving >= MAX_SERVING_PER_PEER {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .blobs
                        .send_response(channel, Response::Busy);
                    return;
                }
                *serving += 1;
                let store = self.store.clone();
                let served = self.served_tx.clone();
                tokio::task::spawn_blocking(move || {
                    // A panic while encoding must still hand the channel
                    // back, or the peer's serving slot would leak.
                    let encoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        store.encode(&hash, &ranges)
                    }))
                    .unwrap_or_else(|_| Err(Error::Store("encoding panicked".into())));
                    let response = match encoded {
                        Ok(bytes) => Response::Data(bytes),
                        Err(Error::NotFound(_)) => Response::NotFound,
                        Err(Error::RangeMissing(_)) => Response::Missing,
                        Err(e) => {
                            tracing::warn!(%hash, "cannot serve: {e}");
                            Response::Missing
                        }
                    };
                    let _ = served.send(Served {
                        peer,
                        channel,
                        response,
                    });
                });
            }
        }
    }

    pub(super) fn on_served(&mut self, served: Served) {
        if let Some(n) = self.serving.get_mut(&served.peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.serving.remove(&served.peer);
            }
        }
        let _ = self
            .swarm
            .behaviour_mut()
            .blobs
            .send_response(served.channel, served.response);
    }
}
