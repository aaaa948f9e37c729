//! Repair without the owner, as a state machine without I/O: each holder
//! tracks the other holders of the objects it holds a shard of, probes
//! them every so often, and decides when a shard is lost and whether it is
//! the one to rebuild it. Time is passed in.
//!
//! - A holder whose probes have gone unanswered for longer than
//!   `repair_after` (or that answered without the shard it should hold)
//!   has lost its shard. Counted from its first unanswered probe, not from
//!   its last answer: while this node is busy (a repair takes seconds) and
//!   probes no one, nobody looks lost.
//! - Exactly one surviving holder repairs each lost shard: the alive
//!   holder whose BLAKE3(peer id) is closest (XOR) to BLAKE3(object,
//!   index). Every holder computes the same choice from the same holder
//!   list, so no storm; if the chosen one is itself gone, the next closest
//!   takes over once it is seen as gone too.
//! - The holder list has one entry per shard index, with a generation
//!   (`holders.rs`). A repair replaces the lost holder's entry with one a
//!   generation higher, and lists heard from other holders are merged in,
//!   never taken whole: concurrent repairs of different shards all stay,
//!   two of the same shard agree on one winner, and a holder that comes
//!   back later is no longer listed and not counted twice; once its list
//!   says so, it drops its copy ([`Decision::Drop`]). A holder whose probe
//!   answer carries a list short of the one known here is told it
//!   ([`Decision::Tell`]): one that missed a repair's announcement would
//!   otherwise never learn it holds a shard to watch.
//! - A failed repair is tried again after a short backoff (one probe
//!   period, doubling with each failure up to `repair_after`), not a
//!   whole grace time.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use libp2p::PeerId;

use super::{holders, protocol::HolderInfo};
use crate::content::Hash;

/// What the repair machine wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Ask `holder` which shards of `object` it holds (`Status`).
    Probe { object: Hash, holder: HolderInfo },
    /// Rebuild shard `index` of `object` from any K and place it on a new
    /// peer, none of `exclude` (the holders now).
    Repair {
        object: Hash,
        index: u8,
        exclude: Vec<PeerId>,
    },
    /// This node is no longer a holder of `object`: drop its shard.
    Drop { object: Hash },
    /// Check this node's own shard of `object` (once per probe period):
    /// a deleted or damaged one is given up
    /// ([`handle_released`](Repair::handle_released)).
    Check { object: Hash },
    /// Tell `holder` the holder list of `object` known here: it answered a
    /// probe with a list that lacks some of it (a holder placed by a repair
    /// whose announcement did not reach it knows no list at all, so it
    /// would never repair, not even when elected).
    Tell { object: Hash, holder: HolderInfo },
}

/// One object whose shard this node holds.
#[derive(Debug)]
struct Tracked {
    holders: Vec<HolderInfo>,
    /// Last time each holder answered holding its shard.
    missed: HashMap<PeerId, Instant>,
    /// Holders that answered without their shard: lost at once.
    dropped: Vec<PeerId>,
    /// Probes not yet handed out.
    due: Vec<HolderInfo>,
    next_round: Instant,
    /// Index being repaired by this node, the generation of the entry it
    /// replaces, since when.
    repairing: Option<(u8, u32, Instant)>,
    /// Per shard index whose repair failed here: failures in a row, and
    /// when to try again.
    retry: HashMap<u8, (u32, Instant)>,
    /// Peers whose shard of this object was moved away (lost, failed an
    /// audit, gave it up): never given one of its shards again.
    replaced: Vec<PeerId>,
}

/// The repair state of one node.
#[derive(Debug)]
pub(crate) struct Repair {
    me: PeerId,
    probe_every: Duration,
    repair_after: Duration,
    objects: HashMap<Hash, Tracked>,
    out: Vec<Decision>,
}

/// Distance of `peer` to shard `index` of `object`: XOR of BLAKE3 hashes.
pub(super) fn distance(object: &Hash, index: u8, peer: &PeerId) -> [u8; 32] {
    let mut key = object.0.to_vec();
    key.push(index);
    let target = blake3::hash(&key);
    let me = blake3::hash(&peer.to_bytes());
    let mut d = [0u8; 32];
    for (i, b) in d.iter_mut().enumerate() {
        *b = target.as_bytes()[i] ^ me.as_bytes()[i];
    }
    d
}

impl Repair {
    /// Probes each holder every `probe_every`; a holder unheard of for
    /// `repair_after` has lost its shard.
    pub(crate) fn new(me: PeerId, probe_every: Duration, repair_after: Duration) -> Self {
        Self {
            me,
            probe_every,
            repair_after,
            objects: HashMap::new(),
            out: Vec::new(),
        }
    }

    /// Starts (or goes on) tracking `object`, merging `told` (a holder
    /// list from the owner, another holder or a probe's answer) into the
    /// list known here; a holder new to the list is alive until its probes
    /// go unanswered. If
    /// this node is no longer in the merged list, it is to drop its shard.
    pub(crate) fn handle_holders(&mut self, object: Hash, told: Vec<HolderInfo>, now: Instant) {
        let known = self
            .objects
            .get(&object)
            .map(|t| t.holders.as_slice())
            .unwrap_or_default();
        let list = holders::merge(known, &told);
        if !list.is_empty() && !holders::lists(&list, &self.me) {
            self.objects.remove(&object);
            self.out.push(Decision::Drop { object });
            return;
        }
        let t = self.objects.entry(object).or_insert_with(|| Tracked {
            holders: Vec::new(),
            missed: HashMap::new(),
            dropped: Vec::new(),
            due: Vec::new(),
            next_round: now,
            repairing: None,
            retry: HashMap::new(),
            replaced: Vec::new(),
        });
        t.missed.retain(|p, _| holders::lists(&list, p));
        t.dropped.retain(|p| holders::lists(&list, p));
        // A shard moved since a repair of it failed here: start afresh.
        let old = std::mem::take(&mut t.holders);
        for h in &old {
            if !holders::lists(&list, &h.peer) && !t.replaced.contains(&h.peer) {
                t.replaced.push(h.peer);
            }
        }
        t.retry.retain(|i, _| {
            old.iter().find(|h| h.index == *i) == list.iter().find(|h| h.index == *i)
        });
        t.holders = list;
    }

    /// How often each holder is probed.
    pub(crate) fn probe_every(&self) -> Duration {
        self.probe_every
    }

    /// The objects tracked.
    pub(crate) fn objects(&self) -> Vec<Hash> {
        self.objects.keys().copied().collect()
    }

    /// Stops tracking `object` (released).
    pub(crate) fn handle_released(&mut self, object: &Hash) {
        self.objects.remove(object);
    }

    /// `holder`'s answer to a probe: the indexes it holds whole, or `None`
    /// when it did not answer.
    pub(crate) fn handle_status(
        &mut self,
        object: Hash,
        holder: PeerId,
        held: Option<Vec<u8>>,
        now: Instant,
    ) {
        let Some(t) = self.objects.get_mut(&object) else {
            return;
        };
        let mut listed = t.holders.iter().filter(|h| h.peer == holder).peekable();
        if listed.peek().is_none() {
            return;
        }
        let Some(held) = held else {
            // Silent: lost once silent for `repair_after`.
            t.missed.entry(holder).or_insert(now);
            return;
        };
        if listed.all(|h| held.contains(&h.index)) {
            t.missed.remove(&holder);
            t.dropped.retain(|p| *p != holder);
        } else if !t.dropped.contains(&holder) {
            // It answers but has dropped (or never had) its shard: lost.
            t.dropped.push(holder);
        }
    }

    /// The holder list `holder` answered a probe with: if it lacks what
    /// this node knows, `holder` is told the list known here
    /// ([`Decision::Tell`]). Merging lists never loses an entry, so a told
    /// holder's list soon equals this one and the telling stops.
    pub(crate) fn handle_heard_list(&mut self, object: Hash, holder: PeerId, told: &[HolderInfo]) {
        let Some(t) = self.objects.get(&object) else {
            return;
        };
        let Some(entry) = t.holders.iter().find(|h| h.peer == holder) else {
            return;
        };
        if holder != self.me && holders::merge(told, &t.holders) != told {
            let tell = Decision::Tell {
                object,
                holder: entry.clone(),
            };
            if !self.out.contains(&tell) {
                self.out.push(tell);
            }
        }
    }

    /// This node's repair of shard `index` ended: `placed` on a new holder
    /// (its entry a generation above the lost one's), or failed (`None`,
    /// tried again after a backoff: one probe period, doubled with each
    /// failure in a row, at most `repair_after`).
    pub(crate) fn handle_repaired(
        &mut self,
        object: Hash,
        index: u8,
        placed: Option<HolderInfo>,
        now: Instant,
    ) {
        let Some(t) = self.objects.get_mut(&object) else {
            return;
        };
        let from = match t.repairing.take() {
            Some((i, generation, _)) if i == index => generation,
            _ => t
                .holders
                .iter()
                .find(|h| h.index == index)
                .map_or(0, |h| h.generation),
        };
        match placed {
            Some(new) => {
                t.retry.remove(&index);
                t.missed.remove(&new.peer);
                if let Some(lost) = t.holders.iter().find(|h| h.index == index) {
                    if !t.replaced.contains(&lost.peer) {
                        t.replaced.push(lost.peer);
                    }
                }
                t.holders = holders::moved(&t.holders, index, from, new.peer, new.addrs);
                t.missed.retain(|p, _| holders::lists(&t.holders, p));
                t.dropped.retain(|p| holders::lists(&t.holders, p));
            }
            None => {
                let failures = t.retry.get(&index).map_or(0, |r| r.0) + 1;
                let backoff = self
                    .probe_every
                    .saturating_mul(1 << (failures - 1).min(16))
                    .min(self.repair_after);
                t.retry.insert(index, (failures, now + backoff));
            }
        }
    }

    /// The holder list of `object` as this node knows it.
    pub(crate) fn holders(&self, object: &Hash) -> Vec<HolderInfo> {
        self.objects
            .get(object)
            .map(|t| t.holders.clone())
            .unwrap_or_default()
    }

    fn alive(&self, t: &Tracked, peer: &PeerId, now: Instant) -> bool {
        *peer == self.me
            || !t.dropped.contains(peer)
                && t.missed
                    .get(peer)
                    .is_none_or(|since| now.saturating_duration_since(*since) <= self.repair_after)
    }

    /// The next thing to do, if any.
    pub(crate) fn poll(&mut self, now: Instant) -> Option<Decision> {
        if let Some(d) = self.out.pop() {
            return Some(d);
        }
        let objects: Vec<Hash> = self.objects.keys().copied().collect();
        for object in objects {
            let mut decision = None;
            let t = &self.objects[&object];
            // One repair at a time per object, given up after 2 periods.
            if let Some((_, _, since)) = t.repairing {
                if now.saturating_duration_since(since) < 2 * self.repair_after {
                    continue;
                }
            }
            let lost: Vec<&HolderInfo> = t
                .holders
                .iter()
                .filter(|h| !self.alive(t, &h.peer, now))
                .filter(|h| t.retry.get(&h.index).is_none_or(|r| now >= r.1))
                .collect();
            let alive: Vec<PeerId> = t
                .holders
                .iter()
                .map(|h| h.peer)
                .filter(|p| self.alive(t, p, now))
                .collect();
            for h in lost {
                let chosen = alive
                    .iter()
                    .min_by_key(|p| distance(&object, h.index, p))
                    .copied();
                if chosen == Some(self.me) {
                    decision = Some((
                        Decision::Repair {
                            object,
                            index: h.index,
                            exclude: t
                                .holders
                                .iter()
                                .map(|h| h.peer)
                                .chain(t.replaced.iter().copied())
                                .collect(),
                        },
                        h.index,
                        h.generation,
                    ));
                    break;
                }
            }
            if let Some((decision, index, generation)) = decision {
                let t = self.objects.get_mut(&object).expect("tracked");
                t.repairing = Some((index, generation, now));
                return Some(decision);
            }
            let t = self.objects.get_mut(&object).expect("tracked");
            if t.due.is_empty() && now >= t.next_round {
                t.next_round = now + self.probe_every;
                let me = self.me;
                t.due = t.holders.iter().filter(|h| h.peer != me).cloned().collect();
                return Some(Decision::Check { object });
            }
            if let Some(holder) = t.due.pop() {
                return Some(Decision::Probe { object, holder });
            }
        }
        None
    }
}
