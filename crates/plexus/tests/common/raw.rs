//! Bare libp2p swarms that play other peers: they speak one protocol with
//! hand-made messages and none of a node's rules.

use libp2p::{identity::Keypair, swarm::NetworkBehaviour, Swarm};

/// A swarm with a new identity on TCP+Noise+Yamux running `behaviour`.
pub fn swarm<B: NetworkBehaviour>(behaviour: impl FnOnce(&Keypair) -> B) -> Swarm<B> {
    swarm_with_key(Keypair::generate_ed25519(), behaviour)
}

/// A swarm speaking only the blob protocol (answered by hand), listening
/// on 127.0.0.1: the swarm, its peer id and its address.
pub async fn blob_peer() -> (
    Swarm<libp2p::request_response::Behaviour<plexus::blobs::protocol::Codec>>,
    libp2p::PeerId,
    libp2p::Multiaddr,
) {
    use futures::StreamExt;
    use libp2p::request_response;
    use plexus::blobs::protocol;
    let mut swarm = swarm(|_| {
        request_response::Behaviour::<protocol::Codec>::new(
            [(protocol::PROTOCOL, request_response::ProtocolSupport::Full)],
            request_response::Config::default(),
        )
    });
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    let addr = loop {
        if let libp2p::swarm::SwarmEvent::NewListenAddr { address, .. } =
            swarm.select_next_some().await
        {
            break address;
        }
    };
    let peer = *swarm.local_peer_id();
    (swarm, peer, addr)
}

/// A swarm with the identity `key` on TCP+Noise+Yamux running `behaviour`.
pub fn swarm_with_key<B: NetworkBehaviour>(
    key: Keypair,
    behaviour: impl FnOnce(&Keypair) -> B,
) -> Swarm<B> {
    libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            Default::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(behaviour)
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(std::time::Duration::from_secs(60)))
        .build()
}

/// A request-response codec for hand-made frames: a request is sent as the
/// given bytes, already framed; the answer is read raw to its end (at most
/// 4 MiB; empty when the other side closed the stream without one).
#[derive(Debug, Clone, Default)]
pub struct FrameCodec;

impl libp2p::request_response::Codec for FrameCodec {
    type Protocol = libp2p::StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &Self::Protocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        read_all(io).await
    }

    async fn read_response<T>(&mut self, _: &Self::Protocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        read_all(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        futures::AsyncWriteExt::write_all(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        futures::AsyncWriteExt::write_all(io, &res).await
    }
}

async fn read_all<T: futures::AsyncRead + Unpin + Send>(io: &mut T) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    futures::AsyncReadExt::read_to_end(
        &mut futures::AsyncReadExt::take(io, 4 * 1024 * 1024),
        &mut out,
    )
    .await?;
    Ok(out)
}

/// `n` as a protobuf (unsigned) varint.
pub fn varint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// A length-delimited protobuf field.
fn field_bytes(number: u64, bytes: &[u8]) -> Vec<u8> {
    let mut out = varint(number << 3 | 2);
    out.extend(varint(bytes.len() as u64));
    out.extend_from_slice(bytes);
    out
}

/// A rendezvous REGISTER frame (length-prefixed protobuf, as libp2p's
/// rendezvous codec reads it) for a peer record of `key` with `addrs`,
/// under `namespace` for `ttl` seconds. Made by hand, so the record can
/// carry any number of addresses.
pub fn rendezvous_register(
    key: &Keypair,
    addrs: Vec<libp2p::Multiaddr>,
    namespace: &str,
    ttl: u64,
) -> Vec<u8> {
    let record = libp2p::core::PeerRecord::new(key, addrs).unwrap();
    let envelope = record.into_signed_envelope().into_protobuf_encoding();
    let mut register = field_bytes(1, namespace.as_bytes());
    register.extend(field_bytes(2, &envelope));
    register.extend(varint(3 << 3));
    register.extend(varint(ttl));
    // type = REGISTER (0), register = ...
    let mut message = vec![1 << 3, 0];
    message.extend(field_bytes(2, &register));
    let mut frame = varint(message.len() as u64);
    frame.extend(message);
    frame
}

/// Sends `request` from a bare blob swarm to `peer` at `addrs`; its
/// answer, or the failure, within `limit` (a panic past it).
pub async fn ask_blob(
    swarm: &mut Swarm<libp2p::request_response::Behaviour<plexus::blobs::protocol::Codec>>,
    peer: libp2p::PeerId,
    addrs: Vec<libp2p::Multiaddr>,
    request: plexus::blobs::protocol::Request,
    limit: std::time::Duration,
) -> Result<plexus::blobs::protocol::Response, String> {
    use futures::StreamExt;
    use libp2p::{request_response::Event, request_response::Message, swarm::SwarmEvent};
    swarm
        .behaviour_mut()
        .send_request_with_addresses(&peer, request, addrs);
    let answer = async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(Event::Message {
                    message: Message::Response { response, .. },
                    ..
                }) => return Ok(response),
                SwarmEvent::Behaviour(Event::OutboundFailure { error, .. }) => {
                    return Err(error.to_string())
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(limit, answer)
        .await
        .unwrap_or_else(|_| panic!("no answer within {limit:?}"))
}

/// Answers every blob request `swarm` gets with `answer`, until aborted.
pub fn serve_blobs(
    mut swarm: Swarm<libp2p::request_response::Behaviour<plexus::blobs::protocol::Codec>>,
    mut answer: impl FnMut(plexus::blobs::protocol::Request) -> plexus::blobs::protocol::Response
        + Send
        + 'static,
) -> tokio::task::JoinHandle<()> {
    use futures::StreamExt;
    use libp2p::{request_response::Event, request_response::Message, swarm::SwarmEvent};
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(Event::Message {
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            }) = swarm.select_next_some().await
            {
                let response = answer(request);
                let _ = swarm.behaviour_mut().send_response(channel, response);
            }
        }
    })
}
