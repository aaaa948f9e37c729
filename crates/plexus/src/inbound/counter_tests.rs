use std::net::{IpAddr, Ipv4Addr};

use libp2p::{swarm::ConnectionId, Multiaddr};

use super::counter::{ip_key, Exceeded, InboundCounter};

fn id(n: usize) -> ConnectionId {
    ConnectionId::new_unchecked(n)
}

fn ip(last: u8) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)))
}

#[test]
fn counts_per_ip_pending_and_established() {
    let mut c = InboundCounter::new(100, 3);
    for n in 0..3 {
        c.handle_pending(id(n), ip(1)).unwrap();
    }
    // Pending connections count against the IP already.
    assert!(matches!(
        c.handle_pending(id(3), ip(1)),
        Err(Exceeded::PerIp { limit: 3, .. })
    ));
    // Another IP is not affected.
    c.handle_pending(id(4), ip(2)).unwrap();
    c.handle_established(id(0), ip(1)).unwrap();
    c.handle_established(id(1), ip(1)).unwrap();
    assert_eq!(c.established(), 2);
    assert_eq!(c.count_for(ip(1).unwrap()), 3);
    assert!(c.handle_pending(id(5), ip(1)).is_err());
}

#[test]
fn releases_on_close_and_on_failure() {
    let mut c = InboundCounter::new(100, 2);
    c.handle_pending(id(0), ip(1)).unwrap();
    c.handle_pending(id(1), ip(1)).unwrap();
    c.handle_established(id(0), ip(1)).unwrap();
    assert!(c.handle_pending(id(2), ip(1)).is_err());
    // A handshake that failed frees its place...
    c.handle_closed(id(1));
    c.handle_pending(id(3), ip(1)).unwrap();
    // ...and so does an established connection that closed.
    c.handle_closed(id(0));
    assert_eq!(c.established(), 0);
    assert_eq!(c.count_for(ip(1).unwrap()), 1);
    c.handle_pending(id(4), ip(1)).unwrap();
    // Closing twice, or an id never seen (outbound), changes nothing.
    c.handle_closed(id(0));
    c.handle_closed(id(99));
    assert_eq!(c.count_for(ip(1).unwrap()), 2);
}

#[test]
fn total_counts_established_only() {
    let mut c = InboundCounter::new(2, 100);
    for n in 0..4 {
        c.handle_pending(id(n), ip(n as u8)).unwrap();
    }
    c.handle_established(id(0), ip(0)).unwrap();
    c.handle_established(id(1), ip(1)).unwrap();
    // Full: a third handshake is refused and forgotten.
    assert_eq!(
        c.handle_established(id(2), ip(2)),
        Err(Exceeded::Total { limit: 2 })
    );
    assert_eq!(c.count_for(ip(2).unwrap()), 0);
    // New connections are refused before their handshake.
    assert!(matches!(
        c.handle_pending(id(5), ip(5)),
        Err(Exceeded::Total { .. })
    ));
    // A close makes room.
    c.handle_closed(id(0));
    c.handle_established(id(3), ip(3)).unwrap();
    assert_eq!(c.established(), 2);
}

#[test]
fn denied_connections_are_not_counted() {
    let mut c = InboundCounter::new(10, 1);
    c.handle_pending(id(0), ip(1)).unwrap();
    assert!(c.handle_pending(id(1), ip(1)).is_err());
    // The swarm reports the refused one as failed: nothing to release.
    c.handle_closed(id(1));
    assert_eq!(c.count_for(ip(1).unwrap()), 1);
}

#[test]
fn established_without_pending_checks_the_ip() {
    let mut c = InboundCounter::new(10, 1);
    c.handle_established(id(0), ip(1)).unwrap();
    assert!(c.handle_established(id(1), ip(1)).is_err());
    assert_eq!(c.established(), 1);
}

#[test]
fn addresses_without_ip_count_in_total_only() {
    let mut c = InboundCounter::new(2, 1);
    c.handle_pending(id(0), None).unwrap();
    c.handle_pending(id(1), None).unwrap();
    c.handle_established(id(0), None).unwrap();
    c.handle_established(id(1), None).unwrap();
    assert!(c.handle_pending(id(2), None).is_err());
}

#[test]
fn ip_keys() {
    let key = |s: &str| ip_key(&s.parse::<Multiaddr>().unwrap()).map(|ip| ip.to_string());
    assert_eq!(key("/ip4/192.0.2.7/tcp/4001").as_deref(), Some("192.0.2.7"));
    // One /64 is one key.
    assert_eq!(
        key("/ip6/2001:db8:1:2:aaaa::1/udp/4001/quic-v1"),
        key("/ip6/2001:db8:1:2:bbbb::9/tcp/1")
    );
    assert_ne!(
        key("/ip6/2001:db8:1:2::1/tcp/1"),
        key("/ip6/2001:db8:1:3::1/tcp/1")
    );
    assert_eq!(
        key("/ip6/::ffff:192.0.2.7/tcp/1").as_deref(),
        Some("192.0.2.7")
    );
    assert_eq!(key("/memory/5"), None);
}
