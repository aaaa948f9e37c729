//! mDNS discovery between two hosts: two network namespaces joined by a veth
//! pair, one daemon in each, no bootstrap. Needs root and iproute2; the test
//! fails with a clear message when namespaces cannot be made.

mod common;

use std::{process::Command, time::Duration};

use common::{wait_until, Daemon, PLEXUS};

/// Two namespaces linked by veth; removed (with the link) when dropped.
struct NetnsPair {
    names: [String; 2],
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip` (install iproute2): {e}"));
    assert!(
        out.status.success(),
        "`ip {}` failed: {} (mDNS tests need root and network namespaces)",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

impl NetnsPair {
    fn new() -> Self {
        let tag = std::process::id();
        let names = [format!("plx-mdns-a-{tag}"), format!("plx-mdns-b-{tag}")];
        let links = [format!("pxa{tag}"), format!("pxb{tag}")];
        let pair = NetnsPair {
            names: names.clone(),
        };
        for name in &names {
            ip(&["netns", "add", name]);
        }
        ip(&[
            "link", "add", &links[0], "type", "veth", "peer", "name", &links[1],
        ]);
        // Addresses exist only inside these two namespaces.
        for (i, (ns, link)) in names.iter().zip(&links).enumerate() {
            ip(&["link", "set", link, "netns", ns]);
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("10.213.0.{}/24", i + 1),
                "dev",
                link,
            ]);
            ip(&["-n", ns, "link", "set", link, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "route", "add", "224.0.0.0/4", "dev", link]);
        }
        pair
    }

    fn command(&self, i: usize) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.names[i], PLEXUS]);
        c
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

#[test]
fn two_hosts_find_each_other_by_mdns_alone() {
    let net = NetnsPair::new();
    let root = tempfile::tempdir().unwrap();
    let args = [
        "daemon",
        "--listen",
        "/ip4/0.0.0.0/tcp/0",
        "--api",
        "127.0.0.1:0",
    ];
    let a = Daemon::start_with(net.command(0), &root.path().join("a"), &args);
    let b = Daemon::start_with(net.command(1), &root.path().join("b"), &args);

    let peers_of = |i: usize, d: &Daemon| {
        let out = net
            .command(i)
            .arg("--data-dir")
            .arg(&d.data_dir)
            .args(["peers", "--json"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Listed is not yet connected: a peer found by mDNS is in the routing
    // table a moment before the dial ends (seen in CI: listed, not
    // connected, 0.5 s in). Wait for both connections.
    let connected_to = |i: usize, d: &Daemon, peer: &str| {
        serde_json::from_str::<serde_json::Value>(&peers_of(i, d))
            .ok()
            .and_then(|v| {
                v.as_array()?
                    .iter()
                    .find(|p| p["peer_id"] == peer)
                    .map(|p| p["connected"] == true)
            })
            .unwrap_or(false)
    };
    let found = wait_until(Duration::from_secs(30), || {
        connected_to(0, &a, &b.peer_id) && connected_to(1, &b, &a.peer_id)
    });
    assert!(
        found,
        "no mDNS discovery: a sees {} / b sees {}",
        peers_of(0, &a),
        peers_of(1, &b)
    );
    let peers: serde_json::Value = serde_json::from_str(&peers_of(0, &a)).unwrap();
    let entry = peers
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["peer_id"] == b.peer_id.as_str())
        .unwrap();
    assert_eq!(entry["connected"], true, "{entry}");
    assert!(entry["addrs"].to_string().contains("10.213.0.2"), "{entry}");
    drop((a, b));
}
