//! An inbound connection flood from many identities: the node keeps its
//! inbound connections under `max_inbound` (and `max_inbound_per_ip` from
//! one address), still dials an honest provider and fetches from it, and
//! answers `status` within a second throughout.
//!
//! Without the inbound limits (all connections under one `max_connections`)
//! the 60 identities take all 30 places, the dial to the provider is refused
//! ("Failed to dial the requested peer") and 15 connections come from one IP.

mod common;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use common::{data, from, node, node_with, raw, tcp_addr};
use futures::StreamExt;
use libp2p::{
    swarm::{dummy, SwarmEvent},
    Multiaddr,
};
use plexus::{content::BlobFormat, Node};
use tokio::task::JoinHandle;

/// Attacker-side figures.
#[derive(Default)]
struct Tally {
    established: AtomicUsize,
    refused: AtomicUsize,
}

/// `n` fresh identities, each dialling `target` and holding the connection;
/// a refused or closed one dials again (at most 10 dials each, 200 ms
/// apart), so freed places are taken at once.
fn flood(target: Multiaddr, n: usize, tally: Arc<Tally>) -> Vec<JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let (target, tally) = (target.clone(), tally.clone());
            tokio::spawn(async move {
                let mut swarm = raw::swarm(|_| dummy::Behaviour);
                let mut dials = 1;
                swarm.dial(target.clone()).unwrap();
                // Bounded: the test aborts the task long before this.
                let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
                while let Ok(Some(event)) = tokio::time::timeout_at(deadline, swarm.next()).await {
                    let redial = match event {
                        SwarmEvent::ConnectionEstablished { .. } => {
                            tally.established.fetch_add(1, Ordering::Relaxed);
                            false
                        }
                        SwarmEvent::OutgoingConnectionError { .. } => {
                            tally.refused.fetch_add(1, Ordering::Relaxed);
                            true
                        }
                        SwarmEvent::ConnectionClosed { .. } => {
                            tally.refused.fetch_add(1, Ordering::Relaxed);
                            true
                        }
                        _ => false,
                    };
                    if redial && dials < 10 {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        dials += 1;
                        let _ = swarm.dial(target.clone());
                    }
                }
            })
        })
        .collect()
}

/// Polls `node.status()` every 50 ms for `period`; returns the most inbound
/// connections seen and the slowest answer.
async fn watch(node: &Node, period: Duration) -> (usize, Duration) {
    let (mut most, mut slowest) = (0, Duration::ZERO);
    let end = Instant::now() + period;
    while Instant::now() < end {
        let asked = Instant::now();
        let status = tokio::time::timeout(Duration::from_secs(5), node.status())
            .await
            .expect("status answers")
            .unwrap();
        slowest = slowest.max(asked.elapsed());
        most = most.max(status.inbound_connections);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (most, slowest)
}

/// Floods `victim` with `attackers` identities, then fetches 1 MiB from an
/// honest provider while still flooded; asserts inbound stays at most
/// `cap` and status answers within a second.
async fn flooded_node_still_fetches(
    root: &std::path::Path,
    victim: Node,
    attackers: usize,
    cap: usize,
    label: &str,
) {
    let provider = node(&root.join("provider")).await;
    let bytes = data(1 << 20, 10);
    let src = root.join("file.bin");
    std::fs::write(&src, &bytes).unwrap();
    let shared = provider.share(&src).await.unwrap();

    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let tasks = flood(tcp_addr(&victim), attackers, tally.clone());

    // Let the flood fill what it can, watching the counts.
    let (most_before, slowest_before) = watch(&victim, Duration::from_secs(4)).await;
    let filled = victim.status().await.unwrap();

    // Fetch while flooded, still watching.
    let fetch = async {
        let fetch_started = Instant::now();
        let download = victim
            .get(shared.ticket.hash, Some(BlobFormat::Raw), from(&provider))
            .finish();
        let result = tokio::time::timeout(Duration::from_secs(20), download).await;
        (result, fetch_started.elapsed())
    };
    let ((fetched, fetch_time), (most_during, slowest_during)) =
        tokio::join!(fetch, watch(&victim, Duration::from_secs(2)));
    let most = most_before.max(most_during);
    let slowest = slowest_before.max(slowest_during);
    println!(
        "{label}: {attackers} attacker identities, cap {cap}: inbound {} (most seen {most}), \
         outbound {}, attacker connections established {} / refused or closed {} in {:.1?}; \
         fetch of 1 MiB {} in {fetch_time:.1?}; slowest status {slowest:.1?}",
        filled.inbound_connections,
        filled.outbound_connections,
        tally.established.load(Ordering::Relaxed),
        tally.refused.load(Ordering::Relaxed),
        started.elapsed(),
        match &fetched {
            Ok(Ok(_)) => "ok".to_string(),
            Ok(Err(e)) => format!("failed ({e})"),
            Err(_) => "timed out".to_string(),
        },
    );
    for task in &tasks {
        task.abort();
    }

    assert!(
        most <= cap,
        "{most} inbound connections established, cap {cap}"
    );
    assert!(
        filled.inbound_connections >= cap.min(attackers) - 1,
        "the flood did not fill the inbound cap ({} of {cap})",
        filled.inbound_connections
    );
    let stats = fetched
        .expect("the fetch finished in 20 s")
        .expect("the fetch from the honest provider succeeded while flooded");
    assert_eq!(stats.size, bytes.len() as u64);
    let out = root.join("out.bin");
    plexus::content::share::export(
        victim.store(),
        &shared.ticket.hash,
        BlobFormat::Raw,
        &out,
        false,
    )
    .unwrap();
    assert!(
        std::fs::read(&out).unwrap() == bytes,
        "the fetched bytes differ"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "status took {slowest:?} while flooded"
    );
    victim.shutdown().await;
    provider.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_flood_leaves_room_to_dial_providers() {
    let root = tempfile::tempdir().unwrap();
    let victim = node_with(&root.path().join("victim"), |c| {
        c.max_connections = 30;
        c.max_inbound = 20;
        // Every attacker is on 127.0.0.1: this part tests the total.
        c.max_inbound_per_ip = 1000;
    })
    .await;
    flooded_node_still_fetches(root.path(), victim, 60, 20, "total cap").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_flood_from_one_ip_is_capped_per_ip() {
    let root = tempfile::tempdir().unwrap();
    let victim = node_with(&root.path().join("victim"), |c| {
        c.max_connections = 30;
        c.max_inbound = 20;
        c.max_inbound_per_ip = 5;
    })
    .await;
    flooded_node_still_fetches(root.path(), victim, 15, 5, "per-IP cap").await;
}
