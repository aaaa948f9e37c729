//! The testbed's NAT routers do what real ones do: a host behind one
//! reaches the public side, which sees the router's address; the public
//! side cannot dial in; a symmetric router maps every destination to a new
//! port, a port-preserving one keeps the port. Proven with `plexus-probe`,
//! an address echo. Needs root, iproute2 and iptables: fails (never passes
//! quietly) when the routers cannot be set up.

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::Path,
    process::Command,
};

use plexus_testbed::{
    net::ip,
    probe::{ask_tcp, ask_udp, Server},
    NatKind, Net,
};

const PROBE: &str = env!("CARGO_BIN_EXE_plexus-probe");

/// Hosts 0 and 1 public (10.77.0.1, .2); host 2 behind a port-preserving
/// router (10.77.0.201), host 3 behind a symmetric one (10.77.0.202).
fn net() -> Net {
    Net::with_sites(2, &[(NatKind::PortPreserving, 1), (NatKind::Symmetric, 1)])
        .unwrap_or_else(|e| panic!("cannot set up the NAT routers: {e:#}"))
}

fn probe() -> &'static Path {
    Path::new(PROBE)
}

fn sock(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

#[test]
fn a_host_behind_nat_reaches_a_public_host_which_sees_the_router() {
    let net = net();
    assert_eq!(net.public_ip(2), Ipv4Addr::new(10, 77, 0, 201));
    assert_eq!(net.public_ip(3), Ipv4Addr::new(10, 77, 0, 202));
    let server = sock(net.links[0].ip, 7000);
    let _s = Server::start(probe(), &net.links[0].ns, false, server).unwrap();
    for i in 1..4 {
        let seen = ask_tcp(probe(), &net.links[i].ns, server)
            .unwrap_or_else(|e| panic!("host {i} cannot reach the public host: {e:#}"));
        println!("host {i} ({}) seen as {seen}", net.links[i].ip);
        assert_eq!(seen.ip(), net.public_ip(i), "host {i}");
    }
    assert_ne!(
        net.links[2].ip,
        net.public_ip(2),
        "host 2 has a private address"
    );
}

#[test]
fn a_public_host_cannot_dial_in() {
    let net = net();
    for i in [2, 3] {
        let inside = sock(Ipv4Addr::UNSPECIFIED, 7000);
        let ns = &net.links[i].ns;
        let _tcp = Server::start(probe(), ns, false, inside).unwrap();
        let _udp = Server::start(probe(), ns, true, inside).unwrap();
        // The servers answer on the site's LAN (the router can reach them)...
        let router = net.router_of(i).unwrap();
        let private = sock(net.links[i].ip, 7000);
        ask_tcp(probe(), &router.ns, private).expect("the router reaches its LAN over TCP");
        ask_udp(probe(), &router.ns, 40000, &[private]).expect("and over UDP");
        // ...but not from the public side: neither at the router's address...
        let public = sock(router.public_ip, 7000);
        let from = &net.links[0].ns;
        let err = ask_tcp(probe(), from, public).expect_err("TCP dial-in to the router passed");
        println!("host {i}, TCP to {public}: {err:#}");
        ask_udp(probe(), from, 40000, &[public]).expect_err("UDP to the router passed");
        // ...nor straight at the private address routed through the router:
        // the firewall drops what the LAN did not ask for.
        let subnet = format!("{}/24", Ipv4Addr::from(u32::from(net.links[i].ip) & !0xff));
        let via = router.public_ip.to_string();
        ip(&["-n", from, "route", "add", &subnet, "via", &via]).unwrap();
        let err = ask_tcp(probe(), from, private).expect_err("TCP through the router passed");
        println!("host {i}, TCP to {private} via {via}: {err:#}");
        ask_udp(probe(), from, 40000, &[private]).expect_err("UDP through the router passed");
    }
}

#[test]
fn symmetric_nat_maps_each_destination_to_a_new_port_port_preserving_does_not() {
    let net = net();
    let a = sock(net.links[0].ip, 7001);
    let b = sock(net.links[1].ip, 7001);
    let _a = Server::start(probe(), &net.links[0].ns, true, a).unwrap();
    let _b = Server::start(probe(), &net.links[1].ns, true, b).unwrap();
    let local = 40000;
    let kept = ask_udp(probe(), &net.links[2].ns, local, &[a, b]).unwrap();
    println!("port-preserving, local port {local}: seen as {kept:?}");
    assert_eq!(kept, vec![sock(net.public_ip(2), local); 2]);
    let fresh = ask_udp(probe(), &net.links[3].ns, local, &[a, b]).unwrap();
    println!("symmetric, local port {local}: seen as {fresh:?}");
    assert!(
        fresh.iter().all(|s| s.ip() == net.public_ip(3)),
        "{fresh:?}"
    );
    assert_ne!(
        fresh[0].port(),
        fresh[1].port(),
        "one mapping for two destinations"
    );
}

fn namespaces() -> String {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn routers_and_hosts_are_removed_on_drop_also_on_panic() {
    let mut names = Vec::new();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let net = net();
        names.extend(net.links.iter().map(|l| l.ns.clone()));
        names.extend(net.routers.iter().map(|r| r.ns.clone()));
        assert!(names.iter().all(|n| namespaces().contains(n.as_str())));
        panic!("a test fails with the net up");
    }));
    assert!(caught.is_err());
    assert_eq!(names.len(), 6);
    let left = namespaces();
    for name in &names {
        assert!(!left.contains(name.as_str()), "{name} left behind");
    }
}
