use std::time::{Duration, Instant};

use plexus::{content::Hash, transfer::Progress};

use super::{Ended, Now, Registry, Started, KEEP_FINISHED};
use crate::api::types::{DownloadKind, DownloadState};

fn at(t0: Instant, ms: u64) -> Now {
    Now {
        at: t0 + Duration::from_millis(ms),
        unix_ms: 1_000_000 + ms,
    }
}

fn started(n: u8) -> Started {
    Started {
        kind: DownloadKind::Get,
        hash: Hash::from(blake3::hash(&[n])),
        name: Some(format!("file-{n}")),
        out: None,
    }
}

fn progress(done: u64, total: u64, peers: usize) -> Progress {
    Progress { total, done, peers }
}

#[test]
fn an_active_download_shows_its_progress_and_a_rate_over_the_last_seconds() {
    let t0 = Instant::now();
    let mut r = Registry::default();
    let id = r.start(at(t0, 0), started(1));
    let list = r.list();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].state, DownloadState::Active);
    assert_eq!((list[0].done, list[0].total, list[0].rate), (0, 0, 0.0));
    assert_eq!(list[0].started_unix_ms, 1_000_000);

    // 1 MB/s for 10 s, seen once a second.
    for s in 1..=10u64 {
        r.observe(
            id,
            at(t0, s * 1000),
            &progress(s * 1_000_000, 20_000_000, 2),
        );
    }
    let e = &r.list()[0];
    assert_eq!(
        (e.done, e.total, e.peers),
        (10_000_000, 20_000_000, Some(2))
    );
    assert!((e.rate - 1_000_000.0).abs() < 1.0, "{}", e.rate);
    // Then it stalls: within the window the rate falls, not the average.
    for s in 11..=16u64 {
        r.observe(id, at(t0, s * 1000), &progress(10_000_000, 20_000_000, 2));
    }
    let e = &r.list()[0];
    assert!(
        e.rate < 100_000.0,
        "rate {} is not the last seconds'",
        e.rate
    );
}

#[test]
fn ended_downloads_move_to_the_finished_list_newest_first_and_keep_their_figures() {
    let t0 = Instant::now();
    let mut r = Registry::default();
    let a = r.start(at(t0, 0), started(1));
    let b = r.start(at(t0, 10), started(2));
    let c = r.start(at(t0, 20), started(3));
    r.end(
        a,
        at(t0, 2000),
        Ended::Done {
            size: 4_000_000,
            peers: Some(3),
        },
    );
    r.end(
        b,
        at(t0, 3000),
        Ended::Failed("no provider answered".into()),
    );
    let list = r.list();
    let ids: Vec<u64> = list.iter().map(|e| e.id).collect();
    assert_eq!(ids, [c, b, a], "active first, then ended newest first");
    assert_eq!(list[1].state, DownloadState::Failed);
    assert_eq!(list[1].error.as_deref(), Some("no provider answered"));
    assert_eq!(list[1].ended_unix_ms, Some(1_003_000));
    let done = &list[2];
    assert_eq!(done.state, DownloadState::Done);
    assert_eq!(
        (done.done, done.total, done.peers),
        (4_000_000, 4_000_000, Some(3))
    );
    assert!(
        (done.rate - 2_000_000.0).abs() < 1.0,
        "average rate {}",
        done.rate
    );
    // Ending twice, or observing an ended one, changes nothing.
    r.end(a, at(t0, 9000), Ended::Failed("late".into()));
    r.observe(a, at(t0, 9000), &progress(1, 1, 1));
    assert_eq!(r.list(), list);
}

#[test]
fn only_the_last_fifty_ended_downloads_are_kept() {
    let t0 = Instant::now();
    let mut r = Registry::default();
    let running = r.start(at(t0, 0), started(0));
    let mut last = 0;
    for n in 0..(KEEP_FINISHED as u64 + 7) {
        let id = r.start(at(t0, n), started(1));
        r.end(id, at(t0, n + 1), Ended::Failed(format!("#{n}")));
        last = id;
    }
    let list = r.list();
    assert_eq!(list.len(), KEEP_FINISHED + 1);
    assert_eq!(list[0].id, running, "the active one is never dropped");
    assert_eq!(list[1].id, last);
    assert_eq!(list[KEEP_FINISHED].error.as_deref(), Some("#7"));
}

#[tokio::test]
async fn a_tracked_download_dropped_unended_counts_as_failed() {
    let downloads = super::Downloads::default();
    let (tx, rx) = tokio::sync::watch::channel(Progress::default());
    let tracked = downloads.start(started(1), Some(rx));
    tx.send(progress(300, 1000, 1)).unwrap();
    let e = &downloads.list()[0];
    assert_eq!(
        (e.done, e.total, e.state),
        (300, 1000, DownloadState::Active)
    );
    drop(tracked);
    let e = &downloads.list()[0];
    assert_eq!(e.state, DownloadState::Failed);
    assert_eq!(e.done, 300);
    assert!(e.error.as_deref().unwrap().contains("stopped"));
}
