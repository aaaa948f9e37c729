//! Hole punching through the testbed's NAT routers: one public host (relay
//! and bootstrap), two private sites with one host each. The host behind
//! the first router shares a file; the one behind the second fetches it by
//! ticket, `runs` times, each with a fresh daemon (so each run needs a new
//! relayed connection and a new hole punch). A run succeeds when the file
//! arrives intact and the getter's connection to the sharer is direct (no
//! `/p2p-circuit` address) after it.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{report::Bound, Discovery, Host, NatKind, Net, Report, Testbed};

/// The least time between the starts of two runs (see the loop).
const RUN_SPACING: Duration = Duration::from_secs(9);

/// Waits until `host`'s status satisfies `ok`, for at most `limit`.
fn wait_status(
    host: &Host,
    what: &str,
    limit: Duration,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> Result<Duration> {
    let started = Instant::now();
    loop {
        let status = host.json(&["status"])?;
        if ok(&status) {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            bail!(
                "{} did not become {what} in {limit:?}: {}",
                host.ns,
                status["nat"]
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn reach(status: &serde_json::Value) -> &str {
    status["nat"]["reachability"].as_str().unwrap_or("?")
}

/// The sharer's connections as the getter sees them.
fn connections_to(getter: &Host, peer: &str) -> Result<Vec<String>> {
    let peers = getter.json(&["peers"])?;
    Ok(peers
        .as_array()
        .context("peers printed no list")?
        .iter()
        .filter(|p| p["peer_id"].as_str() == Some(peer))
        .flat_map(|p| p["connections"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect())
}

/// One run's outcome.
struct Run {
    direct: bool,
    secs: f64,
    first_request_secs: f64,
    connections: Vec<String>,
    error: Option<String>,
}

/// Two private sites behind `kind` routers fetch from each other through
/// a public relay, `runs` times; the report gives the share of runs that
/// ended on a direct connection.
pub fn punch(plexus: &Path, kind: NatKind, runs: usize) -> Result<Report> {
    let net = Net::with_sites(1, &[(kind, 1), (kind, 1)])?;
    // The relay is declared public, as its operator would: AutoNAT servers
    // answer only over connections the asker dialed, and nobody can dial
    // the private hosts.
    let relay_ip = net.links[0].ip;
    let mut bed = Testbed::on_with(plexus, net, Discovery::BootstrapFromFirst, |i| {
        if i > 0 {
            return Vec::new();
        }
        [
            format!("/ip4/{relay_ip}/tcp/{}", crate::host::PORT),
            format!("/ip4/{relay_ip}/udp/{}/quic-v1", crate::host::PORT),
        ]
        .into_iter()
        .flat_map(|a| ["--external-address".to_string(), a])
        .collect()
    })?;
    let limit = Duration::from_secs(60);
    let public = wait_status(&bed.hosts[0], "public", limit, |s| reach(s) == "public")?;
    let mut private = Duration::ZERO;
    for host in &bed.hosts[1..] {
        let took = wait_status(host, "private with a relay reservation", limit, |s| {
            reach(s) == "private"
                && s["nat"]["relay_reservations"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty())
        })?;
        private = private.max(took);
    }
    let size = 1 << 20;
    let file = bed.make_file("punch.bin", size, 7)?;
    let shared = bed.hosts[1].json(&["share", file.to_str().expect("utf-8")])?;
    let ticket = shared["ticket"]
        .as_str()
        .context("share printed no ticket")?
        .to_string();
    let hash = shared["hash"]
        .as_str()
        .context("share printed no hash")?
        .to_string();
    let sharer = bed.hosts[1].peer_id.clone();
    let out = bed.dir.path().join("punch.out");
    let mut results = Vec::new();
    let mut last_start: Option<Instant> = None;
    for run in 0..runs {
        // Runs start at least RUN_SPACING apart: each costs the getter about
        // two circuits, and the relay allows one peer 30 per 2 minutes
        // (libp2p's default rate limit); faster runs are refused with
        // "resource limit exceeded" after about 15.
        if let Some(started) = last_start {
            std::thread::sleep(RUN_SPACING.saturating_sub(started.elapsed()));
        }
        last_start = Some(Instant::now());
        if run > 0 {
            // Absent after a failed run; a copy left behind would make the
            // next get local, with no connection: counted as a failure.
            let _ = bed.hosts[2].cli(&["rm", &hash])?;
            bed.hosts[2].kill();
            // The sharer must have let go of the old daemon's connections
            // (a killed QUIC peer lingers until the idle timeout), or the
            // per-peer connection cap refuses the new relayed one.
            let getter = bed.hosts[2].peer_id.clone();
            let started = Instant::now();
            while !connections_to(&bed.hosts[1], &getter)?.is_empty() {
                if started.elapsed() > Duration::from_secs(30) {
                    bail!("the sharer still holds connections to the old getter after 30 s");
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            restart(&mut bed, 2, crate::host::PORT + run as u16)?;
        }
        let got = bed.hosts[2].json(&[
            "get",
            &ticket,
            "-o",
            out.to_str().expect("utf-8"),
            "--force",
        ]);
        let connections = connections_to(&bed.hosts[2], &sharer).unwrap_or_default();
        let direct =
            !connections.is_empty() && connections.iter().all(|c| !c.contains("p2p-circuit"));
        results.push(match got {
            Ok(v) => {
                let same = std::fs::read(&file)? == std::fs::read(&out)?;
                let secs = v["secs"].as_f64().unwrap_or(0.0);
                let transfer = v["transfer_secs"].as_f64().unwrap_or(secs);
                Run {
                    direct: direct && same,
                    secs,
                    first_request_secs: secs - transfer,
                    connections,
                    error: (!same).then(|| "the file differs".to_string()),
                }
            }
            Err(e) => Run {
                direct: false,
                secs: 0.0,
                first_request_secs: 0.0,
                connections,
                // The error without the command line (the long ticket).
                error: Some(
                    format!("{e:#}")
                        .rsplit_once(" failed: ")
                        .map_or_else(|| format!("{e:#}"), |(_, why)| why.to_string()),
                ),
            },
        });
    }
    let ok: Vec<&Run> = results.iter().filter(|r| r.direct).collect();
    let mut report = Report::new(&format!("punch {}", kind.name()));
    report.row(
        format!(
            "{runs} gets by ticket between two {} NATs, direct after the hole punch",
            kind.name()
        ),
        ok.len() as f64 / runs as f64,
        1.0,
        "share",
        Bound::AtLeast(1.0),
    );
    let mean = |f: fn(&Run) -> f64| ok.iter().map(|r| f(r)).sum::<f64>() / ok.len().max(1) as f64;
    let max = |f: fn(&Run) -> f64| ok.iter().map(|r| f(r)).fold(0.0, f64::max);
    report.note(format!(
        "relay public after {:.1} s, both sites private with a reservation after {:.1} s",
        public.as_secs_f64(),
        private.as_secs_f64()
    ));
    report.note(format!(
        "successful runs: time to the first data request (connect, relay, hole punch, size proof) mean {:.2} s, max {:.2} s; whole get of {} MiB mean {:.2} s",
        mean(|r| r.first_request_secs),
        max(|r| r.first_request_secs),
        size >> 20,
        mean(|r| r.secs)
    ));
    for (i, r) in results.iter().enumerate().filter(|(_, r)| !r.direct) {
        report.note(format!(
            "run {i} failed: {}; connections {:?}",
            r.error.as_deref().unwrap_or("not direct"),
            r.connections
        ));
    }
    let status = bed.hosts[1].json(&["status"])?;
    report.note(format!(
        "sharer's hole punches: {} direct, {} failed",
        status["nat"]["hole_punches_ok"], status["nat"]["hole_punches_failed"]
    ));
    Ok(report)
}

/// Restarts host `i`'s daemon (same data dir and peer id) on `port`: its
/// connections are gone, so the next get needs a new relayed connection and
/// a new hole punch. (A new peer id per run would leave the DHT full of
/// dead peers with relayed addresses, whose dials use up the relay's
/// circuits; the same port would reuse the last run's TCP 4-tuple, still in
/// TIME_WAIT in the getter's kernel, and the hole punch's connect fails.)
pub(crate) fn restart(bed: &mut Testbed, i: usize, port: u16) -> Result<()> {
    let bootstrap = bed.hosts[0].tcp_addr();
    let host = &mut bed.hosts[i];
    let data_dir = host.data_dir.clone();
    host.kill();
    let extra = ["--no-mdns".to_string(), "--bootstrap".into(), bootstrap];
    let fresh = Host::start_at(&host.plexus, &host.ns, host.ip, port, data_dir, &extra)?;
    *host = fresh;
    Ok(())
}
