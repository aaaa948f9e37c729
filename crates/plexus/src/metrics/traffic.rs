//! Bytes per application protocol: every request-response codec of the
//! node (blobs, search, directory, storage, compute) is wrapped in
//! [`Metered`], which counts what its streams read and write, labelled by
//! the protocol the stream negotiated.
//!
//! The peer kind (direct over TCP or QUIC, or relayed through a
//! `/p2p-circuit`) is not a label here: libp2p hands a codec its stream but
//! not the connection it belongs to. libp2p's own
//! `libp2p_bandwidth_bytes_total{protocols=...}` counts every connection's
//! bytes by transport stack, relayed ones included, on the same page.
//! Kademlia, gossipsub, identify and ping are not request-response
//! protocols; their bytes are in that transport figure, and gossipsub's
//! messages in `plexus_pubsub_*` and `libp2p_gossipsub_*`.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use futures::{AsyncRead, AsyncWrite};
use libp2p::{request_response::Codec, StreamProtocol};
use prometheus_client::metrics::{counter::Counter, family::Family};

/// Labels: the protocol and the direction (`sent` or `received`).
type Labels = Vec<(&'static str, String)>;

/// Bytes read and written per protocol (clones share the counts).
#[derive(Debug, Clone, Default)]
pub struct Traffic(Family<Labels, Counter>);

impl Traffic {
    pub(super) fn family(&self) -> Family<Labels, Counter> {
        self.0.clone()
    }

    fn add(&self, protocol: &StreamProtocol, direction: &'static str, bytes: u64) {
        if bytes == 0 {
            return;
        }
        self.0
            .get_or_create(&vec![
                ("protocol", protocol.as_ref().to_string()),
                ("direction", direction.to_string()),
            ])
            .inc_by(bytes);
    }
}

/// A request-response codec whose reads and writes are counted in a
/// [`Traffic`]; otherwise it is `C`.
#[derive(Debug, Clone)]
pub struct Metered<C> {
    inner: C,
    traffic: Traffic,
}

impl<C> Metered<C> {
    /// `inner`, counted in `traffic`.
    pub fn new(inner: C, traffic: Traffic) -> Self {
        Self { inner, traffic }
    }
}

impl<C> Codec for Metered<C>
where
    C: Codec<Protocol = StreamProtocol> + Send,
{
    type Protocol = StreamProtocol;
    type Request = C::Request;
    type Response = C::Response;

    async fn read_request<T>(&mut self, p: &StreamProtocol, io: &mut T) -> io::Result<C::Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut io = Counted::new(io);
        let result = self.inner.read_request(p, &mut io).await;
        self.traffic.add(p, "received", io.bytes);
        result
    }

    async fn read_response<T>(&mut self, p: &StreamProtocol, io: &mut T) -> io::Result<C::Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut io = Counted::new(io);
        let result = self.inner.read_response(p, &mut io).await;
        self.traffic.add(p, "received", io.bytes);
        result
    }

    async fn write_request<T>(
        &mut self,
        p: &StreamProtocol,
        io: &mut T,
        req: C::Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let mut io = Counted::new(io);
        let result = self.inner.write_request(p, &mut io, req).await;
        self.traffic.add(p, "sent", io.bytes);
        result
    }

    async fn write_response<T>(
        &mut self,
        p: &StreamProtocol,
        io: &mut T,
        res: C::Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let mut io = Counted::new(io);
        let result = self.inner.write_response(p, &mut io, res).await;
        self.traffic.add(p, "sent", io.bytes);
        result
    }
}

/// A stream that counts the bytes that pass (added to the counter once,
/// when the message is done, not per read).
struct Counted<'a, T> {
    io: &'a mut T,
    bytes: u64,
}

impl<'a, T> Counted<'a, T> {
    fn new(io: &'a mut T) -> Self {
        Self { io, bytes: 0 }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<'_, T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut *self.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            self.bytes += n as u64;
        }
        poll
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<'_, T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut *self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            self.bytes += n as u64;
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use futures::{executor::block_on, io::Cursor, AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A codec that writes its request as is and reads to the end.
    #[derive(Clone)]
    struct Raw;

    impl Codec for Raw {
        type Protocol = StreamProtocol;
        type Request = Vec<u8>;
        type Response = Vec<u8>;

        async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
        where
            T: AsyncRead + Unpin + Send,
        {
            let mut out = Vec::new();
            io.read_to_end(&mut out).await?;
            Ok(out)
        }

        async fn read_response<T>(&mut self, p: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
        where
            T: AsyncRead + Unpin + Send,
        {
            self.read_request(p, io).await
        }

        async fn write_request<T>(
            &mut self,
            _: &StreamProtocol,
            io: &mut T,
            req: Vec<u8>,
        ) -> io::Result<()>
        where
            T: AsyncWrite + Unpin + Send,
        {
            io.write_all(&req).await
        }

        async fn write_response<T>(
            &mut self,
            p: &StreamProtocol,
            io: &mut T,
            res: Vec<u8>,
        ) -> io::Result<()>
        where
            T: AsyncWrite + Unpin + Send,
        {
            self.write_request(p, io, res).await
        }
    }

    #[test]
    fn bytes_are_counted_per_protocol_and_direction() {
        let traffic = Traffic::default();
        let mut codec = Metered::new(Raw, traffic.clone());
        let a = StreamProtocol::new("/a/1");
        let b = StreamProtocol::new("/b/1");
        let mut out = Cursor::new(Vec::new());
        block_on(codec.write_request(&a, &mut out, vec![7; 1000])).unwrap();
        block_on(codec.write_response(&a, &mut out, vec![7; 24])).unwrap();
        let mut input = Cursor::new(vec![1u8; 300]);
        let got = block_on(codec.read_response(&b, &mut input)).unwrap();
        assert_eq!(got.len(), 300);
        let count = |p: &str, d: &str| {
            traffic
                .0
                .get_or_create(&vec![
                    ("protocol", p.to_string()),
                    ("direction", d.to_string()),
                ])
                .get()
        };
        assert_eq!(count("/a/1", "sent"), 1024);
        assert_eq!(count("/a/1", "received"), 0);
        assert_eq!(count("/b/1", "received"), 300);
    }
}
