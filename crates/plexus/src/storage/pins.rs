//! What this node stores: shards it holds for others (counted against the
//! quota it offers) and objects it stored itself (with their holders).
//! Kept in `data_dir/storage/pins.json`, written through a temporary file
//! and renamed, so a crash leaves the old or the new list, never half.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
};

use libp2p::PeerId;
use serde::{Deserialize, Serialize};

use super::{holders, protocol::HolderInfo, redundancy::Redundancy};
use crate::{content::Hash, Error};

/// A shard held for another peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// The object (its manifest's hash).
    pub object: Hash,
    /// The shard's index.
    pub index: u8,
    /// The shard's hash.
    pub shard: Hash,
    /// Bytes counted against the quota: the shard and the manifest.
    pub bytes: u64,
    /// Who stored it (the only peer that may release it).
    pub owner: PeerId,
    /// The object's holders, as last told.
    pub holders: Vec<HolderInfo>,
}

/// An object this node stored in the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Own {
    /// The object (its manifest's hash).
    pub object: Hash,
    /// File name.
    pub name: String,
    /// Bytes of the file.
    pub size: u64,
    /// How it was spread.
    pub redundancy: Redundancy,
    /// Where its shards were placed.
    pub holders: Vec<HolderInfo>,
}

/// Bytes set aside per (object, shard index) while a shard is fetched.
type Reserved = HashMap<(Hash, u8), u64>;

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    held: Vec<Held>,
    own: Vec<Own>,
}

/// The pin list and the quota: offered bytes, bytes held, bytes reserved
/// for shards being fetched.
#[derive(Debug)]
pub(crate) struct Pins {
    path: PathBuf,
    offered: u64,
    inner: Mutex<(State, Reserved)>,
    /// Repairs this node carried out since start, and the bytes they moved.
    repairs: (AtomicU64, AtomicU64),
    /// Objects whose shard this node gave up as deleted or damaged on its
    /// disk, and when: not taken back for [`REFUSE_LOST_FOR`].
    lost: Mutex<HashMap<Hash, std::time::Instant>>,
}

/// How long a node that lost its copy of an object (deleted or damaged on
/// its disk) refuses a shard of it: a disk that rots shards is not a home
/// for the rebuilt one. Seen in the test bed: a repair placed the rebuilt
/// shard back on the holder that had just given it up.
pub(crate) const REFUSE_LOST_FOR: std::time::Duration = std::time::Duration::from_secs(60 * 60);

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Pins {
    /// Opens the list under `data_dir/storage`, offering `offered` bytes.
    pub(crate) fn open(data_dir: &Path, offered: u64) -> Result<Self, Error> {
        let dir = data_dir.join("storage");
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join("pins.json");
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::Store(format!(
                    "{} is corrupt ({e}); move it away to start with an empty pin list",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(io(&path)(e)),
        };
        Ok(Self {
            path,
            offered,
            inner: Mutex::new((state, HashMap::new())),
            repairs: (AtomicU64::new(0), AtomicU64::new(0)),
            lost: Mutex::new(HashMap::new()),
        })
    }

    fn save(&self, state: &State) -> Result<(), Error> {
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(state).expect("serializable");
        std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(io(&self.path))
    }

    /// Counts one repair carried out here that moved `bytes`.
    pub(crate) fn count_repair(&self, bytes: u64) {
        self.repairs.0.fetch_add(1, Ordering::Relaxed);
        self.repairs.1.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Repairs carried out here since start, and the bytes they moved.
    pub(crate) fn repairs(&self) -> (u64, u64) {
        (
            self.repairs.0.load(Ordering::Relaxed),
            self.repairs.1.load(Ordering::Relaxed),
        )
    }

    /// Bytes offered to others.
    pub(crate) fn offered(&self) -> u64 {
        self.offered
    }

    /// Bytes still free: offered less held and reserved.
    pub(crate) fn free(&self) -> u64 {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let used: u64 =
            guard.0.held.iter().map(|h| h.bytes).sum::<u64>() + guard.1.values().sum::<u64>();
        self.offered.saturating_sub(used)
    }

    /// Sets `bytes` aside for shard `index` of `object`, or says why not.
    pub(crate) fn reserve(&self, object: Hash, index: u8, bytes: u64) -> Result<(), String> {
        if self.offered == 0 {
            return Err("this node offers no storage (start it with --offer-storage SIZE)".into());
        }
        if let Some(at) = self.lost_at(&object) {
            return Err(format!(
                "this node lost its copy of {object} {} s ago (deleted or damaged on its disk); \
                 place it elsewhere",
                at.elapsed().as_secs()
            ));
        }
        let free = self.free();
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if guard.1.contains_key(&(object, index)) {
            return Err(format!(
                "shard {index} of {object} is being fetched already"
            ));
        }
        // Each shard of an object on its own peer, or losing one peer
        // would lose two shards.
        let other = guard
            .0
            .held
            .iter()
            .filter(|h| h.object == object)
            .map(|h| h.index)
            .chain(
                guard
                    .1
                    .keys()
                    .filter(|(o, _)| *o == object)
                    .map(|(_, i)| *i),
            )
            .find(|i| *i != index);
        if let Some(other) = other {
            return Err(format!(
                "this node holds shard {other} of {object} already; each shard goes to its own holder"
            ));
        }
        if bytes > free {
            return Err(format!(
                "a shard of {bytes} bytes is over this node's free quota: {free} of {} bytes free",
                self.offered
            ));
        }
        guard.1.insert((object, index), bytes);
        Ok(())
    }

    /// Drops a reservation (the shard was not stored).
    pub(crate) fn unreserve(&self, object: Hash, index: u8) {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard.1.remove(&(object, index));
    }

    /// Records a held shard in place of its reservation.
    pub(crate) fn hold(&self, held: Held) -> Result<(), Error> {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard.1.remove(&(held.object, held.index));
        let state = &mut guard.0;
        state
            .held
            .retain(|h| (h.object, h.index) != (held.object, held.index));
        state.held.push(held);
        self.save(state)
    }

    /// The shards of `object` held here.
    pub(crate) fn held(&self, object: &Hash) -> Vec<Held> {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .0
            .held
            .iter()
            .filter(|h| h.object == *object)
            .cloned()
            .collect()
    }

    /// Every shard held here.
    pub(crate) fn all_held(&self) -> Vec<Held> {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard.0.held.clone()
    }

    /// Merges `told` into the holder list of `object`'s shards held here
    /// (`holders.rs`: per shard the highest generation); returns the list
    /// now recorded (empty if nothing of `object` is held here).
    pub(crate) fn merge_holders(
        &self,
        object: &Hash,
        told: &[HolderInfo],
    ) -> Result<Vec<HolderInfo>, Error> {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut guard.0;
        let Some(first) = state.held.iter().find(|h| h.object == *object) else {
            return Ok(Vec::new());
        };
        let merged = holders::merge(&first.holders, told);
        if merged == first.holders {
            return Ok(merged);
        }
        for h in state.held.iter_mut().filter(|h| h.object == *object) {
            h.holders = merged.clone();
        }
        self.save(state)?;
        Ok(merged)
    }

    /// Forgets the shards of `object` held here; returns them.
    pub(crate) fn release(&self, object: &Hash) -> Result<Vec<Held>, Error> {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut guard.0;
        let (gone, kept) = std::mem::take(&mut state.held)
            .into_iter()
            .partition(|h| h.object == *object);
        state.held = kept;
        self.save(state)?;
        Ok(gone)
    }

    /// This node's shard of `object` was deleted or damaged on its disk: it
    /// refuses the object for [`REFUSE_LOST_FOR`].
    pub(crate) fn mark_lost(&self, object: Hash) {
        let mut lost = self.lost.lock().unwrap_or_else(|e| e.into_inner());
        lost.retain(|_, at| at.elapsed() < REFUSE_LOST_FOR);
        lost.insert(object, std::time::Instant::now());
    }

    fn lost_at(&self, object: &Hash) -> Option<std::time::Instant> {
        let lost = self.lost.lock().unwrap_or_else(|e| e.into_inner());
        lost.get(object)
            .copied()
            .filter(|at| at.elapsed() < REFUSE_LOST_FOR)
    }

    /// Records an object this node stored.
    pub(crate) fn add_own(&self, own: Own) -> Result<(), Error> {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut guard.0;
        state.own.retain(|o| o.object != own.object);
        state.own.push(own);
        self.save(state)
    }

    /// Objects this node stored.
    pub(crate) fn own(&self) -> Vec<Own> {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard.0.own.clone()
    }

    /// Forgets an object this node stored; returns it.
    pub(crate) fn remove_own(&self, object: &Hash) -> Result<Option<Own>, Error> {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut guard.0;
        let found = state.own.iter().position(|o| o.object == *object);
        let own = found.map(|i| state.own.remove(i));
        self.save(state)?;
        Ok(own)
    }

    /// Whether any pin (held or own) still uses blob `hash`, other than
    /// the shards of `except`.
    pub(crate) fn uses(&self, hash: &Hash, except: &Hash) -> bool {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .0
            .held
            .iter()
            .filter(|h| h.object != *except)
            .any(|h| h.shard == *hash || h.object == *hash)
            || guard
                .0
                .own
                .iter()
                .any(|o| o.object == *hash && o.object != *except)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(object: Hash, index: u8, bytes: u64) -> Held {
        Held {
            object,
            index,
            shard: Hash::of(&[index]),
            bytes,
            owner: PeerId::random(),
            holders: Vec::new(),
        }
    }

    #[test]
    fn quota_counts_held_and_reserved_bytes_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let pins = Pins::open(dir.path(), 1000).unwrap();
        let (obj, other) = (Hash::of(b"o"), Hash::of(b"p"));
        pins.reserve(obj, 0, 600).unwrap();
        assert_eq!(pins.free(), 400);
        let err = pins.reserve(other, 1, 500).unwrap_err();
        assert!(err.contains("400 of 1000 bytes free"), "{err}");
        pins.hold(held(obj, 0, 600)).unwrap();
        assert_eq!(pins.free(), 400);
        pins.reserve(other, 1, 400).unwrap();
        pins.unreserve(other, 1);
        assert_eq!(pins.free(), 400);
        // A second shard of the same object goes elsewhere.
        let err = pins.reserve(obj, 1, 10).unwrap_err();
        assert!(err.contains("holds shard 0"), "{err}");
        drop(pins);
        let pins = Pins::open(dir.path(), 1000).unwrap();
        assert_eq!(pins.held(&obj).len(), 1);
        assert_eq!(pins.release(&obj).unwrap().len(), 1);
        assert_eq!(pins.free(), 1000);
        let none = Pins::open(&dir.path().join("x"), 0).unwrap();
        assert!(none
            .reserve(obj, 0, 1)
            .unwrap_err()
            .contains("--offer-storage"));
    }

    #[test]
    fn an_object_whose_copy_was_lost_here_is_refused_for_a_while() {
        let dir = tempfile::tempdir().unwrap();
        let pins = Pins::open(dir.path(), 1000).unwrap();
        let (obj, other) = (Hash::of(b"o"), Hash::of(b"p"));
        pins.hold(held(obj, 2, 100)).unwrap();
        pins.mark_lost(obj);
        pins.release(&obj).unwrap();
        let err = pins.reserve(obj, 2, 100).unwrap_err();
        assert!(
            err.contains("lost its copy") && err.contains("elsewhere"),
            "{err}"
        );
        pins.reserve(other, 2, 100).unwrap();
    }
}
