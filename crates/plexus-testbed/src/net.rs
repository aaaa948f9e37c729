//! The network: one namespace holding a bridge, and one namespace per host
//! joined to it by a veth pair. Each host has its own address, an optional
//! `tbf` rate cap in each direction, and a link that can be cut, restored or
//! blackholed towards some peers (a partition). Everything is removed when
//! the [`Net`] is dropped, also when a test panics.

use std::{
    net::Ipv4Addr,
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

use anyhow::{bail, Context, Result};

/// Prefix of every namespace the testbed creates (`plxtb<pid>n<k>-...`).
pub const NS_PREFIX: &str = "plxtb";

static NEXT_NET: AtomicU32 = AtomicU32::new(0);

/// Runs `ip ARGS`, failing with its stderr and a hint about root.
pub fn ip(args: &[&str]) -> Result<()> {
    run("ip", args)
}

/// Runs `ip netns exec NS CMD ARGS`.
pub fn in_ns(ns: &str, cmd: &str, args: &[&str]) -> Result<()> {
    let mut all = vec!["netns", "exec", ns, cmd];
    all.extend_from_slice(args);
    run("ip", &all)
}

fn run(cmd: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .with_context(|| format!("cannot run `{cmd}` (install iproute2)"))?;
    if !out.status.success() {
        bail!(
            "`{cmd} {}` failed: {} (the testbed needs root, iproute2 and network namespaces)",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A rate cap in megabits per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mbit(pub f64);

impl Mbit {
    /// Bytes per second.
    pub fn bytes_per_sec(self) -> f64 {
        self.0 * 1e6 / 8.0
    }
}

/// One host's place in the network.
#[derive(Debug)]
pub struct Link {
    /// The host's namespace.
    pub ns: String,
    /// The host's address (a /24 shared by all hosts of this net).
    pub ip: Ipv4Addr,
    /// The bridge-side end of the host's veth pair.
    bridge_end: String,
}

/// A bridged network of hosts in namespaces.
#[derive(Debug)]
pub struct Net {
    bridge_ns: String,
    /// The hosts' links, in order.
    pub links: Vec<Link>,
}

impl Net {
    /// Creates `n` hosts on one bridge, 10.77.0.1 ... 10.77.0.n, all links
    /// uncapped. Addresses exist only inside these namespaces.
    pub fn new(n: usize) -> Result<Self> {
        assert!(n < 250, "at most 249 hosts");
        remove_stale();
        let tag = format!(
            "{NS_PREFIX}{}n{}",
            std::process::id(),
            NEXT_NET.fetch_add(1, Ordering::Relaxed)
        );
        let bridge_ns = format!("{tag}-br");
        let mut net = Net {
            bridge_ns: bridge_ns.clone(),
            links: Vec::new(),
        };
        ip(&["netns", "add", &bridge_ns])?;
        ip(&["-n", &bridge_ns, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &bridge_ns, "link", "set", "br0", "up"])?;
        for i in 0..n {
            let ns = format!("{tag}-h{i}");
            let bridge_end = format!("h{i}");
            let addr = Ipv4Addr::new(10, 77, 0, i as u8 + 1);
            ip(&["netns", "add", &ns])?;
            net.links.push(Link {
                ns: ns.clone(),
                ip: addr,
                bridge_end: bridge_end.clone(),
            });
            ip(&[
                "-n",
                &bridge_ns,
                "link",
                "add",
                &bridge_end,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &ns,
            ])?;
            ip(&[
                "-n",
                &bridge_ns,
                "link",
                "set",
                &bridge_end,
                "master",
                "br0",
            ])?;
            ip(&["-n", &bridge_ns, "link", "set", &bridge_end, "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            // mDNS multicast goes out on the bridge.
            ip(&["-n", &ns, "route", "add", "224.0.0.0/4", "dev", "eth0"])?;
        }
        Ok(net)
    }

    /// Caps host `i`'s upload (its egress) at `up` and its download (the
    /// bridge's egress towards it) at `down`; `None` leaves a direction
    /// uncapped.
    pub fn cap(&self, i: usize, up: Option<Mbit>, down: Option<Mbit>) -> Result<()> {
        let link = &self.links[i];
        set_tbf(&link.ns, "eth0", up)?;
        set_tbf(&self.bridge_ns, &link.bridge_end, down)
    }

    /// Cuts host `i` off the bridge (its link goes down; no packet passes).
    pub fn cut(&self, i: usize) -> Result<()> {
        let end = &self.links[i].bridge_end;
        ip(&["-n", &self.bridge_ns, "link", "set", end, "down"])
    }

    /// Restores host `i`'s link after [`Net::cut`].
    pub fn restore(&self, i: usize) -> Result<()> {
        let end = &self.links[i].bridge_end;
        ip(&["-n", &self.bridge_ns, "link", "set", end, "up"])
    }

    /// Splits the hosts in two groups that cannot reach each other
    /// (blackhole routes on every host towards the other side).
    pub fn partition(&self, side_a: &[usize]) -> Result<()> {
        self.blackholes(side_a, "add")
    }

    /// Undoes [`Net::partition`] with the same `side_a`.
    pub fn heal(&self, side_a: &[usize]) -> Result<()> {
        self.blackholes(side_a, "del")
    }

    fn blackholes(&self, side_a: &[usize], verb: &str) -> Result<()> {
        for (i, link) in self.links.iter().enumerate() {
            for (j, other) in self.links.iter().enumerate() {
                if side_a.contains(&i) != side_a.contains(&j) {
                    let dst = format!("{}/32", other.ip);
                    ip(&["-n", &link.ns, "route", verb, "blackhole", &dst])?;
                }
            }
        }
        Ok(())
    }
}

fn set_tbf(ns: &str, dev: &str, rate: Option<Mbit>) -> Result<()> {
    match rate {
        Some(Mbit(mbit)) => {
            // Burst of ~4 ms of traffic (at least 32 KiB), queue of 100 ms.
            let burst = ((mbit * 1e6 / 8.0 / 250.0) as u64).max(32 * 1024);
            in_ns(
                ns,
                "tc",
                &[
                    "qdisc",
                    "replace",
                    "dev",
                    dev,
                    "root",
                    "tbf",
                    "rate",
                    &format!("{}kbit", (mbit * 1000.0) as u64),
                    "burst",
                    &burst.to_string(),
                    "latency",
                    "100ms",
                ],
            )
        }
        None => {
            // No cap: drop any tbf (an error just means there was none).
            let _ = in_ns(ns, "tc", &["qdisc", "del", "dev", dev, "root"]);
            Ok(())
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for link in &self.links {
            let _ = ip(&["netns", "del", &link.ns]);
        }
        let _ = ip(&["netns", "del", &self.bridge_ns]);
    }
}

/// Deletes testbed namespaces left by processes that no longer run (a run
/// killed before it could clean up).
pub fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}
