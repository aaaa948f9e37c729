//! How the blob protocol writes a list of chunk ranges (a `Get`'s ranges,
//! a `Wants`'s, a `Have` answer's) in each of its versions, and reads one
//! back, refusing anything malformed with an error, never a panic.

use std::io;

use bao_tree::{ChunkNum, ChunkRanges};

/// Largest chunk number a range may name: a blob has at most `u64::MAX`
/// bytes, so `2^54` chunks of 1 KiB. Larger numbers are refused when
/// decoding, so no later byte arithmetic on them can overflow.
pub const MAX_CHUNK: u64 = 1 << 54;

/// How a message writes its range lists; the protocol's version says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `/plexus/blobs/1.0.0`: a 32-bit count, then each boundary as 64 bits.
    Fixed,
    /// `/plexus/blobs/1.1.0`: a varint count, then each boundary as the
    /// varint of its distance from the one before (from 0 for the first).
    /// A getter's pieces are 128 chunks, so a boundary takes 2 bytes
    /// instead of 8: in a crowd, where every getter asks each of some 20
    /// peers what it has two or three times a second, a partial holder's
    /// answer of ~140 boundaries shrinks from 1.1 KiB to ~0.3 KiB.
    Compact,
}

/// A malformed message's error.
pub(super) fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Appends `ranges` to `out` in `form`.
pub(super) fn put_ranges(out: &mut Vec<u8>, ranges: &ChunkRanges, form: Form) {
    let b = ranges.boundaries();
    match form {
        Form::Fixed => {
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            for c in b {
                out.extend_from_slice(&c.0.to_le_bytes());
            }
        }
        Form::Compact => {
            let mut buf = unsigned_varint::encode::u64_buffer();
            out.extend_from_slice(unsigned_varint::encode::u64(b.len() as u64, &mut buf));
            let mut last = 0;
            for c in b {
                out.extend_from_slice(unsigned_varint::encode::u64(c.0 - last, &mut buf));
                last = c.0;
            }
        }
    }
}

/// A range list in `form`, of at most `most` boundaries, each at most
/// [`MAX_CHUNK`]. The compact form must fill `buf` exactly; the fixed form
/// ignores bytes after it, as it always did.
pub(super) fn get_ranges(buf: &[u8], most: usize, form: Form) -> io::Result<ChunkRanges> {
    let bounds = match form {
        Form::Fixed => fixed_bounds(buf, most)?,
        Form::Compact => compact_bounds(buf, most)?,
    };
    if let Some(c) = bounds.iter().find(|c| c.0 > MAX_CHUNK) {
        return Err(bad(format!(
            "chunk number {} past the largest, {MAX_CHUNK}",
            c.0
        )));
    }
    ChunkRanges::new(bounds).ok_or_else(|| bad("range boundaries not sorted"))
}

type Bounds = smallvec::SmallVec<[ChunkNum; 2]>;

fn fixed_bounds(buf: &[u8], most: usize) -> io::Result<Bounds> {
    let n = u32::from_le_bytes(
        buf.get(..4)
            .ok_or_else(|| bad("truncated ranges"))?
            .try_into()
            .unwrap(),
    ) as usize;
    if n > most {
        return Err(bad(format!("{n} range boundaries, at most {most}")));
    }
    let body = buf
        .get(4..4 + n * 8)
        .ok_or_else(|| bad("truncated ranges"))?;
    Ok(body
        .chunks_exact(8)
        .map(|c| ChunkNum(u64::from_le_bytes(c.try_into().unwrap())))
        .collect())
}

fn compact_bounds(buf: &[u8], most: usize) -> io::Result<Bounds> {
    let varint =
        |buf| unsigned_varint::decode::u64(buf).map_err(|e| bad(format!("range list: {e}")));
    let (n, mut rest) = varint(buf)?;
    if n > most as u64 {
        return Err(bad(format!("{n} range boundaries, at most {most}")));
    }
    let mut bounds = Bounds::with_capacity(n as usize);
    let mut at = 0u64;
    for i in 0..n {
        let (step, after) = varint(rest)?;
        if i > 0 && step == 0 {
            return Err(bad("range boundaries not sorted"));
        }
        at = at
            .checked_add(step)
            .filter(|c| *c <= MAX_CHUNK)
            .ok_or_else(|| bad(format!("a chunk number past the largest, {MAX_CHUNK}")))?;
        bounds.push(ChunkNum(at));
        rest = after;
    }
    if !rest.is_empty() {
        return Err(bad("bytes after a range list"));
    }
    Ok(bounds)
}
