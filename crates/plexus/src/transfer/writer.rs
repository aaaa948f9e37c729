//! A blob being written by a download, with its disk work (verified writes,
//! fsync, redb commits) run off the async workers, and commits synced while
//! the download goes on.

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::{
    content::{blocking, Applied, ApplyError, BlobFiles, ChunkRanges, Hash, PartialBlob, Store},
    Error,
};

/// The [`PartialBlob`] of one download. Each call hands the blob to the
/// blocking pool and takes it back, so the download loop never blocks an
/// async worker on the disk.
pub(super) struct BlobWriter {
    hash: Hash,
    blob: Option<PartialBlob>,
    /// The commit started by [`BlobWriter::start_commit`], if any.
    syncing: Option<JoinHandle<Result<(), Error>>>,
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
            syncing: None,
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

    /// Verifies `encoded` (an answer for `ranges`), writes what checks out
    /// and marks it present: [`verify_and_write`] then
    /// [`BlobWriter::add_written`]. Returns the bytes written and whether
    /// all of it checked out and was written.
    pub(super) async fn apply(
        &mut self,
        ranges: ChunkRanges,
        encoded: Vec<u8>,
    ) -> Result<(u64, Result<(), ApplyError>), Error> {
        let applied = verify_and_write(self.hash, self.files(), ranges, encoded).await?;
        self.add_written(&applied.ranges);
        Ok((applied.written, applied.result))
    }

    /// The blob's files, to verify and write one answer with
    /// [`verify_and_write`] while others are (each request's task does
    /// its own: hashing and writing on both cores, off the download loop).
    pub(super) fn files(&self) -> BlobFiles {
        self.blob().files()
    }

    /// Marks ranges written by [`verify_and_write`] present.
    pub(super) fn add_written(&mut self, ranges: &ChunkRanges) {
        self.blob
            .as_mut()
            .expect("the blob is back between calls")
            .add_written(ranges);
    }

    /// Starts recording the ranges present now: their sync and record run
    /// while answers go on being applied (a commit waiting for the disk
    /// held up the download: `plexus bench` spent 22 % of a transfer in
    /// commits). Returns `false`, starting nothing, while the last one is
    /// still under way; a failed one is this call's error.
    pub(super) async fn start_commit(&mut self) -> Result<bool, Error> {
        if self.syncing.as_ref().is_some_and(|s| !s.is_finished()) {
            return Ok(false);
        }
        self.finish_commit().await?;
        let commit = self
            .blob
            .as_mut()
            .expect("the blob is back between calls")
            .begin_commit()?;
        if let Some(commit) = commit {
            self.syncing = Some(tokio::task::spawn_blocking(move || commit.run()));
        }
        Ok(true)
    }

    /// Waits for the commit started last, if any.
    async fn finish_commit(&mut self) -> Result<(), Error> {
        match self.syncing.take() {
            Some(syncing) => syncing
                .await
                .map_err(|e| Error::Store(format!("commit task failed: {e}")))?,
            None => Ok(()),
        }
    }

    /// Syncs the data and records the present ranges, after the commit
    /// started last.
    pub(super) async fn commit(&mut self) -> Result<(), Error> {
        self.finish_commit().await?;
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

/// Verifies `encoded` (an answer for `ranges` of `hash`) and writes what
/// checks out through `files`, on the blocking pool.
pub(super) async fn verify_and_write(
    hash: Hash,
    mut files: BlobFiles,
    ranges: ChunkRanges,
    encoded: Vec<u8>,
) -> Result<Applied, Error> {
    tokio::task::spawn_blocking(move || files.apply(&ranges, &encoded))
        .await
        .map_err(|e| Error::Download {
            hash,
            reason: format!("verifying a response failed: {e}"),
        })
}
