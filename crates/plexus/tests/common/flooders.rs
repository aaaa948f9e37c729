//! Attackers for the flood test (`tests/flood.rs`): bare libp2p swarms that
//! ask for blob ranges and never read the answers, flood search queries, or
//! publish messages each signed by a fresh key.

use std::{
    collections::VecDeque,
    io,
    sync::{
        atomic::{AtomicUsize, Ordering::Relaxed},
        Arc,
    },
    time::{Duration, Instant, SystemTime},
};

use futures::{AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::{
    identity::Keypair, request_response, swarm::SwarmEvent, Multiaddr, PeerId, StreamProtocol,
};
use plexus::{
    blobs::protocol::{Request, PROTOCOL},
    content::{ChunkNum, ChunkRanges, Hash},
    search::{SearchAck, SearchMessage, SEARCH_PROTOCOL},
};
use tokio::task::JoinHandle;

use super::forge::{proto, signed, Forger};

/// Connections each range flooder opens at first.
pub const DIALS_PER_IDENTITY: usize = 4;
/// Range requests sent on each connection a range flooder gets.
pub const GETS_PER_CONNECTION: usize = 8;
/// Each search flooder sends a query this often.
pub const SEARCH_EVERY: Duration = Duration::from_millis(10);

/// Writes blob requests like a getter and never reads an answer.
#[derive(Clone, Default)]
pub struct NoRead;

impl request_response::Codec for NoRead {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = ();

    async fn read_request<T: futures::AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<Request> {
        Err(io::Error::other("serves nothing"))
    }

    async fn read_response<T: futures::AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<()> {
        futures::future::pending().await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Request,
    ) -> io::Result<()> {
        let bytes = req.encode();
        io.write_all(&(bytes.len() as u32).to_le_bytes()).await?;
        io.write_all(&bytes).await?;
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: (),
    ) -> io::Result<()> {
        Ok(())
    }
}

/// Attacker-side figures.
#[derive(Default)]
pub struct Tally {
    /// Connections established.
    pub accepted: AtomicUsize,
    /// Dials that failed (refused by the target's limits).
    pub refused: AtomicUsize,
    /// Established connections that closed.
    pub closed: AtomicUsize,
    /// Range requests sent.
    pub requests: AtomicUsize,
    /// Search queries sent.
    pub searches: AtomicUsize,
    /// Search queries answered `Refused`.
    pub searches_refused: AtomicUsize,
}

/// One identity: dials `DIALS_PER_IDENTITY` times (a refused or closed
/// connection is dialled again, at most twice more in all, 1 s later) and
/// sends `GETS_PER_CONNECTION` requests per connection it gets, for the
/// 4 MiB ranges of `hash` in turn (`ranges` of them).
pub fn range_flooder(
    target: Multiaddr,
    hash: Hash,
    ranges: u64,
    tally: Arc<Tally>,
    end: Instant,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut swarm = super::raw::swarm(|_| {
            request_response::Behaviour::<NoRead>::new(
                [(PROTOCOL, request_response::ProtocolSupport::Outbound)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(300))
                    .with_max_concurrent_streams(1024),
            )
        });
        for _ in 0..DIALS_PER_IDENTITY {
            let _ = swarm.dial(target.clone());
        }
        let (mut redials, mut k) = (2, 0u64);
        let end = tokio::time::Instant::from_std(end);
        while let Ok(Some(event)) = tokio::time::timeout_at(end, swarm.next()).await {
            let redial = match event {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    tally.accepted.fetch_add(1, Relaxed);
                    for _ in 0..GETS_PER_CONNECTION {
                        let start = (k % ranges) * 4096;
                        k += 1;
                        let ranges = ChunkRanges::from(ChunkNum(start)..ChunkNum(start + 4096));
                        swarm
                            .behaviour_mut()
                            .send_request(&peer_id, Request::Get { hash, ranges });
                        tally.requests.fetch_add(1, Relaxed);
                    }
                    false
                }
                SwarmEvent::OutgoingConnectionError { .. } => {
                    tally.refused.fetch_add(1, Relaxed);
                    true
                }
                SwarmEvent::ConnectionClosed { .. } => {
                    tally.closed.fetch_add(1, Relaxed);
                    true
                }
                _ => false,
            };
            if redial && redials > 0 {
                redials -= 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = swarm.dial(target.clone());
            }
        }
    })
}

/// One identity sending search queries with fresh ids (ttl 7), one every
/// `SEARCH_EVERY` (20x a neighbour's allowed rate of 5/s), until `end`.
pub fn search_flooder(target: Multiaddr, tally: Arc<Tally>, end: Instant) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut swarm = super::raw::swarm(|_| {
            request_response::json::Behaviour::<SearchMessage, SearchAck>::new(
                [(SEARCH_PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default(),
            )
        });
        let _ = swarm.dial(target);
        let end = tokio::time::Instant::from_std(end);
        let mut tick = tokio::time::interval(SEARCH_EVERY);
        let (mut id, mut peer) = (rand_id(), None);
        while tokio::time::Instant::now() < end {
            tokio::select! {
                _ = tokio::time::sleep_until(end) => break,
                _ = tick.tick() => {
                    if let Some(peer) = peer {
                        id += 1;
                        let words = vec![format!("flood{}", id % 1000)];
                        let query = SearchMessage::Query { id, words, ttl: 7 };
                        swarm.behaviour_mut().send_request(&peer, query);
                        tally.searches.fetch_add(1, Relaxed);
                    }
                }
                event = swarm.select_next_some() => match event {
                    SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                        peer = Some(peer_id);
                        let hello = SearchMessage::Hello { super_peer: false };
                        swarm.behaviour_mut().send_request(&peer_id, hello);
                    }
                    SwarmEvent::Behaviour(request_response::Event::Message {
                        message: request_response::Message::Response {
                            response: SearchAck::Refused(_),
                            ..
                        },
                        ..
                    }) => {
                        tally.searches_refused.fetch_add(1, Relaxed);
                    }
                    _ => {}
                },
            }
        }
    })
}

fn rand_id() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        ^ u64::from_le_bytes(PeerId::random().to_bytes()[6..14].try_into().unwrap())
}

/// One peer writing `n` pub/sub messages to `topic`, each signed by a fresh
/// key (as in `tests/pubsub_flood.rs`), then staying connected until `end`.
pub fn publish_flooder(
    target: Multiaddr,
    target_id: PeerId,
    topic: &'static str,
    n: usize,
    end: Instant,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let now = SystemTime::now();
        let mut frame = Vec::new();
        for i in 0..n {
            let author = Keypair::generate_ed25519();
            let data = plexus::pubsub::encode(format!("flood {i}").as_bytes(), now);
            let message = signed(
                &author,
                author.public().to_peer_id(),
                topic,
                &data,
                1,
                false,
            );
            frame.extend(proto::frame(&[message]));
        }
        let mut swarm = super::raw::swarm(|_| Forger::new(target_id, VecDeque::from([frame])));
        let _ = swarm.dial(target);
        let end = tokio::time::Instant::from_std(end);
        while let Ok(Some(_)) = tokio::time::timeout_at(end, swarm.next()).await {}
    })
}
