//! One round of measurements: random peer lookups and provider finds run
//! by random running nodes, a few at a time, each recorded as a
//! [`Sample`]; and the figures of a round ([`Summary`]).

use std::{fmt, time::Instant};

use futures::{stream, StreamExt};
use plexus::{content::Hash, Node, PeerId};
use rand::{rngs::StdRng, Rng};

use super::nodes::Nodes;

/// Lookups run at once in a round.
const IN_FLIGHT: usize = 16;

/// One lookup's outcome.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// It found what it looked for.
    pub ok: bool,
    /// Hops to the answer (see `plexus::discovery` hops), when known.
    pub hops: Option<u32>,
    /// Requests the lookup sent.
    pub requests: u32,
    /// Wall-clock time of the lookup in milliseconds.
    pub millis: u64,
    /// A provider lookup returned a provider that had left.
    pub stale: bool,
    /// A provider lookup found the running provider but left it out as
    /// not dialable (its dial failed).
    pub undialed: bool,
    /// The lookup itself returned an error.
    pub error: bool,
}

/// A hash some node shared, and who.
#[derive(Debug, Clone)]
pub struct Provided {
    /// The shared content's hash.
    pub hash: Hash,
    /// The node that shared it.
    pub provider: PeerId,
}

/// `count` lookups of random running peers by random running nodes.
pub async fn peer_lookups(nodes: &Nodes, count: usize, rng: &mut StdRng) -> Vec<Sample> {
    let jobs: Vec<(Node, PeerId)> = (0..count)
        .map(|_| loop {
            let (a, from) = nodes.pick(rng);
            let (b, to) = nodes.pick(rng);
            if a != b {
                break (from, to.peer_id());
            }
        })
        .collect();
    stream::iter(jobs)
        .map(|(from, target)| async move {
            let started = Instant::now();
            match from.find_peer(target).await {
                Ok(found) => Sample {
                    ok: !found.addrs.is_empty(),
                    hops: found.hops,
                    requests: found.requests,
                    millis: found.millis,
                    ..Sample::default()
                },
                Err(_) => Sample {
                    millis: started.elapsed().as_millis() as u64,
                    error: true,
                    ..Sample::default()
                },
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await
}

/// Finds of `provided` hashes (at most `count`, chosen at random) by random
/// running nodes other than the provider. A find succeeds when it returns
/// the provider if that still runs, or, if it left, returns nothing stale
/// (`stale` records whether it returned the departed provider).
pub async fn provider_finds(
    nodes: &Nodes,
    provided: &[Provided],
    count: usize,
    rng: &mut StdRng,
) -> Vec<(Sample, bool)> {
    let jobs: Vec<(Node, Provided, bool)> = (0..count.min(provided.len()))
        .map(|_| {
            let p = provided[rng.random_range(0..provided.len())].clone();
            let from = loop {
                let (_, n) = nodes.pick(rng);
                if n.peer_id() != p.provider {
                    break n;
                }
            };
            let alive = nodes.is_alive(&p.provider);
            (from, p, alive)
        })
        .collect();
    stream::iter(jobs)
        .map(|(from, p, alive)| async move {
            let started = Instant::now();
            let sample = match from.lookup_providers(p.hash).await {
                Ok(found) => {
                    let has = found.providers.contains(&p.provider);
                    Sample {
                        ok: has == alive,
                        hops: found.hops,
                        requests: found.requests,
                        millis: found.millis,
                        stale: has && !alive,
                        undialed: alive && found.unreachable.contains(&p.provider),
                        error: false,
                    }
                }
                Err(_) => Sample {
                    millis: started.elapsed().as_millis() as u64,
                    error: true,
                    ..Sample::default()
                },
            };
            (sample, alive)
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await
}

/// The figures of a set of samples.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Samples taken.
    pub count: usize,
    /// Share that succeeded (0..=1).
    pub success: f64,
    /// Successful samples whose hops are not known.
    pub unknown_hops: usize,
    /// Hops of the successful samples: median, 90th percentile, max.
    pub hops: (u32, u32, u32),
    /// Requests (messages sent) per lookup: mean, max.
    pub requests: (f64, u32),
    /// Time per lookup in ms: median, 90th percentile, max.
    pub millis: (u64, u64, u64),
    /// Failed samples by why: the lookup returned an error; a provider
    /// lookup found the provider but could not dial it; the rest found
    /// nothing.
    pub misses: Misses,
}

/// Why failed samples failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Misses {
    /// The lookup returned an error.
    pub errors: usize,
    /// The provider was found but its dial failed.
    pub undialed: usize,
    /// Nothing was found.
    pub not_found: usize,
}

impl Summary {
    /// Summarises `samples`.
    pub fn of(samples: &[Sample]) -> Self {
        let ok: Vec<&Sample> = samples.iter().filter(|s| s.ok).collect();
        let mut hops: Vec<u32> = ok.iter().filter_map(|s| s.hops).collect();
        let mut millis: Vec<u64> = samples.iter().map(|s| s.millis).collect();
        let requests: Vec<u32> = samples.iter().map(|s| s.requests).collect();
        Self {
            count: samples.len(),
            success: ok.len() as f64 / samples.len().max(1) as f64,
            unknown_hops: ok.len() - hops.len(),
            hops: spread(&mut hops),
            requests: (
                requests.iter().map(|&r| f64::from(r)).sum::<f64>() / samples.len().max(1) as f64,
                requests.iter().copied().max().unwrap_or(0),
            ),
            millis: spread(&mut millis),
            misses: Misses::of(samples),
        }
    }
}

impl Misses {
    /// The failed ones among `samples`, by why.
    fn of(samples: &[Sample]) -> Self {
        let mut m = Self::default();
        for s in samples.iter().filter(|s| !s.ok) {
            match (s.error, s.undialed) {
                (true, _) => m.errors += 1,
                (false, true) => m.undialed += 1,
                (false, false) => m.not_found += 1,
            }
        }
        m
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>4} lookups  success {:>6.1}%  hops median {} p90 {} max {}{}  msgs/lookup mean {:.1} max {}  time ms median {} p90 {} max {}",
            self.count,
            self.success * 100.0,
            self.hops.0,
            self.hops.1,
            self.hops.2,
            if self.unknown_hops > 0 {
                format!(" ({} unknown)", self.unknown_hops)
            } else {
                String::new()
            },
            self.requests.0,
            self.requests.1,
            self.millis.0,
            self.millis.1,
            self.millis.2,
        )?;
        if self.misses != Misses::default() {
            write!(f, "  failed: {}", self.misses)?;
        }
        Ok(())
    }
}

impl fmt::Display for Misses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} not found, {} found but not dialable, {} errors",
            self.not_found, self.undialed, self.errors
        )
    }
}

/// Median, 90th percentile and max of `values` (zeros when empty).
fn spread<T: Copy + Ord + Default>(values: &mut [T]) -> (T, T, T) {
    if values.is_empty() {
        return Default::default();
    }
    values.sort_unstable();
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.9), values[values.len() - 1])
}

/// Hop counts of successful samples with known hops: count per hop value.
pub fn histogram(samples: &[Sample]) -> Vec<usize> {
    let hops: Vec<u32> = samples
        .iter()
        .filter(|s| s.ok)
        .filter_map(|s| s.hops)
        .collect();
    let max = hops.iter().copied().max().unwrap_or(0) as usize;
    let mut counts = vec![0; max + 1];
    for h in hops {
        counts[h as usize] += 1;
    }
    counts
}
