//! Wake a TCP connection's reader once per Noise frame, not once per packet.
//!
//! Noise can decrypt nothing until a whole frame (up to 64 KiB) is in, yet
//! on a slow link its packets arrive one at a time, and the kernel wakes the
//! connection's task for each: the task polls the connection's handlers
//! (every protocol the node speaks), reads ~1.4 KB and goes back to sleep.
//! In the test bed's flash crowd (20 Mbit/s links) a getter's daemon was
//! put on a core ~1,500 times a second for 2.5 MB/s, and the crowd's 25
//! daemons filled this machine's two cores.
//!
//! [`FrameWake`] reads the frame lengths as the bytes go by and, whenever
//! the socket has nothing more to read, sets `SO_RCVLOWAT` to the bytes the
//! frame still lacks (at most 16 KiB, see [`MOST`]), so the kernel reports
//! the socket readable only once the frame can be decrypted or 16 KiB more
//! of it are in. It never asks for a byte more than the frame
//! needs: what it passes on is untouched, a read still returns whatever is
//! there, and a socket that closes or fails is reported at once. The frame
//! lengths are trusted only after the connection's first bytes were exactly
//! multistream-select's header and `/noise` (what libp2p's upgrade sends
//! before Noise); anything else (another protocol, pnet's cipher stream)
//! turns it off for the connection, leaving the kernel's default of 1 byte.
//!
//! The kernel side: `tcp_set_rcvlowat` signals a socket that already holds
//! enough, so a frame that came in before the option was set is not missed;
//! `tcp_epollin_ready` also wakes the reader when the receive window runs
//! low, so a low-water mark can never stall the sender.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use futures::{AsyncRead, AsyncWrite};

/// What a connection's first bytes must be, each way, before the Noise
/// frames: multistream-select's header and its `/noise` proposal (or
/// answer), each a one-byte length and the text.
const PREAMBLE: &[u8] = b"\x13/multistream/1.0.0\n\x07/noise\n";

/// Largest low-water mark ever set. A Noise frame can be 65,535 bytes, but
/// a mark that big can shrink the TCP window: where twice the mark (what
/// the kernel reckons it needs to hold it) exceeds the receive buffer,
/// `tcp_set_rcvlowat` grows the buffer and clamps the window to the mark,
/// which would cap a long-distance link (64 KiB per 100 ms round trip is
/// 5 Mbit/s). 16 KiB still saves ten wake-ups out of eleven and stays far
/// below Linux's default buffer of 128 KiB; see also [`FrameWake::new`].
const MOST: usize = 16 * 1024;

/// Where a connection's incoming bytes stand (sans-IO: fed the bytes read,
/// asked how many more the reader needs).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Frames {
    /// Matching [`PREAMBLE`]: this many bytes of it seen.
    Preamble(usize),
    /// In the Noise frames: `have` bytes (0-2) of the current frame's
    /// length read, then `left` bytes of its body still to come.
    Noise { have: u8, len: [u8; 2], left: usize },
    /// Not a connection whose framing is known: every byte may matter.
    Off,
}

impl Default for Frames {
    fn default() -> Self {
        Frames::Preamble(0)
    }
}

impl Frames {
    /// Takes note of `bytes`, the next ones read from the socket.
    fn read(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match self {
                Frames::Off => return,
                Frames::Preamble(seen) => {
                    let n = bytes.len().min(PREAMBLE.len() - *seen);
                    if bytes[..n] != PREAMBLE[*seen..*seen + n] {
                        *self = Frames::Off;
                        return;
                    }
                    *seen += n;
                    bytes = &bytes[n..];
                    if *seen == PREAMBLE.len() {
                        #[cfg(test)]
                        tests::RECOGNISED.with(|n| n.set(n.get() + 1));
                        *self = Frames::Noise {
                            have: 0,
                            len: [0; 2],
                            left: 0,
                        };
                    }
                }
                Frames::Noise { have, len, left } => {
                    if *have < 2 {
                        len[*have as usize] = bytes[0];
                        *have += 1;
                        bytes = &bytes[1..];
                        if *have == 2 {
                            *left = u16::from_be_bytes(*len) as usize;
                        }
                    } else {
                        let n = bytes.len().min(*left);
                        *left -= n;
                        bytes = &bytes[n..];
                    }
                    if *have == 2 && *left == 0 {
                        *have = 0;
                    }
                }
            }
        }
    }

    /// The fewest bytes worth waking the reader for: the rest of the
    /// current frame (its length first), or 1 where the framing is unknown.
    fn wanted(&self) -> usize {
        match self {
            Frames::Noise { have, .. } if *have < 2 => 2 - *have as usize,
            Frames::Noise { left, .. } => (*left).max(1),
            _ => 1,
        }
    }
}

/// A TCP stream whose reader is woken once per Noise frame (see the module
/// docs). Writes pass straight through.
#[derive(Debug)]
pub(super) struct FrameWake {
    inner: libp2p::tcp::tokio::TcpStream,
    frames: Frames,
    /// The low-water mark last set on the socket.
    lowat: usize,
    /// The largest mark this socket gets: [`MOST`], or an eighth of its
    /// receive buffer if that is less.
    most: usize,
}

impl FrameWake {
    /// Wraps a connection's socket before multistream-select runs on it.
    ///
    /// The mark stays below an eighth of the socket's receive buffer as it
    /// is now (it only grows). The kernel reckons a mark needs about twice
    /// its size in buffer (more only where packets carry little data for
    /// their memory), so it has no cause to clamp the window for it. A
    /// buffer that cannot be read turns the mark off.
    pub(super) fn new(inner: libp2p::tcp::tokio::TcpStream) -> Self {
        let most = rcvbuf(&inner.0).map_or(1, |b| (b / 8).clamp(1, MOST));
        FrameWake {
            inner,
            frames: if most > 1 {
                Frames::default()
            } else {
                Frames::Off
            },
            lowat: 1,
            most,
        }
    }

    /// Sets the socket's low-water mark to what the reader now wants; on
    /// an error, back to reading every byte (the default) for good.
    fn set_lowat(&mut self) {
        let want = self.frames.wanted().min(self.most);
        if want == self.lowat {
            return;
        }
        if set_rcvlowat(&self.inner.0, want).is_ok() {
            self.lowat = want;
        } else {
            self.frames = Frames::Off;
            if set_rcvlowat(&self.inner.0, 1).is_ok() {
                self.lowat = 1;
            }
        }
    }
}

/// `getsockopt(SO_RCVBUF)`: the socket's receive buffer in bytes.
fn rcvbuf(socket: &tokio::net::TcpStream) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the fd is the stream's own open socket for this call's
    // length; value and len are live locals of the sizes passed.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(usize::try_from(value).unwrap_or(0))
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `setsockopt(SO_RCVLOWAT)`: the kernel reports the socket readable only
/// once `bytes` are queued (or it closes, fails, or its window runs low).
fn set_rcvlowat(socket: &tokio::net::TcpStream, bytes: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: the fd is the stream's own open socket for this call's
    // length, and the option value is a c_int that outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl AsyncRead for FrameWake {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.frames.read(&buf[..n]);
                Poll::Ready(Ok(n))
            }
            Poll::Pending => {
                // Nothing more queued, and the waker is registered: from
                // here the kernel wakes it once the frame is in (a frame
                // already in is signalled by the setsockopt itself).
                this.set_lowat();
                Poll::Pending
            }
            other => other,
        }
    }
}

impl AsyncWrite for FrameWake {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
#[path = "frame_wake_tests.rs"]
mod tests;
