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
/// once per stream: a clone of the first gets a flow id and [`Turns`] of
/// its own, clones of those keep them, so each connection is one flow the
/// caps serve in turn, and writes its data answers one after another.
#[derive(Debug, Default)]
pub struct Codec {
    bandwidth: Option<Arc<Bandwidth>>,
    /// 0 for the behaviour's own codec; a connection's flow id otherwise.
    flow: u64,
    /// `None` for the behaviour's own codec; its connection's otherwise.
    turns: Option<Turns>,
}

/// One connection's data answers, each written whole before the next
/// begins, in the order they were begun (the lock is first come, first
/// served).
///
/// Every answer is a Yamux stream of its own, and Yamux interleaves the
/// frames of streams written at once, so two answers to one peer would
/// share its link and both arrive late. A getter keeps a second request
/// queued at a peer (`transfer::planner::QUEUE_CHOICE`) so that the peer
/// has the next answer to send as soon as one ends; written in turn, it
/// follows the first without slowing it.
#[derive(Debug, Clone, Default)]
struct Turns(Arc<tokio::sync::Mutex<()>>);

/// Answers with bodies up to this size are written at once, not in turn:
/// a `Have` answer should not wait behind a piece.
const IN_TURN_ABOVE: usize = 16 * 1024;

impl Clone for Codec {
    fn clone(&self) -> Self {
        let (flow, turns) = match &self.turns {
            // The behaviour's own codec: this clone is a new connection's.
            None => (
                self.bandwidth.as_ref().map_or(0, |bw| bw.new_flow()),
                Turns::default(),
            ),
            Some(turns) => (self.flow, turns.clone()),
        };
        Self {
            bandwidth: self.bandwidth.clone(),
            flow,
            turns: Some(turns),
        }
    }
}

impl Codec {
    /// A codec whose response bodies go at most as fast as `bandwidth` allows.
    pub fn limited(bandwidth: Arc<Bandwidth>) -> Self {
        Self {
            bandwidth: Some(bandwidth),
            flow: 0,
            turns: None,
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
        let turns = self.turns.clone().unwrap_or_default();
        let _turn = match body.len() > IN_TURN_ABOVE {
            true => Some(turns.0.lock().await),
            false => None,
        };
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

#[cfg(test)]
mod tests {
    use std::{
        pin::Pin,
        sync::Mutex,
        task::{Context, Poll},
    };

    use futures::future::join;
    use libp2p::request_response::Codec as _;

    use bao_tree::ChunkRanges;

    use super::*;
    use crate::blobs::protocol::PROTOCOL_COMPACT;

    /// A stream that takes each write only after yielding once, so two
    /// answers written at once interleave unless something orders them;
    /// it logs which answer each write belongs to.
    struct Yielding {
        id: u8,
        log: Arc<Mutex<Vec<u8>>>,
        yielded: bool,
    }

    impl futures::AsyncWrite for Yielding {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            if !self.yielded {
                self.yielded = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.yielded = false;
            self.log.lock().unwrap().push(self.id);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Writes two data answers at once through `a` and `b`; returns how
    /// often the writes switched from one answer to the other.
    fn switches(mut a: Codec, mut b: Codec) -> usize {
        let log = Arc::new(Mutex::new(Vec::new()));
        let stream = |id| Yielding {
            id,
            log: log.clone(),
            yielded: false,
        };
        let (mut sa, mut sb) = (stream(1), stream(2));
        let body = || Response::Data(vec![7u8; 4 * CHUNK]);
        let (ra, rb) = futures::executor::block_on(join(
            a.write_response(&PROTOCOL_COMPACT, &mut sa, body()),
            b.write_response(&PROTOCOL_COMPACT, &mut sb, body()),
        ));
        ra.unwrap();
        rb.unwrap();
        let log = log.lock().unwrap();
        assert!(log.len() >= 8, "each answer took several writes");
        log.windows(2).filter(|w| w[0] != w[1]).count()
    }

    #[test]
    fn one_connections_data_answers_are_written_in_turn() {
        let behaviour = Codec::default();
        let connection = behaviour.clone();
        assert_eq!(switches(connection.clone(), connection.clone()), 1);
        // Two connections' answers go at once (the check above can fail).
        assert!(switches(behaviour.clone(), behaviour.clone()) > 2);
    }

    #[test]
    fn small_answers_do_not_wait_for_their_turn() {
        let connection = Codec::default().clone();
        let mut big = connection.clone();
        let mut small = connection.clone();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut sa = Yielding {
            id: 1,
            log: log.clone(),
            yielded: false,
        };
        let mut sb = Yielding {
            id: 2,
            log: log.clone(),
            yielded: false,
        };
        let have = Response::have(1 << 20, false, ChunkRanges::empty());
        let (ra, rb) = futures::executor::block_on(join(
            big.write_response(
                &PROTOCOL_COMPACT,
                &mut sa,
                Response::Data(vec![7u8; 4 * CHUNK]),
            ),
            small.write_response(&PROTOCOL_COMPACT, &mut sb, have),
        ));
        ra.unwrap();
        rb.unwrap();
        let log = log.lock().unwrap();
        let last_small = log.iter().rposition(|id| *id == 2).unwrap();
        let last_big = log.iter().rposition(|id| *id == 1).unwrap();
        assert!(last_small < last_big, "the Have answer went first: {log:?}");
    }
}
