//! Two peers and a relay: the sharer shares 1 MiB, the getter fetches it by
//! ticket, run after run, each with a freshly started getter that knows
//! only the ticket (so each run needs a new connection, relayed first when
//! the sharer is behind a NAT, and a new hole punch). Every daemon listens on one transport only, and
//! the getter's connection to the sharer after the get must be direct and
//! over that transport, or relayed where no hole punch can work. The relay
//! allows many circuits per minute (see [`super::RELAY_RATE`]), so runs go
//! back to back.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::{
    connections_to, is_relayed, median_max, net_for, private_with_reservation, reach_of,
    relay_flags, wait_status,
};
use crate::{report::Bound, Discovery, Host, NatKind, Report, Testbed, Transport};

/// Bytes the relay lets one circuit carry when relayed transfers are tried
/// (the 1 MiB file, its proofs and the requests, with room to spare).
const RELAYED_CIRCUIT_BYTES: u64 = 4 << 20;

/// Where a peer sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// On the bridge, dialable by everyone.
    Public,
    /// Alone behind a router of this kind.
    Behind(NatKind),
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Public => "public",
            Side::Behind(kind) => kind.name(),
        }
    }

    fn symmetric(self) -> bool {
        self == Side::Behind(NatKind::Symmetric)
    }
}

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct Pair {
    /// Where the host that shares sits.
    pub sharer: Side,
    /// Where the host that gets sits.
    pub getter: Side,
    /// The one transport every daemon listens on.
    pub transport: Transport,
    /// Plain gets (`plexus get TICKET`).
    pub runs: usize,
    /// Then gets with `--allow-relay` (the relay then allows bulk bytes).
    pub relayed_runs: usize,
}

impl Pair {
    /// Whether a direct connection is expected: one side is public
    /// (connection reversal or a plain dial) or no side is symmetric.
    pub fn expects_direct(&self) -> bool {
        self.sharer == Side::Public
            || self.getter == Side::Public
            || !(self.sharer.symmetric() || self.getter.symmetric())
    }

    /// "port-preserving to symmetric" and the like.
    pub fn label(&self) -> String {
        if self.sharer == self.getter {
            format!("{} both", self.sharer.name())
        } else {
            format!("{} gets from {}", self.getter.name(), self.sharer.name())
        }
    }
}

/// How one run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    /// The file arrived intact over a direct connection on the transport.
    Direct,
    /// The file arrived intact over the relay (`--allow-relay`).
    Relayed,
    /// The get stopped with an error that names the cause and the way out.
    Refused,
    /// Anything else, with what happened.
    Failed(String),
}

/// One run.
#[derive(Debug, Clone)]
pub struct Run {
    /// Whether the get had `--allow-relay`.
    pub allow_relay: bool,
    /// How it ended.
    pub ended: Ended,
    /// Seconds to the first verified byte (`first_byte_secs` of `get --json`).
    pub first_byte: Option<f64>,
    /// Seconds of the whole get.
    pub secs: f64,
    /// The getter's connections to the sharer after the get.
    pub connections: Vec<String>,
    /// The get's error, if it failed.
    pub error: Option<String>,
    /// The getter's hole punches (DCUtR) that gave a direct connection,
    /// and that failed, during the run.
    pub punches: (u64, u64),
}

/// A pair's runs and its report.
#[derive(Debug)]
pub struct Outcome {
    /// What ran.
    pub pair: Pair,
    /// Every run, in order.
    pub runs: Vec<Run>,
    /// Rows and notes.
    pub report: Report,
}

/// Runs `pair`.
pub fn pair(plexus: &Path, pair: Pair) -> Result<Outcome> {
    let (net, index) = net_for(&[pair.sharer, pair.getter])?;
    let (sharer_i, getter_i) = (index[0], index[1]);
    let extra = if pair.relayed_runs > 0 {
        vec![
            "--relay-circuit-bytes".to_string(),
            RELAYED_CIRCUIT_BYTES.to_string(),
        ]
    } else {
        Vec::new()
    };
    let relay = relay_flags(&net, pair.transport, &extra);
    let private: Vec<usize> = (1..net.links.len())
        .filter(|&i| net.router_of(i).is_some())
        .collect();
    let mut bed = Testbed::on_transport(
        plexus,
        net,
        Discovery::BootstrapFromFirst,
        pair.transport,
        |i| if i == 0 { relay.clone() } else { Vec::new() },
    )?;
    let limit = Duration::from_secs(60);
    let public = wait_status(&bed.hosts[0], "public", limit, |s| reach_of(s) == "public")?;
    let mut reserved = Duration::ZERO;
    for &i in &private {
        let took = wait_status(
            &bed.hosts[i],
            "private with a relay reservation",
            limit,
            private_with_reservation,
        )?;
        reserved = reserved.max(took);
    }
    let size = 1 << 20;
    let file = bed.make_file("pair.bin", size, 7)?;
    let shared = bed.hosts[sharer_i].json(&["share", file.to_str().expect("utf-8")])?;
    let ticket = shared["ticket"]
        .as_str()
        .context("share printed no ticket")?
        .to_string();
    let hash = shared["hash"]
        .as_str()
        .context("share printed no hash")?
        .to_string();
    let sharer = bed.hosts[sharer_i].peer_id.clone();
    let out = bed.dir.path().join("pair.out");
    let mut runs = Vec::new();
    for run in 0..pair.runs + pair.relayed_runs {
        fresh_getter(&mut bed, getter_i, sharer_i, &hash, run)?;
        let allow_relay = run >= pair.runs;
        let mut args = vec![
            "get",
            &ticket,
            "-o",
            out.to_str().expect("utf-8"),
            "--force",
        ];
        if allow_relay {
            args.push("--allow-relay");
        }
        let started = Instant::now();
        let got = bed.hosts[getter_i].json(&args);
        let took = started.elapsed().as_secs_f64();
        let connections = connections_to(&bed.hosts[getter_i], &sharer).unwrap_or_default();
        let mut run = judge(got, &file, &out, connections, pair.transport, allow_relay)?;
        if run.error.is_some() {
            // A failed get prints no figures: the command's own time.
            run.secs = took;
        }
        let status = bed.hosts[getter_i].json(&["status"])?;
        run.punches = (
            status["nat"]["hole_punches_ok"].as_u64().unwrap_or(0),
            status["nat"]["hole_punches_failed"].as_u64().unwrap_or(0),
        );
        eprintln!(
            "{} over {} run {}: {:?} after {:.2} s, getter's hole punches {:?}",
            pair.label(),
            pair.transport.name(),
            runs.len(),
            run.ended,
            run.secs,
            run.punches
        );
        runs.push(run);
    }
    let mut report = Report::new(&format!("{} over {}", pair.label(), pair.transport.name()));
    summarize(&mut report, &pair, &runs);
    report.note(format!(
        "relay public after {:.1} s, private sites reserved after {:.1} s",
        public.as_secs_f64(),
        reserved.as_secs_f64()
    ));
    let status = bed.hosts[sharer_i].json(&["status"])?;
    let getters = runs
        .iter()
        .fold((0, 0), |(a, b), r| (a + r.punches.0, b + r.punches.1));
    report.note(format!(
        "hole punches (DCUtR) as the sharer counted them: {} direct, {} failed; as the getters did: {} direct, {} failed",
        status["nat"]["hole_punches_ok"], status["nat"]["hole_punches_failed"], getters.0, getters.1
    ));
    Ok(Outcome { pair, runs, report })
}

/// Classifies one get.
fn judge(
    got: Result<serde_json::Value>,
    file: &Path,
    out: &Path,
    connections: Vec<String>,
    transport: Transport,
    allow_relay: bool,
) -> Result<Run> {
    let mut run = Run {
        allow_relay,
        ended: Ended::Refused,
        first_byte: None,
        secs: 0.0,
        connections,
        error: None,
        punches: (0, 0),
    };
    let v = match got {
        Ok(v) => v,
        Err(e) => {
            // The error without the command line (the long ticket).
            let text = format!("{e:#}");
            let why = text
                .rsplit_once(" failed: ")
                .map_or(text.clone(), |(_, why)| why.to_string());
            run.ended =
                if !allow_relay && why.contains("hole punching") && why.contains("--allow-relay") {
                    Ended::Refused
                } else {
                    Ended::Failed("the get failed".into())
                };
            run.error = Some(why);
            return Ok(run);
        }
    };
    run.first_byte = v["first_byte_secs"].as_f64();
    run.secs = v["secs"].as_f64().unwrap_or(0.0);
    let c = &run.connections;
    run.ended = if std::fs::read(file)? != std::fs::read(out)? {
        Ended::Failed("the file differs".into())
    } else if c.is_empty() {
        Ended::Failed("no connection to the sharer after the get".into())
    } else if c.iter().all(|c| !is_relayed(c)) {
        if c.iter().all(|c| Transport::of(c) == Some(transport)) {
            Ended::Direct
        } else {
            Ended::Failed(format!("direct, but not all over {}", transport.name()))
        }
    } else if allow_relay && c.iter().all(|c| is_relayed(c)) {
        Ended::Relayed
    } else {
        Ended::Failed("the file came, but the connection is not direct".into())
    };
    Ok(run)
}

/// The rows: every run ended as expected.
fn summarize(report: &mut Report, pair: &Pair, runs: &[Run]) {
    let count = |allow: bool, ended: Ended| {
        runs.iter()
            .filter(|r| r.allow_relay == allow && r.ended == ended)
            .count() as f64
    };
    let t = pair.transport.name();
    if pair.expects_direct() {
        // The aim is every run; one miss in 20 is let through, more fail
        // the scenario. (The QUIC misses seen before, about 1 in 40, were
        // hole punches from a fresh getter that had no observed address
        // to offer yet; they are tried again now: nat/punch_retry.rs.)
        report.row(
            format!("{} gets, direct over {t} after the get", pair.runs),
            count(false, Ended::Direct) / pair.runs.max(1) as f64,
            1.0,
            "share",
            Bound::AtLeast(0.95),
        );
    } else {
        report.row(
            format!("{} gets refused, naming the cause", pair.runs),
            count(false, Ended::Refused) / pair.runs.max(1) as f64,
            1.0,
            "share",
            Bound::AtLeast(1.0),
        );
    }
    if pair.relayed_runs > 0 {
        report.row(
            format!(
                "{} gets with --allow-relay, done over the relay",
                pair.relayed_runs
            ),
            count(true, Ended::Relayed) / pair.relayed_runs as f64,
            1.0,
            "share",
            Bound::AtLeast(1.0),
        );
    }
    let firsts: Vec<f64> = runs.iter().filter_map(|r| r.first_byte).collect();
    let (median, max) = median_max(&firsts);
    let whole: Vec<f64> = runs
        .iter()
        .filter(|r| r.error.is_none())
        .map(|r| r.secs)
        .collect();
    let (whole_median, _) = median_max(&whole);
    report.note(format!(
        "time to the first verified byte: median {median:.2} s, max {max:.2} s ({} runs); whole get of 1 MiB median {whole_median:.2} s",
        firsts.len()
    ));
    let mut reason: Option<&str> = None;
    for (i, r) in runs.iter().enumerate() {
        match &r.ended {
            Ended::Refused if pair.expects_direct() => report.note(format!(
                "run {i} MISSED: no direct connection, refused after {:.1} s; the getter's hole punches: {} direct, {} failed",
                r.secs, r.punches.0, r.punches.1
            )),
            Ended::Refused => {
                let why = r.error.as_deref().unwrap_or("");
                let told = if reason == Some(why) {
                    "the same reason".to_string()
                } else {
                    why.to_string()
                };
                reason = Some(why);
                report.note(format!("run {i}: refused after {:.1} s: {told}", r.secs));
            }
            Ended::Failed(what) => report.note(format!(
                "run {i} FAILED: {what}: {}; connections {:?}",
                r.error.as_deref().unwrap_or("-"),
                r.connections
            )),
            _ => {}
        }
    }
}

/// Host `getter` forgets the file and restarts (same data dir and peer id,
/// another port) with no bootstrap peers: it knows only what the ticket
/// says, so the get starts cold and its time to the first verified byte
/// includes the connection through the relay and the hole punch. (With
/// bootstrap peers its DHT walk often reached the sharer, through the
/// relay, and the hole punch was done before the get began. The same
/// port would reuse the last run's TCP 4-tuple, still in TIME_WAIT in the
/// getter's kernel, and the hole punch's connect would fail.)
fn fresh_getter(
    bed: &mut Testbed,
    getter: usize,
    sharer: usize,
    hash: &str,
    run: usize,
) -> Result<()> {
    // Absent after a failed run; a copy left behind would make the next
    // get local, with no connection: counted as a failure.
    let _ = bed.hosts[getter].cli(&["rm", hash])?;
    bed.hosts[getter].stop();
    // The sharer must have let go of the old daemon's connections (the
    // daemon closes them as it stops; a killed QUIC peer would linger
    // until the idle timeout), or the per-peer connection cap refuses the
    // new one.
    let id = bed.hosts[getter].peer_id.clone();
    let started = Instant::now();
    while !connections_to(&bed.hosts[sharer], &id)?.is_empty() {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the sharer still holds connections to the old getter after 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let host = &mut bed.hosts[getter];
    let extra = ["--no-mdns".to_string()];
    // Never the port of the daemon before (run 0 follows the first one,
    // on PORT).
    let port = crate::host::PORT + 1 + run as u16;
    *host = Host::start_on(
        &host.plexus,
        &host.ns,
        host.ip,
        port,
        host.transport,
        host.data_dir.clone(),
        &extra,
    )?;
    Ok(())
}
