use std::time::Duration;

use futures::AsyncReadExt;
use tokio::io::AsyncWriteExt;

use super::*;

thread_local! {
    /// Connections on this thread whose first bytes were the preamble (a
    /// `#[tokio::test]` runs its tasks on its own thread).
    pub(super) static RECOGNISED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A Noise frame on the wire: its length, two bytes big-endian, then it.
fn frame(body_len: usize) -> Vec<u8> {
    let mut f = (body_len as u16).to_be_bytes().to_vec();
    f.extend((0..body_len).map(|i| (i % 251) as u8));
    f
}

#[test]
fn the_preamble_then_each_frame_is_waited_for_whole() {
    let mut f = Frames::default();
    assert_eq!(f.wanted(), 1);
    f.read(&PREAMBLE[..5]);
    assert_eq!(f.wanted(), 1, "still in the preamble");
    f.read(&PREAMBLE[5..]);
    assert_eq!(f.wanted(), 2, "a frame's length comes first");
    let wire = [frame(1000), frame(30)].concat();
    f.read(&wire[..1]);
    assert_eq!(f.wanted(), 1);
    f.read(&wire[1..2]);
    assert_eq!(f.wanted(), 1000);
    f.read(&wire[2..402]);
    assert_eq!(f.wanted(), 600);
    // The rest of the frame and the next one's length in one read.
    f.read(&wire[402..1004]);
    assert_eq!(f.wanted(), 30);
    f.read(&wire[1004..]);
    assert_eq!(f.wanted(), 2, "between frames");
}

#[test]
fn frames_split_anywhere_are_followed_byte_by_byte() {
    let wire = [PREAMBLE.to_vec(), frame(65_535), frame(0), frame(17)].concat();
    let mut f = Frames::default();
    for (i, b) in wire.iter().enumerate() {
        f.read(std::slice::from_ref(b));
        assert_ne!(f, Frames::Off, "byte {i}");
        assert!(f.wanted() <= 65_535, "byte {i}");
    }
    assert_eq!(f.wanted(), 2);
}

#[test]
fn anything_but_noise_after_multistream_turns_it_off() {
    for wire in [
        b"\x13/multistream/1.0.0\n\x07/yamux\n".to_vec(),
        b"\x13/multistream/1.0.0\n\x03na\n".to_vec(),
        // pnet: a 24-byte nonce, then a cipher stream.
        vec![0x5a; 24],
        b"GET / HTTP/1.1\r\n".to_vec(),
    ] {
        let mut f = Frames::default();
        f.read(&wire);
        f.read(&frame(40_000));
        assert_eq!(f, Frames::Off, "{wire:?}");
        assert_eq!(f.wanted(), 1);
    }
}

/// A real socket pair: the peer writes `chunks` 2 ms apart (no Nagle, so
/// each is its own segment); returns every byte read and how many reads
/// returned data.
async fn read_through(wrap: bool, chunks: Vec<Vec<u8>>) -> (Vec<u8>, usize) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let writer = tokio::spawn(async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        for c in chunks {
            s.write_all(&c).await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let (socket, _) = listener.accept().await.unwrap();
    let mut stream = FrameWake::new(libp2p::tcp::tokio::TcpStream(socket));
    let buffer = rcvbuf(&stream.inner.0).unwrap();
    assert!(
        stream.most <= MOST && stream.most * 8 <= buffer,
        "{} of {buffer}",
        stream.most
    );
    assert!(
        stream.most >= 16_000,
        "Linux's default buffer takes a 16 KiB mark"
    );
    if !wrap {
        stream.frames = Frames::Off;
    }
    let mut got = Vec::new();
    let mut reads = 0;
    let mut buf = vec![0; 256 * 1024];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("a read within 10 s")
            .unwrap();
        if n == 0 {
            break;
        }
        reads += 1;
        got.extend_from_slice(&buf[..n]);
    }
    writer.await.unwrap();
    (got, reads)
}

/// A 16,000-byte frame in 1,400-byte segments, then a small frame alone.
fn slow_frames() -> (Vec<u8>, Vec<Vec<u8>>) {
    let wire = [PREAMBLE.to_vec(), frame(16_000), frame(20)].concat();
    let big_end = PREAMBLE.len() + 16_002;
    let mut chunks: Vec<Vec<u8>> = wire[..big_end].chunks(1400).map(<[u8]>::to_vec).collect();
    chunks.push(wire[big_end..].to_vec());
    (wire, chunks)
}

#[tokio::test]
async fn a_slow_frame_wakes_the_reader_once_not_per_segment() {
    let (wire, chunks) = slow_frames();
    let segments = chunks.len();
    let (got, reads) = read_through(true, chunks).await;
    assert_eq!(got, wire, "the bytes pass untouched");
    // The first segment (preamble, length, a piece), the rest of the big
    // frame at once, the small frame, maybe one split by timing.
    assert!(reads <= 4, "{reads} reads for {segments} segments");

    // The same bytes with the mark left at 1: a read per segment.
    let (wire, chunks) = slow_frames();
    let (got, plain) = read_through(false, chunks).await;
    assert_eq!(got, wire);
    assert!(
        plain >= segments / 2,
        "{plain} reads for {segments} segments"
    );
}

#[tokio::test]
async fn a_frame_cut_short_by_the_peer_closing_still_ends_the_read() {
    // The peer promises 1,000 bytes, sends 500 and closes: the reader gets
    // the 500 and the end at once, not a wait for bytes that never come.
    let wire = [PREAMBLE.to_vec(), frame(1000)[..502].to_vec()].concat();
    let chunks = vec![wire[..300].to_vec(), wire[300..].to_vec()];
    let (got, _) = read_through(true, chunks).await;
    assert_eq!(got, wire);
}

#[tokio::test]
async fn the_nodes_tcp_upgrade_is_recognised_on_both_ends() {
    use futures::StreamExt;
    use libp2p::swarm::SwarmEvent;
    // If libp2p ever sends other first bytes, every connection would run
    // with the mark off and nothing else would notice.
    let swarm = || {
        libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_other_transport(crate::transport::tcp_transport)
            .unwrap()
            .with_behaviour(|_| libp2p::swarm::dummy::Behaviour)
            .unwrap()
            .build()
    };
    let (mut a, mut b) = (swarm(), swarm());
    a.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = a.select_next_some().await {
            break address;
        }
    };
    b.dial(addr).unwrap();
    let (mut a_in, mut b_in) = (false, false);
    tokio::time::timeout(Duration::from_secs(10), async {
        while !(a_in && b_in) {
            tokio::select! {
                e = a.select_next_some() => a_in |= matches!(e, SwarmEvent::ConnectionEstablished { .. }),
                e = b.select_next_some() => b_in |= matches!(e, SwarmEvent::ConnectionEstablished { .. }),
            }
        }
    })
    .await
    .expect("connected within 10 s");
    assert_eq!(RECOGNISED.with(std::cell::Cell::get), 2);
}
