//! Finding a private node by its peer id: a host behind a port-preserving
//! NAT is a Kademlia client, in nobody's routing table, and puts a signed
//! record of its relay addresses into the DHT instead. A public host that
//! has never met it must find it with `dht find-peer` (the record's
//! `/p2p-circuit` addresses), then connect to it through one of them.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{bail, Result};

use crate::{
    reach::flags,
    report::Bound,
    traversal::{connections_to, private_with_reservation, reach_of, restart, wait_status},
    Discovery, NatKind, Net, Report, Testbed,
};

/// How long the record may take to be found once the node is private with
/// a reservation (it is put 1.5 s after the reservations settle).
const FIND_WITHIN: Duration = Duration::from_secs(20);

/// A public host finds a private one by peer id and connects through the
/// relay address it was given.
pub fn find_private(plexus: &Path) -> Result<Report> {
    let net = Net::with_sites(2, &[(NatKind::PortPreserving, 1)])?;
    let first_ip = net.links[0].ip;
    let mut bed = Testbed::on_with(plexus, net, Discovery::BootstrapFromFirst, |i| {
        flags(i, first_ip, false)
    })?;
    let limit = Duration::from_secs(60);
    wait_status(&bed.hosts[1], "public", limit, |s| reach_of(s) == "public")?;
    let ready = wait_status(
        &bed.hosts[2],
        "private with a relay reservation",
        limit,
        private_with_reservation,
    )?;
    // The finder starts afresh: no connection to the private host, which it
    // knows only by peer id.
    let private = bed.hosts[2].peer_id.clone();
    let old = bed.hosts[1].peer_id.clone();
    bed.hosts[1].kill();
    let started = Instant::now();
    while !connections_to(&bed.hosts[2], &old)?.is_empty() {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the private host still holds connections to the stopped finder after 30 s");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    restart(&mut bed, 1, crate::host::PORT + 1)?;
    let finder = &bed.hosts[1];
    let started = Instant::now();
    let mut tries = 0;
    let (found, last_error) = loop {
        tries += 1;
        match finder.json(&["dht", "find-peer", &private]) {
            Ok(found) => break (Some(found), String::new()),
            Err(e) if started.elapsed() > FIND_WITHIN => break (None, format!("{e:#}")),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    };
    let found_secs = started.elapsed().as_secs_f64();
    let addrs: Vec<String> = found
        .as_ref()
        .and_then(|f| f["addrs"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    let suffix = format!("/p2p-circuit/p2p/{private}");
    let relayed = !addrs.is_empty() && addrs.iter().all(|a| a.ends_with(&suffix));
    let from_record = found
        .as_ref()
        .is_some_and(|f| f["from_relay_record"].as_bool() == Some(true));
    // Connect through the first address found, and see the connection.
    let mut connected = false;
    let mut connect_note = String::from("no address to connect to");
    if let Some(addr) = addrs.first() {
        let before = connections_to(finder, &private)?;
        match finder.json(&["connect", addr]) {
            Ok(_) => {
                let (conns, waited) = held_connections(finder, &private)?;
                connected = !conns.is_empty();
                connect_note = format!(
                    "connections to it before {before:?}, {:.2} s after connect {conns:?}",
                    waited.as_secs_f64()
                );
            }
            Err(e) => connect_note = format!("connect {addr} failed: {e:#}"),
        }
    }
    let mut report = Report::new("a public node finds a private one by peer id");
    report.row(
        "find-peer of the private host returns only its relay addresses".to_string(),
        f64::from(u8::from(relayed && from_record)),
        1.0,
        "yes",
        Bound::AtLeast(1.0),
    );
    report.row(
        "connected through the address found".to_string(),
        f64::from(u8::from(connected)),
        1.0,
        "yes",
        Bound::AtLeast(1.0),
    );
    report.note(format!(
        "private with a reservation after {:.1} s; found after {found_secs:.1} s ({tries} lookups): {}",
        ready.as_secs_f64(),
        found.map_or(last_error, |f| f.to_string())
    ));
    report.note(connect_note);
    Ok(report)
}

/// How long after `connect` the finder may be without any connection to
/// the private host.
const HELD_WITHIN: Duration = Duration::from_secs(5);

/// `finder`'s connections to `peer` once it has any, and how long that
/// took (at most [`HELD_WITHIN`]).
///
/// The relayed connection `connect` opened is upgraded by a hole punch
/// right away (the private host sits behind a port-preserving NAT). The
/// private host closes the relayed connection as soon as its own side of
/// the direct one is up, which can be before the finder's side is: a
/// single look at that moment sees no connection at all (once in a CI run
/// on a loaded machine). A connection of either kind counts.
fn held_connections(finder: &crate::Host, peer: &str) -> Result<(Vec<String>, Duration)> {
    let started = Instant::now();
    loop {
        let conns = connections_to(finder, peer)?;
        if !conns.is_empty() || started.elapsed() > HELD_WITHIN {
            return Ok((conns, started.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
