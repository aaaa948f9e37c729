use libp2p::{identity::Keypair, kad::Record, Multiaddr, PeerId};

use super::{key, peer_of, replaces, signed, verify, Invalid};

fn circuit(relay: PeerId) -> Multiaddr {
    format!("/ip4/192.0.2.7/udp/4001/quic-v1/p2p/{relay}/p2p-circuit")
        .parse()
        .unwrap()
}

#[test]
fn a_signed_record_verifies_and_names_its_peer() {
    let me = Keypair::generate_ed25519();
    let id = me.public().to_peer_id();
    let relay = PeerId::random();
    let record = signed(&me, &[circuit(relay)]).unwrap();
    assert_eq!(record.key, key(&id));
    assert_eq!(peer_of(&record.key), Some(id));
    assert_eq!(record.publisher, Some(id));
    let peer_record = verify(&record).unwrap();
    assert_eq!(peer_record.peer_id(), id);
    let expected = circuit(relay).with(libp2p::multiaddr::Protocol::P2p(id));
    assert_eq!(peer_record.addresses(), [expected]);
}

#[test]
fn a_record_signed_by_another_peer_is_refused() {
    // The liar signs its own addresses and stores them under the victim's
    // key: the signature holds, but for the wrong peer.
    let liar = Keypair::generate_ed25519();
    let liar_id = liar.public().to_peer_id();
    let victim = PeerId::random();
    let mut record = signed(&liar, &[circuit(PeerId::random())]).unwrap();
    record.key = key(&victim);
    let err = verify(&record).unwrap_err();
    assert!(
        matches!(err, Invalid::WrongPeer(signer) if signer == liar_id),
        "{err}"
    );
}

#[test]
fn an_altered_record_is_refused() {
    let me = Keypair::generate_ed25519();
    let mut record = signed(&me, &[circuit(PeerId::random())]).unwrap();
    // Flip a byte of the payload (the addresses) near the end.
    let n = record.value.len();
    record.value[n - 80] ^= 1;
    assert!(
        matches!(verify(&record), Err(Invalid::Signature(_))),
        "{:?}",
        verify(&record)
    );
    let junk = Record::new(key(&me.public().to_peer_id()), vec![7; 40]);
    assert!(matches!(verify(&junk), Err(Invalid::Signature(_))));
}

#[test]
fn only_relay_addresses_of_the_signer_are_accepted() {
    let me = Keypair::generate_ed25519();
    let direct: Multiaddr = "/ip4/10.1.2.3/tcp/4001".parse().unwrap();
    let record = signed(&me, &[direct]).unwrap();
    assert!(matches!(verify(&record), Err(Invalid::Addresses(_))));
    // A circuit to somebody else, signed by me.
    let other = PeerId::random();
    let theirs = circuit(PeerId::random()).with(libp2p::multiaddr::Protocol::P2p(other));
    let record = signed(&me, &[theirs]).unwrap();
    assert!(matches!(verify(&record), Err(Invalid::Addresses(_))));
    let none = signed(&me, &[]).unwrap();
    assert!(matches!(verify(&none), Err(Invalid::Addresses(_))));
}

#[test]
fn other_keys_are_not_relay_records() {
    let record = Record::new(libp2p::kad::RecordKey::new(b"anything"), vec![1]);
    assert_eq!(verify(&record).unwrap_err(), Invalid::Key);
}

#[test]
fn an_older_record_does_not_replace_a_newer_one() {
    use libp2p::kad::store::RecordStore;
    let me = Keypair::generate_ed25519();
    let old = signed(&me, &[circuit(PeerId::random())]).unwrap();
    // The sequence number is the signing time in seconds.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let new = signed(&me, &[circuit(PeerId::random())]).unwrap();
    let (o, n) = (verify(&old).unwrap(), verify(&new).unwrap());
    assert!(n.seq() > o.seq());
    assert!(replaces(&n, &o) && !replaces(&o, &n));
    let mut store = crate::discovery::ProviderStore::new(PeerId::random());
    store.put(new.clone()).unwrap();
    // A replayed older record is taken without error but not kept.
    store.put(old).unwrap();
    assert_eq!(store.get(&new.key).unwrap().value, new.value);
}
