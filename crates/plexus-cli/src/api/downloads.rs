//! The daemon's one list of downloads, `GET /v1/downloads`: every get the
//! API runs (`/v1/get`, whoever asked: `plexus get`, the page, a script;
//! and `/v1/storage/get`) while it runs, and the last [`KEEP_FINISHED`]
//! that ended. [`Registry`] is the bookkeeping with time passed in;
//! [`Downloads`] shares it between the routes and reads live progress.

use std::{
    collections::{BTreeMap, VecDeque},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use plexus::{content::Hash, transfer::Progress};
use tokio::sync::watch;

use super::types::{DownloadEntry, DownloadKind, DownloadState};

/// Finished or failed downloads kept for the list.
pub const KEEP_FINISHED: usize = 50;

/// The span the rate of an active download is measured over.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// Shortest gap between two rate samples.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);

/// A moment, as the registry needs it: for rates and for the wall clock.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time.
    pub at: Instant,
    /// Unix milliseconds.
    pub unix_ms: u64,
}

impl Now {
    /// This moment.
    pub fn current() -> Self {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Self {
            at: Instant::now(),
            unix_ms,
        }
    }
}

/// What a download is, when it starts.
#[derive(Debug, Clone)]
pub struct Started {
    /// Which path it took.
    pub kind: DownloadKind,
    /// The content or object hash.
    pub hash: Hash,
    /// Name from the ticket.
    pub name: Option<String>,
    /// Where it is written.
    pub out: Option<PathBuf>,
}

/// How a download ended.
#[derive(Debug, Clone)]
pub enum Ended {
    /// Written out: its size, and the providers that sent bytes if known.
    Done {
        /// Bytes of the content.
        size: u64,
        /// Providers that sent bytes.
        peers: Option<usize>,
    },
    /// Failed, with the error for a person.
    Failed(String),
}

struct Active {
    entry: DownloadEntry,
    started: Instant,
    /// (time, bytes done) over the last [`RATE_WINDOW`].
    samples: VecDeque<(Instant, u64)>,
}

/// Active downloads and the recently ended ones (sans-IO: every call is
/// given the time).
#[derive(Default)]
pub struct Registry {
    next_id: u64,
    active: BTreeMap<u64, Active>,
    /// Newest first.
    finished: VecDeque<DownloadEntry>,
}

impl Registry {
    /// Records a download that starts now; returns its id.
    pub fn start(&mut self, now: Now, what: Started) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let entry = DownloadEntry {
            id,
            kind: what.kind,
            hash: what.hash,
            name: what.name,
            out: what.out,
            done: 0,
            total: 0,
            rate: 0.0,
            peers: None,
            state: DownloadState::Active,
            error: None,
            started_unix_ms: now.unix_ms,
            ended_unix_ms: None,
        };
        let samples = VecDeque::from([(now.at, 0)]);
        let started = now.at;
        self.active.insert(
            id,
            Active {
                entry,
                started,
                samples,
            },
        );
        id
    }

    /// Takes in the progress of active download `id` seen at `now`.
    pub fn observe(&mut self, id: u64, now: Now, progress: &Progress) {
        let Some(a) = self.active.get_mut(&id) else {
            return;
        };
        a.entry.done = progress.done;
        a.entry.total = progress.total;
        a.entry.peers = Some(progress.peers);
        let last = a.samples.back().map(|s| s.0);
        if last.is_none_or(|t| now.at.duration_since(t) >= SAMPLE_EVERY) {
            a.samples.push_back((now.at, progress.done));
        }
        while a.samples.len() > 2
            && now.at.duration_since(a.samples[0].0) > RATE_WINDOW
            && now.at.duration_since(a.samples[1].0) >= RATE_WINDOW / 2
        {
            a.samples.pop_front();
        }
        let (first, newest) = (a.samples[0], a.samples[a.samples.len() - 1]);
        let secs = newest.0.duration_since(first.0).as_secs_f64();
        a.entry.rate = if secs > 0.0 {
            newest.1.saturating_sub(first.1) as f64 / secs
        } else {
            0.0
        };
    }

    /// Moves download `id` to the finished list, dropping the oldest
    /// beyond [`KEEP_FINISHED`].
    pub fn end(&mut self, id: u64, now: Now, how: Ended) {
        let Some(a) = self.active.remove(&id) else {
            return;
        };
        let mut entry = a.entry;
        entry.ended_unix_ms = Some(now.unix_ms);
        match how {
            Ended::Done { size, peers } => {
                entry.state = DownloadState::Done;
                entry.done = size;
                entry.total = size;
                entry.peers = peers.or(entry.peers);
                let secs = now.at.duration_since(a.started).as_secs_f64();
                entry.rate = if secs > 0.0 { size as f64 / secs } else { 0.0 };
            }
            Ended::Failed(error) => {
                entry.state = DownloadState::Failed;
                entry.error = Some(error);
                entry.rate = 0.0;
            }
        }
        self.finished.push_front(entry);
        self.finished.truncate(KEEP_FINISHED);
    }

    /// The active downloads (newest first), then the ended ones (newest first).
    pub fn list(&self) -> Vec<DownloadEntry> {
        let active = self.active.values().rev().map(|a| a.entry.clone());
        active.chain(self.finished.iter().cloned()).collect()
    }
}

#[derive(Default)]
struct Shared {
    registry: Registry,
    progress: BTreeMap<u64, watch::Receiver<Progress>>,
}

/// The daemon's registry, shared by its routes.
#[derive(Clone, Default)]
pub struct Downloads {
    shared: Arc<Mutex<Shared>>,
}

impl Downloads {
    /// Records a download starting now, with its live progress when it has
    /// one. End it with [`Tracked::end`]; dropped unended, it counts as failed.
    pub fn start(&self, what: Started, progress: Option<watch::Receiver<Progress>>) -> Tracked {
        let mut shared = self.lock();
        let id = shared.registry.start(Now::current(), what);
        if let Some(rx) = progress {
            shared.progress.insert(id, rx);
        }
        Tracked {
            downloads: self.clone(),
            id,
            ended: false,
        }
    }

    /// Every download, with the progress of the active ones read now.
    pub fn list(&self) -> Vec<DownloadEntry> {
        let now = Now::current();
        let mut guard = self.lock();
        let shared = &mut *guard;
        for (id, rx) in &shared.progress {
            shared.registry.observe(*id, now, &rx.borrow());
        }
        shared.registry.list()
    }

    fn end(&self, id: u64, how: Ended) {
        let now = Now::current();
        let mut shared = self.lock();
        if let Some(rx) = shared.progress.remove(&id) {
            shared.registry.observe(id, now, &rx.borrow());
        }
        shared.registry.end(id, now, how);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        // The data stays consistent even if a holder panicked.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A download in the registry, to be ended once.
pub struct Tracked {
    downloads: Downloads,
    id: u64,
    ended: bool,
}

impl Tracked {
    /// Records how it ended.
    pub fn end(mut self, how: Ended) {
        self.ended = true;
        self.downloads.end(self.id, how);
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.ended {
            let stopped = Ended::Failed("the download stopped before it ended".into());
            self.downloads.end(self.id, stopped);
        }
    }
}

#[cfg(test)]
#[path = "downloads_tests.rs"]
mod tests;
