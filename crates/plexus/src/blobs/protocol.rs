//! The blob transfer protocol, `/plexus/blobs/1.1.0` (and `1.0.0`, which
//! writes range lists longer: [`Form`]): a getter asks for chunk ranges of
//! a hash, the provider answers with those chunk groups and their proofs
//! (bao encoding). Frames are length-prefixed binary, small and bounded,
//! never a whole file.

use std::io;

use bao_tree::ChunkRanges;
use libp2p::StreamProtocol;

pub use super::codec::Codec;
pub(super) use super::ranges::{bad, get_ranges, put_ranges};
pub use super::ranges::{Form, MAX_CHUNK};
use crate::content::Hash;

/// Protocol name: range lists in the [`Form::Fixed`] form.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/plexus/blobs/1.0.0");
/// The same protocol with range lists in the [`Form::Compact`] form. A
/// node offers it first and serves both, so it speaks [`PROTOCOL`] only to
/// a node that predates this one.
pub const PROTOCOL_COMPACT: StreamProtocol = StreamProtocol::new("/plexus/blobs/1.1.0");

impl Form {
    /// The form `protocol` writes.
    pub fn of(protocol: &StreamProtocol) -> Self {
        if *protocol == PROTOCOL_COMPACT {
            Form::Compact
        } else {
            Form::Fixed
        }
    }
}

/// Most data bytes one `Get` may ask for.
pub const MAX_REQUEST_BYTES: u64 = 4 * 1024 * 1024;
/// Most range boundaries in one `Get`.
pub const MAX_BOUNDARIES: usize = 256;
/// Most range boundaries in a `Have` answer (512 KiB): a getter's pieces
/// (128 KiB each) arrive in no particular order, so what a partial holder
/// has is often one range per piece; answers with more name the first
/// ranges only ([`Response::have`]).
pub const MAX_HAVE_BOUNDARIES: usize = 64 * 1024;
/// Largest request frame: kind, hash, boundary count and the boundaries.
/// A frame's buffer is allocated when its length is read, so a peer that
/// opens many streams and sends only lengths holds at most this per stream.
pub const MAX_REQUEST_FRAME: usize = 1 + 32 + 4 + MAX_BOUNDARIES * 8;
/// Largest frame accepted: a full range plus its proof nodes.
pub const MAX_FRAME: usize = MAX_REQUEST_BYTES as usize + 512 * 1024;
/// Most blobs one `GetMany` may ask for (it fits [`MAX_REQUEST_FRAME`]).
pub const MAX_BATCH: usize = 48;
/// Most bytes (the sizes the getter gives, summed) one `GetMany` may ask
/// for: with each blob's last chunk group and proof its answer stays far
/// below [`MAX_FRAME`].
pub const MAX_BATCH_BYTES: u64 = 1024 * 1024;

/// A getter's question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Which ranges of `hash` do you have, and how large is it?
    Have(Hash),
    /// `Have`, from a getter that still wants `wanted` of `hash`. A
    /// provider that several getters fetch `hash` from at once may answer
    /// with only some wanted pieces, the ones it sent least, so that the
    /// getters fetch different pieces from it and trade the rest (see
    /// `blobs::seeding`). On the wire it is a `Have` followed by the ranges,
    /// so a node that predates it answers it as a `Have`.
    Wants {
        /// The blob.
        hash: Hash,
        /// The ranges the getter still wants (at most [`MAX_BOUNDARIES`]
        /// boundaries: a getter missing more sends the first of them).
        wanted: ChunkRanges,
    },
    /// Send these chunk ranges of `hash` with proofs.
    Get {
        /// The blob.
        hash: Hash,
        /// The chunk ranges wanted.
        ranges: ChunkRanges,
    },
    /// Send these whole blobs, each given with the size the getter expects
    /// (each answered as a `Get` of all its chunks would be): at most
    /// [`MAX_BATCH`] of them and [`MAX_BATCH_BYTES`] in all. A collection's
    /// small files in one round trip.
    GetMany(Vec<(Hash, u64)>),
}

/// A provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Size and the verified ranges present (`complete` = all of them).
    Have {
        /// Size of the blob in bytes.
        size: u64,
        /// Whether the provider has the whole blob.
        complete: bool,
        /// The verified chunk ranges the provider has, or with `offer`,
        /// those it offers this getter now.
        present: ChunkRanges,
        /// The provider has the whole blob and answers a `Wants` with an
        /// offer (`complete` is then false: only `present` is to be fetched
        /// from it for now). A getter asks a partial holder, whose answer
        /// does not depend on what it wants, a bare `Have` instead, without
        /// its wanted ranges (up to 2 KiB per question). On the wire it is
        /// the flag byte's value 2, which a node that predates it reads as
        /// an answer from a partial holder, as it was sent before.
        offer: bool,
    },
    /// The bao encoding of the requested ranges.
    Data(Vec<u8>),
    /// This peer does not have the hash.
    NotFound,
    /// This peer has the hash but not all requested ranges.
    Missing,
    /// Too many requests from you in flight; retry later.
    Busy,
    /// The request was malformed or too large.
    Refused(String),
    /// One answer per blob of a `GetMany`, in its order: each `Data`,
    /// `NotFound` or `Missing`.
    Many(Vec<Response>),
}

fn hash_at(buf: &[u8]) -> io::Result<Hash> {
    Ok(Hash(
        buf.get(..32)
            .ok_or_else(|| bad("truncated hash"))?
            .try_into()
            .unwrap(),
    ))
}

impl Request {
    /// A `Wants` of `hash` from a getter missing `missing`, cut to the
    /// first [`MAX_BOUNDARIES`] boundaries (a subset: every range it names
    /// is still wanted).
    pub fn wants(hash: Hash, missing: &ChunkRanges) -> Self {
        Request::Wants {
            hash,
            wanted: first_boundaries(missing.clone(), MAX_BOUNDARIES),
        }
    }

    /// Binary form, as [`PROTOCOL`] writes it.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_as(Form::Fixed)
    }

    /// Binary form, range lists in `form`.
    pub fn encode_as(&self, form: Form) -> Vec<u8> {
        match self {
            Request::Have(hash) => [&[0u8][..], &hash.0].concat(),
            Request::Wants { hash, wanted } => {
                let mut out = [&[0u8][..], &hash.0].concat();
                put_ranges(&mut out, wanted, form);
                out
            }
            Request::Get { hash, ranges } => {
                let mut out = [&[1u8][..], &hash.0].concat();
                put_ranges(&mut out, ranges, form);
                out
            }
            Request::GetMany(items) => {
                let mut out = vec![2u8];
                out.extend_from_slice(&(items.len() as u32).to_le_bytes());
                for (hash, size) in items {
                    out.extend_from_slice(&hash.0);
                    out.extend_from_slice(&size.to_le_bytes());
                }
                out
            }
        }
    }

    /// Parses the binary form of [`PROTOCOL`]; malformed input is an
    /// error, never a panic.
    pub fn decode(buf: &[u8]) -> io::Result<Self> {
        Self::decode_as(buf, Form::Fixed)
    }

    /// Parses the binary form with range lists in `form`.
    pub fn decode_as(buf: &[u8], form: Form) -> io::Result<Self> {
        let (&kind, rest) = buf.split_first().ok_or_else(|| bad("empty request"))?;
        if kind == 2 {
            return get_many(rest);
        }
        let hash = hash_at(rest)?;
        match kind {
            0 if rest.len() == 32 => Ok(Request::Have(hash)),
            0 => Ok(Request::Wants {
                hash,
                wanted: get_ranges(&rest[32..], MAX_BOUNDARIES, form)?,
            }),
            1 => Ok(Request::Get {
                hash,
                ranges: get_ranges(&rest[32..], MAX_BOUNDARIES, form)?,
            }),
            k => Err(bad(format!("unknown request kind {k}"))),
        }
    }
}

/// `ranges`, or its first `most` boundaries (a subset of it).
fn first_boundaries(ranges: ChunkRanges, most: usize) -> ChunkRanges {
    let b = ranges.boundaries();
    if b.len() > most {
        ChunkRanges::new(b[..most].iter().copied().collect())
            .expect("a prefix of sorted boundaries is sorted")
    } else {
        ranges
    }
}

/// The body of a `GetMany`: a count, then each hash and size.
fn get_many(buf: &[u8]) -> io::Result<Request> {
    let n = u32::from_le_bytes(
        buf.get(..4)
            .ok_or_else(|| bad("truncated batch"))?
            .try_into()
            .unwrap(),
    ) as usize;
    if n == 0 || n > MAX_BATCH {
        return Err(bad(format!("{n} blobs in a batch, 1 to {MAX_BATCH}")));
    }
    if buf.len() != 4 + n * 40 {
        return Err(bad("batch length does not match its count"));
    }
    let items = buf[4..]
        .chunks_exact(40)
        .map(|c| {
            let hash = Hash(c[..32].try_into().unwrap());
            (hash, u64::from_le_bytes(c[32..].try_into().unwrap()))
        })
        .collect();
    Ok(Request::GetMany(items))
}

impl Response {
    /// A `Have` answer naming `present`, or its first ranges when it has
    /// more than [`MAX_HAVE_BOUNDARIES`] boundaries (a subset: everything
    /// named is present).
    pub fn have(size: u64, complete: bool, present: ChunkRanges) -> Self {
        Response::Have {
            size,
            complete,
            present: first_boundaries(present, MAX_HAVE_BOUNDARIES),
            offer: false,
        }
    }

    /// A complete holder's offer of `offered` (cut as [`Response::have`]
    /// cuts).
    pub fn offer(size: u64, offered: ChunkRanges) -> Self {
        Response::Have {
            size,
            complete: false,
            present: first_boundaries(offered, MAX_HAVE_BOUNDARIES),
            offer: true,
        }
    }

    /// The kind byte and the body: the binary form (range lists in
    /// `form`) without copying data.
    pub(super) fn parts(&self, form: Form) -> (u8, std::borrow::Cow<'_, [u8]>) {
        use std::borrow::Cow;
        match self {
            Response::Have {
                size,
                complete,
                present,
                offer,
            } => {
                let flag = if *offer { 2 } else { *complete as u8 };
                let mut out = vec![flag];
                out.extend_from_slice(&size.to_le_bytes());
                put_ranges(&mut out, present, form);
                (0, Cow::Owned(out))
            }
            Response::Data(bytes) => (1, Cow::Borrowed(bytes)),
            Response::NotFound => (2, Cow::Borrowed(&[])),
            Response::Missing => (3, Cow::Borrowed(&[])),
            Response::Busy => (4, Cow::Borrowed(&[])),
            Response::Refused(why) => (5, Cow::Borrowed(why.as_bytes())),
            Response::Many(items) => {
                let mut out = (items.len() as u32).to_le_bytes().to_vec();
                for item in items {
                    let (kind, body) = item.parts(form);
                    out.push(kind);
                    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
                    out.extend_from_slice(&body);
                }
                (6, Cow::Owned(out))
            }
        }
    }

    /// Binary form, as [`PROTOCOL`] writes it.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_as(Form::Fixed)
    }

    /// Binary form, range lists in `form`.
    pub fn encode_as(&self, form: Form) -> Vec<u8> {
        let (kind, body) = self.parts(form);
        [&[kind][..], &body].concat()
    }

    /// Parses the binary form of [`PROTOCOL`].
    pub fn decode(buf: Vec<u8>) -> io::Result<Self> {
        Self::decode_as(buf, Form::Fixed)
    }

    /// Parses the binary form with range lists in `form`.
    pub fn decode_as(buf: Vec<u8>, form: Form) -> io::Result<Self> {
        let (&kind, body) = buf.split_first().ok_or_else(|| bad("empty response"))?;
        Self::from_parts(kind, body.to_vec(), form)
    }

    /// Parses a kind byte and its body (taken, not copied, for data).
    pub(super) fn from_parts(kind: u8, body: Vec<u8>, form: Form) -> io::Result<Self> {
        Ok(match kind {
            0 => {
                let flag = *body.first().ok_or_else(|| bad("truncated"))?;
                let size = u64::from_le_bytes(
                    body.get(1..9)
                        .ok_or_else(|| bad("truncated"))?
                        .try_into()
                        .unwrap(),
                );
                Response::Have {
                    size,
                    complete: flag == 1,
                    present: get_ranges(&body[9..], MAX_HAVE_BOUNDARIES, form)?,
                    offer: flag == 2,
                }
            }
            1 => Response::Data(body),
            2 => Response::NotFound,
            3 => Response::Missing,
            4 => Response::Busy,
            5 => Response::Refused(String::from_utf8_lossy(&body).into_owned()),
            6 => Response::Many(many(&body, form)?),
            k => return Err(bad(format!("unknown response kind {k}"))),
        })
    }
}

/// The items of a `Many`: a count, then each kind, length and body; only
/// `Data`, `NotFound` and `Missing`, at most [`MAX_BATCH`].
fn many(mut buf: &[u8], form: Form) -> io::Result<Vec<Response>> {
    let take = |buf: &mut &[u8], n: usize| -> io::Result<Vec<u8>> {
        if buf.len() < n {
            return Err(bad("truncated batch answer"));
        }
        let (head, rest) = buf.split_at(n);
        *buf = rest;
        Ok(head.to_vec())
    };
    let n = u32::from_le_bytes(take(&mut buf, 4)?.try_into().unwrap()) as usize;
    if n > MAX_BATCH {
        return Err(bad(format!("{n} answers in a batch, at most {MAX_BATCH}")));
    }
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        let kind = take(&mut buf, 1)?[0];
        let len = u32::from_le_bytes(take(&mut buf, 4)?.try_into().unwrap()) as usize;
        if !(1..=3).contains(&kind) {
            return Err(bad(format!("answer kind {kind} in a batch")));
        }
        items.push(Response::from_parts(kind, take(&mut buf, len)?, form)?);
    }
    if !buf.is_empty() {
        return Err(bad("bytes after a batch answer"));
    }
    Ok(items)
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
