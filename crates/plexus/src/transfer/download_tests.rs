//! The download loop against [`FakeNetwork`]: no sockets, no node.

use std::{sync::Arc, time::Duration};

use tokio::sync::watch;

use super::{
    blob_fetch::Limits,
    download::fetch_with,
    fake::{FakeNetwork, Mode},
    stats::GetOptions,
};
use crate::{
    content::{BlobFormat, Hash, Store},
    Error,
};

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn store() -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

fn quick() -> Limits {
    Limits {
        have_timeout: Duration::from_secs(2),
        refresh_every: Duration::from_millis(50),
        stall_limit: Duration::from_millis(300),
    }
}

async fn get(
    net: &FakeNetwork,
    into: &Arc<Store>,
    hash: Hash,
    use_dht: bool,
) -> Result<super::DownloadStats, Error> {
    let options = GetOptions {
        providers: Vec::new(),
        use_dht,
        allow_relay: false,
    };
    let (tx, _rx) = watch::channel(Default::default());
    fetch_with(
        net,
        into,
        &quick(),
        hash,
        Some(BlobFormat::Raw),
        None,
        &options,
        &tx,
    )
    .await
}

#[tokio::test]
async fn fetches_byte_for_byte_from_several_peers() {
    let data = bytes(3 * 1024 * 1024 + 17, 1);
    let net = FakeNetwork::new();
    let mut keep = Vec::new();
    let mut hash = Hash([0; 32]);
    for _ in 0..3 {
        let (dir, s) = store();
        hash = s.import_bytes(&data).unwrap();
        net.add(s, Mode::Honest);
        keep.push(dir);
    }
    let (_dir, mine) = store();
    let stats = get(&net, &mine, hash, true).await.unwrap();
    assert_eq!(stats.size, data.len() as u64);
    assert_eq!(stats.fetched, data.len() as u64);
    assert!(stats.liars.is_empty());
    assert_eq!(mine.read_small(&hash, u64::MAX).unwrap(), data);
    assert!(net.provided.lock().unwrap().contains(&hash));
    // The first verified byte came during the download, timed from its start.
    let first = stats.first_byte_secs.expect("bytes were fetched");
    assert!(
        first > 0.0 && first <= stats.secs,
        "{first} of {}",
        stats.secs
    );
    // Nothing left to fetch: no first byte.
    let again = get(&net, &mine, hash, true).await.unwrap();
    assert_eq!((again.fetched, again.first_byte_secs), (0, None));
}

#[tokio::test]
async fn liars_about_bytes_and_size_are_blamed_and_the_data_is_right() {
    let data = bytes(2 * 1024 * 1024, 2);
    let net = FakeNetwork::new();
    let mut keep = Vec::new();
    let mut ids = Vec::new();
    let mut hash = Hash([0; 32]);
    for mode in [Mode::WrongBytes, Mode::WrongSize, Mode::Honest] {
        let (dir, s) = store();
        hash = s.import_bytes(&data).unwrap();
        ids.push(net.add(s, mode));
        keep.push(dir);
    }
    let (_dir, mine) = store();
    let stats = get(&net, &mine, hash, true).await.unwrap();
    let mut liars = stats.liars.clone();
    liars.sort();
    let mut expected = vec![ids[0], ids[1]];
    expected.sort();
    assert_eq!(liars, expected);
    assert_eq!(mine.read_small(&hash, u64::MAX).unwrap(), data);
}

#[tokio::test]
async fn a_peer_that_leaves_is_replaced() {
    let data = bytes(4 * 1024 * 1024, 3);
    let net = FakeNetwork::new();
    let mut keep = Vec::new();
    let mut hash = Hash([0; 32]);
    for mode in [Mode::GoneAfter(2), Mode::Honest] {
        let (dir, s) = store();
        hash = s.import_bytes(&data).unwrap();
        net.add(s, mode);
        keep.push(dir);
    }
    let (_dir, mine) = store();
    let stats = get(&net, &mine, hash, true).await.unwrap();
    assert!(stats.liars.is_empty(), "leaving is not lying");
    assert_eq!(mine.read_small(&hash, u64::MAX).unwrap(), data);
}

#[tokio::test]
async fn a_question_cut_with_its_connection_is_asked_again() {
    // The only provider: its connection closes under the first question
    // (as when hole punching's racing dials close the losers).
    let data = bytes(1024 * 1024, 5);
    let net = FakeNetwork::new();
    let (_pdir, s) = store();
    let hash = s.import_bytes(&data).unwrap();
    net.add(s, Mode::CutFirst);
    let (_dir, mine) = store();
    get(&net, &mine, hash, true).await.unwrap();
    assert_eq!(mine.read_small(&hash, u64::MAX).unwrap(), data);
}

#[tokio::test]
async fn nobody_to_ask_and_nobody_delivering_are_clear_errors() {
    let net = FakeNetwork::new();
    let (_dir, mine) = store();
    let err = get(&net, &mine, Hash::of(b"x"), false).await.unwrap_err();
    assert!(err.to_string().contains("no provider found"), "{err}");

    // The only provider leaves after proving the size: the loop gives up
    // after the stall limit with a way to resume.
    let data = bytes(1024 * 1024, 4);
    let (_pdir, s) = store();
    let hash = s.import_bytes(&data).unwrap();
    net.add(s, Mode::GoneAfter(1));
    let err = get(&net, &mine, hash, true).await.unwrap_err();
    assert!(
        err.to_string().contains("run the same command again"),
        "{err}"
    );
    let kept = mine.get(&hash).unwrap().unwrap();
    assert!(!kept.complete);
}

#[tokio::test]
async fn a_partial_holder_is_asked_a_bare_have_and_a_complete_one_what_is_wanted() {
    // A partial holder's answer does not depend on what this node wants,
    // so naming it (up to 2 KiB, to every peer, every refresh) was waste
    // on the getters' links in a crowd. Only a complete holder, which
    // may answer with an offer (`blobs::seeding`), is told.
    let data = bytes(4 * 1024 * 1024, 6);
    let net = FakeNetwork::new();
    let mut keep = Vec::new();
    let mut ids = Vec::new();
    let mut hash = Hash([0; 32]);
    for mode in [Mode::Slow(Duration::from_millis(100)), Mode::FirstHalf] {
        let (dir, s) = store();
        hash = s.import_bytes(&data).unwrap();
        ids.push(net.add(s, mode));
        keep.push(dir);
    }
    let (_dir, mine) = store();
    get(&net, &mine, hash, true).await.unwrap();
    assert_eq!(mine.read_small(&hash, u64::MAX).unwrap(), data);
    let questions = net.questions.lock().unwrap().clone();
    let asked = |peer, wants| questions.iter().filter(|q| **q == (peer, wants)).count();
    let (complete, partial) = (ids[0], ids[1]);
    assert!(asked(complete, true) >= 2, "{questions:?}");
    assert_eq!(asked(partial, true), 0, "{questions:?}");
    // Asked again after its first answer, and bare.
    assert!(asked(partial, false) >= 2, "{questions:?}");
}
