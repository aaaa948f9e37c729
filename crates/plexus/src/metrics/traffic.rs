//! Bytes per application protocol and peer kind: every request-response
//! codec of the node (blobs, search, directory, storage, compute) is
//! wrapped in [`Metered`], which counts what its streams read and write,
//! labelled by the protocol the stream negotiated and by the path of its
//! connection (`direct`, or `relayed` through a `/p2p-circuit`).
//!
//! libp2p hands a codec its stream but not the connection, so the path is
//! learned another way: request-response clones its codec for each
//! connection inside `handle_established_*_connection`, and
//! [`PathNote`](super::PathNote), a behaviour placed before the protocols,
//! notes the connection's address just before. A clone of the behaviour's
//! own codec takes that note; a clone of a connection's codec keeps its
//! path. Should libp2p ever clone elsewhere, the label reads `unknown`
//! (and the transfer metrics test fails), never a wrong path.
//!
//! Kademlia, gossipsub, identify and ping are not request-response
//! protocols; their bytes are in libp2p's per-transport
//! `libp2p_bandwidth_bytes_total` (relayed stacks say `p2p-circuit`), and
//! gossipsub's messages in `plexus_pubsub_*` and `libp2p_gossipsub_*`.

use std::{
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicU8, Ordering},
        Arc,
    },
    task::{Context, Poll},
};

use futures::{AsyncRead, AsyncWrite};
use libp2p::{multiaddr::Protocol, request_response::Codec, Multiaddr, StreamProtocol};
use prometheus_client::metrics::{counter::Counter, family::Family};

/// Labels: the protocol, the direction (`sent` or `received`) and the
/// connection's path.
type Labels = Vec<(&'static str, String)>;

/// How a connection reaches the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Path {
    /// Not noted (see the module docs).
    Unknown = 0,
    /// Straight to the peer (TCP, QUIC).
    Direct = 1,
    /// Through a relay's circuit.
    Relayed = 2,
}

impl Path {
    /// The path of a connection to or from `addr`.
    pub(crate) fn of(addr: &Multiaddr) -> Self {
        if addr.iter().any(|p| p == Protocol::P2pCircuit) {
            Self::Relayed
        } else {
            Self::Direct
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Direct => "direct",
            Self::Relayed => "relayed",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Direct,
            2 => Self::Relayed,
            _ => Self::Unknown,
        }
    }
}

/// Bytes read and written per protocol and path (clones share the counts
/// and the note of the connection being set up).
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    family: Family<Labels, Counter>,
    /// The path of the connection being set up now ([`Path`] as a byte).
    connecting: Arc<AtomicU8>,
}

impl Traffic {
    pub(super) fn family(&self) -> Family<Labels, Counter> {
        self.family.clone()
    }

    /// Notes the path of the connection about to get its handlers.
    pub(crate) fn note(&self, path: Path) {
        self.connecting.store(path as u8, Ordering::Relaxed);
    }

    fn noted(&self) -> Path {
        Path::from_u8(self.connecting.load(Ordering::Relaxed))
    }

    fn add(&self, protocol: &StreamProtocol, direction: &'static str, path: Path, bytes: u64) {
        if bytes == 0 {
            return;
        }
        self.family
            .get_or_create(&vec![
                ("protocol", protocol.as_ref().to_string()),
                ("direction", direction.to_string()),
                ("path", path.label().to_string()),
            ])
            .inc_by(bytes);
    }
}

/// A request-response codec whose reads and writes are counted in a
/// [`Traffic`]; otherwise it is `C`.
#[derive(Debug)]
pub struct Metered<C> {
    inner: C,
    traffic: Traffic,
    /// The connection's path; none in the behaviour's own codec, whose
    /// clones (one per connection) take the path noted at that moment.
    path: Option<Path>,
}

impl<C> Metered<C> {
    /// `inner`, counted in `traffic`.
    pub fn new(inner: C, traffic: Traffic) -> Self {
        Self {
            inner,
            traffic,
            path: None,
        }
    }

    fn path(&self) -> Path {
        self.path.unwrap_or(Path::Unknown)
    }
}

impl<C: Clone> Clone for Metered<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            traffic: self.traffic.clone(),
            path: Some(self.path.unwrap_or_else(|| self.traffic.noted())),
        }
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
        self.traffic.add(p, "received", self.path(), io.bytes);
        result
    }

    async fn read_response<T>(&mut self, p: &StreamProtocol, io: &mut T) -> io::Result<C::Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut io = Counted::new(io);
        let result = self.inner.read_response(p, &mut io).await;
        self.traffic.add(p, "received", self.path(), io.bytes);
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
        self.traffic.add(p, "sent", self.path(), io.bytes);
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
        self.traffic.add(p, "sent", self.path(), io.bytes);
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
    fn bytes_are_counted_per_protocol_direction_and_path() {
        let traffic = Traffic::default();
        let template = Metered::new(Raw, traffic.clone());
        traffic.note(Path::of(&"/ip4/127.0.0.1/tcp/1".parse().unwrap()));
        let codec = template.clone();
        // A stream's clone keeps its connection's path.
        traffic.note(Path::Relayed);
        let mut codec = codec.clone();
        let a = StreamProtocol::new("/a/1");
        let b = StreamProtocol::new("/b/1");
        let mut out = Cursor::new(Vec::new());
        block_on(codec.write_request(&a, &mut out, vec![7; 1000])).unwrap();
        block_on(codec.write_response(&a, &mut out, vec![7; 24])).unwrap();
        let mut input = Cursor::new(vec![1u8; 300]);
        let got = block_on(codec.read_response(&b, &mut input)).unwrap();
        assert_eq!(got.len(), 300);
        let count = |p: &str, d: &str, path: &str| {
            traffic
                .family
                .get_or_create(&vec![
                    ("protocol", p.to_string()),
                    ("direction", d.to_string()),
                    ("path", path.to_string()),
                ])
                .get()
        };
        assert_eq!(count("/a/1", "sent", "direct"), 1024);
        assert_eq!(count("/a/1", "received", "direct"), 0);
        assert_eq!(count("/b/1", "received", "direct"), 300);
        assert_eq!(count("/a/1", "sent", "relayed"), 0);

        // A connection through a relay; the next one direct again.
        let circuit: Multiaddr =
            "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit"
                .parse()
                .unwrap();
        traffic.note(Path::of(&circuit));
        let mut relayed = template.clone();
        traffic.note(Path::Direct);
        block_on(relayed.write_request(&a, &mut out, vec![7; 10])).unwrap();
        assert_eq!(count("/a/1", "sent", "relayed"), 10);
        // A codec made outside a connection's set-up is never noted.
        let mut own = Metered::new(Raw, traffic.clone());
        block_on(own.write_request(&a, &mut out, vec![7; 5])).unwrap();
        assert_eq!(count("/a/1", "sent", "unknown"), 5);
    }
}
