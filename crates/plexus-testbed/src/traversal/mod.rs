//! NAT traversal scenarios on the test bed's NAT routers: two peers (each
//! public or behind a router of some kind) fetch from each other through a
//! public relay and bootstrap host, over one transport ([`pair`]); search
//! and pub/sub reach hosts behind NATs ([`reach`]); and a table of success
//! rates per NAT kind and transport ([`table`]).

pub mod limit;
pub mod pair;
pub mod reach;
pub mod table;

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{Host, NatKind, Net, Transport};

pub use pair::{pair, Outcome, Pair, Side};
pub use table::table;

/// Circuits and reservations per peer and per IP per minute the test bed's
/// relays allow (`plexus daemon --relay-rate`): libp2p's default (30 per
/// peer per 2 minutes) would refuse back-to-back runs after about 15.
pub const RELAY_RATE: u32 = 1000;

/// Waits until `host`'s status satisfies `ok`, for at most `limit`.
pub fn wait_status(
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

/// The reachability `plexus status` shows.
pub fn reach_of(status: &serde_json::Value) -> &str {
    status["nat"]["reachability"].as_str().unwrap_or("?")
}

/// Whether a status shows the node private with a relay reservation.
pub fn private_with_reservation(status: &serde_json::Value) -> bool {
    reach_of(status) == "private"
        && status["nat"]["relay_reservations"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
}

/// `peer`'s connections as `host` sees them (`plexus peers --json`), each
/// as text holding its address.
pub fn connections_to(host: &Host, peer: &str) -> Result<Vec<String>> {
    let peers = host.json(&["peers"])?;
    Ok(peers
        .as_array()
        .context("peers printed no list")?
        .iter()
        .filter(|p| p["peer_id"].as_str() == Some(peer))
        .flat_map(|p| p["connections"].as_array().cloned().unwrap_or_default())
        .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_string))
        .collect())
}

/// Whether a connection (as [`connections_to`] gives it) runs through a relay.
pub fn is_relayed(connection: &str) -> bool {
    connection.contains("p2p-circuit")
}

/// A net with one public relay and bootstrap host (host 0), then the
/// public sides, then one private site per NATed side. Returns the net and
/// each side's host index.
pub fn net_for(sides: &[Side]) -> Result<(Net, Vec<usize>)> {
    let public = sides.iter().filter(|s| **s == Side::Public).count();
    let sites: Vec<(NatKind, usize)> = sides
        .iter()
        .filter_map(|s| match s {
            Side::Behind(kind) => Some((*kind, 1)),
            Side::Public => None,
        })
        .collect();
    let net = Net::with_sites(1 + public, &sites)?;
    let (mut next_public, mut next_private) = (1, 1 + public);
    let index = sides
        .iter()
        .map(|s| {
            let slot = if *s == Side::Public {
                &mut next_public
            } else {
                &mut next_private
            };
            *slot += 1;
            *slot - 1
        })
        .collect();
    Ok((net, index))
}

/// The relay's daemon flags: declared public (AutoNAT servers answer only
/// over connections the asker dialed, and nobody can dial the private
/// hosts, so the network's first node says what it is, as its operator
/// would), a high circuit rate, and `extra`.
pub fn relay_flags(net: &Net, transport: Transport, extra: &[String]) -> Vec<String> {
    let ip = net.links[0].ip;
    let port = crate::host::PORT;
    let tcp = format!("/ip4/{ip}/tcp/{port}");
    let quic = format!("/ip4/{ip}/udp/{port}/quic-v1");
    let addrs = match transport {
        Transport::Both => vec![tcp, quic],
        Transport::Tcp => vec![tcp],
        Transport::Quic => vec![quic],
    };
    let mut flags: Vec<String> = addrs
        .into_iter()
        .flat_map(|a| ["--external-address".to_string(), a])
        .collect();
    flags.extend(["--relay-rate".to_string(), RELAY_RATE.to_string()]);
    flags.extend_from_slice(extra);
    flags
}

/// Gets between two port-preserving NATs on `transport`, `runs` of them
/// (the hole-punch loop, a manual command: `plexus-testbed punch-quic`),
/// then the table. `$PLEXUS_TESTBED_LOGS` keeps each daemon's log, the
/// getter's one per run.
pub fn punch_loop(
    plexus: &std::path::Path,
    transport: Transport,
    runs: usize,
) -> Result<Vec<crate::Report>> {
    let pp = Side::Behind(NatKind::PortPreserving);
    let pair = Pair {
        sharer: pp,
        getter: pp,
        transport,
        runs,
        relayed_runs: 0,
    };
    let outcome = pair::pair(plexus, pair)?;
    Ok(vec![outcome.report.clone(), table(&[outcome])])
}

/// Every pair on TCP and on QUIC: `runs` gets between two port-preserving
/// NATs, `few` plain and `few` `--allow-relay` gets between two symmetric
/// NATs, `few` gets each way between a public host and one behind a
/// port-preserving NAT; then the table.
pub fn all_pairs(plexus: &std::path::Path, runs: usize, few: usize) -> Result<Vec<crate::Report>> {
    let pp = Side::Behind(NatKind::PortPreserving);
    let sym = Side::Behind(NatKind::Symmetric);
    let mut outcomes = Vec::new();
    for transport in [Transport::Tcp, Transport::Quic] {
        for (sharer, getter, runs, relayed_runs) in [
            (pp, pp, runs, 0),
            (sym, sym, few, few),
            (pp, Side::Public, few, 0),
            (Side::Public, pp, few, 0),
        ] {
            let outcome = pair(
                plexus,
                Pair {
                    sharer,
                    getter,
                    transport,
                    runs,
                    relayed_runs,
                },
            )?;
            eprintln!(
                "done: {} over {} ({} runs)",
                outcome.pair.label(),
                transport.name(),
                outcome.runs.len()
            );
            outcomes.push(outcome);
        }
    }
    let mut reports: Vec<crate::Report> = outcomes.iter().map(|o| o.report.clone()).collect();
    reports.push(table(&outcomes));
    Ok(reports)
}

/// Restarts host `i`'s daemon (same data dir and peer id) on `port`,
/// bootstrapping from host 0: its connections are gone, so the next get
/// needs new ones (another port than before: the last TCP 4-tuple may
/// still be in TIME_WAIT).
pub fn restart(bed: &mut crate::Testbed, i: usize, port: u16) -> Result<()> {
    let bootstrap = bed.hosts[0].dial_addr();
    let host = &mut bed.hosts[i];
    host.kill();
    let extra = ["--no-mdns".to_string(), "--bootstrap".into(), bootstrap];
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

/// The 90th percentile of `values` (nearest rank; 0 when empty).
pub fn p90(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (v.len() * 9).div_ceil(10);
    v.get(rank.saturating_sub(1)).copied().unwrap_or(0.0)
}

/// The median and the largest of `values` (0 when empty).
pub fn median_max(values: &[f64]) -> (f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let median = match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    };
    (median, v.last().copied().unwrap_or(0.0))
}
