//! The scenarios: each builds its own testbed, runs, measures, tears down,
//! and returns a [`Report`] whose rows say whether the figures are good
//! enough. Every wait is bounded.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{report::Bound, Discovery, Host, Mbit, Report, Testbed, Transport};

mod caps;
mod compute;
mod compute_faults;
mod crowd;
mod faults;
mod layers;
mod load;
mod speed;

pub use caps::{cap_rate, Capped};
pub use compute::compute;
pub use compute_faults::compute_faults;
pub use crowd::{crowd, Crowd, CrowdResult};
pub use faults::{cut_links, partition};
pub use speed::{spread, swarm, uneven};

/// Every scenario's name, as the CLI takes it.
pub const ALL: &[&str] = &[
    "swarm",
    "uneven",
    "spread",
    "cut",
    "partition",
    "lan",
    "punch",
    "recover",
    "serve",
    "find-private",
    "relay-limit",
    "relay-loss",
    "storage",
    "nat-reach",
    "caps",
    "crowd",
    "compute",
];

/// Runs the scenario called `name` with its default figures.
pub fn run(plexus: &Path, name: &str) -> Result<Vec<Report>> {
    Ok(match name {
        "swarm" => [1, 2, 4, 8]
            .into_iter()
            .map(|k| swarm(plexus, k, Mbit(20.0)))
            .collect::<Result<_>>()?,
        "uneven" => vec![uneven(plexus, &[Mbit(2.0), Mbit(10.0), Mbit(50.0)])?],
        "spread" => vec![spread(plexus, 8, Mbit(20.0))?],
        "cut" => vec![cut_links(plexus, Mbit(20.0))?],
        "partition" => vec![partition(plexus, 10)?],
        "lan" => vec![lan(plexus, 6)?],
        "punch" => crate::traversal::all_pairs(plexus, punch_runs(20)?, 5)?,
        "punch-tcp" => crate::traversal::punch_loop(plexus, Transport::Tcp, punch_runs(40)?)?,
        "punch-quic" => crate::traversal::punch_loop(plexus, Transport::Quic, punch_runs(40)?)?,
        "nat-reach" => vec![crate::traversal::reach::reach(plexus)?],
        "recover" => vec![crate::reach::recover(plexus)?],
        "serve" => vec![crate::reach::serve(plexus)?],
        "find-private" => vec![crate::find::find_private(plexus)?],
        "relay-limit" => vec![
            crate::traversal::limit::over_the_limit(plexus, Transport::Tcp)?,
            crate::traversal::limit::over_the_limit(plexus, Transport::Quic)?,
        ],
        "relay-loss" => vec![crate::reach::relay_loss(plexus)?],
        // The full 64 MiB of issue 12 (CI uses 8 MiB: debug builds, 2 cores).
        "storage" => {
            use crate::storage::{self, Spread};
            vec![
                storage::kill_one_at_a_time(plexus, 64 << 20, Spread::Erasure(4, 8))?,
                storage::kill_many_at_once(plexus, 64 << 20)?,
                storage::quota(plexus)?,
                storage::rot(plexus, 8 << 20, false)?,
                storage::rot(plexus, 8 << 20, true)?,
                storage::kill_one_at_a_time(plexus, 64 << 20, Spread::Replicas(3))?,
            ]
        }
        "compute" => vec![compute(plexus, 6, 60, 0.25)?, compute_faults(plexus)?],
        "caps" => vec![
            cap_rate(plexus, Capped::Upload, Mbit(20.0), 32 << 20)?,
            cap_rate(plexus, Capped::Download, Mbit(20.0), 32 << 20)?,
        ],
        // Issue 16's crowd: 24 getters, 64 MiB, 20 Mbit/s links; plots in
        // $PLEXUS_PLOTS (default docs/). $PLEXUS_CROWD_GETTERS and
        // $PLEXUS_CROWD_MBIT change the getters and the links, for a machine
        // whose cores the default crowd fills; $PLEXUS_CROWD_DOWN_MBIT gives
        // every host a faster (or slower) download link than upload.
        "crowd" | "crowd-full" | "crowd-leave" | "crowd-capped" => {
            let dir = std::env::var_os("PLEXUS_PLOTS").map_or_else(|| "docs".into(), PathBuf::from);
            let plot = |name: &str| Some(dir.join(name));
            let mut full = Crowd {
                plot: plot("crowd-cdf.png"),
                ..Crowd::new(env_number("PLEXUS_CROWD_GETTERS", 24, 1)?, 64 << 20)
            };
            full.link = Mbit(env_number("PLEXUS_CROWD_MBIT", 20, 1)? as f64);
            if std::env::var_os("PLEXUS_CROWD_DOWN_MBIT").is_some() {
                full.down = Some(Mbit(env_number("PLEXUS_CROWD_DOWN_MBIT", 20, 1)? as f64));
            }
            let leave = Crowd {
                leave: true,
                slack: 1.3,
                plot: plot("crowd-leave-cdf.png"),
                ..full.clone()
            };
            let capped = Crowd {
                seeder_cap: Some(Mbit(10.0)),
                plot: plot("crowd-capped-cdf.png"),
                ..full.clone()
            };
            let all = [full, leave, capped];
            let wanted = match name {
                "crowd-full" => &all[..1],
                "crowd-leave" => &all[1..2],
                "crowd-capped" => &all[2..],
                _ => &all[..],
            };
            wanted
                .iter()
                .map(|c| crowd(plexus, c).map(|r| r.report))
                .collect::<Result<_>>()?
        }
        other => bail!(
            "no scenario {other:?}; pick one of {}, punch-tcp / punch-quic (the hole-punch loop alone), or crowd-full / crowd-leave / crowd-capped (one crowd alone)",
            ALL.join(", ")
        ),
    })
}

/// What one `plexus get --json` reported.
struct Got {
    /// Seconds from the first data request to the end.
    transfer_secs: f64,
    /// Seconds of the whole command.
    secs: f64,
    /// Verified bytes from each provider.
    per_peer: Vec<(String, u64)>,
}

fn share(host: &Host, file: &Path) -> Result<String> {
    let v = host.json(&["share", file.to_str().expect("utf-8 path")])?;
    Ok(v["hash"]
        .as_str()
        .context("share printed no hash")?
        .to_string())
}

fn parse_get(v: &serde_json::Value) -> Got {
    let secs = v["secs"].as_f64().unwrap_or(0.0);
    Got {
        transfer_secs: v["transfer_secs"].as_f64().unwrap_or(secs),
        secs,
        per_peer: v["per_peer"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| {
                        let id = p["peer_id"].as_str().unwrap_or("?");
                        (
                            id[id.len().saturating_sub(6)..].to_string(),
                            p["bytes"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// `plexus get HASH -o OUT` on `host`, checked byte for byte against `src`.
fn get(host: &Host, hash: &str, src: &Path, out: &Path) -> Result<Got> {
    let v = host.json(&["get", hash, "-o", out.to_str().expect("utf-8"), "--force"])?;
    same_bytes(src, out)?;
    Ok(parse_get(&v))
}

fn same_bytes(a: &Path, b: &Path) -> Result<()> {
    if std::fs::read(a)? != std::fs::read(b)? {
        bail!("{} differs from {}", b.display(), a.display());
    }
    Ok(())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn mbs(bytes_per_sec: f64) -> f64 {
    bytes_per_sec / 1e6
}

fn per_peer_note(got: &Got) -> String {
    let parts: Vec<String> = got
        .per_peer
        .iter()
        .map(|(p, b)| format!("..{p} {:.1} MiB", mib(*b)))
        .collect();
    format!("bytes per seeder: {}", parts.join(", "))
}

/// Hosts on one bridge, no bootstrap peers, mDNS on: each finds all others.
pub fn lan(plexus: &Path, n: usize) -> Result<Report> {
    let bed = Testbed::new(plexus, n, Discovery::MdnsOnly)?;
    let started = Instant::now();
    let limit = Duration::from_secs(30);
    loop {
        let mut all = true;
        for h in &bed.hosts {
            let peers = h.json(&["peers"])?;
            let connected = peers
                .as_array()
                .map(|a| a.iter().filter(|p| p["connected"] == true).count())
                .unwrap_or(0);
            if connected < n - 1 {
                all = false;
                break;
            }
        }
        if all {
            break;
        }
        if started.elapsed() > limit {
            bail!("mDNS did not connect all {n} hosts in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let mut report = Report::new("lan");
    report.row(
        format!("{n} hosts connected to all others by mDNS"),
        started.elapsed().as_secs_f64(),
        limit.as_secs_f64(),
        "s",
        Bound::AtMost(1.0),
    );
    Ok(report)
}

/// Runs per port-preserving pair: `$PLEXUS_PUNCH_RUNS`, else `default`.
fn punch_runs(default: usize) -> Result<usize> {
    env_number("PLEXUS_PUNCH_RUNS", default, 0)
}

/// A whole number of at least `min` from the environment variable `name`
/// (`$PLEXUS_PUNCH_RUNS`, the crowd's getters or link rate), else `default`.
fn env_number(name: &str, default: usize, min: usize) -> Result<usize> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => match v.parse::<usize>() {
            Ok(n) if n >= min => Ok(n),
            _ if min == 0 => bail!("{name}={v:?}: give a whole number (default {default})"),
            _ => bail!("{name}={v:?}: give a whole number of at least {min} (default {default})"),
        },
    }
}
