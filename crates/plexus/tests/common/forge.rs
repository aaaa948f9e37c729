//! A bare libp2p peer that speaks gossipsub by hand: it writes RPC frames
//! of hand-made (and hand-signed) messages to a node, and drains what the
//! node sends back, with none of gossipsub's own rules.

use std::{
    collections::VecDeque,
    convert::Infallible,
    task::{Context, Poll},
    time::Duration,
};

use futures::{future::BoxFuture, AsyncReadExt, AsyncWriteExt};
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

/// The gossipsub protocol the forger speaks.
pub const MESHSUB: StreamProtocol = StreamProtocol::new("/meshsub/1.1.0");

/// Protobuf encoding of gossipsub's `rpc.proto`, by hand.
pub mod proto {
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

/// A gossipsub message (encoded) on Plexus topic `topic`, signed by
/// `signer`, claiming to come from `from`; with `key`, the signer's public
/// key is attached.
pub fn signed(
    signer: &Keypair,
    from: PeerId,
    topic: &str,
    data: &[u8],
    seqno: u64,
    key: bool,
) -> Vec<u8> {
    let topic = pubsub::wire_topic(topic).to_string();
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
pub struct SendFrame(pub Vec<u8>);

/// Accepts the node's own gossipsub stream and reads it to the end, so the
/// node sees a working gossipsub peer.
#[derive(Debug, Clone, Default)]
pub struct Drain;

/// What the connection handler reports: our frame written, or the node's
/// stream drained.
#[derive(Debug)]
pub enum Done {
    Sent,
    Drained,
}

impl From<()> for Done {
    fn from(_: ()) -> Self {
        Done::Sent
    }
}

#[derive(Debug)]
pub struct Drained;

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

/// Sends queued frames to `target` once connected, each on a stream of
/// its own (a frame may hold several length-prefixed RPCs back to back).
pub struct Forger {
    target: PeerId,
    connected: bool,
    queue: VecDeque<Vec<u8>>,
    /// Frames written so far.
    pub sent: usize,
    /// A frame was written since the last poll: wake the swarm's caller.
    report: bool,
}

impl Forger {
    /// A forger that will send `frames` to `target`.
    pub fn new(target: PeerId, frames: VecDeque<Vec<u8>>) -> Self {
        Self {
            target,
            connected: false,
            queue: frames,
            sent: 0,
            report: false,
        }
    }
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
