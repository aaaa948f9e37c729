//! An in-memory network for testing the download loop without sockets:
//! each fake peer answers from a store of its own, honestly or not.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use libp2p::{Multiaddr, PeerId};

use super::network::BlobNetwork;
use crate::{
    blobs::protocol::{Request, Response},
    content::{ChunkNum, ChunkRanges, Hash, Store},
    Error,
};

/// How a fake peer behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Answers from its store.
    Honest,
    /// Right size, wrong bytes for every `Get` but the size proof.
    WrongBytes,
    /// Claims `size + 1` bytes.
    WrongSize,
    /// Answers `n` data requests, then every request fails (it left).
    GoneAfter(usize),
    /// Its first request fails with a lost connection (a racing dial's
    /// loser closed under it); it answers honestly after that.
    CutFirst,
    /// A partial holder (another getter): it has and serves the first half
    /// of the blob's chunk groups only.
    FirstHalf,
    /// Honest, each data answer this long in coming.
    Slow(std::time::Duration),
}

struct Peer {
    store: Arc<Store>,
    mode: Mode,
    served: usize,
    /// Whether a `CutFirst` peer has cut its first request yet.
    cut: bool,
}

/// The network: fake peers by id, and what was announced.
#[derive(Clone)]
pub(crate) struct FakeNetwork {
    me: PeerId,
    peers: Arc<Mutex<HashMap<PeerId, Peer>>>,
    /// Hashes this node announced.
    pub(crate) provided: Arc<Mutex<Vec<Hash>>>,
    /// Requests sent, of every kind.
    pub(crate) requests: Arc<std::sync::atomic::AtomicUsize>,
    /// Every `Have` and `Wants` question, by peer: whether it named wanted
    /// ranges (a `Wants`).
    pub(crate) questions: Arc<Mutex<Vec<(PeerId, bool)>>>,
}

impl FakeNetwork {
    pub(crate) fn new() -> Self {
        Self {
            me: PeerId::random(),
            peers: Arc::default(),
            provided: Arc::default(),
            requests: Arc::default(),
            questions: Arc::default(),
        }
    }

    /// Adds a peer answering from `store` as `mode` says; returns its id.
    pub(crate) fn add(&self, store: Arc<Store>, mode: Mode) -> PeerId {
        let id = PeerId::random();
        let peer = Peer {
            store,
            mode,
            served: 0,
            cut: false,
        };
        self.peers.lock().unwrap().insert(id, peer);
        id
    }

    fn answer(&self, peer: PeerId, request: Request) -> Result<Response, Error> {
        let mut peers = self.peers.lock().unwrap();
        let p = peers.get_mut(&peer).ok_or_else(|| Error::Request {
            peer,
            reason: "unknown peer".into(),
        })?;
        if p.mode == Mode::CutFirst && !p.cut {
            p.cut = true;
            return Err(Error::ConnectionLost {
                peer,
                reason: "connection lost".into(),
            });
        }
        if let Mode::GoneAfter(n) = p.mode {
            if p.served >= n {
                return Err(Error::Request {
                    peer,
                    reason: "connection closed".into(),
                });
            }
        }
        match request {
            Request::GetMany(items) => {
                drop(peers);
                let answers = items
                    .into_iter()
                    .map(|(hash, size)| {
                        let ranges = ChunkRanges::from(ChunkNum(0)..ChunkNum::chunks(size));
                        self.answer(peer, Request::Get { hash, ranges })
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Response::Many(answers))
            }
            Request::Have(hash) | Request::Wants { hash, .. } => Ok(match p.store.get(&hash)? {
                Some(info) if p.mode == Mode::FirstHalf => Response::Have {
                    size: info.size,
                    complete: false,
                    present: info.present & first_half(info.size),
                    offer: false,
                },
                Some(info) => Response::Have {
                    size: info.size + u64::from(p.mode == Mode::WrongSize),
                    complete: info.complete,
                    present: info.present,
                    offer: false,
                },
                None => Response::NotFound,
            }),
            Request::Get { hash, ranges } => {
                p.served += 1;
                let size = p.store.get(&hash)?.map(|i| i.size);
                if p.mode == Mode::FirstHalf
                    && size.is_some_and(|s| !ranges.is_subset(&first_half(s)))
                {
                    return Ok(Response::Missing);
                }
                let proof = size.is_some_and(|s| ranges == super::size::proof_ranges(s));
                match p.store.encode(&hash, &ranges) {
                    Ok(mut bytes) => {
                        if p.mode == Mode::WrongBytes && !proof {
                            let n = bytes.len();
                            bytes[n / 2..].fill(0xAB);
                        }
                        Ok(Response::Data(bytes))
                    }
                    Err(Error::NotFound(_)) => Ok(Response::NotFound),
                    Err(_) => Ok(Response::Missing),
                }
            }
        }
    }
}

/// The first half of a blob of `size` bytes, in whole chunk groups.
fn first_half(size: u64) -> ChunkRanges {
    let groups = crate::content::group_count(size);
    ChunkRanges::from(ChunkNum(0)..ChunkNum(groups / 2 * crate::content::GROUP_BYTES / 1024))
}

impl BlobNetwork for FakeNetwork {
    fn local_peer_id(&self) -> PeerId {
        self.me
    }

    async fn request(
        &self,
        peer: PeerId,
        _addrs: Vec<Multiaddr>,
        request: Request,
    ) -> Result<Response, Error> {
        // Let other tasks run between answers, as a network would.
        tokio::task::yield_now().await;
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match &request {
            Request::Have(_) => self.questions.lock().unwrap().push((peer, false)),
            Request::Wants { .. } => self.questions.lock().unwrap().push((peer, true)),
            Request::Get { .. } => {
                let mode = self.peers.lock().unwrap().get(&peer).map(|p| p.mode);
                if let Some(Mode::Slow(delay)) = mode {
                    tokio::time::sleep(delay).await;
                }
            }
            Request::GetMany(_) => {}
        }
        self.answer(peer, request)
    }

    async fn find_providers(&self, _hash: Hash) -> Result<Vec<PeerId>, Error> {
        Ok(self.peers.lock().unwrap().keys().copied().collect())
    }

    async fn connected_peers(&self) -> Result<Vec<PeerId>, Error> {
        Ok(Vec::new())
    }

    async fn provide(&self, hash: Hash) {
        self.provided.lock().unwrap().push(hash);
    }
}
