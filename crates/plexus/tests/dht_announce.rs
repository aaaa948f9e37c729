//! Real nodes on 127.0.0.1: a node that starts with many shares announces
//! all of them in the DHT, a bounded number at a time, and its user's own
//! lookups and downloads still answer promptly while it does.
//!
//! Prints its figures: fill time, start time, time until every
//! announcement has finished, peak memory, user query latency.
//! The 100,000-share run is `#[ignore]`d (too slow for a debug suite):
//! `cargo nextest run --release -p plexus --test dht_announce --run-ignored only`.

mod common;

use std::time::{Duration, Instant};

use plexus::{
    content::{BlobFormat, Hash, ShareInfo, Store},
    transfer::GetOptions,
    Node,
};

/// Fills `dir`'s store with `n` tiny shared blobs, as a node that shared
/// them earlier would have left it; returns their hashes in order.
fn fill_store(dir: &std::path::Path, n: usize) -> Vec<Hash> {
    let store = Store::open(dir).expect("store opens");
    // Four threads: each import waits on its own fsyncs.
    let hashes = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|t| {
                let store = &store;
                s.spawn(move || {
                    (t..n)
                        .step_by(4)
                        .map(|i| {
                            let hash = store
                                .import_bytes(format!("dht announce blob {i}").as_bytes())
                                .unwrap();
                            let share = ShareInfo {
                                name: format!("blob-{i}"),
                                format: BlobFormat::Raw,
                            };
                            store.set_share(&hash, &share).unwrap();
                            (i, hash)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, Hash)> = workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, h)| h).collect::<Vec<_>>()
    });
    drop(store);
    hashes
}

/// This process's resident memory and its peak (kB), from /proc.
fn rss_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Asks `node` for the providers of `hash`, bounded by `limit`; returns
/// whether `want` was among them and how long it took.
async fn lookup(
    node: &Node,
    hash: Hash,
    want: plexus::PeerId,
    limit: Duration,
) -> (bool, Duration) {
    let t = Instant::now();
    let found = tokio::time::timeout(limit, node.find_providers(hash))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    (found.contains(&want), t.elapsed())
}

/// Announcements under way at most (`discovery::announce::MAX_IN_FLIGHT`).
const MAX_RUNNING: usize = 32;

/// Figures of one run.
struct Figures {
    announce: Option<Duration>,
    most_running: usize,
    user_lookup: (bool, Duration),
    user_get: (bool, Duration),
    picks_found: usize,
    picks: usize,
}

/// B and C form a network; A starts (bootstrapping from B) with `n`
/// shares; while A announces, A's user looks up and fetches a blob C
/// shares; then a fresh node D (via C) looks up A's items from the start,
/// middle and end of the list.
async fn run(n: usize, announce_limit: Duration) -> Figures {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let t = Instant::now();
    let hashes = fill_store(dirs[0].path(), n);
    println!("filled the store with {n} shares in {:?}", t.elapsed());

    let b = common::node(dirs[1].path()).await;
    let c = common::node_via(dirs[2].path(), &b).await;
    let wanted = tempfile::tempdir().unwrap();
    let file = wanted.path().join("wanted.bin");
    std::fs::write(&file, common::data(200_000, 7)).unwrap();
    let shared = c.share(&file).await.unwrap();
    let wanted = shared.ticket.hash;

    // Peak memory from here on (Linux: "5" resets VmHWM).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let (rss_before, _) = rss_kb();
    let t0 = Instant::now();
    let a = common::node_via(dirs[0].path(), &b).await;
    println!("A started in {:?}", t0.elapsed());

    // A's user, during the announcements: a lookup, then a download.
    let user = {
        let a = a.clone();
        let c_id = c.peer_id();
        tokio::spawn(async move {
            let looked = lookup(&a, wanted, c_id, Duration::from_secs(60)).await;
            let t = Instant::now();
            let options = GetOptions {
                providers: Vec::new(),
                use_dht: true,
                allow_relay: false,
            };
            let got = tokio::time::timeout(
                Duration::from_secs(60),
                a.get(wanted, None, options).finish(),
            )
            .await;
            let got = matches!(got, Ok(Ok(_)));
            (looked, (got, t.elapsed()))
        })
    };

    let mut announce = None;
    let mut last = Instant::now() - Duration::from_secs(60);
    let mut slowest_status = Duration::ZERO;
    let mut most_running = 0;
    while t0.elapsed() < announce_limit {
        let t = Instant::now();
        let status = a.status().await.unwrap();
        slowest_status = slowest_status.max(t.elapsed());
        most_running = most_running.max(status.announcing_now);
        if last.elapsed() >= Duration::from_secs(5) {
            last = Instant::now();
            println!(
                "{:>6.1}s: announcing {} ({} under way), announced {} ({} failed), rss {} MB",
                t0.elapsed().as_secs_f64(),
                status.announcing,
                status.announcing_now,
                status.announced,
                status.announce_failures,
                rss_kb().0 / 1024
            );
        }
        if status.announcing == 0 && status.announced >= n as u64 {
            announce = Some(t0.elapsed());
            println!(
                "all {n} announcements finished in {:?} ({} failed)",
                t0.elapsed(),
                status.announce_failures
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (rss_now, peak) = rss_kb();
    println!(
        "memory: rss {} MB before A started, {} MB now, peak {} MB; slowest status answer {slowest_status:?}; most under way at once {most_running}",
        rss_before / 1024,
        rss_now / 1024,
        peak / 1024
    );
    let (user_lookup, user_get) = user.await.unwrap();
    println!(
        "A's user during the announcements: lookup found C = {} in {:?}; get ok = {} in {:?}",
        user_lookup.0, user_lookup.1, user_get.0, user_get.1
    );

    // A fresh node finds A as provider of items from start, middle and end.
    let d = common::node_via(dirs[3].path(), &c).await;
    let picks = [0, 1, n / 2, n - 2, n - 1];
    let mut picks_found = 0;
    for &i in &picks {
        let mut ok = (false, Duration::ZERO);
        // Bounded: D's first lookups may run before its routing table fills.
        for _ in 0..3 {
            ok = lookup(&d, hashes[i], a.peer_id(), Duration::from_secs(5)).await;
            if ok.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        println!("item #{i}: provider A found by D = {} in {:?}", ok.0, ok.1);
        picks_found += usize::from(ok.0);
    }
    for node in [&a, &b, &c, &d] {
        node.shutdown().await;
    }
    Figures {
        announce,
        most_running,
        user_lookup,
        user_get,
        picks_found,
        picks: picks.len(),
    }
}

fn check(f: &Figures, n: usize) {
    assert!(f.announce.is_some(), "the {n} announcements did not finish");
    assert!(
        f.most_running <= MAX_RUNNING,
        "{} announcements under way at once",
        f.most_running
    );
    // Generous for a loaded machine: the bound makes it well under a second.
    assert!(
        f.user_lookup.1 < Duration::from_secs(10),
        "A's user waited {:?} for a lookup during the announcements",
        f.user_lookup.1
    );
    assert!(
        f.user_lookup.0,
        "A's user did not find C's blob during the announcements"
    );
    assert!(
        f.user_get.0,
        "A's user could not fetch C's blob during the announcements"
    );
    assert_eq!(
        f.picks_found, f.picks,
        "D did not find A as provider of every pick"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_3000_shares_announces_them_and_still_answers_its_user() {
    let f = run(3_000, Duration::from_secs(40)).await;
    check(&f, 3_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "100,000 shares: run in release with --run-ignored"]
async fn a_node_with_100000_shares_announces_them_and_still_answers_its_user() {
    let f = run(100_000, Duration::from_secs(900)).await;
    check(&f, 100_000);
}
