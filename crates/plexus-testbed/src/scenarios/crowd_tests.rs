//! The crowd's bound.

use super::*;

#[test]
fn the_bound_takes_the_download_link_when_it_differs() {
    let mut c = Crowd::new(24, 64 << 20);
    let f = (64u64 << 20) as f64;
    let rate = Mbit(20.0).bytes_per_sec();
    // 20 Mbit/s both ways: the seeder's upload and every download tie.
    assert!((c.bound(24) - f / rate).abs() < 1e-9);
    // A faster download link leaves the seeder's upload as the bound.
    c.down = Some(Mbit(100.0));
    assert!((c.bound(24) - f / rate).abs() < 1e-9);
    // A slower one is the bound, and the download link is capped to it.
    c.down = Some(Mbit(10.0));
    assert!((c.bound(24) - f / Mbit(10.0).bytes_per_sec()).abs() < 1e-9);
    assert_eq!(c.down_link(), Mbit(10.0));
    assert!(c.name().ends_with("down 10"), "{}", c.name());
}
