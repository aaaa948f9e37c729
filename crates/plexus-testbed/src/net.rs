//! The network: one namespace holding a bridge, and one namespace per host
//! joined to it by a veth pair. Each host has its own address, an optional
//! `tbf` rate cap in each direction, and a link that can be cut, restored or
//! blackholed towards some peers (a partition). Private sites (see
//! [`crate::nat`]) put hosts behind a NAT router instead of on the bridge.
//! Everything is removed when the [`Net`] is dropped, also when a test
//! panics.

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
    output(cmd, args).map(drop)
}

/// Runs `cmd ARGS` and returns what it printed, failing with its stderr.
fn output(cmd: &str, args: &[&str]) -> Result<Vec<u8>> {
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
    Ok(out.stdout)
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
    /// The host's address: on the bridge's /24 for a public host, on its
    /// site's private /24 for a host behind a NAT router.
    pub ip: Ipv4Addr,
    /// The namespace holding the other end of the host's veth pair (the
    /// bridge's, or its router's).
    pub(crate) peer_ns: String,
    /// The bridge-side (or router-side) end of the host's veth pair.
    pub(crate) bridge_end: String,
}

/// A bridged network of hosts in namespaces.
#[derive(Debug)]
pub struct Net {
    pub(crate) bridge_ns: String,
    pub(crate) tag: String,
    /// The hosts' links, in order: public hosts first, then each private
    /// site's hosts.
    pub links: Vec<Link>,
    /// The NAT routers of the private sites, in order.
    pub routers: Vec<crate::nat::Router>,
}

impl Net {
    /// Creates `n` hosts on one bridge, 10.77.0.1 ... 10.77.0.n, all links
    /// uncapped. Addresses exist only inside these namespaces.
    pub fn new(n: usize) -> Result<Self> {
        assert!(n <= 200, "at most 200 public hosts");
        let mut net = Self::bridge_only()?;
        for i in 0..n {
            let addr = Ipv4Addr::new(10, 77, 0, i as u8 + 1);
            net.add_host(addr, None)?;
        }
        Ok(net)
    }

    /// An empty network: the bridge's namespace and bridge only.
    pub(crate) fn bridge_only() -> Result<Self> {
        remove_stale();
        let tag = format!(
            "{NS_PREFIX}{}n{}",
            std::process::id(),
            NEXT_NET.fetch_add(1, Ordering::Relaxed)
        );
        let bridge_ns = format!("{tag}-br");
        let net = Net {
            bridge_ns: bridge_ns.clone(),
            tag,
            links: Vec::new(),
            routers: Vec::new(),
        };
        ip(&["netns", "add", &bridge_ns])?;
        // The bridge stands for the wires between hosts, so frames it
        // forwards skip iptables. With `br_netfilter` loaded (as the NAT
        // routers' iptables may load it) every bridged frame went through
        // its hooks, CPU that real hosts never share.
        for table in ["iptables", "ip6tables", "arptables"] {
            // No such key: `br_netfilter` is not loaded, nothing to skip.
            let _ = in_ns(
                &bridge_ns,
                "sysctl",
                &["-q", "-w", &format!("net.bridge.bridge-nf-call-{table}=0")],
            );
        }
        ip(&["-n", &bridge_ns, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &bridge_ns, "link", "set", "br0", "up"])?;
        Ok(net)
    }

    /// Adds host `links.len()` with address `addr`: on the bridge when
    /// `gateway` is `None`, else behind router `gateway` (on its LAN bridge,
    /// with a default route through it).
    pub(crate) fn add_host(&mut self, addr: Ipv4Addr, gateway: Option<usize>) -> Result<()> {
        let i = self.links.len();
        let ns = format!("{}-h{i}", self.tag);
        let bridge_end = format!("h{i}");
        let (peer_ns, master) = match gateway {
            None => (self.bridge_ns.clone(), "br0"),
            Some(r) => (self.routers[r].ns.clone(), crate::nat::LAN_BRIDGE),
        };
        ip(&["netns", "add", &ns])?;
        self.links.push(Link {
            ns: ns.clone(),
            ip: addr,
            peer_ns: peer_ns.clone(),
            bridge_end: bridge_end.clone(),
        });
        veth(&peer_ns, &bridge_end, &ns, "eth0", master)?;
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
        if let Some(cc) = congestion_control() {
            in_ns(
                &ns,
                "sysctl",
                &["-q", "-w", &format!("net.ipv4.tcp_congestion_control={cc}")],
            )?;
        }
        for setting in extra_sysctls() {
            in_ns(&ns, "sysctl", &["-q", "-w", &setting])
                .with_context(|| format!("PLEXUS_TESTBED_SYSCTL: cannot set `{setting}`"))?;
        }
        // mDNS multicast goes out on the bridge (or the site's LAN).
        ip(&["-n", &ns, "route", "add", "224.0.0.0/4", "dev", "eth0"])?;
        if let Some(r) = gateway {
            let via = self.routers[r].lan_ip.to_string();
            ip(&["-n", &ns, "route", "add", "default", "via", &via])?;
        }
        Ok(())
    }

    /// Caps host `i`'s upload (its egress) at `up` and its download (the
    /// bridge's, or its router's, egress towards it) at `down`; `None`
    /// leaves a direction uncapped.
    pub fn cap(&self, i: usize, up: Option<Mbit>, down: Option<Mbit>) -> Result<()> {
        let link = &self.links[i];
        set_tbf(&link.ns, "eth0", up)?;
        set_tbf(&link.peer_ns, &link.bridge_end, down)
    }

    /// Bytes each host's links in `hosts` carried so far, as their `tbf`s
    /// counted them: (received, sent), `None` for a direction without a
    /// cap. Sent is read only for the hosts in `sent_of`
    /// (one `tc` per namespace read: a few a second stay cheap).
    ///
    /// Why not the host's interface counters: a `tbf` charges each segment
    /// of a coalesced (GSO/GRO) packet with its own headers, as a real
    /// link carries them, where the interface counts the packet once. A
    /// getter in the 24-getter crowd at 5 Mbit/s received 77.04 MB by its
    /// `tbf` against 75.39 MB by its interface, 2.2 % fewer.
    pub fn shaped_bytes(
        &self,
        hosts: std::ops::RangeInclusive<usize>,
        sent_of: &[usize],
    ) -> Vec<(Option<u64>, Option<u64>)> {
        let mut read: std::collections::HashMap<String, Vec<(String, u64)>> =
            std::collections::HashMap::new();
        let mut bytes = |ns: &str, dev: &str| -> Option<u64> {
            let qdiscs = read
                .entry(ns.to_string())
                .or_insert_with(|| tbf_bytes(ns).unwrap_or_default());
            qdiscs.iter().find(|(d, _)| d == dev).map(|(_, b)| *b)
        };
        hosts
            .map(|i| {
                let Some(link) = self.links.get(i) else {
                    return (None, None);
                };
                let received = bytes(&link.peer_ns, &link.bridge_end);
                let sent = sent_of
                    .contains(&i)
                    .then(|| bytes(&link.ns, "eth0"))
                    .flatten();
                (received, sent)
            })
            .collect()
    }

    /// Cuts host `i` off the bridge (or its router): its link goes down and
    /// no packet passes.
    pub fn cut(&self, i: usize) -> Result<()> {
        let link = &self.links[i];
        ip(&["-n", &link.peer_ns, "link", "set", &link.bridge_end, "down"])
    }

    /// Restores host `i`'s link after [`Net::cut`].
    pub fn restore(&self, i: usize) -> Result<()> {
        let link = &self.links[i];
        ip(&["-n", &link.peer_ns, "link", "set", &link.bridge_end, "up"])
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

/// Makes a veth pair `end` (in `ns`, enslaved to bridge `master` there) to
/// `other_end` (in `other_ns`), and brings `end` up.
pub(crate) fn veth(
    ns: &str,
    end: &str,
    other_ns: &str,
    other_end: &str,
    master: &str,
) -> Result<()> {
    ip(&[
        "-n", ns, "link", "add", end, "type", "veth", "peer", "name", other_end, "netns", other_ns,
    ])?;
    ip(&["-n", ns, "link", "set", end, "master", master])?;
    ip(&["-n", ns, "link", "set", end, "up"])
}

/// Every `tbf` in namespace `ns`: its device and the bytes it sent.
fn tbf_bytes(ns: &str) -> Result<Vec<(String, u64)>> {
    let out = output("tc", &["-n", ns, "-s", "-j", "qdisc", "show"])?;
    let all: Vec<serde_json::Value> =
        serde_json::from_slice(&out).context("`tc -j` printed no JSON list")?;
    Ok(all
        .iter()
        .filter(|q| q["kind"] == "tbf")
        .filter_map(|q| Some((q["dev"].as_str()?.to_string(), q["bytes"].as_u64()?)))
        .collect())
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

/// More network settings for every host, for experiments on the links'
/// TCP: `$PLEXUS_TESTBED_SYSCTL`, comma-separated `key=value`s for `sysctl
/// -w` in each host's namespace (e.g.
/// `net.ipv4.tcp_slow_start_after_idle=0`); none by default.
fn extra_sysctls() -> Vec<String> {
    std::env::var("PLEXUS_TESTBED_SYSCTL")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// The TCP congestion control every host uses: `$PLEXUS_TESTBED_CC`, by
/// default `cubic` (Linux's default, and what home hosts run); `system`
/// keeps the kernel's default, which a namespace takes from the machine.
///
/// Not left to the machine: this one defaults to BBR (v1), and in the
/// 24-getter crowd the seeder's 24 BBR flows overran its link's 100 ms
/// drop-tail queue: the `tbf` dropped 16,910 packets and TCP retransmitted
/// 17 % of its segments (CUBIC: 1,663 and 1.5 %), and the last getter
/// finished at 1.44 x the bound against 1.35 x with CUBIC (medians of 8
/// runs each). `None` to keep the kernel's.
pub fn congestion_control() -> Option<String> {
    static CHOSEN: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    CHOSEN
        .get_or_init(|| {
            let cc = std::env::var("PLEXUS_TESTBED_CC").unwrap_or_else(|_| "cubic".into());
            if cc == "system" {
                return None;
            }
            let read = |key: &str| {
                std::fs::read_to_string(format!("/proc/sys/net/ipv4/{key}")).unwrap_or_default()
            };
            let listed = |list: String| list.split_whitespace().any(|c| c == cc);
            if !listed(read("tcp_available_congestion_control")) {
                eprintln!(
                    "PLEXUS_TESTBED_CC: this kernel has no `{cc}` congestion control; the hosts keep the machine's default"
                );
                return None;
            }
            // A namespace may only pick what the machine allows.
            let allowed = read("tcp_allowed_congestion_control");
            if !listed(allowed.clone()) {
                let more = format!("{} {cc}", allowed.trim());
                if let Err(e) = run(
                    "sysctl",
                    &["-q", "-w", &format!("net.ipv4.tcp_allowed_congestion_control={more}")],
                ) {
                    eprintln!("PLEXUS_TESTBED_CC: cannot allow `{cc}` ({e:#}); the hosts keep the machine's default");
                    return None;
                }
            }
            Some(cc)
        })
        .clone()
}

impl Drop for Net {
    fn drop(&mut self) {
        for link in &self.links {
            let _ = ip(&["netns", "del", &link.ns]);
        }
        for router in &self.routers {
            let _ = ip(&["netns", "del", &router.ns]);
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
