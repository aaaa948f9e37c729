//! Private sites: a NAT router per site, a namespace with one leg on the
//! bridge (its public address, 10.77.0.201 and up) and a LAN bridge of its
//! own (192.168.K.1/24) with the site's hosts behind it (192.168.K.2 and
//! up, default route through the router). The router masquerades whatever
//! leaves towards the bridge and drops whatever comes in unsolicited, like
//! a home router. Needs `iptables` (either backend; Debian's default
//! `iptables` is the nf_tables one and works in namespaces).

use std::{net::Ipv4Addr, process::Command};

use anyhow::{bail, Context, Result};

use crate::net::{in_ns, ip, veth, Net};

/// The router's bridge for its LAN, inside the router's namespace.
pub const LAN_BRIDGE: &str = "lan0";
/// The router's interface on the public bridge.
pub const WAN: &str = "wan0";

/// How a router maps private (address, port) to public ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatKind {
    /// `MASQUERADE`: keeps the source port when it is free, the same mapping
    /// for every destination (endpoint-independent, like most home routers);
    /// hole punching works through it.
    PortPreserving,
    /// `MASQUERADE --random-fully`: a new random port for every new
    /// connection, so every destination sees another port (symmetric);
    /// hole punching fails through it.
    Symmetric,
}

impl NatKind {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            NatKind::PortPreserving => "port-preserving",
            NatKind::Symmetric => "symmetric",
        }
    }
}

/// One private site's router.
#[derive(Debug)]
pub struct Router {
    /// The router's namespace.
    pub ns: String,
    /// The address everyone on the bridge sees for the site's hosts.
    pub public_ip: Ipv4Addr,
    /// The router's address on its LAN (the hosts' gateway).
    pub lan_ip: Ipv4Addr,
    /// How it maps ports.
    pub kind: NatKind,
    /// The indices of the site's hosts in [`Net::links`].
    pub hosts: std::ops::Range<usize>,
}

/// Fails with a clear message when `iptables` cannot be run.
pub fn check_iptables() -> Result<()> {
    match Command::new("iptables").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => bail!(
            "NAT routers need iptables, which cannot be run here \
             (install it: apt-get install -y iptables)"
        ),
    }
}

fn iptables(ns: &str, rule: &str) -> Result<()> {
    let mut args = vec!["-w"];
    args.extend(rule.split_whitespace());
    in_ns(ns, "iptables", &args)
        .with_context(|| format!("cannot set up the NAT router in {ns} (iptables {rule})"))
}

impl Net {
    /// `public` hosts on the bridge (10.77.0.1 and up), then one private
    /// site per entry of `sites`: a router of that kind with that many
    /// hosts behind it. Host indices: public hosts first, then the sites'
    /// hosts in order (see [`Router::hosts`]).
    pub fn with_sites(public: usize, sites: &[(NatKind, usize)]) -> Result<Self> {
        assert!(public <= 200, "at most 200 public hosts");
        assert!(sites.len() <= 50, "at most 50 sites");
        check_iptables()?;
        let mut net = Self::bridge_only()?;
        for i in 0..public {
            net.add_host(Ipv4Addr::new(10, 77, 0, i as u8 + 1), None)?;
        }
        for (k, &(kind, n)) in sites.iter().enumerate() {
            assert!(n <= 200, "at most 200 hosts per site");
            net.add_router(k, kind)?;
            let start = net.links.len();
            for j in 0..n {
                net.add_host(Ipv4Addr::new(192, 168, k as u8 + 1, j as u8 + 2), Some(k))?;
            }
            net.routers[k].hosts = start..net.links.len();
        }
        Ok(net)
    }

    /// The router of the site host `i` sits behind, if any.
    pub fn router_of(&self, i: usize) -> Option<&Router> {
        self.routers.iter().find(|r| r.hosts.contains(&i))
    }

    /// The address the bridge sees for host `i`: its own, or its router's.
    pub fn public_ip(&self, i: usize) -> Ipv4Addr {
        self.router_of(i)
            .map_or(self.links[i].ip, |router| router.public_ip)
    }

    fn add_router(&mut self, k: usize, kind: NatKind) -> Result<()> {
        let ns = format!("{}-r{k}", self.tag);
        let public_ip = Ipv4Addr::new(10, 77, 0, 201 + k as u8);
        let lan_ip = Ipv4Addr::new(192, 168, k as u8 + 1, 1);
        ip(&["netns", "add", &ns])?;
        self.routers.push(Router {
            ns: ns.clone(),
            public_ip,
            lan_ip,
            kind,
            hosts: 0..0,
        });
        veth(&self.bridge_ns, &format!("r{k}"), &ns, WAN, "br0")?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{public_ip}/24"),
            "dev",
            WAN,
        ])?;
        ip(&["-n", &ns, "link", "set", WAN, "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        ip(&["-n", &ns, "link", "add", LAN_BRIDGE, "type", "bridge"])?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{lan_ip}/24"),
            "dev",
            LAN_BRIDGE,
        ])?;
        ip(&["-n", &ns, "link", "set", LAN_BRIDGE, "up"])?;
        in_ns(&ns, "sysctl", &["-q", "-w", "net.ipv4.ip_forward=1"])?;
        let masquerade = match kind {
            NatKind::PortPreserving => "MASQUERADE",
            NatKind::Symmetric => "MASQUERADE --random-fully",
        };
        for rule in [
            format!("-t nat -A POSTROUTING -o {WAN} -j {masquerade}"),
            // Forward what the LAN starts and the answers to it, nothing else.
            "-P FORWARD DROP".to_string(),
            "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT".to_string(),
            format!("-A FORWARD -i {LAN_BRIDGE} -o {WAN} -j ACCEPT"),
            // The router itself answers nothing unsolicited from outside
            // (dropped, not refused, like a home router).
            format!("-A INPUT -i {WAN} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"),
            format!("-A INPUT -i {WAN} -j DROP"),
        ] {
            iptables(&ns, &rule)?;
        }
        Ok(())
    }
}
