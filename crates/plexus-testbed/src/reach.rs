//! Reachability on real nodes: it recovers after an outage, and a private
//! node serves public ones through the DHT and its relays.
//!
//! - [`recover`]: a public host starts behind a firewall that drops every
//!   unsolicited inbound packet, so AutoNAT finds it private; the firewall
//!   goes, and it must turn public within a bound; the firewall comes back,
//!   and it must turn private again. Every node retests its reachability
//!   every [`RECHECK`] here.
//! - [`serve`]: a host behind a port-preserving NAT shares a file; a public
//!   host gets it by bare hash (provider lookup in the DHT, relayed
//!   connection, then a direct one) and it must arrive intact.
//! - [`relay_loss`]: a private host holds reservations on two of three
//!   public relays; one relay is killed, the host must reserve on the third
//!   and still serve a public host.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{
    net::in_ns,
    report::Bound,
    traversal::{connections_to, reach_of as reach, wait_status},
    Discovery, NatKind, Net, Report, Testbed,
};

/// How often the nodes here retest their reachability.
pub const RECHECK: Duration = Duration::from_secs(20);
/// How long after the network changes a node must have noticed: one
/// recheck (20 s), the fresh AutoNAT client's first tick (5 s), a dial-back
/// that fails only at the dial timeout (7 s), one more tick for a test cut
/// short, and slack for a loaded CI machine.
pub const NOTICE_WITHIN: Duration = Duration::from_secs(45);

/// Drops (`on`) or lets through again (`!on`) every unsolicited inbound
/// packet to the host in `ns` (replies to its own connections pass).
fn firewall(ns: &str, on: bool) -> Result<()> {
    let verb = if on { "-I" } else { "-D" };
    in_ns(
        ns,
        "iptables",
        &[
            verb,
            "INPUT",
            "-i",
            "eth0",
            "-m",
            "conntrack",
            "--ctstate",
            "NEW",
            "-j",
            "DROP",
        ],
    )
    .with_context(|| format!("cannot set the firewall in {ns} (needs iptables)"))
}

/// Flags making host 0 a declared public node (bootstrap, relay, AutoNAT
/// server) and, with `recheck`, every host retest its reachability every
/// [`RECHECK`].
pub(crate) fn flags(i: usize, first_ip: std::net::Ipv4Addr, recheck: bool) -> Vec<String> {
    let mut f = Vec::new();
    if recheck {
        f.extend([
            "--reachability-recheck".to_string(),
            RECHECK.as_secs().to_string(),
        ]);
    }
    if i == 0 {
        for a in [
            format!("/ip4/{first_ip}/tcp/{}", crate::host::PORT),
            format!("/ip4/{first_ip}/udp/{}/quic-v1", crate::host::PORT),
        ] {
            f.extend(["--external-address".to_string(), a]);
        }
    }
    f
}

/// A host unreachable at first (firewall) turns public once the firewall
/// goes, and private again when it comes back.
pub fn recover(plexus: &Path) -> Result<Report> {
    crate::nat::check_iptables()?;
    let net = Net::new(3)?;
    let first_ip = net.links[0].ip;
    firewall(&net.links[2].ns, true)?;
    let bed = Testbed::on_with(plexus, net, Discovery::BootstrapFromFirst, |i| {
        flags(i, first_ip, true)
    })?;
    let limit = Duration::from_secs(60);
    let host = &bed.hosts[2];
    let private = wait_status(host, "private behind its firewall", limit, |s| {
        reach(s) == "private"
    })?;
    firewall(&host.ns, false)?;
    let public = wait_status(host, "public once the firewall is gone", limit, |s| {
        reach(s) == "public"
    })?;
    firewall(&host.ns, true)?;
    let private_again = wait_status(host, "private with the firewall back", limit, |s| {
        reach(s) == "private"
    })?;
    let mut report = Report::new("reachability recovers");
    // Ratios to the recheck interval: at most NOTICE_WITHIN.
    let bound = NOTICE_WITHIN.as_secs_f64() / RECHECK.as_secs_f64();
    report.row(
        "firewall removed: public after".to_string(),
        public.as_secs_f64(),
        RECHECK.as_secs_f64(),
        "s",
        Bound::AtMost(bound),
    );
    report.row(
        "firewall back: private after".to_string(),
        private_again.as_secs_f64(),
        RECHECK.as_secs_f64(),
        "s",
        Bound::AtMost(bound),
    );
    report.note(format!(
        "private behind the firewall after {:.1} s; rechecks every {} s",
        private.as_secs_f64(),
        RECHECK.as_secs()
    ));
    Ok(report)
}

/// A host behind a port-preserving NAT serves a file to a public host that
/// finds it by bare hash in the DHT.
pub fn serve(plexus: &Path) -> Result<Report> {
    let net = Net::with_sites(2, &[(NatKind::PortPreserving, 1)])?;
    let first_ip = net.links[0].ip;
    let lan_ip = net.links[2].ip;
    let mut bed = Testbed::on_with(plexus, net, Discovery::BootstrapFromFirst, |i| {
        flags(i, first_ip, false)
    })?;
    let limit = Duration::from_secs(60);
    wait_status(&bed.hosts[1], "public", limit, |s| reach(s) == "public")?;
    let sharer = &bed.hosts[2];
    let ready = wait_status(sharer, "private with a relay reservation", limit, |s| {
        reach(s) == "private"
            && s["nat"]["relay_reservations"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
    })?;
    let size = 1 << 20;
    let file = bed.make_file("serve.bin", size, 11)?;
    let shared = sharer.json(&["share", file.to_str().expect("utf-8")])?;
    let hash = shared["hash"]
        .as_str()
        .context("share printed no hash")?
        .to_string();
    // The getter starts afresh, so it is not connected to the sharer (the
    // sharer's own DHT queries reached it), and has only the DHT to find it.
    let old = bed.hosts[1].peer_id.clone();
    bed.hosts[1].kill();
    let started = Instant::now();
    while !connections_to(&bed.hosts[2], &old)?.is_empty() {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the sharer still holds connections to the stopped getter after 30 s");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    crate::traversal::restart(&mut bed, 1, crate::host::PORT + 1)?;
    let (getter, sharer) = (&bed.hosts[1], &bed.hosts[2]);
    let before = connections_to(getter, &sharer.peer_id)?;
    let out = bed.dir.path().join("serve.out");
    let started = Instant::now();
    let got = getter.json(&["get", &hash, "-o", out.to_str().expect("utf-8"), "--force"])?;
    let secs = started.elapsed().as_secs_f64();
    if std::fs::read(&file)? != std::fs::read(&out)? {
        bail!("the file the public host got differs from the shared one");
    }
    let conns = connections_to(getter, &sharer.peer_id)?;
    let direct = !conns.is_empty() && conns.iter().all(|c| !c.contains("p2p-circuit"));
    // Nobody keeps the private host's LAN address: it is a DHT client.
    let lan = lan_ip.to_string();
    let mut leaked = Vec::new();
    for h in [&bed.hosts[0], getter] {
        for p in h.json(&["peers"])?.as_array().into_iter().flatten() {
            if p["peer_id"].as_str() == Some(sharer.peer_id.as_str())
                && p.to_string().contains(&lan)
            {
                leaked.push(format!("{}: {p}", h.ns));
            }
        }
    }
    let mut report = Report::new("a private node serves a DHT lookup");
    report.row(
        "get by bare hash from a host behind a NAT, intact and direct".to_string(),
        f64::from(u8::from(direct)),
        1.0,
        "yes",
        Bound::AtLeast(1.0),
    );
    report.row(
        "public peers (of 2) not holding the private host's LAN address".to_string(),
        2.0 - leaked.len() as f64,
        2.0,
        "peers",
        Bound::AtLeast(1.0),
    );
    let transfer = got["transfer_secs"].as_f64().unwrap_or(secs);
    report.note(format!(
        "sharer private with a reservation after {:.1} s; get of {} MiB took {secs:.2} s, {:.2} s to the first data request; getter's connections to the sharer before {before:?}, after {conns:?}",
        ready.as_secs_f64(),
        size >> 20,
        got["secs"].as_f64().unwrap_or(secs) - transfer,
    ));
    for l in leaked {
        report.note(format!("LAN address kept by {l}"));
    }
    Ok(report)
}

/// The relays (peer ids) holding a reservation for the host with `status`.
fn reservations(status: &serde_json::Value) -> Vec<String> {
    status["nat"]["relay_reservations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect()
}

/// Three public relays, a host behind a port-preserving NAT holding two
/// reservations; one of its relays is killed: it must reserve on the third
/// within a bound, and a public host must still get its file by bare hash.
pub fn relay_loss(plexus: &Path) -> Result<Report> {
    let net = Net::with_sites(3, &[(NatKind::PortPreserving, 1)])?;
    let ips: Vec<std::net::Ipv4Addr> = net.links.iter().map(|l| l.ip).collect();
    // Every public host is declared public, so all three offer relaying
    // from the start.
    let mut bed = Testbed::on_with(plexus, net, Discovery::BootstrapFromFirst, |i| {
        if i < 3 {
            flags(0, ips[i], false)
        } else {
            Vec::new()
        }
    })?;
    let limit = Duration::from_secs(60);
    let private = 3;
    wait_status(
        &bed.hosts[private],
        "private with two reservations",
        limit,
        |s| reach(s) == "private" && reservations(s).len() >= 2,
    )?;
    let held = reservations(&bed.hosts[private].json(&["status"])?);
    // The relay to kill: one holding a reservation, not the bootstrap host
    // when another will do.
    let victim = (0..3)
        .rev()
        .find(|i| held.contains(&bed.hosts[*i].peer_id))
        .context("no public host holds a reservation")?;
    let victim_id = bed.hosts[victim].peer_id.clone();
    let file = bed.make_file("loss.bin", 1 << 20, 13)?;
    let hash = bed.hosts[private].json(&["share", file.to_str().expect("utf-8")])?["hash"]
        .as_str()
        .context("share printed no hash")?
        .to_string();
    bed.hosts[victim].kill();
    let moved = wait_status(
        &bed.hosts[private],
        "holding two reservations again, none on the killed relay",
        limit,
        |s| {
            let r = reservations(s);
            r.len() >= 2 && !r.contains(&victim_id)
        },
    )?;
    let getter = (0..3).find(|i| *i != victim).expect("three public hosts");
    let out = bed.dir.path().join("loss.out");
    let started = Instant::now();
    let got =
        bed.hosts[getter].json(&["get", &hash, "-o", out.to_str().expect("utf-8"), "--force"]);
    let secs = started.elapsed().as_secs_f64();
    let intact = got.is_ok() && std::fs::read(&file)? == std::fs::read(&out)?;
    let mut report = Report::new("relay loss");
    report.row(
        "two reservations again after a relay was killed".to_string(),
        moved.as_secs_f64(),
        1.0,
        "s",
        Bound::AtMost(NOTICE_WITHIN.as_secs_f64()),
    );
    report.row(
        "a public host gets the private host's file afterwards, intact".to_string(),
        f64::from(u8::from(intact)),
        1.0,
        "yes",
        Bound::AtLeast(1.0),
    );
    report.note(format!(
        "killed relay host {victim}; reservations moved in {:.1} s; get by bare hash from host {getter} took {secs:.2} s{}",
        moved.as_secs_f64(),
        got.err().map(|e| format!(" and failed: {e:#}")).unwrap_or_default()
    ));
    Ok(report)
}
