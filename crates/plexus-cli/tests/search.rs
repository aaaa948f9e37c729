//! `plexus share --name --tag`, `publish`, `search` and `directory` as a
//! user runs them: real daemons on 127.0.0.1, search then get.

mod common;

use std::{process::Command, time::Duration};

use common::{stderr, wait_until, Daemon, PLEXUS};

/// The NDJSON lines of a successful `search --json`.
fn search_json(daemon: &Daemon, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["search", "--json"];
    all.extend_from_slice(args);
    let output = daemon.cli(&all);
    assert!(output.status.success(), "{}", stderr(&output));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn search_by_flooding_then_get_the_ticket_and_publish_a_new_name() {
    let root = tempfile::tempdir().unwrap();
    // A line: a - b - c (bootstrap peers become search neighbours).
    let a = Daemon::start(&root.path().join("a"), &[]);
    let a_addr = a.tcp_addr();
    let b = Daemon::start(&root.path().join("b"), &["--bootstrap", &a_addr]);
    let b_addr = b.tcp_addr();
    let c = Daemon::start(&root.path().join("c"), &["--bootstrap", &b_addr]);
    let src = root.path().join("track01.mp3");
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&src, &bytes).unwrap();
    let shared = c.cli(&[
        "share",
        src.to_str().unwrap(),
        "--name",
        "Blue Moon",
        "--tag",
        "jazz",
        "--json",
    ]);
    assert!(shared.status.success(), "{}", stderr(&shared));

    // Two hops from a to c.
    let mut results = Vec::new();
    assert!(
        wait_until(Duration::from_secs(20), || {
            results = search_json(&a, &["blue", "JAZZ", "--ttl", "2", "--timeout", "2"]);
            !results.is_empty()
        }),
        "a finds c's content within 20 s"
    );
    let hit = &results[0];
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(hit["name"], "Blue Moon");
    assert_eq!(hit["holder"], c.peer_id.as_str());
    assert_eq!(hit["size"], bytes.len() as u64);
    assert_eq!(hit["source"], "flood");

    let status = common::json(b.cli(&["status", "--json"]));
    assert_eq!(status["search_neighbours"], 2, "{status}");
    assert_eq!(status["super_peer"], false);

    // The result's ticket gets the right bytes.
    let out = root.path().join("copy.mp3");
    let got = a.cli(&[
        "get",
        hit["ticket"].as_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(got.status.success(), "{}", stderr(&got));
    assert_eq!(std::fs::read(&out).unwrap(), bytes);

    // TTL 1 does not reach c.
    assert!(search_json(&a, &["blue", "--ttl", "1", "--timeout", "1"]).is_empty());

    // a names its copy; c finds a as a holder under the new name.
    let hash = hit["hash"].as_str().unwrap();
    let published = a.cli(&["publish", hash, "--name", "moon copy", "--tag", "rare"]);
    assert!(published.status.success(), "{}", stderr(&published));
    let mut found = Vec::new();
    assert!(wait_until(Duration::from_secs(10), || {
        found = search_json(&c, &["rare", "--ttl", "2", "--timeout", "2"]);
        !found.is_empty()
    }));
    assert_eq!(found[0]["holder"], a.peer_id.as_str());
    assert_eq!(found[0]["name"], "moon copy");

    // Human output: name, tags, holder and ticket.
    let text = a.cli(&["search", "blue", "--ttl", "2", "--timeout", "2"]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("Blue Moon [jazz]"), "{stdout}");
    assert!(
        stdout.contains(&format!("held by {}", c.peer_id)),
        "{stdout}"
    );

    // Without a daemon, search runs a node of its own from config.toml.
    let e = root.path().join("e");
    std::fs::create_dir_all(&e).unwrap();
    std::fs::write(
        e.join("config.toml"),
        format!("bootstrap = [\"{b_addr}\"]\nmdns = false\n"),
    )
    .unwrap();
    let own = common::plexus(
        &e,
        &["search", "jazz", "--ttl", "2", "--timeout", "3", "--json"],
    );
    assert!(own.status.success(), "{}", stderr(&own));
    let text = String::from_utf8_lossy(&own.stdout);
    assert!(text.contains(&c.peer_id), "{text}");

    // Removed content is no longer found.
    let removed = c.cli(&["rm", hash]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert!(search_json(&a, &["blue", "--ttl", "2", "--timeout", "2"]).is_empty());

    // Bad input.
    let bad = a.cli(&["search", "blue", "--ttl", "9"]);
    assert_eq!(bad.status.code(), Some(2));
    let bad = a.cli(&["publish", hash]);
    assert!(stderr(&bad).contains("--name"), "{}", stderr(&bad));
    let bad = a.cli(&["share", src.to_str().unwrap(), "--tag", " "]);
    assert!(stderr(&bad).contains("not blank"), "{}", stderr(&bad));
    let bad = common::plexus(
        &root.path().join("d"),
        &[
            "daemon",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api",
            "127.0.0.1:0",
            "--no-mdns",
            "--directory",
            "/ip4/127.0.0.1/tcp/9",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("directory address /ip4/127.0.0.1/tcp/9 must end with /p2p/PEERID"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn a_directory_finds_content_and_the_dht_serves_it_after_the_directory_dies() {
    let root = tempfile::tempdir().unwrap();
    let dir = Daemon::start_with(
        Command::new(PLEXUS),
        &root.path().join("dir"),
        &[
            "directory",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--ttl",
            "10",
        ],
    );
    let dir_addr = dir.tcp_addr();
    let x = Daemon::start(&root.path().join("x"), &["--directory", &dir_addr]);
    let y = Daemon::start(&root.path().join("y"), &["--directory", &dir_addr]);
    let src = root.path().join("q3.pdf");
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&src, &bytes).unwrap();
    let shared = y.cli(&["share", src.to_str().unwrap(), "--tag", "quarterly"]);
    assert!(shared.status.success(), "{}", stderr(&shared));

    let status = common::json(x.cli(&["status", "--json"]));
    assert_eq!(status["directories"], 1, "{status}");

    // TTL 0: the directory alone answers.
    let mut results = Vec::new();
    assert!(wait_until(Duration::from_secs(20), || {
        results = search_json(&x, &["quarterly", "--ttl", "0", "--timeout", "2"]);
        !results.is_empty()
    }));
    assert_eq!(results[0]["source"], "directory");
    assert_eq!(results[0]["holder"], y.peer_id.as_str());
    assert_eq!(results[0]["name"], "q3.pdf");
    let hash = results[0]["hash"].as_str().unwrap().to_string();

    // The directory is killed; a bare hash is found through the DHT.
    drop(dir);
    let out = root.path().join("q3-copy.pdf");
    let got = x.cli(&["get", &hash, "-o", out.to_str().unwrap()]);
    assert!(got.status.success(), "{}", stderr(&got));
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
}
