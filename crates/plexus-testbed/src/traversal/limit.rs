//! `get --allow-relay` of a file larger than what the relay lets one
//! circuit carry (libp2p's default the test bed's relay keeps: 128 KiB
//! each way, 2 minutes): both peers behind symmetric NATs, so no hole
//! punch can work and the relay is the only way. The relay's limit is its
//! operator's policy, so the get must not get around it by opening circuit
//! after circuit: it stops with an error that names the relay's limit and
//! what to do. What it verified before the cut is kept (`plexus ls`), but
//! that is little: the first answer alone is larger than the circuit
//! carries, so a second get would get no further, and the error does not
//! promise that it would.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use super::{net_for, private_with_reservation, reach_of, relay_flags, wait_status, Side};
use crate::{report::Bound, Discovery, NatKind, Report, Testbed, Transport};

/// Size of the file: eight times the relay's default circuit limit.
const SIZE: u64 = 1 << 20;

/// A relayed get of 1 MiB through a relay that allows 128 KiB per circuit.
pub fn over_the_limit(plexus: &Path, transport: Transport) -> Result<Report> {
    let sym = Side::Behind(NatKind::Symmetric);
    let (net, index) = net_for(&[sym, sym])?;
    let (sharer_i, getter_i) = (index[0], index[1]);
    let relay = relay_flags(&net, transport, &[]);
    let bed = Testbed::on_transport(plexus, net, Discovery::BootstrapFromFirst, transport, |i| {
        if i == 0 {
            relay.clone()
        } else {
            Vec::new()
        }
    })?;
    let limit = Duration::from_secs(60);
    wait_status(&bed.hosts[0], "public", limit, |s| reach_of(s) == "public")?;
    for i in [sharer_i, getter_i] {
        wait_status(
            &bed.hosts[i],
            "private with a relay reservation",
            limit,
            private_with_reservation,
        )?;
    }
    let file = bed.make_file("limit.bin", SIZE, 5)?;
    let shared = bed.hosts[sharer_i].json(&["share", file.to_str().expect("utf-8")])?;
    let ticket = shared["ticket"]
        .as_str()
        .context("share printed no ticket")?
        .to_string();
    let out = bed.dir.path().join("limit.out");
    let started = Instant::now();
    let got = bed.hosts[getter_i].json(&[
        "get",
        &ticket,
        "-o",
        out.to_str().expect("utf-8"),
        "--force",
        "--allow-relay",
    ]);
    let secs = started.elapsed().as_secs_f64();
    let error = match &got {
        Ok(v) => format!("no error: the get completed ({v})"),
        Err(e) => format!("{e:#}"),
    };
    let why = error
        .rsplit_once(" failed: ")
        .map_or(error.clone(), |(_, why)| why.to_string());
    let names_limit = got.is_err() && why.contains("128 KiB") && why.contains("relay");
    let says_what_to_do = why.contains("--relay-circuit-bytes") && why.contains("directly");
    let hash = shared["hash"].as_str().context("share printed no hash")?;
    let listed = bed.hosts[getter_i].json(&["ls"])?;
    let kept = listed
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["hash"].as_str() == Some(hash))
        .and_then(|e| e["present_bytes"].as_u64())
        .unwrap_or(0);
    let status = bed.hosts[getter_i].json(&["status"])?;
    let mut report = Report::new(&format!(
        "get --allow-relay of 1 MiB over a relay limited to 128 KiB per circuit, over {}",
        transport.name()
    ));
    report.row(
        "stopped with an error naming the relay's limit".to_string(),
        f64::from(u8::from(names_limit)),
        1.0,
        "yes",
        Bound::AtLeast(1.0),
    );
    report.row(
        "the error says what to do".to_string(),
        f64::from(u8::from(says_what_to_do)),
        1.0,
        "yes",
        Bound::AtLeast(1.0),
    );
    report.row(
        "KiB verified before the relay ended the circuit (kept)".to_string(),
        kept as f64 / 1024.0,
        128.0,
        "KiB",
        Bound::None,
    );
    report.note(format!("after {secs:.1} s: {why}"));
    report.note(format!("getter's status: {}", status["nat"]));
    Ok(report)
}
