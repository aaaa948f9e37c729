//! A folder of small files between real nodes on 127.0.0.1, fetched many
//! per request (`GetMany`), with a hand-made peer that answers batches
//! with wrong, oversized or short answers: every file still arrives
//! intact, and a peer that sent wrong bytes is named a liar.

mod common;

use std::{path::Path, sync::Arc};

use common::{data, node, raw};
use libp2p::Multiaddr;
use plexus::{
    blobs::protocol::{Request, Response},
    content::{share, BlobFormat, Hash, Store},
    transfer::GetOptions,
    PeerId,
};

/// How the attacker answers a `GetMany` (everything else it answers
/// honestly from the real store, so it is a provider like any other).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lie {
    /// Every third blob: the right length of the wrong bytes.
    WrongBytes,
    /// Every third blob: its real encoding and 1 KiB more.
    Oversized,
    /// One answer fewer than blobs asked for.
    Short,
}

/// Starts the attacker on 127.0.0.1; returns its id and address.
async fn attacker(store: Arc<Store>, lie: Lie) -> (PeerId, Multiaddr) {
    let (swarm, peer, addr) = raw::blob_peer().await;
    raw::serve_blobs(swarm, move |request| answer(&store, request, lie));
    (peer, addr)
}

fn honest(store: &Store, hash: &Hash, ranges: &plexus::content::ChunkRanges) -> Response {
    store
        .encode(hash, ranges)
        .map_or(Response::NotFound, Response::Data)
}

fn answer(store: &Store, request: Request, lie: Lie) -> Response {
    match request {
        Request::Have(hash) | Request::Wants { hash, .. } => match store.get(&hash).unwrap() {
            Some(info) => Response::Have {
                size: info.size,
                complete: info.complete,
                present: info.present,
                offer: false,
            },
            None => Response::NotFound,
        },
        Request::Get { hash, ranges } => honest(store, &hash, &ranges),
        Request::GetMany(items) => {
            let mut answers: Vec<Response> = items
                .iter()
                .enumerate()
                .map(|(i, (hash, size))| {
                    let all = plexus::content::ChunkRanges::from(
                        plexus::content::ChunkNum(0)..plexus::content::ChunkNum::chunks(*size),
                    );
                    match (honest(store, hash, &all), i % 3 == 0, lie) {
                        (Response::Data(bytes), true, Lie::WrongBytes) => {
                            Response::Data(vec![0xAB; bytes.len()])
                        }
                        (Response::Data(mut bytes), true, Lie::Oversized) => {
                            bytes.extend_from_slice(&[0xCD; 1024]);
                            Response::Data(bytes)
                        }
                        (other, _, _) => other,
                    }
                })
                .collect();
            if lie == Lie::Short {
                answers.pop();
            }
            Response::Many(answers)
        }
    }
}

/// A folder of `n` files: mostly 4 KiB, some of several chunk groups.
fn folder(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    for i in 0..n {
        let len = if i % 10 == 9 { 40 * 1024 + 7 } else { 4096 };
        let path = if i % 2 == 0 {
            dir.join(format!("f{i:04}"))
        } else {
            dir.join("sub").join(format!("g{i:04}"))
        };
        std::fs::write(path, data(len, i as u64)).unwrap();
    }
}

fn same_tree(a: &Path, b: &Path) {
    for entry in std::fs::read_dir(a).unwrap().flatten() {
        let other = b.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            same_tree(&entry.path(), &other);
        } else {
            assert!(
                std::fs::read(entry.path()).unwrap() == std::fs::read(&other).unwrap(),
                "{} differs",
                other.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_wrong_oversized_or_short_answers_is_caught() {
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("src");
    folder(&src, 300);
    let provider = node(&root.path().join("p")).await;
    let hash = provider.share(&src).await.unwrap().ticket.hash;
    for lie in [Lie::WrongBytes, Lie::Oversized, Lie::Short] {
        let (bad, bad_addr) = attacker(provider.store().clone(), lie).await;
        let dir = root.path().join(format!("{lie:?}"));
        let getter = node(&dir.join("node")).await;
        let options = GetOptions {
            // The attacker first: it is asked for the first batch.
            providers: vec![
                (bad, vec![bad_addr]),
                (provider.peer_id(), provider.listen_addrs().to_vec()),
            ],
            use_dht: false,
            allow_relay: false,
        };
        let stats = getter
            .get(hash, Some(BlobFormat::Collection), options)
            .finish()
            .await
            .unwrap_or_else(|e| panic!("{lie:?}: {e}"));
        println!(
            "{lie:?}: liars {:?}, per peer {:?}",
            stats.liars, stats.per_peer
        );
        let want = if lie == Lie::Short { vec![] } else { vec![bad] };
        assert_eq!(stats.liars, want, "{lie:?}");
        let out = dir.join("out");
        share::export(getter.store(), &hash, BlobFormat::Collection, &out, false).unwrap();
        same_tree(&src, &out);
        same_tree(&out, &src);
        getter.shutdown().await;
    }
}
