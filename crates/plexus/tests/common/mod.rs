//! Helpers shared by the library's integration tests: nodes on 127.0.0.1,
//! waiting for conditions, search hits, test data, and hand-made peers that
//! lie.
#![allow(dead_code)] // each test binary uses its own subset

pub mod flooders;
pub mod forge;
pub mod mesh;
pub mod raw;

use std::{path::Path, sync::Arc, time::Duration};

use futures::StreamExt;
use libp2p::{request_response, swarm::SwarmEvent, Multiaddr};
use plexus::{
    content::{ChunkRanges, Store},
    search::SearchHit,
    Node, NodeConfig, PeerId,
    {blobs::protocol, transfer::GetOptions},
};
use tokio::sync::mpsc;

pub use mesh::{tcp_addr, wait_for_mesh};

/// A node on 127.0.0.1 with every transport of `NodeConfig::loopback`,
/// after `edit` changed its config.
pub async fn start(dir: &Path, edit: impl FnOnce(&mut NodeConfig)) -> Node {
    let mut config = NodeConfig::loopback(dir);
    edit(&mut config);
    Node::start(config).await.expect("node starts")
}

/// A node on 127.0.0.1, TCP only (one address, quick start), after `edit`
/// changed its config.
pub async fn node_with(dir: &Path, edit: impl FnOnce(&mut NodeConfig)) -> Node {
    start(dir, |config| {
        config.listen.truncate(1);
        edit(config);
    })
    .await
}

/// A node on 127.0.0.1, TCP only (one address, quick start).
pub async fn node(dir: &Path) -> Node {
    node_with(dir, |_| {}).await
}

/// A node on 127.0.0.1 (TCP only) that bootstraps from `via`.
pub async fn node_via(dir: &Path, via: &Node) -> Node {
    node_with(dir, |config| config.bootstrap = vec![tcp_addr(via)]).await
}

/// Waits (up to 15 s) until every link `(a, b)` is in both ends' gossipsub
/// mesh for `topic`; panics if it does not form.
pub async fn assert_mesh(nodes: &[Node], links: &[(usize, usize)], topic: &str) {
    let ok = wait_for_mesh(nodes, links, topic, Duration::from_secs(15))
        .await
        .unwrap();
    assert!(ok, "the gossipsub mesh did not form in 15 s");
}

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Options that fetch from `node` only (no DHT).
pub fn from(node: &Node) -> GetOptions {
    GetOptions {
        providers: vec![(node.peer_id(), node.listen_addrs().to_vec())],
        use_dht: false,
        allow_relay: false,
    }
}

/// Polls `check` every 100 ms until it holds or `limit` passes.
pub async fn wait_until<F, Fut>(limit: Duration, check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    wait_until_every(limit, Duration::from_millis(100), check).await
}

/// Polls `check` every `every` until it holds or `limit` passes.
pub async fn wait_until_every<F, Fut>(limit: Duration, every: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(every).await;
    }
    false
}

/// Polls `check` every 100 ms; panics with "timed out waiting for `what`"
/// if it does not hold within 15 s.
pub async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Collects search hits until `want` arrived (or `limit` passed). With
/// `settle`, then waits that much longer for stragglers (`Some(ZERO)` still
/// takes the hits already queued); with `None`, returns at once.
pub async fn collect_hits(
    rx: &mut mpsc::Receiver<SearchHit>,
    want: usize,
    settle: Option<Duration>,
    limit: Duration,
) -> Vec<SearchHit> {
    let mut hits = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    while hits.len() < want {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(hit)) => hits.push(hit),
            _ => break,
        }
    }
    if let Some(settle) = settle {
        let end = tokio::time::Instant::now() + settle;
        while let Ok(Some(hit)) = tokio::time::timeout_at(end, rx.recv()).await {
            hits.push(hit);
        }
    }
    hits
}

/// What a lying provider answers to `Get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetLie {
    /// The right length of the wrong bytes.
    WrongBytes,
    /// "Missing", though it claimed to have everything.
    Missing,
    /// Nothing: the request is held open and never answered.
    Silent,
}

/// A lying provider: claims `size` bytes, complete, and answers `Get` as
/// `get` says. With `knows`, a store holding the real content, it proves
/// the real size honestly (the last chunk) and lies only about the rest.
pub struct Liar {
    pub size: u64,
    pub get: GetLie,
    pub knows: Option<Arc<Store>>,
}

impl Liar {
    /// Starts the liar on 127.0.0.1; returns its id and address.
    pub async fn spawn(self) -> (PeerId, Multiaddr) {
        let (mut swarm, peer, addr) = raw::blob_peer().await;
        tokio::spawn(async move {
            // Requests never answered stay open here.
            let mut held = Vec::new();
            loop {
                let SwarmEvent::Behaviour(request_response::Event::Message {
                    message:
                        request_response::Message::Request {
                            request, channel, ..
                        },
                    ..
                }) = swarm.select_next_some().await
                else {
                    continue;
                };
                let response = match request {
                    // Batches (a folder's small files) are not its game.
                    protocol::Request::GetMany(_) => protocol::Response::Refused("no".into()),
                    protocol::Request::Have(_) | protocol::Request::Wants { .. } => {
                        protocol::Response::Have {
                            size: self.size,
                            complete: true,
                            present: ChunkRanges::empty(),
                            offer: false,
                        }
                    }
                    protocol::Request::Get { hash, ranges } => {
                        let proof = self.knows.as_ref().and_then(|store| {
                            let size = store.get(&hash).ok()??.size;
                            (ranges == plexus::transfer::size::proof_ranges(size))
                                .then(|| store.encode(&hash, &ranges).ok())?
                        });
                        match (proof, self.get) {
                            (Some(bytes), _) => protocol::Response::Data(bytes),
                            (None, GetLie::WrongBytes) => {
                                protocol::Response::Data(vec![0xAB; 1024 * 1024 + 4096])
                            }
                            (None, GetLie::Missing) => protocol::Response::Missing,
                            (None, GetLie::Silent) => {
                                held.push(channel);
                                continue;
                            }
                        }
                    }
                };
                let _ = swarm.behaviour_mut().send_response(channel, response);
            }
        });
        (peer, addr)
    }
}
