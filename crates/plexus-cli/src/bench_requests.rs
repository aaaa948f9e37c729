//! `plexus bench`: the bare request-response limit. The blob protocol asks
//! for a blob in requests of at most 4 MiB, a few in flight, each answered
//! on a stream of its own. This measures that shape alone: two swarms with
//! the node's transports and libp2p's request-response, answering each
//! request with the same bytes from memory (no store, no hashing), read the
//! way the blob codec reads them. Next to the bare stream it shows what the
//! request pattern costs; next to the transfer, what the store,
//! verification and the protocol cost.

use std::{io, time::Instant};

use anyhow::{Context, Result};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::{
    request_response::{self, Message, ProtocolSupport},
    swarm::SwarmEvent,
    StreamProtocol, Swarm,
};

use crate::bench_link::{listen, swarm_with, Link, RUN_LIMIT};

const PROTOCOL: StreamProtocol = StreamProtocol::new("/plexus-bench/requests/1");
/// Bytes asked per request: the blob protocol's largest request.
const REQUEST: u64 = plexus::blobs::protocol::MAX_REQUEST_BYTES;
/// Requests kept in flight: the download planner's window for one peer
/// (`MAX_WINDOW` in `transfer/planner`).
const IN_FLIGHT: usize = 4;
/// Bytes read at a time, as the blob codec does.
const READ_CHUNK: usize = 16 * 1024;

#[derive(Clone, Default)]
struct Codec;

impl request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = u64;
    type Response = std::sync::Arc<Vec<u8>>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<u64>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut len = [0u8; 8];
        io.read_exact(&mut len).await?;
        Ok(u64::from_le_bytes(len))
    }

    async fn read_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Self::Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut len = [0u8; 4];
        io.read_exact(&mut len).await?;
        let len = u32::from_le_bytes(len) as usize;
        if len as u64 > REQUEST {
            return Err(io::Error::other("response too large"));
        }
        let mut body = vec![0u8; len];
        for chunk in body.chunks_mut(READ_CHUNK) {
            io.read_exact(chunk).await?;
        }
        Ok(std::sync::Arc::new(body))
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, len: u64) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&len.to_le_bytes()).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        body: Self::Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&(body.len() as u32).to_le_bytes()).await?;
        for chunk in body.chunks(READ_CHUNK) {
            io.write_all(chunk).await?;
        }
        io.close().await
    }
}

type Behaviour = request_response::Behaviour<Codec>;

fn swarm() -> Result<Swarm<Behaviour>> {
    swarm_with(|| {
        Behaviour::with_codec(
            Codec,
            [(PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(std::time::Duration::from_secs(30)),
        )
    })
}

/// Moves `size` bytes in requests of 4 MiB, 4 in flight, between two fresh
/// swarms on 127.0.0.1 over `link`; returns MB/s from the first request
/// (the connection is up) to the last byte read.
pub async fn bare_requests(size: u64, link: Link) -> Result<f64> {
    tokio::time::timeout(RUN_LIMIT, run(size, link))
        .await
        .context("bare libp2p requests: no end in 5 minutes")?
}

async fn run(size: u64, link: Link) -> Result<f64> {
    let mut server = swarm()?;
    let addr = listen(&mut server, link).await?;
    let server_id = *server.local_peer_id();
    let body = std::sync::Arc::new(vec![7u8; REQUEST as usize]);
    let server_loop = tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            }) = server.select_next_some().await
            {
                let mut answer = body.clone();
                if request < body.len() as u64 {
                    answer = std::sync::Arc::new(body[..request as usize].to_vec());
                }
                let _ = server.behaviour_mut().send_response(channel, answer);
            }
        }
    });

    let mut client = swarm()?;
    client.add_peer_address(server_id, addr.clone());
    client.dial(addr)?;
    let result = async {
        loop {
            match client.select_next_some().await {
                SwarmEvent::ConnectionEstablished { .. } => break,
                SwarmEvent::OutgoingConnectionError { error, .. } => {
                    anyhow::bail!("bare libp2p dial failed: {error}")
                }
                _ => {}
            }
        }
        let started = Instant::now();
        let (mut asked, mut got, mut in_flight) = (0u64, 0u64, 0usize);
        while got < size {
            while in_flight < IN_FLIGHT && asked < size {
                let n = REQUEST.min(size - asked);
                client.behaviour_mut().send_request(&server_id, n);
                asked += n;
                in_flight += 1;
            }
            match client.select_next_some().await {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message: Message::Response { response, .. },
                    ..
                }) => {
                    got += response.len() as u64;
                    in_flight -= 1;
                }
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                    error, ..
                }) => anyhow::bail!("bare request failed: {error}"),
                _ => {}
            }
        }
        Ok(size as f64 / started.elapsed().as_secs_f64() / 1e6)
    }
    .await;
    server_loop.abort();
    result
}
