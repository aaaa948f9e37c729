//! [`TransportChoice`] driven directly: connections and addresses in,
//! actions out.

use libp2p::{swarm::ConnectionId, Multiaddr, PeerId};

use super::choice::{Action, Transport, TransportChoice};

fn addr(s: &str) -> Multiaddr {
    s.parse().unwrap()
}

const QUIC: &str = "/ip4/10.0.0.2/udp/4001/quic-v1";
const TCP: &str = "/ip4/10.0.0.2/tcp/4001";

fn drain(c: &mut TransportChoice) -> Vec<Action> {
    std::iter::from_fn(|| c.poll_action()).collect()
}

#[test]
fn transports_are_read_from_addresses() {
    assert_eq!(Transport::of(&addr(TCP)), Some(Transport::Tcp));
    assert_eq!(Transport::of(&addr(QUIC)), Some(Transport::Quic));
    let relayed = format!("{TCP}/p2p/{}/p2p-circuit", PeerId::random());
    assert_eq!(Transport::of(&addr(&relayed)), None);
    assert_eq!(Transport::of(&addr("/memory/7")), None);
    assert_eq!(Transport::of(&addr("/ip4/10.0.0.2/tcp/80/ws")), None);
    assert_eq!("QUIC".parse::<Transport>(), Ok(Transport::Quic));
    let err = "udp".parse::<Transport>().unwrap_err();
    assert!(err.contains("\"tcp\" or \"quic\""), "{err}");
}

#[test]
fn a_dial_that_landed_on_the_other_transport_dials_the_preferred_then_closes_its_own() {
    let mut c = TransportChoice::new(Transport::Tcp);
    let (peer, quic, tcp) = (
        PeerId::random(),
        ConnectionId::new_unchecked(1),
        ConnectionId::new_unchecked(2),
    );
    c.handle_outbound(peer, quic, &addr(QUIC));
    assert!(drain(&mut c).is_empty(), "no TCP address known yet");
    // identify names the peer's listen addresses.
    c.handle_address(peer, &addr(QUIC));
    c.handle_address(peer, &addr(TCP));
    assert_eq!(
        drain(&mut c),
        vec![Action::Dial {
            peer,
            addr: addr(TCP)
        }]
    );
    // A second identify (or another address) does not dial again.
    c.handle_address(peer, &addr("/ip4/10.0.0.2/tcp/4002"));
    assert!(drain(&mut c).is_empty());
    c.handle_outbound(peer, tcp, &addr(TCP));
    assert_eq!(
        drain(&mut c),
        vec![Action::Close {
            peer,
            connection: quic
        }]
    );
    // Closed once only, and the TCP connection stays.
    c.handle_address(peer, &addr(TCP));
    assert!(drain(&mut c).is_empty());
    c.handle_closed(peer, quic);
    assert!(drain(&mut c).is_empty());
}

#[test]
fn the_preference_works_the_other_way_too() {
    let mut c = TransportChoice::new(Transport::Quic);
    let (peer, tcp, quic) = (
        PeerId::random(),
        ConnectionId::new_unchecked(1),
        ConnectionId::new_unchecked(2),
    );
    c.handle_outbound(peer, tcp, &addr(TCP));
    c.handle_address(peer, &addr(QUIC));
    assert_eq!(
        drain(&mut c),
        vec![Action::Dial {
            peer,
            addr: addr(QUIC)
        }]
    );
    c.handle_outbound(peer, quic, &addr(QUIC));
    assert_eq!(
        drain(&mut c),
        vec![Action::Close {
            peer,
            connection: tcp
        }]
    );
}

#[test]
fn a_connection_on_the_preferred_transport_is_left_alone() {
    let mut c = TransportChoice::new(Transport::Tcp);
    let peer = PeerId::random();
    c.handle_outbound(peer, ConnectionId::new_unchecked(1), &addr(TCP));
    c.handle_address(peer, &addr(QUIC));
    c.handle_address(peer, &addr(TCP));
    assert!(drain(&mut c).is_empty());
}

#[test]
fn a_later_connection_on_the_other_transport_is_closed_at_once() {
    // E.g. hole punching dials both ways over TCP and QUIC.
    let mut c = TransportChoice::new(Transport::Tcp);
    let (peer, quic) = (PeerId::random(), ConnectionId::new_unchecked(2));
    c.handle_outbound(peer, ConnectionId::new_unchecked(1), &addr(TCP));
    c.handle_outbound(peer, quic, &addr(QUIC));
    assert_eq!(
        drain(&mut c),
        vec![Action::Close {
            peer,
            connection: quic
        }]
    );
}

#[test]
fn inbound_connections_and_unknown_peers_are_the_other_sides_choice() {
    // Only connections this node dialled are tracked: an address of a peer
    // connected to it inbound (or not at all) dials nothing.
    let mut c = TransportChoice::new(Transport::Tcp);
    c.handle_address(PeerId::random(), &addr(TCP));
    assert!(drain(&mut c).is_empty());
}

#[test]
fn no_dial_to_an_address_on_another_ip() {
    // A NAT-ed peer reached at its public address names private ones too.
    let mut c = TransportChoice::new(Transport::Tcp);
    let peer = PeerId::random();
    c.handle_outbound(peer, ConnectionId::new_unchecked(1), &addr(QUIC));
    c.handle_address(peer, &addr("/ip4/192.168.1.5/tcp/4001"));
    c.handle_address(peer, &addr("/dns4/example.org/tcp/4001"));
    assert!(drain(&mut c).is_empty());
    c.handle_address(peer, &addr(TCP));
    assert_eq!(drain(&mut c).len(), 1);
}

#[test]
fn a_failed_preferred_dial_is_not_retried_while_the_connection_lives() {
    let mut c = TransportChoice::new(Transport::Tcp);
    let (peer, quic) = (PeerId::random(), ConnectionId::new_unchecked(1));
    c.handle_outbound(peer, quic, &addr(QUIC));
    c.handle_address(peer, &addr(TCP));
    assert_eq!(drain(&mut c).len(), 1);
    // The TCP dial failed: nothing is heard of it; identify repeats.
    c.handle_address(peer, &addr(TCP));
    assert!(drain(&mut c).is_empty());
    // Once every connection closed, a new one may try again.
    c.handle_closed(peer, quic);
    c.handle_outbound(peer, ConnectionId::new_unchecked(3), &addr(QUIC));
    c.handle_address(peer, &addr(TCP));
    assert_eq!(drain(&mut c).len(), 1);
}

#[test]
fn relayed_connections_are_left_alone() {
    let mut c = TransportChoice::new(Transport::Tcp);
    let peer = PeerId::random();
    let relayed = format!(
        "/ip4/10.0.0.9/tcp/4001/p2p/{}/p2p-circuit",
        PeerId::random()
    );
    c.handle_outbound(peer, ConnectionId::new_unchecked(1), &addr(&relayed));
    c.handle_address(peer, &addr(TCP));
    assert!(drain(&mut c).is_empty());
}
