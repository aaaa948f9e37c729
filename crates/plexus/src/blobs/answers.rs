//! How this node answers peers' blob requests: [`Serving`] admits each
//! one (or answers it at once), the store is read on the blocking pool,
//! [`Seeding`] steers what a crowd of getters is offered, and the encoded
//! answer is sent from `poll`. Connections holding the oldest unsent
//! answers are closed when their memory is needed.

use std::{
    collections::VecDeque,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use libp2p::{
    request_response::{InboundRequestId, ResponseChannel},
    swarm::ConnectionId,
    PeerId,
};
use tokio::sync::mpsc;

use super::{
    behaviour::Inner,
    protocol::{Request, Response},
    seeding::Seeding,
    serve::{Admission, Serving},
};
use crate::{
    content::{ChunkNum, ChunkRanges, Hash, Store},
    Error,
};

/// A response computed on the blocking pool, to be sent from `poll`.
struct Served {
    id: InboundRequestId,
    channel: ResponseChannel<Response>,
    response: Response,
    /// For a `Get`: who asked for which ranges of what, for the offers.
    fetched: Option<(PeerId, Hash, ChunkRanges)>,
}

/// The answering side of the blob component.
pub(super) struct Answers {
    store: Arc<Store>,
    serving: Serving<InboundRequestId>,
    /// What to offer getters of a blob many fetch at once.
    seeding: Seeding,
    served_tx: mpsc::UnboundedSender<Served>,
    served_rx: mpsc::UnboundedReceiver<Served>,
    /// Connections to close: they hold the oldest unsent responses and
    /// the memory is needed for a peer that reads.
    to_close: VecDeque<(PeerId, ConnectionId)>,
}

impl Answers {
    /// Answers from `store`.
    pub(super) fn new(store: Arc<Store>) -> Self {
        let (served_tx, served_rx) = mpsc::unbounded_channel();
        Self {
            store,
            serving: Serving::default(),
            seeding: Seeding::default(),
            served_tx,
            served_rx,
            to_close: VecDeque::new(),
        }
    }

    /// Bytes of responses being encoded or waiting to be sent.
    pub(super) fn serving_bytes(&self) -> u64 {
        self.serving.total_bytes()
    }

    /// Answers `request`: at once when the rules say so, otherwise from
    /// the store on the blocking pool (the answer comes back to
    /// [`Answers::poll_served`]). An admitted request holds its slot until
    /// `ResponseSent` or `InboundFailure` (every request gets one of them).
    pub(super) fn handle_request(
        &mut self,
        inner: &mut Inner,
        (peer, connection): (PeerId, ConnectionId),
        id: InboundRequestId,
        request: Request,
        channel: ResponseChannel<Response>,
    ) {
        let (admission, close) =
            self.serving
                .handle_request(peer, connection, id, request, Instant::now());
        if !close.is_empty() {
            tracing::debug!(%peer, "closing {} connections with unread blob responses", close.len());
        }
        self.to_close.extend(close);
        if let Admission::Answer(response) = admission {
            let _ = inner.send_response(channel, response);
            return;
        }
        let now = Instant::now();
        let (offer, fetched) = match &admission {
            Admission::Offer { hash, wanted } => {
                (self.seeding.offer(peer, *hash, wanted, now), None)
            }
            Admission::Encode { hash, ranges } => (None, Some((peer, *hash, ranges.clone()))),
            _ => (None, None),
        };
        let (store, served) = (self.store.clone(), self.served_tx.clone());
        tokio::task::spawn_blocking(move || {
            // A panic while reading must still hand the channel back, or
            // the peer's serving slot would leak.
            let read = || read(&store, admission, offer);
            let started = Instant::now();
            let response = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read))
                .unwrap_or(Response::Missing);
            tracing::trace!(took_us = started.elapsed().as_micros() as u64, "encoded");
            let _ = served.send(Served {
                id,
                channel,
                response,
                fetched,
            });
        });
    }

    /// The answer to request `id` was sent.
    pub(super) fn handle_sent(&mut self, id: InboundRequestId) {
        self.serving.handle_sent(id, Instant::now());
    }

    /// Request `id` failed before its answer was sent.
    pub(super) fn handle_failed(&mut self, id: InboundRequestId) {
        self.serving.handle_done(id);
    }

    /// `peer`'s last connection closed.
    pub(super) fn handle_gone(&mut self, peer: PeerId) {
        self.seeding.handle_gone(peer);
    }

    /// A connection to close, if any.
    pub(super) fn poll_close(&mut self) -> Option<(PeerId, ConnectionId)> {
        self.to_close.pop_front()
    }

    /// Sends the answers read from the store since the last call.
    pub(super) fn poll_served(&mut self, inner: &mut Inner, cx: &mut Context<'_>) {
        while let Poll::Ready(Some(served)) = self.served_rx.poll_recv(cx) {
            if let (Some((peer, hash, ranges)), Response::Data(_)) =
                (&served.fetched, &served.response)
            {
                self.seeding
                    .handle_get(*peer, *hash, ranges, Instant::now());
            }
            // The slot stays held until the response is sent or fails; a
            // request already done (timed out, connection closed) is not
            // answered, and its response is dropped here.
            if self.serving.handle_encoded(served.id, &served.response)
                && inner
                    .send_response(served.channel, served.response)
                    .is_err()
            {
                self.serving.handle_done(served.id);
            }
        }
    }
}

/// The answer to `admission` from `store`. For an `Offer` of a complete
/// blob, `offer` (from `blobs::seeding`, maybe empty for now) replaces what
/// is present.
fn read(store: &Store, admission: Admission, offer: Option<ChunkRanges>) -> Response {
    match admission {
        Admission::Have(hash) | Admission::Offer { hash, .. } => match store.get(&hash) {
            Ok(Some(info)) => {
                let all = ChunkRanges::from(ChunkNum(0)..ChunkNum::chunks(info.size));
                match offer.map(|o| o & all) {
                    Some(o) if info.complete => Response::offer(info.size, o),
                    _ => Response::have(info.size, info.complete, info.present),
                }
            }
            _ => Response::NotFound,
        },
        Admission::Encode { hash, ranges } => encode(store, &hash, &ranges),
        Admission::EncodeMany(items) => Response::Many(
            items
                .iter()
                .map(|(hash, size)| {
                    let chunks = ChunkRanges::from(ChunkNum(0)..ChunkNum::chunks(*size));
                    encode(store, hash, &chunks)
                })
                .collect(),
        ),
        Admission::Answer(response) => response,
    }
}

/// `ranges` of `hash` from `store` as an answer.
fn encode(store: &Store, hash: &Hash, ranges: &ChunkRanges) -> Response {
    match store.encode(hash, ranges) {
        Ok(bytes) => Response::Data(bytes),
        Err(Error::NotFound(_)) => Response::NotFound,
        Err(Error::RangeMissing(_)) => Response::Missing,
        Err(e) => {
            tracing::warn!(%hash, "cannot serve: {e}");
            Response::Missing
        }
    }
}
