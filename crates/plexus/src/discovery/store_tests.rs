use std::time::{Duration, Instant};

use libp2p::{
    kad::{store::RecordStore, ProviderRecord, Record, RecordKey},
    PeerId,
};

use super::{ProviderStore, StoreLimits};

fn key(i: usize) -> RecordKey {
    RecordKey::new(&format!("key-{i}"))
}

fn record(i: usize, provider: PeerId) -> ProviderRecord {
    ProviderRecord::new(key(i), provider, Vec::new())
}

fn small() -> StoreLimits {
    StoreLimits {
        max_own_provided: 10_000,
        max_remote_provider_records: 100,
        max_keys_per_remote: 30,
        ..StoreLimits::default()
    }
}

#[test]
fn own_records_beyond_1024_are_all_kept_and_provided() {
    let me = PeerId::random();
    let mut store = ProviderStore::new(me);
    for i in 0..5_000 {
        store
            .add_provider(record(i, me))
            .expect("own record accepted");
    }
    assert_eq!(store.own_count(), 5_000);
    assert_eq!(store.provided().count(), 5_000);
    for i in [0, 1_023, 1_024, 2_500, 4_999] {
        let found = store.providers(&key(i));
        assert_eq!(found.len(), 1, "key {i}");
        assert_eq!(found[0].provider, me);
    }
    // Re-announcing updates in place.
    store.add_provider(record(7, me)).unwrap();
    assert_eq!(store.provided().count(), 5_000);
    store.remove_provider(&key(7), &me);
    assert_eq!(store.provided().count(), 4_999);
    assert!(store.providers(&key(7)).is_empty());
}

#[test]
fn own_records_stop_at_their_own_cap() {
    let me = PeerId::random();
    let mut store = ProviderStore::with_limits(
        me,
        StoreLimits {
            max_own_provided: 10,
            ..small()
        },
    );
    for i in 0..10 {
        store.add_provider(record(i, me)).unwrap();
    }
    assert!(store.add_provider(record(10, me)).is_err());
    // A key already held is still refreshed.
    store.add_provider(record(3, me)).unwrap();
    assert_eq!(store.own_count(), 10);
}

#[test]
fn one_remote_peer_is_capped() {
    let me = PeerId::random();
    let other = PeerId::random();
    let mut store = ProviderStore::with_limits(me, small());
    let accepted = (0..100)
        .filter(|&i| store.add_provider(record(i, other)).is_ok())
        .count();
    assert_eq!(accepted, 30);
    assert_eq!(store.remote_count_of(&other), 30);
    // Refreshing a key it already announced is fine.
    assert!(store.add_provider(record(5, other)).is_ok());
    assert_eq!(store.remote_count_of(&other), 30);
    // Another peer still has room, also for the same keys.
    let third = PeerId::random();
    assert!(store.add_provider(record(5, third)).is_ok());
    assert_eq!(store.providers(&key(5)).len(), 2);
    // Removing frees a slot.
    store.remove_provider(&key(0), &other);
    assert_eq!(store.remote_count_of(&other), 29);
    assert!(store.add_provider(record(99, other)).is_ok());
    assert!(store.provided().next().is_none(), "no remote record is own");
}

#[test]
fn remote_flood_cannot_evict_or_block_own_records() {
    let me = PeerId::random();
    let mut store = ProviderStore::with_limits(me, small());
    for i in 0..500 {
        store.add_provider(record(i, me)).unwrap();
    }
    // 50 peers each announce 100 keys, including the node's own keys.
    for _ in 0..50 {
        let peer = PeerId::random();
        for i in 0..100 {
            let _ = store.add_provider(record(i * 7, peer));
        }
    }
    assert_eq!(store.remote_count(), 100, "total cap");
    // The own records are untouched, and more still fit.
    for i in 500..2_000 {
        store.add_provider(record(i, me)).unwrap();
    }
    assert_eq!(store.provided().count(), 2_000);
    for i in [0, 499, 1_999] {
        assert!(store.providers(&key(i)).iter().any(|p| p.provider == me));
    }
}

#[test]
fn total_cap_holds_and_providers_per_key_are_bounded() {
    let me = PeerId::random();
    let mut store = ProviderStore::with_limits(
        me,
        StoreLimits {
            max_providers_per_key: 5,
            ..small()
        },
    );
    let peers: Vec<PeerId> = (0..20).map(|_| PeerId::random()).collect();
    let mut accepted = 0;
    for (n, peer) in peers.iter().enumerate() {
        for i in 0..30 {
            if store.add_provider(record(n * 1_000 + i, *peer)).is_ok() {
                accepted += 1;
            }
        }
    }
    assert_eq!(accepted, 100);
    assert_eq!(store.remote_count(), 100);
    // Many providers for one key: only 5 kept.
    let mut store = ProviderStore::with_limits(
        me,
        StoreLimits {
            max_providers_per_key: 5,
            ..small()
        },
    );
    for peer in &peers {
        store.add_provider(record(1, *peer)).unwrap();
    }
    assert_eq!(store.providers(&key(1)).len(), 5);
    assert_eq!(store.remote_count(), 5);
}

#[test]
fn expired_remote_records_make_room() {
    let me = PeerId::random();
    let other = PeerId::random();
    let mut store = ProviderStore::with_limits(me, small());
    let past = Instant::now().checked_sub(Duration::from_secs(1));
    for i in 0..30 {
        let mut r = record(i, other);
        r.expires = past;
        store.add_provider(r).unwrap();
    }
    if past.is_some() {
        assert!(store.add_provider(record(100, other)).is_ok());
        assert_eq!(store.remote_count_of(&other), 1);
    }
}

/// A valid relay-address record of a new peer (the only plain records
/// the store takes).
fn relay_record() -> (libp2p::identity::Keypair, Record) {
    let keypair = libp2p::identity::Keypair::generate_ed25519();
    let relay = PeerId::random();
    let addr = format!("/ip4/192.0.2.1/tcp/4001/p2p/{relay}/p2p-circuit")
        .parse()
        .unwrap();
    let record = super::super::relay_record::signed(&keypair, &[addr]).unwrap();
    (keypair, record)
}

#[test]
fn plain_records_keep_their_bounds() {
    let me = PeerId::random();
    let mut store = ProviderStore::with_limits(
        me,
        StoreLimits {
            max_records: 3,
            ..small()
        },
    );
    let held: Vec<Record> = (0..3).map(|_| relay_record().1).collect();
    for r in &held {
        store.put(r.clone()).unwrap();
    }
    assert!(store.put(relay_record().1).is_err(), "full");
    assert_eq!(store.records().count(), 3);
    store.remove(&held[0].key);
    assert!(store.get(&held[0].key).is_none());
    // Provider records do not count against plain records, nor the reverse.
    store.add_provider(record(50, me)).unwrap();
    store.put(relay_record().1).unwrap();
}

#[test]
fn plain_records_other_than_signed_relay_addresses_are_refused() {
    let mut store = ProviderStore::with_limits(PeerId::random(), small());
    assert!(store.put(Record::new(key(1), vec![1; 10])).is_err());
    let (_, mut forged) = relay_record();
    // Someone else's key over a valid record of its own.
    forged.key = super::super::relay_record::key(&PeerId::random());
    assert!(store.put(forged).is_err());
    assert_eq!(store.records().count(), 0);
}

fn addr(port: u16) -> libp2p::Multiaddr {
    format!("/ip4/10.0.0.1/tcp/{port}").parse().unwrap()
}

/// A record announced without addresses (a provider with no confirmed
/// external address) is answered with the addresses identify gave, in
/// either order: libp2p-kad leaves a provider without addresses out of its
/// answers unless it is in the holder's routing table.
#[test]
fn records_without_addresses_get_the_providers_identify_addresses() {
    let me = PeerId::random();
    let (early, late) = (PeerId::random(), PeerId::random());
    let mut store = ProviderStore::new(me);
    // Identify before the announcement.
    store.handle_listen_addrs(early, vec![addr(1)]);
    store.add_provider(record(1, early)).unwrap();
    assert_eq!(store.providers(&key(1))[0].addresses, vec![addr(1)]);
    // The announcement before identify: filled once identify comes.
    store.add_provider(record(2, late)).unwrap();
    assert!(store.providers(&key(2))[0].addresses.is_empty());
    store.handle_listen_addrs(late, vec![addr(2)]);
    assert_eq!(store.providers(&key(2))[0].addresses, vec![addr(2)]);
    // Addresses the record brought are its own.
    let mut own = record(3, early);
    own.addresses = vec![addr(9)];
    store.add_provider(own).unwrap();
    store.handle_listen_addrs(early, vec![addr(1)]);
    assert_eq!(store.providers(&key(3))[0].addresses, vec![addr(9)]);
    // After the provider disconnected, a republished record stays as sent.
    store.handle_disconnected(&early);
    store.add_provider(record(4, early)).unwrap();
    assert!(store.providers(&key(4))[0].addresses.is_empty());
}

/// A refused record leaves nothing waiting for identify.
#[test]
fn a_refused_record_waits_for_nothing() {
    let me = PeerId::random();
    let peer = PeerId::random();
    let mut store = ProviderStore::with_limits(
        me,
        StoreLimits {
            max_keys_per_remote: 1,
            ..small()
        },
    );
    store.add_provider(record(1, peer)).unwrap();
    assert!(store.add_provider(record(2, peer)).is_err());
    store.handle_listen_addrs(peer, vec![addr(1)]);
    assert_eq!(store.providers(&key(1))[0].addresses, vec![addr(1)]);
    assert!(store.providers(&key(2)).is_empty());
}
