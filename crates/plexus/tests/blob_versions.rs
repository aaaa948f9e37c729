//! `/plexus/blobs/1.1.0` (compact range lists) next to `1.0.0`: a node
//! offers the new version first and still serves and fetches from a peer
//! that speaks only the old one (a hand-made libp2p peer, as a node that
//! predates it).

mod common;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use bao_tree::{ChunkNum, ChunkRanges};
use common::{data, node, raw};
use plexus::{
    blobs::protocol::{Request, Response},
    content::{share, BlobFormat, Store},
    transfer::GetOptions,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_fetches_from_and_serves_a_peer_that_speaks_only_1_0_0() {
    let root = tempfile::tempdir().unwrap();
    let bytes = data(3 * 1024 * 1024 + 5, 9);

    // The old peer serves a blob from a store of its own, honestly.
    let store = Store::open(&root.path().join("old")).unwrap();
    let hash = store.import_bytes(&bytes).unwrap();
    let (old, old_id, old_addr) = raw::blob_peer().await;
    let served = Arc::new(AtomicUsize::new(0));
    let (server_store, count) = (store.clone(), served.clone());
    let server = raw::serve_blobs(old, move |request| {
        count.fetch_add(1, Ordering::Relaxed);
        match request {
            Request::Have(h) | Request::Wants { hash: h, .. } => {
                let info = server_store.get(&h).unwrap().unwrap();
                Response::have(info.size, info.complete, info.present)
            }
            Request::Get { hash: h, ranges } => {
                Response::Data(server_store.encode(&h, &ranges).unwrap())
            }
            Request::GetMany(_) => Response::Refused("no".into()),
        }
    });
    let getter = node(&root.path().join("new")).await;
    let options = GetOptions {
        providers: vec![(old_id, vec![old_addr])],
        use_dht: false,
        allow_relay: false,
    };
    let stats = getter
        .get(hash, Some(BlobFormat::Raw), options)
        .finish()
        .await
        .expect("fetched from a 1.0.0 peer");
    assert_eq!(stats.fetched, bytes.len() as u64);
    let out = root.path().join("out");
    share::export(getter.store(), &hash, BlobFormat::Raw, &out, false).unwrap();
    assert!(std::fs::read(&out).unwrap() == bytes);
    assert!(served.load(Ordering::Relaxed) >= 2);
    server.abort();

    // A 1.0.0 client asks the new node what it has, then for a range.
    let (mut client, _, _) = raw::blob_peer().await;
    let (id, addrs) = (getter.peer_id(), getter.listen_addrs().to_vec());
    let ranges = ChunkRanges::from(ChunkNum(16)..ChunkNum(48));
    let mut answers = Vec::new();
    for request in [
        Request::Have(hash),
        Request::Get {
            hash,
            ranges: ranges.clone(),
        },
    ] {
        let answer = raw::ask_blob(
            &mut client,
            id,
            addrs.clone(),
            request,
            Duration::from_secs(20),
        );
        answers.push(answer.await.expect("a 1.0.0 request is served"));
    }
    let Response::Have { size, complete, .. } = &answers[0] else {
        panic!("{:?}", answers[0]);
    };
    assert_eq!((*size, *complete), (bytes.len() as u64, true));
    let Response::Data(encoded) = &answers[1] else {
        panic!("{:?}", answers[1]);
    };
    assert_eq!(encoded, &getter.store().encode(&hash, &ranges).unwrap());
    getter.shutdown().await;
}
