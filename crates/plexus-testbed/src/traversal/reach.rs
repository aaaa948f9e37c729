//! Flooding search and pub/sub reach hosts behind NATs: a public relay and
//! bootstrap host, a public host, and two private sites (port-preserving
//! and symmetric). A search from the public host finds both private
//! hosts' content and a private host's search finds the public one's; a
//! message published on the public host reaches subscribers behind both
//! NATs, and one published behind a NAT reaches a public subscriber.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use super::{private_with_reservation, reach_of, relay_flags, wait_status};
use crate::{report::Bound, Discovery, Host, NatKind, Net, Report, Testbed, Transport};

/// How long a search or a message may take to arrive.
const LIMIT: Duration = Duration::from_secs(30);

/// Runs the scenario.
pub fn reach(plexus: &Path) -> Result<Report> {
    let net = Net::with_sites(2, &[(NatKind::PortPreserving, 1), (NatKind::Symmetric, 1)])?;
    let relay = relay_flags(&net, Transport::Both, &[]);
    let bed = Testbed::on_with(plexus, net, Discovery::BootstrapFromFirst, |i| {
        if i == 0 {
            relay.clone()
        } else {
            Vec::new()
        }
    })?;
    let limit = Duration::from_secs(60);
    wait_status(&bed.hosts[0], "public", limit, |s| reach_of(s) == "public")?;
    for host in &bed.hosts[2..] {
        wait_status(
            host,
            "private with a relay reservation",
            limit,
            private_with_reservation,
        )?;
    }
    let names = ["", "Open Field", "Porch Light", "Sealed Room"];
    for (i, name) in names.iter().enumerate().skip(1) {
        let file = bed.make_file(&format!("reach{i}.bin"), 64 << 10, i as u64)?;
        bed.hosts[i].json(&["share", file.to_str().expect("utf-8"), "--name", name])?;
    }
    let (public, pp, sym) = (1, 2, 3);
    let mut report = Report::new("search and pub/sub reach peers behind NATs");
    for (from, to, what) in [
        (public, pp, "public finds port-preserving's"),
        (public, sym, "public finds symmetric's"),
        (pp, public, "port-preserving finds public's"),
        (sym, public, "symmetric finds public's"),
    ] {
        let found = search(&bed.hosts[from], names[to], &bed.hosts[to].peer_id);
        row(&mut report, format!("search: {what} content"), found);
    }
    for (from, to, what) in [
        (public, vec![pp, sym], "public to both private"),
        (pp, vec![public], "port-preserving to public"),
        (sym, vec![public], "symmetric to public"),
    ] {
        let topic = format!("reach{from}");
        let mut subs = Vec::new();
        for &i in &to {
            subs.push((i, Sub::start(&bed.hosts[i], &topic)?));
        }
        let text = format!("hello from host {from}");
        let started = Instant::now();
        let sent = bed.hosts[from].json(&["pub", &topic, &text, "--wait", "20"]);
        for (i, mut sub) in subs {
            let got = match &sent {
                Ok(_) => sub.message(LIMIT.saturating_sub(started.elapsed())),
                Err(e) => Err(anyhow::anyhow!("pub failed: {e:#}")),
            };
            let ok = got.and_then(|line| {
                let v: serde_json::Value = serde_json::from_str(&line)?;
                anyhow::ensure!(v["text"] == text.as_str(), "got {line}");
                Ok(started.elapsed())
            });
            row(&mut report, format!("pub/sub: {what} (host {i})"), ok);
        }
    }
    // How they are connected: no topic or search overlay of their own, only
    // the connections the DHT and the relay gave them.
    for i in [pp, sym] {
        let mut seen = Vec::new();
        for (j, other) in bed.hosts.iter().enumerate().filter(|(j, _)| *j != i) {
            let conns = super::connections_to(&bed.hosts[i], &other.peer_id)?;
            if !conns.is_empty() {
                let relayed = conns.iter().filter(|c| super::is_relayed(c)).count();
                seen.push(format!(
                    "host {j}: {} direct, {relayed} relayed",
                    conns.len() - relayed
                ));
            }
        }
        report.note(format!(
            "host {i}'s connections at the end: {}",
            seen.join("; ")
        ));
    }
    Ok(report)
}

fn row(report: &mut Report, name: String, result: Result<Duration>) {
    match result {
        Ok(took) => {
            report.note(format!("{name}: after {:.1} s", took.as_secs_f64()));
            report.row(name, 1.0, 1.0, "", Bound::AtLeast(1.0));
        }
        Err(e) => {
            report.note(format!("{name} FAILED: {e:#}"));
            report.row(name, 0.0, 1.0, "", Bound::AtLeast(1.0));
        }
    }
}

/// Searches `name` from `host` until a hit held by `holder` comes.
fn search(host: &Host, name: &str, holder: &str) -> Result<Duration> {
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < LIMIT {
        let out = host.cli(&["search", name, "--ttl", "3", "--timeout", "2", "--json"])?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let hit = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|v| v["holder"].as_str() == Some(holder));
        if hit {
            return Ok(started.elapsed());
        }
        last = format!("{text}{}", String::from_utf8_lossy(&out.stderr));
    }
    anyhow::bail!("no hit from {holder} in {LIMIT:?}; last: {}", last.trim())
}

/// A running `plexus sub TOPIC --json --count 1`.
struct Sub {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Sub {
    /// Starts it and waits until it says it subscribed.
    fn start(host: &Host, topic: &str) -> Result<Self> {
        let mut child = host
            .command(&["sub", topic, "--json", "--count", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start plexus sub")?;
        let (tx, lines) = mpsc::channel();
        let err = BufReader::new(child.stderr.take().expect("piped"));
        let out = BufReader::new(child.stdout.take().expect("piped"));
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                let _ = tx2.send(format!("stderr: {line}"));
            }
        });
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut sub = Self { child, lines };
        let line = sub.next(Duration::from_secs(20))?;
        anyhow::ensure!(line.contains("subscribed to"), "sub said {line:?}");
        Ok(sub)
    }

    fn next(&mut self, limit: Duration) -> Result<String> {
        self.lines
            .recv_timeout(limit)
            .map_err(|_| anyhow::anyhow!("nothing from sub in {limit:?}"))
    }

    /// The first message line within `limit`.
    fn message(&mut self, limit: Duration) -> Result<String> {
        let deadline = Instant::now() + limit;
        loop {
            let line = self.next(deadline.saturating_duration_since(Instant::now()))?;
            if !line.starts_with("stderr: ") {
                return Ok(line);
            }
        }
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
