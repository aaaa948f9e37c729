//! The length-prefixed binary codec of `/plexus/blobs/1.0.0` and `1.1.0` for
//! request-response, with response bodies paced by the node's bandwidth
//! caps. The messages themselves are in [`super::protocol`].

use std::{io, sync::Arc};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

use super::protocol::{bad, Form, Request, Response, MAX_FRAME, MAX_REQUEST_FRAME};
use crate::bandwidth::{Bandwidth, Direction, CHUNK};

/// Length-prefixed binary codec for [`Request`] and [`Response`].
///
/// A codec made with [`Codec::limited`] writes and reads response bodies
/// in [`CHUNK`]s, each after a grant of the node's [`Bandwidth`] caps.
/// libp2p clones the behaviour's codec once per connection and that one
/// once per stream: a clone of the first gets a flow id of its own, clones
/// of those keep it, so each connection is one flow the caps serve in turn.
#[derive(Debug, Default)]
pub struct Codec {
    bandwidth: Option<Arc<Bandwidth>>,
    /// 0 for the behaviour's own codec; a connection's flow id otherwise.
    flow: u64,
}

impl Clone for Codec {
    fn clone(&self) -> Self {
        let flow = match (&self.bandwidth, self.flow) {
            (Some(bw), 0) => bw.new_flow(),
            (_, flow) => flow,
        };
        Self {
            bandwidth: self.bandwidth.clone(),
            flow,
        }
    }
}

impl Codec {
    /// A codec whose response bodies go at most as fast as `bandwidth` allows.
    pub fn limited(bandwidth: Arc<Bandwidth>) -> Self {
        Self {
            bandwidth: Some(bandwidth),
            flow: 0,
        }
    }

    async fn grant(&self, dir: Direction, bytes: usize) {
        if let Some(bw) = &self.bandwidth {
            bw.acquire(dir, self.flow, bytes as u64).await;
        }
    }
}

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(bad(format!("frame of {len} bytes, at most {max}")));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    io.write_all(&(bytes.len() as u32).to_le_bytes()).await?;
    io.write_all(bytes).await?;
    io.close().await
}

impl libp2p::request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, p: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        Request::decode_as(&read_frame(io, MAX_REQUEST_FRAME).await?, Form::of(p))
    }

    async fn read_response<T>(&mut self, p: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        // Length, kind byte, body: the body is read straight into the
        // buffer the response keeps.
        let mut head = [0u8; 5];
        io.read_exact(&mut head).await?;
        let len = u32::from_le_bytes(head[..4].try_into().unwrap()) as usize;
        if len == 0 || len > MAX_FRAME {
            return Err(bad(format!(
                "response frame of {len} bytes, 1 to {MAX_FRAME}"
            )));
        }
        let mut body = vec![0u8; len - 1];
        for chunk in body.chunks_mut(CHUNK) {
            self.grant(Direction::Down, chunk.len()).await;
            io.read_exact(chunk).await?;
        }
        Response::from_parts(head[4], body, Form::of(p))
    }

    async fn write_request<T>(
        &mut self,
        p: &StreamProtocol,
        io: &mut T,
        req: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req.encode_as(Form::of(p))).await
    }

    async fn write_response<T>(
        &mut self,
        p: &StreamProtocol,
        io: &mut T,
        res: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let (kind, body) = res.parts(Form::of(p));
        let mut head = ((body.len() + 1) as u32).to_le_bytes().to_vec();
        head.push(kind);
        io.write_all(&head).await?;
        for chunk in body.chunks(CHUNK) {
            self.grant(Direction::Up, chunk.len()).await;
            io.write_all(chunk).await?;
        }
        io.close().await
    }
}
