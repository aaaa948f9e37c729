//! The compute protocol, `/plexus/compute/1`: request-response with JSON
//! frames of at most [`MAX_FRAME`] bytes. A runner asks a peer whether it
//! computes (`Hello`) and sends it units (`Unit`). Module and input bytes
//! never travel here: they are blobs in the runner's store, named by their
//! BLAKE3 hash, which the worker fetches through the blob protocol,
//! verified chunk group by chunk group, and keeps (a cache: the next unit
//! of the same job needs only its input). The output comes back in the
//! answer, base64 in JSON, so it is capped at [`MAX_OUTPUT`].

use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};

use super::limits::{Limits, UnitError};
use crate::content::Hash;

/// Protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/plexus/compute/1");

/// Largest output a unit may return over the protocol.
pub const MAX_OUTPUT: u64 = 4 << 20;

/// Largest request or response frame in bytes (the output in base64 and
/// some room).
pub const MAX_FRAME: u64 = MAX_OUTPUT / 3 * 4 + 64 * 1024;

/// What a runner asks a peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Do you compute for others, with how many threads and what limits?
    Hello,
    /// Run one unit: fetch `module` and `input` from me, run, answer.
    Unit {
        /// The job's module (a blob in the runner's store).
        module: Hash,
        /// Its size in bytes (checked before it is fetched).
        module_size: u64,
        /// This unit's input (a blob in the runner's store).
        input: Hash,
        /// Its size in bytes.
        input_size: u64,
        /// The limits to run under (each within the worker's own).
        limits: Limits,
    },
}

/// A peer's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// It computes: threads and the largest limits it grants.
    Offer {
        /// Units it runs at once.
        threads: u32,
        /// The most a unit may ask for.
        limits: Limits,
    },
    /// The unit ran and returned this output.
    Output(#[serde(with = "base64")] Vec<u8>),
    /// The unit ended without output, for this reason.
    Failed(UnitError),
    /// Refused, with the reason (no `--compute`, limits too high, busy...).
    Refused(String),
}

/// The codec: libp2p's JSON codec with [`MAX_FRAME`] as both limits.
pub fn codec() -> libp2p::request_response::json::codec::Codec<Request, Response> {
    libp2p::request_response::json::codec::Codec::default()
        .set_request_size_maximum(MAX_FRAME)
        .set_response_size_maximum(MAX_FRAME)
}

mod base64 {
    use data_encoding::BASE64;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        BASE64
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}
