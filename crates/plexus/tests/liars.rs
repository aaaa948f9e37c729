//! Providers that lie about sizes and ranges, played by hand-made peers
//! against real nodes on 127.0.0.1: the size is taken from a proof, never
//! from a vote, and no liar can poison the store, stall or break a download.

mod common;

use std::time::{Duration, Instant};

use common::{data, from, node, GetLie, Liar};
use plexus::{
    content::{share, BlobFormat, Hash},
    Error, PeerId,
    {blobs::protocol, transfer::GetOptions},
};

fn options(providers: &[(PeerId, libp2p::Multiaddr)], honest: Option<&plexus::Node>) -> GetOptions {
    let mut providers: Vec<_> = providers
        .iter()
        .map(|(p, a)| (*p, vec![a.clone()]))
        .collect();
    if let Some(h) = honest {
        providers.push((h.peer_id(), h.listen_addrs().to_vec()));
    }
    GetOptions {
        providers,
        use_dht: false,
        allow_relay: false,
    }
}

async fn liar(size: u64, get: GetLie) -> (PeerId, libp2p::Multiaddr) {
    Liar {
        size,
        get,
        knows: None,
    }
    .spawn()
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sole_liar_claiming_size_zero_fails_and_poisons_nothing() {
    let root = tempfile::tempdir().unwrap();
    let bytes = data(3 * 1024 * 1024 + 5, 11);
    let hash = Hash::of(&bytes);
    let (zero, zero_addr) = liar(0, GetLie::WrongBytes).await;
    let getter = node(&root.path().join("g")).await;

    let started = Instant::now();
    let err = getter
        .get(
            hash,
            Some(BlobFormat::Raw),
            options(&[(zero, zero_addr)], None),
        )
        .finish()
        .await
        .expect_err("a claim of 0 bytes for a non-empty hash must not succeed");
    println!("sole liar: {err} after {:?}", started.elapsed());
    let text = err.to_string();
    assert!(text.contains("no peer proved the size"), "{text}");
    assert!(text.contains("not the empty blob"), "{text}");
    assert!(
        getter
            .store()
            .get(&hash)
            .unwrap()
            .is_none_or(|i| !i.complete),
        "nothing may be recorded as complete"
    );

    // An honest provider later: the full, right bytes.
    let src = root.path().join("file");
    std::fs::write(&src, &bytes).unwrap();
    let honest = node(&root.path().join("h")).await;
    honest.share(&src).await.unwrap();
    let stats = getter
        .get(hash, Some(BlobFormat::Raw), from(&honest))
        .finish()
        .await
        .unwrap();
    assert_eq!(stats.size, bytes.len() as u64);
    let out = root.path().join("out");
    share::export(getter.store(), &hash, BlobFormat::Raw, &out, false).unwrap();
    assert!(std::fs::read(&out).unwrap() == bytes);
    // And it tells others the truth.
    let info = getter.store().get(&hash).unwrap().unwrap();
    assert!(info.complete && info.size == bytes.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_liar_claiming_one_byte_more_cannot_outvote_the_proof() {
    let root = tempfile::tempdir().unwrap();
    let bytes = data(4 * 1024 * 1024 + 77, 12);
    let src = root.path().join("file");
    std::fs::write(&src, &bytes).unwrap();
    let honest = node(&root.path().join("h")).await;
    honest.share(&src).await.unwrap();
    let hash = Hash::of(&bytes);
    let (plus, plus_addr) = liar(bytes.len() as u64 + 1, GetLie::WrongBytes).await;
    let getter = node(&root.path().join("g")).await;
    let started = Instant::now();
    let stats = getter
        .get(
            hash,
            Some(BlobFormat::Raw),
            options(&[(plus, plus_addr)], Some(&honest)),
        )
        .finish()
        .await
        .expect("the honest provider's proven size wins");
    println!("size+1 liar: done in {:?}", started.elapsed());
    assert_eq!(stats.size, bytes.len() as u64);
    assert_eq!(stats.liars, vec![plus]);
    let out = root.path().join("out");
    share::export(getter.store(), &hash, BlobFormat::Raw, &out, false).unwrap();
    assert!(std::fs::read(&out).unwrap() == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liars_claiming_zero_and_eight_tib_change_nothing() {
    let root = tempfile::tempdir().unwrap();
    let bytes = data(16 * 1024 * 1024, 13);
    let src = root.path().join("file");
    std::fs::write(&src, &bytes).unwrap();
    let honest = node(&root.path().join("h")).await;
    honest.share(&src).await.unwrap();
    let hash = Hash::of(&bytes);

    // The same download from the honest provider alone, for comparison.
    let alone = node(&root.path().join("alone")).await;
    let baseline = alone
        .get(hash, Some(BlobFormat::Raw), from(&honest))
        .finish()
        .await
        .unwrap();

    let zero = liar(0, GetLie::WrongBytes).await;
    let huge = liar(8 << 40, GetLie::WrongBytes).await;
    let gdir = root.path().join("g");
    let getter = node(&gdir).await;
    let stats = getter
        .get(
            hash,
            Some(BlobFormat::Raw),
            options(&[zero.clone(), huge.clone()], Some(&honest)),
        )
        .finish()
        .await
        .expect("completes from the honest provider");
    println!(
        "with liars of 0 and 8 TiB: {:.2}s; honest provider alone: {:.2}s",
        stats.secs, baseline.secs
    );
    assert_eq!(stats.size, bytes.len() as u64);
    let mut liars = stats.liars.clone();
    liars.sort();
    let mut expected = vec![zero.0, huge.0];
    expected.sort();
    assert_eq!(liars, expected);
    // No 8 TiB file, not even a sparse one.
    let on_disk = getter.store().blob_path(&hash).metadata().unwrap().len();
    assert_eq!(on_disk, bytes.len() as u64);
    let out = root.path().join("out");
    share::export(getter.store(), &hash, BlobFormat::Raw, &out, false).unwrap();
    assert!(std::fs::read(&out).unwrap() == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liars_that_answer_missing_or_nothing_do_not_hold_up_the_download() {
    let root = tempfile::tempdir().unwrap();
    let bytes = data(8 * 1024 * 1024 + 1000, 14);
    let src = root.path().join("file");
    std::fs::write(&src, &bytes).unwrap();
    let honest = node(&root.path().join("h")).await;
    honest.share(&src).await.unwrap();
    let hash = Hash::of(&bytes);
    // Both know the content, prove its size honestly, claim all of it,
    // then never deliver.
    let mut liars = Vec::new();
    for get in [GetLie::Missing, GetLie::Silent] {
        liars.push(
            Liar {
                size: bytes.len() as u64,
                get,
                knows: Some(honest.store().clone()),
            }
            .spawn()
            .await,
        );
    }
    let getter = node(&root.path().join("g")).await;
    let stats = tokio::time::timeout(
        Duration::from_secs(60),
        getter
            .get(hash, Some(BlobFormat::Raw), options(&liars, Some(&honest)))
            .finish(),
    )
    .await
    .expect("finishes within 60 s")
    .expect("finishes from the honest provider");
    println!("missing and silent liars: done in {:.2}s", stats.secs);
    assert!(stats.liars.contains(&liars[0].0), "{:?}", stats.liars);
    let out = root.path().join("out");
    share::export(getter.store(), &hash, BlobFormat::Raw, &out, false).unwrap();
    assert!(std::fs::read(&out).unwrap() == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sole_liar_that_answers_missing_forever_ends_with_a_clear_error() {
    let root = tempfile::tempdir().unwrap();
    let bytes = data(2 * 1024 * 1024, 15);
    let src = root.path().join("file");
    std::fs::write(&src, &bytes).unwrap();
    // The store that knows the content is not a provider: only the liar is.
    let knower = node(&root.path().join("k")).await;
    knower.share(&src).await.unwrap();
    let hash = Hash::of(&bytes);
    let missing = Liar {
        size: bytes.len() as u64,
        get: GetLie::Missing,
        knows: Some(knower.store().clone()),
    }
    .spawn()
    .await;
    let getter = node(&root.path().join("g")).await;
    let started = Instant::now();
    let err = tokio::time::timeout(
        Duration::from_secs(45),
        getter
            .get(hash, Some(BlobFormat::Raw), options(&[missing], None))
            .finish(),
    )
    .await
    .expect("gives up within 45 s (20 s without progress, plus slack)")
    .expect_err("nobody delivers the data");
    println!("missing-forever liar: {err} after {:?}", started.elapsed());
    assert!(matches!(err, Error::Download { .. }), "{err}");
    assert!(err.to_string().contains("resume"), "{err}");
}

/// Hand-made requests from a bare peer: chunk numbers whose byte count
/// overflows u64 (they wrapped to 0 and passed the 4 MiB cap; in a debug
/// build the multiply panicked inside the event loop and stopped the node).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflowing_range_requests_are_refused_and_the_node_goes_on() {
    use libp2p::request_response;
    use plexus::content::{ChunkNum, ChunkRanges};

    let root = tempfile::tempdir().unwrap();
    let bytes = data(8 * 1024 * 1024, 16);
    let src = root.path().join("file");
    std::fs::write(&src, &bytes).unwrap();
    let server = node(&root.path().join("s")).await;
    server.share(&src).await.unwrap();
    let hash = Hash::of(&bytes);

    let mut attacker = common::raw::swarm(|_| {
        request_response::Behaviour::<protocol::Codec>::new(
            [(protocol::PROTOCOL, request_response::ProtocolSupport::Full)],
            request_response::Config::default(),
        )
    });
    let addr = common::tcp_addr(&server);
    attacker.dial(addr.clone()).unwrap();
    let hostile = [
        // 2^54 chunks = 2^64 bytes: wraps to 0.
        ChunkRanges::from(ChunkNum(0)..ChunkNum(1 << 54)),
        // Open-ended from 0.
        ChunkRanges::from(ChunkNum(0)..),
        // Many ranges whose sum overflows.
        (0..8u64).fold(ChunkRanges::empty(), |acc, i| {
            acc | ChunkRanges::from(ChunkNum(i << 51)..ChunkNum((i << 51) + (1 << 50)))
        }),
    ];
    for ranges in hostile {
        let request = protocol::Request::Get {
            hash,
            ranges: ranges.clone(),
        };
        let (peer, addrs) = (server.peer_id(), vec![addr.clone()]);
        let response =
            common::raw::ask_blob(&mut attacker, peer, addrs, request, Duration::from_secs(10))
                .await;
        match response {
            Ok(protocol::Response::Refused(why)) => println!("refused {ranges:?}: {why}"),
            Ok(protocol::Response::Data(d)) => {
                panic!("served {} bytes for {ranges:?}", d.len())
            }
            other => panic!("expected a refusal for {ranges:?}, got {other:?}"),
        }
    }
    // The node still answers and serves an honest getter.
    let status = tokio::time::timeout(Duration::from_secs(1), server.status())
        .await
        .expect("status within a second")
        .expect("the node is running");
    assert_eq!(status.peer_id, server.peer_id());
    let getter = node(&root.path().join("g")).await;
    let stats = getter
        .get(hash, Some(BlobFormat::Raw), from(&server))
        .finish()
        .await
        .unwrap();
    assert_eq!(stats.size, bytes.len() as u64);
}
