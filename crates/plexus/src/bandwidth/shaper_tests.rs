use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use super::shaper::*;

const CHUNK: u64 = 16 * 1024;

/// Runs `flows` flows for `secs` seconds in 1 ms steps; flow `i` keeps
/// `depth[i]` tickets of one chunk waiting. Returns the bytes each got.
fn run(shaper: &mut Shaper, t0: Instant, depth: &[usize], secs: u64) -> Vec<u64> {
    let mut waiting: Vec<Vec<u64>> = vec![Vec::new(); depth.len()];
    let mut got = vec![0u64; depth.len()];
    static NEXT: AtomicU64 = AtomicU64::new(0);
    for ms in 0..secs * 1000 {
        let now = t0 + Duration::from_millis(ms);
        for (flow, want) in depth.iter().enumerate() {
            while waiting[flow].len() < *want {
                let ticket = NEXT.fetch_add(1, Ordering::Relaxed);
                shaper.request(flow as u64, ticket, CHUNK);
                waiting[flow].push(ticket);
            }
        }
        for ticket in shaper.grant(now) {
            // Tickets of an earlier run are not counted.
            if let Some(flow) = waiting.iter().position(|w| w.contains(&ticket)) {
                waiting[flow].retain(|t| *t != ticket);
                got[flow] += CHUNK;
            }
        }
    }
    got
}

#[test]
fn no_cap_grants_everything_at_once() {
    let t0 = Instant::now();
    let mut s = Shaper::new(None, t0);
    for t in 0..100 {
        s.request(t % 3, t, 1 << 20);
    }
    assert_eq!(s.grant(t0).len(), 100);
    assert_eq!(s.next_grant(t0), None);
}

#[test]
fn the_rate_holds_over_a_transfer() {
    let t0 = Instant::now();
    let rate = 2_500_000; // 20 Mbit/s
    let mut s = Shaper::new(Some(rate), t0);
    let got: u64 = run(&mut s, t0, &[4], 10).iter().sum();
    let ideal = rate as f64 * 10.0;
    let ratio = got as f64 / ideal;
    assert!(
        (0.99..1.01).contains(&ratio),
        "{got} bytes in 10 s: {ratio}"
    );
}

#[test]
fn flows_share_equally_whatever_their_queue_depth() {
    let t0 = Instant::now();
    let mut s = Shaper::new(Some(1_000_000), t0);
    // One flow keeps 8 chunks waiting, one keeps 1, one keeps 3.
    let got = run(&mut s, t0, &[8, 1, 3], 10);
    let total: u64 = got.iter().sum();
    for g in &got {
        let share = *g as f64 / total as f64;
        assert!((0.32..0.35).contains(&share), "shares {got:?}");
    }
}

#[test]
fn next_grant_says_when_the_bucket_refills() {
    let t0 = Instant::now();
    let mut s = Shaper::new(Some(1_000_000), t0);
    // The bucket starts empty: nothing until 1 byte has accrued.
    s.request(1, 1, CHUNK);
    assert!(s.grant(t0).is_empty());
    let at = s.next_grant(t0).unwrap();
    assert!(at > t0 && at <= t0 + Duration::from_micros(2), "{at:?}");
    assert_eq!(s.grant(at), vec![1]);
    // 16 KiB taken out: the next grant is 16.4 ms later.
    s.request(1, 2, CHUNK);
    assert!(s.grant(at).is_empty());
    let wait = s.next_grant(at).unwrap() - at;
    assert!(
        (Duration::from_millis(16)..Duration::from_millis(17)).contains(&wait),
        "{wait:?}"
    );
}

#[test]
fn a_rate_change_applies_at_once_and_cancelled_tickets_are_forgotten() {
    let t0 = Instant::now();
    let mut s = Shaper::new(Some(1_000_000), t0);
    let slow: u64 = run(&mut s, t0, &[2], 2).iter().sum();
    let t1 = t0 + Duration::from_secs(2);
    s.set_rate(Some(4_000_000), t1);
    assert_eq!(s.rate(), Some(4_000_000));
    let mut fresh = Shaper::new(Some(4_000_000), t1);
    let fast: u64 = run(&mut s, t1, &[2], 2).iter().sum();
    let fresh_fast: u64 = run(&mut fresh, t1, &[2], 2).iter().sum();
    assert!(fast > 3 * slow, "{slow} then {fast}");
    assert!(fast.abs_diff(fresh_fast) < 3 * CHUNK);
    // No cap: everything waiting goes.
    let t2 = t1 + Duration::from_secs(3);
    s.request(7, 100, CHUNK);
    s.request(7, 101, CHUNK);
    s.cancel(7, 100);
    s.set_rate(Some(0), t2);
    assert_eq!(s.rate(), None);
    let granted = s.grant(t2);
    assert!(
        granted.contains(&101) && !granted.contains(&100),
        "{granted:?}"
    );
}
