//! A provider that left is not named as one: its provider records stay in
//! the DHT until their TTL runs out (6 h), but a node whose dial to it fails
//! lists it as `unreachable` instead of among the `providers`. Real nodes on
//! the in-process memory transport.

mod common;

use std::time::Duration;

use plexus::{Node, NodeConfig};

async fn start(dir: &std::path::Path, bootstrap: &[&Node]) -> Node {
    let mut config = NodeConfig::memory(dir);
    config.bootstrap = bootstrap
        .iter()
        .map(|n| n.listen_addrs()[0].clone())
        .collect();
    Node::start(config).await.expect("node starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_departed_provider_is_reported_unreachable_not_as_a_provider() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let holder = start(dirs[0].path(), &[]).await;
    let provider = start(dirs[1].path(), &[&holder]).await;
    let asker = start(dirs[2].path(), &[&holder]).await;
    let file = dirs[3].path().join("shared.bin");
    std::fs::write(&file, common::data(100_000, 7)).unwrap();
    let hash = provider.share(&file).await.unwrap().ticket.hash;

    // The record reached the DHT (stored on the holder and the asker, the
    // closest peers there are): the asker finds the provider while it runs.
    common::wait_for("the announcement to end", async || {
        let s = provider.status().await.unwrap();
        s.announcing == 0 && s.announcing_now == 0
    })
    .await;
    common::wait_for("the provider to be found", async || {
        let found = asker.lookup_providers(hash).await.unwrap();
        found.providers.contains(&provider.peer_id())
    })
    .await;

    let gone = provider.peer_id();
    provider.shutdown().await;
    // The holder still has the record (its TTL is hours), so the lookup
    // still hears of the departed provider; the asker's dial to it fails.
    let found = asker.lookup_providers(hash).await.unwrap();
    println!("after the provider left: {found:?}");
    assert!(
        !found.providers.contains(&gone),
        "a departed provider was returned as a provider: {found:?}"
    );
    assert_eq!(found.unreachable, vec![gone], "{found:?}");

    // Asked again, it is known unreachable at once.
    let again = asker.lookup_providers(hash).await.unwrap();
    assert!(!again.providers.contains(&gone), "{again:?}");
    assert!(again.millis < 5_000, "{again:?}");
    let _ = tokio::time::timeout(Duration::from_secs(5), asker.shutdown()).await;
}
