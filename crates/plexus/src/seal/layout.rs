//! Where things are in sealed bytes: the header, the chunks, and the
//! mapping between plaintext offsets and ciphertext byte ranges. Pure
//! arithmetic, no keys and no I/O.

use std::ops::Range;

/// Bytes of the header at the start of sealed content.
pub const HEADER_LEN: usize = 48;

/// Bytes of a Poly1305 tag, one per chunk.
pub const TAG_LEN: usize = 16;

/// Ciphertext bytes of one segment: a whole number (4) of the 16 KiB chunk
/// groups that verified streaming checks, so a range of chunks is a range
/// of chunk groups. Segment 0 holds the header and chunk 0; segment `i > 0`
/// holds chunk `i`; only the last segment may be shorter.
pub const SEGMENT: u64 = 64 * 1024;

/// Plaintext bytes of chunk 0 (it shares its segment with the header).
pub const FIRST_PLAIN: u64 = SEGMENT - HEADER_LEN as u64 - TAG_LEN as u64;

/// Plaintext bytes of every other chunk but the last.
pub const CHUNK_PLAIN: u64 = SEGMENT - TAG_LEN as u64;

/// Number of chunks that hold `plain_len` bytes. Empty content is one
/// (empty, last) chunk, so cutting everything after the header is detected.
pub fn chunk_count(plain_len: u64) -> u64 {
    if plain_len <= FIRST_PLAIN {
        1
    } else {
        1 + (plain_len - FIRST_PLAIN).div_ceil(CHUNK_PLAIN)
    }
}

/// Ciphertext bytes for `plain_len` bytes of plaintext: the header plus one
/// tag per chunk.
pub fn sealed_len(plain_len: u64) -> u64 {
    HEADER_LEN as u64 + plain_len + TAG_LEN as u64 * chunk_count(plain_len)
}

/// Plaintext bytes inside `sealed_len` bytes of sealed content, or `None`
/// when no plaintext seals to exactly that length (content cut short or
/// padded).
pub fn plain_len(sealed_len: u64) -> Option<u64> {
    let chunks = sealed_len.div_ceil(SEGMENT).max(1);
    let overhead = (TAG_LEN as u64).checked_mul(chunks)? + HEADER_LEN as u64;
    let plain = sealed_len.checked_sub(overhead)?;
    (self::sealed_len(plain) == sealed_len).then_some(plain)
}

/// Offset in the plaintext where chunk `index` starts.
pub fn chunk_plain_start(index: u64) -> u64 {
    match index {
        0 => 0,
        i => FIRST_PLAIN + (i - 1) * CHUNK_PLAIN,
    }
}

/// The chunk holding plaintext byte `offset`.
pub fn chunk_of(offset: u64) -> u64 {
    if offset < FIRST_PLAIN {
        0
    } else {
        1 + (offset - FIRST_PLAIN) / CHUNK_PLAIN
    }
}

/// The ciphertext bytes of chunk `index` (segment-aligned, the header
/// included for chunk 0) in content of `sealed_len` bytes.
pub fn segment_range(index: u64, sealed_len: u64) -> Range<u64> {
    let start = index.saturating_mul(SEGMENT).min(sealed_len);
    start..start.saturating_add(SEGMENT).min(sealed_len)
}

/// The ciphertext bytes to fetch to decrypt plaintext bytes `plain`
/// (clamped to the content) of content sealed to `sealed_len` bytes: whole
/// segments, so the range starts and ends on 16 KiB chunk-group boundaries
/// (or at the end). Decrypting also needs the header, the first
/// [`HEADER_LEN`] bytes (in the first chunk group). An empty range maps to
/// an empty range.
pub fn sealed_range(plain: Range<u64>, sealed_len: u64) -> Range<u64> {
    let total = plain_len(sealed_len).unwrap_or(0);
    let (start, end) = (plain.start.min(total), plain.end.min(total));
    if start >= end {
        let at = segment_range(chunk_of(start), sealed_len).start;
        return at..at;
    }
    let first = segment_range(chunk_of(start), sealed_len);
    let last = segment_range(chunk_of(end - 1), sealed_len);
    first.start..last.end
}
