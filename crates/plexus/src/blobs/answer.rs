//! Answers to admitted requests, read from the store (on the blocking
//! pool: redb and file reads).

use super::{protocol::Response, serve::Admission};
use crate::{
    content::{ChunkNum, ChunkRanges, Hash, Store},
    Error,
};

/// The answer to `admission` from `store`. For an `Offer` of a complete
/// blob, `offer` (from `blobs::seeding`, maybe empty for now) replaces what
/// is present.
pub(super) fn read(store: &Store, admission: Admission, offer: Option<ChunkRanges>) -> Response {
    match admission {
        Admission::Have(hash) | Admission::Offer { hash, .. } => match store.get(&hash) {
            Ok(Some(info)) => {
                let all = ChunkRanges::from(ChunkNum(0)..ChunkNum::chunks(info.size));
                match offer.map(|o| o & all) {
                    Some(o) if info.complete => Response::have(info.size, false, o),
                    _ => Response::have(info.size, info.complete, info.present),
                }
            }
            _ => Response::NotFound,
        },
        Admission::Encode { hash, ranges } => encode(store, &hash, &ranges),
        Admission::EncodeMany(items) => Response::Many(
            items
                .iter()
                .map(|(hash, size)| {
                    let chunks = ChunkRanges::from(ChunkNum(0)..ChunkNum::chunks(*size));
                    encode(store, hash, &chunks)
                })
                .collect(),
        ),
        Admission::Answer(response) => response,
    }
}

/// `ranges` of `hash` from `store` as an answer.
fn encode(store: &Store, hash: &Hash, ranges: &ChunkRanges) -> Response {
    match store.encode(hash, ranges) {
        Ok(bytes) => Response::Data(bytes),
        Err(Error::NotFound(_)) => Response::NotFound,
        Err(Error::RangeMissing(_)) => Response::Missing,
        Err(e) => {
            tracing::warn!(%hash, "cannot serve: {e}");
            Response::Missing
        }
    }
}
