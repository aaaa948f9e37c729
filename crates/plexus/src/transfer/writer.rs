//! A blob being written by a download, with its disk work (verified writes,
//! fsync, redb commits) run off the async workers.

use std::sync::Arc;

use crate::{
    content::{blocking, ApplyError, ChunkRanges, Hash, PartialBlob, Store},
    Error,
};

/// The [`PartialBlob`] of one download. Each call hands the blob to the
/// blocking pool and takes it back, so the download loop never blocks an
/// async worker on the disk.
pub(super) struct BlobWriter {
    hash: Hash,
    blob: Option<PartialBlob>,
}

impl BlobWriter {
    /// Opens (creates or resumes) `hash` of `size` bytes in `store`.
    /// With `batched`, see [`Store::begin_download`].
    pub(super) async fn open(
        store: Arc<Store>,
        hash: Hash,
        size: u64,
        batched: bool,
    ) -> Result<Self, Error> {
        let blob = blocking(move || store.begin_download(hash, size, batched)).await?;
        Ok(Self {
            hash,
            blob: Some(blob),
        })
    }

    fn blob(&self) -> &PartialBlob {
        self.blob.as_ref().expect("the blob is back between calls")
    }

    /// Verified ranges present (written, maybe not yet committed).
    pub(super) fn present(&self) -> &ChunkRanges {
        self.blob().present()
    }

    /// Whether every byte is present.
    pub(super) fn is_complete(&self) -> bool {
        self.blob().is_complete()
    }

    /// Verifies `encoded` (an answer for `ranges`) and writes what checks
    /// out; see [`PartialBlob::apply`].
    pub(super) async fn apply(
        &mut self,
        ranges: ChunkRanges,
        encoded: Vec<u8>,
    ) -> Result<(u64, Result<(), ApplyError>), Error> {
        let mut blob = self.blob.take().expect("one call at a time");
        let (blob, out) = tokio::task::spawn_blocking(move || {
            let out = blob.apply(&ranges, &encoded);
            (blob, out)
        })
        .await
        .map_err(|e| Error::Download {
            hash: self.hash,
            reason: format!("verifying a response failed: {e}"),
        })?;
        self.blob = Some(blob);
        Ok(out)
    }

    /// Syncs the data and records the present ranges.
    pub(super) async fn commit(&mut self) -> Result<(), Error> {
        let mut blob = self.blob.take().expect("one call at a time");
        let (blob, out) = tokio::task::spawn_blocking(move || {
            let out = blob.commit();
            (blob, out)
        })
        .await
        .map_err(|e| Error::Store(format!("commit task failed: {e}")))?;
        self.blob = Some(blob);
        out
    }
}
