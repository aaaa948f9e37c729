//! What the compute component keeps on a node: its settings
//! ([`ComputeConfig`]), the units it runs for others now, the jobs it runs
//! as a runner, and the marks of workers that lost votes (kept across
//! jobs, so a cheater gets fewer units next time too).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Instant,
};

use libp2p::PeerId;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use super::{
    job::{JobProgress, JobResult},
    limits::Limits,
};
use crate::content::Hash;

/// A node's compute settings (`plexus daemon --compute`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComputeConfig {
    /// Run units for others (off by default: a node without it refuses).
    pub enabled: bool,
    /// Units run at once, each on its own blocking thread.
    pub threads: usize,
    /// The most a unit may ask for; a unit asking more is refused.
    pub limits: Limits,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            threads: 1,
            limits: Limits::DEFAULT,
        }
    }
}

/// The `[compute]` table of `config.toml`:
///
/// ```toml
/// [compute]
/// enabled = true
/// threads = 2
/// memory = "64MiB"   # per unit
/// time_secs = 10     # per unit, as fuel (see `limits.rs`)
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComputeFile {
    /// Run units for others.
    pub enabled: Option<bool>,
    /// Units at once.
    pub threads: Option<usize>,
    /// Memory per unit, e.g. `"64MiB"`.
    pub memory: Option<String>,
    /// Time limit per unit in seconds.
    pub time_secs: Option<u64>,
}

impl ComputeFile {
    pub(crate) fn check(&self) -> Result<(), String> {
        if let Some(m) = &self.memory {
            crate::config::parse_size(m).map_err(|e| format!("compute.memory: {e}"))?;
        }
        Ok(())
    }

    /// Applies the table on top of `config`.
    pub fn apply(&self, config: &mut ComputeConfig) {
        if let Some(on) = self.enabled {
            config.enabled = on;
        }
        if let Some(n) = self.threads {
            config.threads = n.max(1);
        }
        if let Some(Ok(bytes)) = self.memory.as_deref().map(crate::config::parse_size) {
            config.limits.memory_bytes = bytes;
        }
        if let Some(secs) = self.time_secs {
            config.limits.fuel = Limits::fuel_for(std::time::Duration::from_secs(secs.max(1)));
        }
    }
}

/// A unit this node runs for another now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunningUnit {
    /// Who asked.
    pub runner: PeerId,
    /// The job's module.
    pub module: Hash,
    /// The unit's input.
    pub input: Hash,
    /// Seconds since it arrived (fetching and waiting for a thread count).
    pub secs: f64,
}

/// The compute part of a node's status.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ComputeStatus {
    /// Runs units for others.
    pub enabled: bool,
    /// Units run at once.
    pub threads: usize,
    /// Units it runs (or fetches for) now.
    pub running: Vec<RunningUnit>,
    /// Units it ran to an output.
    pub units_done: u64,
    /// Units it ran that ended in an error (out of fuel, trap...).
    pub units_failed: u64,
    /// Units it refused.
    pub units_refused: u64,
}

/// The node's compute state, shared by its worker and its runner.
#[derive(Debug)]
pub(crate) struct Service {
    pub(crate) config: ComputeConfig,
    pub(crate) threads: Semaphore,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    running: HashMap<u64, (PeerId, Hash, Hash, Instant)>,
    done: u64,
    failed: u64,
    refused: u64,
    jobs: HashMap<u64, JobProgress>,
    finished: HashMap<u64, Result<JobResult, String>>,
    marks: HashMap<PeerId, u64>,
}

/// How a unit this node ran for another ended, for the counters.
pub(crate) enum Ended {
    Done,
    Failed,
    Refused,
}

impl Service {
    pub(crate) fn new(config: ComputeConfig) -> Arc<Self> {
        Arc::new(Self {
            threads: Semaphore::new(config.threads.max(1)),
            config,
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a unit that arrived; returns its id for [`Service::end`].
    pub(crate) fn begin(&self, runner: PeerId, module: Hash, input: Hash) -> u64 {
        let mut s = self.state();
        s.next_id += 1;
        let id = s.next_id;
        s.running
            .insert(id, (runner, module, input, Instant::now()));
        id
    }

    pub(crate) fn end(&self, id: Option<u64>, how: Ended) {
        let mut s = self.state();
        if let Some(id) = id {
            s.running.remove(&id);
        }
        match how {
            Ended::Done => s.done += 1,
            Ended::Failed => s.failed += 1,
            Ended::Refused => s.refused += 1,
        }
    }

    pub(crate) fn status(&self) -> ComputeStatus {
        let s = self.state();
        let mut running: Vec<RunningUnit> = s
            .running
            .values()
            .map(|(runner, module, input, at)| RunningUnit {
                runner: *runner,
                module: *module,
                input: *input,
                secs: at.elapsed().as_secs_f64(),
            })
            .collect();
        running.sort_by(|a, b| b.secs.total_cmp(&a.secs));
        ComputeStatus {
            enabled: self.config.enabled,
            threads: self.config.threads,
            running,
            units_done: s.done,
            units_failed: s.failed,
            units_refused: s.refused,
        }
    }

    /// A new job id, its progress registered.
    pub(crate) fn new_job(&self, progress: JobProgress) -> u64 {
        let mut s = self.state();
        s.next_id += 1;
        let id = s.next_id;
        s.jobs.insert(id, JobProgress { id, ..progress });
        id
    }

    pub(crate) fn update_job(&self, progress: &JobProgress) {
        self.state().jobs.insert(progress.id, progress.clone());
    }

    /// The job ended; `result` (of a job started in the background) is
    /// kept for [`Service::take_result`].
    pub(crate) fn end_job(&self, id: u64, result: Option<Result<JobResult, String>>) {
        let mut s = self.state();
        s.jobs.remove(&id);
        if let Some(result) = result {
            // Taken by whoever started the job; a few are kept at most.
            if s.finished.len() >= 16 {
                if let Some(&oldest) = s.finished.keys().min() {
                    s.finished.remove(&oldest);
                }
            }
            s.finished.insert(id, result);
        }
    }

    /// The result of background job `id`, once (none: unknown or running).
    pub(crate) fn take_result(&self, id: u64) -> Option<Result<JobResult, String>> {
        self.state().finished.remove(&id)
    }

    pub(crate) fn jobs(&self) -> Vec<JobProgress> {
        let mut jobs: Vec<_> = self.state().jobs.values().cloned().collect();
        jobs.sort_by_key(|j| j.id);
        jobs
    }

    pub(crate) fn mark(&self, peer: &PeerId) -> u64 {
        self.state().marks.get(peer).copied().unwrap_or(0)
    }

    pub(crate) fn set_mark(&self, peer: PeerId, lost: u64) {
        if lost > 0 {
            self.state().marks.insert(peer, lost);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{config::FileConfig, NodeConfig};

    #[test]
    fn the_compute_table_of_config_toml_applies_and_bad_sizes_are_refused() {
        let file = FileConfig::parse(
            "[compute]\nenabled = true\nthreads = 3\nmemory = \"32MiB\"\ntime_secs = 2\n",
        )
        .unwrap();
        let mut config = NodeConfig::new("/tmp/x");
        assert!(!config.compute.enabled, "off by default");
        file.apply(&mut config);
        assert!(config.compute.enabled);
        assert_eq!(config.compute.threads, 3);
        assert_eq!(config.compute.limits.memory_bytes, 32 << 20);
        assert_eq!(config.compute.limits.fuel, 2_000_000_000);
        let err = FileConfig::parse("[compute]\nmemory = \"lots\"\n").unwrap_err();
        assert!(err.contains("compute.memory"), "{err}");
        assert!(FileConfig::parse("[compute]\nthreds = 2\n").is_err());
    }
}
