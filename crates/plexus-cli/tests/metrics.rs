//! `plexus daemon --metrics ADDR`: Prometheus scrapes of real daemons
//! before and after a transfer, and what the listeners refuse.

mod common;

use std::{
    collections::HashMap,
    io::{Read, Write},
    net::TcpStream,
    path::Path,
    time::Duration,
};

use common::{stderr, wait_until, Daemon};

/// Size of the file transferred: a few MiB, many chunk groups.
const SIZE: usize = 4 * 1024 * 1024;

/// One HTTP/1.1 request over a plain socket; returns status and body.
fn http(addr: &str, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("a reply");
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {reply}"));
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// The `http://HOST:PORT` after `label` in the daemon's start line.
fn addr_after(banner: &str, label: &str) -> Option<String> {
    let rest = banner.split(&format!("{label} http://")).nth(1)?;
    Some(rest.split(['/', ',', ')']).next()?.to_string())
}

/// Every sample of a scrape: `name{labels}` to value.
fn scrape(addr: &str) -> HashMap<String, f64> {
    let (status, body) = http(addr, "GET", "/metrics");
    assert_eq!(status, 200, "{body}");
    assert!(body.ends_with("# EOF\n"), "not OpenMetrics text: {body}");
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').expect("name value");
            (name.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

/// Sum of every sample whose name (labels included) starts with `prefix`.
fn sum(samples: &HashMap<String, f64>, prefix: &str) -> f64 {
    samples
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v)
        .sum()
}

/// Plexus's samples only, sorted, for failure messages.
fn plexus_only(samples: &HashMap<String, f64>) -> String {
    let mut lines: Vec<String> = samples
        .iter()
        .filter(|(k, _)| k.starts_with("plexus_") || k.starts_with("libp2p_bandwidth"))
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    lines.sort();
    lines.join("\n")
}

fn write_data(path: &Path, len: usize) {
    let mut out = vec![0; len];
    blake3::Hasher::new()
        .update(b"metrics")
        .finalize_xof()
        .fill(&mut out);
    std::fs::write(path, &out).unwrap();
}

#[test]
fn metrics_move_with_a_transfer_and_carry_libp2p_metrics() {
    let root = tempfile::tempdir().unwrap();
    let metrics = ["--metrics", "127.0.0.1:0"];
    // A's upload capped so the transfer lasts seconds and can be watched.
    let mut a_args = metrics.to_vec();
    a_args.extend(["--max-upload", "8Mbit"]);
    let a = Daemon::start(&root.path().join("a"), &a_args);
    let mut b_args = metrics.to_vec();
    let a_tcp = a.tcp_addr();
    b_args.extend(["--bootstrap", &a_tcp]);
    let b = Daemon::start(&root.path().join("b"), &b_args);
    let a_metrics = addr_after(&a.banner, "metrics").expect(&a.banner);
    let b_metrics = addr_after(&b.banner, "metrics").expect(&b.banner);

    // Connected and identified: libp2p's swarm and identify metrics count it.
    let connected = wait_until(Duration::from_secs(20), || {
        let s = scrape(&b_metrics);
        sum(&s, "libp2p_swarm_connections_established_total") >= 1.0
            && sum(&s, "libp2p_identify_received_total") >= 1.0
    });
    assert!(connected, "B's metrics never showed the connection to A");
    let a_before = scrape(&a_metrics);
    let b_before = scrape(&b_metrics);
    for name in [
        "libp2p_kad_",
        "libp2p_gossipsub_",
        "libp2p_ping_rtt_seconds",
        "libp2p_bandwidth_bytes_total",
    ] {
        assert!(
            b_before.keys().any(|k| k.starts_with(name)),
            "no {name} in B's metrics"
        );
    }
    let fetched = "plexus_bytes_total{protocol=\"blobs\",direction=\"fetched\"}";
    let served = "plexus_bytes_total{protocol=\"blobs\",direction=\"served\"}";
    assert_eq!(b_before[fetched], 0.0);
    assert_eq!(b_before["plexus_verified_chunks_total"], 0.0);

    let src = root.path().join("data.bin");
    write_data(&src, SIZE);
    let share = a.cli(&["share", src.to_str().unwrap()]);
    assert!(share.status.success(), "{}", stderr(&share));
    let ticket = String::from_utf8(share.stdout).unwrap();
    let ticket = ticket.lines().last().unwrap().trim().to_string();
    let out = root.path().join("out.bin");
    let mut get = std::process::Command::new(common::PLEXUS)
        .arg("--data-dir")
        .arg(&b.data_dir)
        .args(["get", &ticket, "-o", out.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Scraped during the transfer: one download under way, bytes moving.
    let mut during = HashMap::new();
    let watched = wait_until(Duration::from_secs(20), || {
        during = scrape(&b_metrics);
        during["plexus_downloads_active"] == 1.0 && during[fetched] > 0.0
    });
    assert!(
        watched,
        "no transfer under way seen: {}",
        plexus_only(&during)
    );
    assert!(during[fetched] < SIZE as f64, "{}", plexus_only(&during));
    let status = get.wait().unwrap();
    assert!(status.success(), "plexus get failed");
    assert_eq!(std::fs::metadata(&out).unwrap().len(), SIZE as u64);

    let a_after = scrape(&a_metrics);
    let b_after = scrape(&b_metrics);
    let size = SIZE as f64;
    assert!(
        b_after[fetched] - b_before[fetched] >= size,
        "{}",
        plexus_only(&b_after)
    );
    assert!(
        a_after[served] - a_before[served] >= size,
        "{}",
        plexus_only(&a_after)
    );
    assert!(
        b_after["plexus_verified_bytes_total"] >= size,
        "{}",
        plexus_only(&b_after)
    );
    // 16 KiB chunk groups.
    assert!(
        b_after["plexus_verified_chunks_total"] >= size / 16384.0,
        "{}",
        plexus_only(&b_after)
    );
    assert_eq!(
        b_after["plexus_downloads_finished_total{outcome=\"ok\"}"],
        1.0
    );
    assert_eq!(b_after["plexus_downloads_active"], 0.0);
    assert_eq!(b_after["plexus_corrupt_answers_total"], 0.0);
    assert_eq!(b_after["plexus_liars_total"], 0.0);
    assert!(
        b_after["plexus_store_bytes"] >= size,
        "{}",
        plexus_only(&b_after)
    );
    assert!(
        a_after["plexus_store_blobs"] >= 1.0,
        "{}",
        plexus_only(&a_after)
    );
    // libp2p's transport counters saw the bytes too.
    assert!(
        sum(&b_after, "libp2p_bandwidth_bytes_total{protocols=\"/ip4/")
            - sum(&b_before, "libp2p_bandwidth_bytes_total{protocols=\"/ip4/")
            >= size,
        "{}",
        plexus_only(&b_after)
    );
    // Per protocol and path: the blob protocol's stream bytes, both ends,
    // on the direct connection (`unknown` would mean the codec was not
    // told its connection's path).
    let blob = |s: &HashMap<String, f64>, dir: &str| {
        let key = format!(
            "plexus_protocol_bytes_total{{protocol=\"/plexus/blobs/1.1.0\",direction=\"{dir}\",path=\"direct\"}}"
        );
        s.get(&key).copied().unwrap_or(0.0)
    };
    assert!(
        blob(&b_after, "received") - blob(&b_before, "received") >= size,
        "{}",
        plexus_only(&b_after)
    );
    assert!(
        blob(&a_after, "sent") - blob(&a_before, "sent") >= size,
        "{}",
        plexus_only(&a_after)
    );
    assert!(blob(&b_after, "sent") > 0.0, "requests are counted too");
}

#[test]
fn metrics_listener_serves_only_get_metrics_and_the_api_keeps_its_token() {
    let root = tempfile::tempdir().unwrap();
    let a = Daemon::start(&root.path().join("a"), &["--metrics", "127.0.0.1:0"]);
    let metrics = addr_after(&a.banner, "metrics").expect(&a.banner);
    let api = addr_after(&a.banner, "API").expect(&a.banner);

    // Nothing of the API through the metrics listener, and no writes.
    assert_eq!(http(&metrics, "GET", "/v1/status").0, 404);
    assert_eq!(http(&metrics, "POST", "/v1/share").0, 404);
    assert_eq!(http(&metrics, "POST", "/metrics").0, 405);
    // The API without its token refuses, /metrics included.
    assert_eq!(http(&api, "GET", "/metrics").0, 401);
    assert_eq!(http(&api, "GET", "/v1/status").0, 401);

    // Off unless asked for: no metrics address without the flag.
    let b = Daemon::start(&root.path().join("b"), &[]);
    assert_eq!(addr_after(&b.banner, "metrics"), None, "{}", b.banner);
}

#[test]
fn a_bad_metrics_address_in_config_is_a_clear_error() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("a");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), "metrics = \"localhost\"\n").unwrap();
    let out = common::plexus(&dir, &["daemon", "--api", "127.0.0.1:0", "--no-mdns"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("bad metrics address"), "{err}");
}
