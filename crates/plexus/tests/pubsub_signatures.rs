//! Hand-made gossipsub messages from a bare libp2p peer: a properly signed
//! one gets through, one with a bad signature or a claimed sender that did
//! not sign it reaches nobody, and the peer that sent them is scored down.

mod common;

use std::{
    collections::VecDeque,
    convert::Infallible,
    task::{Context, Poll},
    time::{Duration, SystemTime},
};

use common::{assert_mesh, tcp_addr};
use futures::{future::BoxFuture, AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{
    core::{
        transport::PortUse,
        upgrade::{InboundUpgrade, OutboundUpgrade, UpgradeInfo},
        Endpoint,
    },
    identity::Keypair,
    swarm::{
        handler::OneShotHandler, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour,
        NotifyHandler, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
    },
    Multiaddr, PeerId, Stream, StreamProtocol,
};
use plexus::pubsub;

const MESHSUB: StreamProtocol = StreamProtocol::new("/meshsub/1.1.0");

/// Protobuf encoding of gossipsub's `rpc.proto`, by hand.
mod proto {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
        varint(out, (number << 3) | 2);
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    /// `Message { from, data, seqno, topic, signature, key }`.
    pub fn message(
        from: &[u8],
        data: &[u8],
        seqno: u64,
        topic: &str,
        signature: Option<&[u8]>,
        key: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        field(&mut out, 1, from);
        field(&mut out, 2, data);
        field(&mut out, 3, &seqno.to_be_bytes());
        field(&mut out, 4, topic.as_bytes());
        if let Some(s) = signature {
            field(&mut out, 5, s);
        }
        if let Some(k) = key {
            field(&mut out, 6, k);
        }
        out
    }

    /// One length-prefixed `RPC { publish: messages }` frame.
    pub fn frame(messages: &[Vec<u8>]) -> Vec<u8> {
        let mut rpc = Vec::new();
        for m in messages {
            field(&mut rpc, 2, m);
        }
        let mut out = Vec::new();
        varint(&mut out, rpc.len() as u64);
        out.extend_from_slice(&rpc);
        out
    }
}

/// A gossipsub message (encoded) signed by `signer` claiming to come from `from`.
fn signed(signer: &Keypair, from: PeerId, data: &[u8], seqno: u64, key: bool) -> Vec<u8> {
    let topic = pubsub::wire_topic("room").to_string();
    let unsigned = proto::message(&from.to_bytes(), data, seqno, &topic, None, None);
    let mut to_sign = b"libp2p-pubsub:".to_vec();
    to_sign.extend_from_slice(&unsigned);
    let signature = signer.sign(&to_sign).unwrap();
    let key = key.then(|| signer.public().encode_protobuf());
    proto::message(
        &from.to_bytes(),
        data,
        seqno,
        &topic,
        Some(&signature),
        key.as_deref(),
    )
}

/// Writes one frame on a fresh `/meshsub/1.1.0` stream.
#[derive(Debug, Clone)]
struct SendFrame(Vec<u8>);

/// Accepts the node's own gossipsub stream and reads it to the end, so the
/// node sees a working gossipsub peer.
#[derive(Debug, Clone, Default)]
struct Drain;

/// What the connection handler reports: our frame written, or the node's
/// stream drained.
#[derive(Debug)]
enum Done {
    Sent,
    Drained,
}

impl From<()> for Done {
    fn from(_: ()) -> Self {
        Done::Sent
    }
}

#[derive(Debug)]
struct Drained;

impl From<Drained> for Done {
    fn from(_: Drained) -> Self {
        Done::Drained
    }
}

impl UpgradeInfo for SendFrame {
    type Info = StreamProtocol;
    type InfoIter = std::iter::Once<StreamProtocol>;
    fn protocol_info(&self) -> Self::InfoIter {
        std::iter::once(MESHSUB)
    }
}

impl OutboundUpgrade<Stream> for SendFrame {
    type Output = ();
    type Error = std::io::Error;
    type Future = BoxFuture<'static, Result<(), std::io::Error>>;
    fn upgrade_outbound(self, mut s: Stream, _: StreamProtocol) -> Self::Future {
        Box::pin(async move {
            s.write_all(&self.0).await?;
            s.flush().await?;
            // Keep the stream open a moment so the frame is read, not reset.
            tokio::time::sleep(Duration::from_millis(300)).await;
            s.close().await
        })
    }
}

impl UpgradeInfo for Drain {
    type Info = StreamProtocol;
    type InfoIter = std::iter::Once<StreamProtocol>;
    fn protocol_info(&self) -> Self::InfoIter {
        std::iter::once(MESHSUB)
    }
}

impl InboundUpgrade<Stream> for Drain {
    type Output = Drained;
    type Error = Infallible;
    type Future = futures::future::Ready<Result<Drained, Infallible>>;
    fn upgrade_inbound(self, mut s: Stream, _: StreamProtocol) -> Self::Future {
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
        });
        futures::future::ready(Ok(Drained))
    }
}

/// Sends queued frames to `target` once connected.
struct Forger {
    target: PeerId,
    connected: bool,
    queue: VecDeque<Vec<u8>>,
    sent: usize,
    /// A frame was written since the last poll: wake the swarm's caller.
    report: bool,
}

impl NetworkBehaviour for Forger {
    type ConnectionHandler = OneShotHandler<Drain, SendFrame, Done>;
    type ToSwarm = ();

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(OneShotHandler::default())
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(OneShotHandler::default())
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::ConnectionEstablished(c) = event {
            self.connected |= c.peer_id == self.target;
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        e: THandlerOutEvent<Self>,
    ) {
        if let Ok(Done::Sent) = e {
            self.sent += 1;
            self.report = true;
        }
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<(), THandlerInEvent<Self>>> {
        if std::mem::take(&mut self.report) {
            return Poll::Ready(ToSwarm::GenerateEvent(()));
        }
        if self.connected {
            if let Some(frame) = self.queue.pop_front() {
                return Poll::Ready(ToSwarm::NotifyHandler {
                    peer_id: self.target,
                    handler: NotifyHandler::Any,
                    event: SendFrame(frame),
                });
            }
        }
        Poll::Pending
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_and_wrong_senders_reach_nobody() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = common::start(da.path(), |_| {}).await;
    let b = common::start(db.path(), |_| {}).await;
    let mut sub_a = a.subscribe("room").await.unwrap();
    let mut sub_b = b.subscribe("room").await.unwrap();
    b.connect(a.listen_addrs()[0].clone()).await.unwrap();
    // Wait (bounded) for a and b to be in each other's mesh, so a relays at once.
    assert_mesh(&[a.clone(), b.clone()], &[(0, 1)], "room").await;

    let key = Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let victim = b.peer_id();
    let now = SystemTime::now();
    let mut tampered = signed(&key, me, &pubsub::encode(b"original", now), 1, false);
    // Change one payload byte after signing: the signature no longer fits.
    let at = tampered
        .windows(8)
        .position(|w| w == b"original")
        .expect("payload in frame");
    tampered[at] = b'O';
    // All four in one RPC frame, in this order, on one stream.
    let frames = VecDeque::from([proto::frame(&[
        tampered,
        // Signed by us, claiming to be b (with our key attached, then without).
        signed(&key, victim, &pubsub::encode(b"I am b", now), 2, true),
        signed(&key, victim, &pubsub::encode(b"I am b too", now), 3, false),
        // Control: a correct message through the same hand-made path.
        signed(&key, me, &pubsub::encode(b"genuine", now), 4, false),
    ])]);
    let count = frames.len();
    let mut swarm = common::raw::swarm_with_key(key, |_| Forger {
        target: a.peer_id(),
        connected: false,
        queue: frames,
        sent: 0,
        report: false,
    });
    swarm.dial(tcp_addr(&a)).unwrap();
    let driver = tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while swarm.behaviour().sent < count {
            if tokio::time::timeout_at(deadline, swarm.select_next_some())
                .await
                .is_err()
            {
                break;
            }
        }
        // Keep the connection up while the node reads and scores.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            loop {
                swarm.select_next_some().await;
            }
        })
        .await;
        swarm.behaviour().sent
    });

    for (name, sub) in [("a", &mut sub_a), ("b", &mut sub_b)] {
        let m = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .unwrap_or_else(|_| panic!("{name}: not even the genuine message arrived"))
            .unwrap();
        assert_eq!(m.data, b"genuine", "{name} got a forged message first");
        assert_eq!(m.from, me);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sub_a.try_next(), None);
    assert_eq!(sub_b.try_next(), None);
    let score = a
        .peer_score(me)
        .await
        .unwrap()
        .expect("a scores the forger");
    println!("a's score of the forger: {score}");
    assert!(
        score < 0.0,
        "three invalid messages left the score at {score}"
    );
    assert_eq!(driver.await.unwrap(), count, "every frame was written");
    a.shutdown().await;
    b.shutdown().await;
}
