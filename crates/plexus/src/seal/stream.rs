//! Sealing and opening streams chunk by chunk, in flat memory (one chunk
//! buffer, whatever the content's size), and opening a range.

use std::{
    io::{self, Read, Write},
    ops::Range,
};

use chacha20poly1305::{
    aead::{
        generic_array::GenericArray,
        stream::{NewStream, StreamBE32, StreamPrimitive},
        KeyInit,
    },
    XChaCha20Poly1305,
};

use super::{
    layout::{
        chunk_count, chunk_of, chunk_plain_start, plain_len, segment_range, CHUNK_PLAIN,
        FIRST_PLAIN, HEADER_LEN, SEGMENT, TAG_LEN,
    },
    Error, Key, MAGIC, VERSION,
};

/// The crate's STREAM primitive: nonce = 19-byte prefix | u32 BE counter | last flag.
type Stream = StreamBE32<XChaCha20Poly1305>;

/// Bytes of the nonce prefix in the header, after magic and version.
const NONCE: Range<usize> = 8..27;
/// Reserved header bytes, zero in version 1.
const RESERVED: Range<usize> = 27..32;
/// The key check in the header.
const CHECK: Range<usize> = 32..48;

fn new_header(key: &Key) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..MAGIC.len()].copy_from_slice(MAGIC);
    header[MAGIC.len()] = VERSION;
    header[NONCE].copy_from_slice(&rand::random::<[u8; 19]>());
    header[CHECK].copy_from_slice(&key.check());
    header
}

/// Checks the magic, version, reserved bytes and key check of `header`
/// (all the bytes read of it, maybe fewer than [`HEADER_LEN`]).
fn check_header(key: &Key, header: &[u8]) -> Result<(), Error> {
    let magic_len = MAGIC.len().min(header.len());
    if header[..magic_len] != MAGIC[..magic_len] {
        return Err(Error::NotSealed);
    }
    if header.len() < HEADER_LEN {
        return Err(Error::Truncated(format!(
            "{} bytes, less than the {HEADER_LEN}-byte header",
            header.len()
        )));
    }
    if header[MAGIC.len()] != VERSION {
        return Err(Error::Version(header[MAGIC.len()]));
    }
    if header[RESERVED].iter().any(|&b| b != 0) {
        return Err(Error::Corrupt { chunk: 0 });
    }
    if header[CHECK] != key.check() {
        return Err(Error::WrongKey);
    }
    Ok(())
}

fn stream(key: &Key, header: &[u8]) -> Stream {
    let aead = XChaCha20Poly1305::new(GenericArray::from_slice(&key.aead_key()));
    Stream::from_aead(aead, GenericArray::from_slice(&header[NONCE]))
}

/// The STREAM counter of chunk `index`.
fn position(index: u64) -> Result<u32, Error> {
    u32::try_from(index).map_err(|_| Error::TooLarge)
}

/// Plaintext capacity of chunk `index`.
fn plain_capacity(index: u64) -> usize {
    if index == 0 {
        FIRST_PLAIN as usize
    } else {
        CHUNK_PLAIN as usize
    }
}

/// Ciphertext capacity of chunk `index` (its segment, minus the header for 0).
fn sealed_capacity(index: u64) -> usize {
    plain_capacity(index) + TAG_LEN
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A reader cut into chunks, looking one byte ahead to know which chunk is
/// the last (the one followed by the end of the input).
struct Chunks<R> {
    inner: R,
    peeked: Option<u8>,
}

impl<R: Read> Chunks<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            peeked: None,
        }
    }

    /// Reads the next chunk of up to `max` bytes into `buf` (cleared first);
    /// returns whether it is the last.
    fn next(&mut self, buf: &mut Vec<u8>, max: usize) -> io::Result<bool> {
        buf.clear();
        buf.extend(self.peeked.take());
        let want = max.saturating_sub(buf.len()) as u64;
        (&mut self.inner).take(want).read_to_end(buf)?;
        if buf.len() < max {
            return Ok(true);
        }
        let mut one = [0u8];
        loop {
            match self.inner.read(&mut one) {
                Ok(0) => return Ok(true),
                Ok(_) => {
                    self.peeked = Some(one[0]);
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// A reader of sealed bytes: reads plaintext from `R` and yields the header
/// and then the chunks, one chunk in memory at a time. The output is
/// exactly [`super::sealed_len`] of the input's length, so it can be
/// streamed into the store while the hash tree is computed. To seal a
/// file whose length was taken beforehand, give it `file.take(len)`.
pub struct Sealer<R> {
    chunks: Chunks<R>,
    stream: Stream,
    header: [u8; HEADER_LEN],
    out: Vec<u8>,
    pos: usize,
    index: u64,
    done: bool,
}

impl<R: Read> Sealer<R> {
    /// Seals what `reader` yields with `key` (and a fresh random nonce).
    pub fn new(key: &Key, reader: R) -> Self {
        let header = new_header(key);
        let mut out = Vec::with_capacity(SEGMENT as usize);
        out.extend_from_slice(&header);
        Self {
            chunks: Chunks::new(reader),
            stream: stream(key, &header),
            header,
            out,
            pos: 0,
            index: 0,
            done: false,
        }
    }

    fn seal_next(&mut self) -> io::Result<()> {
        let last = self
            .chunks
            .next(&mut self.out, plain_capacity(self.index))?;
        let position = position(self.index).map_err(io::Error::other)?;
        self.stream
            .encrypt_in_place(position, last, &self.header, &mut self.out)
            .map_err(|_| io::Error::other("encrypting a chunk failed"))?;
        self.pos = 0;
        self.index += 1;
        self.done = last;
        Ok(())
    }
}

impl<R: Read> Read for Sealer<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            if self.done {
                return Ok(0);
            }
            self.seal_next()?;
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Seals everything `reader` yields into `writer` under a fresh random key,
/// and returns the key.
pub fn encrypt(reader: impl Read, writer: impl Write) -> Result<Key, Error> {
    let key = Key::generate();
    encrypt_with(&key, reader, writer)?;
    Ok(key)
}

/// Seals everything `reader` yields into `writer` under `key` (a fresh
/// random nonce each time, so one key may seal many blobs); returns the
/// sealed bytes written.
pub fn encrypt_with(key: &Key, reader: impl Read, mut writer: impl Write) -> Result<u64, Error> {
    let mut sealer = Sealer::new(key, reader);
    Ok(io::copy(&mut sealer, &mut writer)?)
}

/// Opens sealed bytes from `reader` into `writer`, chunk by chunk; returns
/// the plaintext bytes written. Every byte written was authenticated; on
/// an error, what was written before it is authentic but incomplete (write
/// to a temporary file and rename it at the end).
pub fn decrypt(key: &Key, reader: impl Read, mut writer: impl Write) -> Result<u64, Error> {
    let mut reader = reader;
    let mut header = [0u8; HEADER_LEN];
    let got = read_full(&mut reader, &mut header)?;
    check_header(key, &header[..got])?;
    let stream = stream(key, &header);
    let mut chunks = Chunks::new(reader);
    let mut buf = Vec::with_capacity(SEGMENT as usize);
    let mut written = 0;
    let mut index = 0;
    loop {
        let last = chunks.next(&mut buf, sealed_capacity(index))?;
        if buf.len() < TAG_LEN {
            return Err(Error::Truncated(format!(
                "chunk {index} has {} bytes, less than its {TAG_LEN}-byte tag",
                buf.len()
            )));
        }
        stream
            .decrypt_in_place(position(index)?, last, &header, &mut buf)
            .map_err(|_| Error::Corrupt { chunk: index })?;
        writer.write_all(&buf)?;
        written += buf.len() as u64;
        if last {
            return Ok(written);
        }
        index += 1;
    }
}

/// Opens plaintext bytes `plain` (clamped to the content) of content sealed
/// to `sealed_len` bytes, into `writer`; returns the bytes written.
/// `header` is the content's first [`HEADER_LEN`] bytes; `reader` yields
/// the sealed bytes from `sealed_range(plain, sealed_len).start` on (whole
/// segments, see [`super::sealed_range`]). Each chunk is authenticated
/// before any of it is written.
pub fn decrypt_range(
    key: &Key,
    header: &[u8],
    sealed_len: u64,
    plain: Range<u64>,
    mut reader: impl Read,
    mut writer: impl Write,
) -> Result<u64, Error> {
    check_header(key, header)?;
    let total = plain_len(sealed_len)
        .ok_or_else(|| Error::Truncated(format!("no plaintext seals to {sealed_len} bytes")))?;
    let (start, end) = (plain.start.min(total), plain.end.min(total));
    if start >= end {
        return Ok(0);
    }
    let stream = stream(key, header);
    let last_chunk = chunk_count(total) - 1;
    let mut buf = Vec::with_capacity(SEGMENT as usize);
    let mut written = 0;
    for index in chunk_of(start)..=chunk_of(end - 1) {
        let segment = segment_range(index, sealed_len);
        buf.clear();
        let want = segment.end - segment.start;
        (&mut reader).take(want).read_to_end(&mut buf)?;
        if (buf.len() as u64) < want {
            return Err(Error::Truncated(format!(
                "chunk {index}'s segment has {} of its {want} bytes",
                buf.len()
            )));
        }
        if index == 0 {
            buf.drain(..HEADER_LEN);
        }
        stream
            .decrypt_in_place(position(index)?, index == last_chunk, header, &mut buf)
            .map_err(|_| Error::Corrupt { chunk: index })?;
        let at = chunk_plain_start(index);
        let from = (start.max(at) - at) as usize;
        let to = (end.min(at + buf.len() as u64) - at) as usize;
        writer.write_all(&buf[from..to])?;
        written += (to - from) as u64;
    }
    Ok(written)
}
