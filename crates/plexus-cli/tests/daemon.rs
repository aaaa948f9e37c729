//! The daemon and its CLI over the local API, with real processes and sockets.

mod common;

use std::time::Duration;

use common::{json, plexus, stderr, wait_until, Daemon};

fn peer_ids(peers: &serde_json::Value) -> Vec<String> {
    peers
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["peer_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn bootstrap_chain_peers_and_find_peer_through_the_cli() {
    let root = tempfile::tempdir().unwrap();
    let a = Daemon::start(&root.path().join("a"), &[]);
    let b = Daemon::start(&root.path().join("b"), &["--bootstrap", &a.tcp_addr()]);
    let c = Daemon::start(&root.path().join("c"), &["--bootstrap", &b.tcp_addr()]);

    // C knew only B; the DHT must teach it A.
    let everyone = wait_until(Duration::from_secs(30), || {
        let known = peer_ids(&json(c.cli(&["peers", "--json"])));
        known.contains(&a.peer_id) && known.contains(&b.peer_id)
    });
    assert!(everyone, "C did not learn A and B");

    let found = json(c.cli(&["dht", "find-peer", &a.peer_id, "--json"]));
    assert_eq!(found["peer_id"], a.peer_id.as_str());
    let tcp = a.tcp_addr();
    let tcp_no_id = tcp.split("/p2p/").next().unwrap();
    assert!(
        found["addrs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x.as_str().unwrap().starts_with(tcp_no_id)),
        "{found}"
    );

    let id = json(c.cli(&["id", "--json"]));
    assert_eq!(id["peer_id"], c.peer_id.as_str());
    let status = json(c.cli(&["status", "--json"]));
    assert!(
        status["routing_table_peers"].as_u64().unwrap() >= 2,
        "{status}"
    );

    // The readable table names each peer.
    let table = String::from_utf8(c.cli(&["peers"]).stdout).unwrap();
    assert!(table.starts_with("PEER"), "{table}");
    assert!(
        table.contains(&a.peer_id) && table.contains(&b.peer_id),
        "{table}"
    );
}

#[test]
fn connect_command_dials_and_reports_the_peer() {
    let root = tempfile::tempdir().unwrap();
    let a = Daemon::start(&root.path().join("a"), &[]);
    let b = Daemon::start(&root.path().join("b"), &[]);
    let out = b.cli(&["connect", &a.tcp_addr()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!("connected to {}", a.peer_id)
    );
    let peers = json(b.cli(&["peers", "--json"]));
    assert!(peer_ids(&peers).contains(&a.peer_id));

    // Nothing listens on port 1: a clear error from the daemon, exit 1.
    let out = b.cli(&["connect", "/ip4/127.0.0.1/tcp/1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: cannot connect to /ip4/127.0.0.1/tcp/1"),
        "{err}"
    );
}

#[test]
fn restart_keeps_peer_id_and_sigterm_is_clean() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("node");
    let first = Daemon::start(&dir, &[]);
    let id = first.peer_id.clone();
    assert!(dir.join("api.json").exists());
    assert_eq!(first.terminate(), Some(0), "SIGTERM gives a clean exit");
    assert!(!dir.join("api.json").exists(), "api.json removed on exit");

    let out = plexus(&dir, &["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no Plexus daemon is running"));

    let second = Daemon::start(&dir, &[]);
    assert_eq!(second.peer_id, id);
}

#[test]
fn api_refuses_a_wrong_token() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("node");
    let daemon = Daemon::start(&dir, &[]);
    let path = dir.join("api.json");
    let mut info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    info["token"] = "0000".into();
    std::fs::write(&path, info.to_string()).unwrap();
    let out = daemon.cli(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("refused the API token"), "{err}");
}

#[test]
fn a_dead_daemon_or_missing_data_dir_is_one_clear_line() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("does-not-exist");
    for args in [&["status"][..], &["peers"], &["id", "--json"]] {
        let out = plexus(&missing, args);
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("no Plexus daemon is running for data dir"),
            "{err}"
        );
        assert!(err.contains("plexus daemon --data-dir"), "{err}");
    }
    // A daemon killed with -9 leaves a stale api.json behind: same message.
    let dir = root.path().join("killed");
    let daemon = Daemon::start(&dir, &[]);
    drop(daemon);
    assert!(dir.join("api.json").exists());
    let err = stderr(&plexus(&dir, &["status"]));
    assert!(err.contains("no Plexus daemon is running"), "{err}");
}

#[test]
fn bad_multiaddrs_are_one_line_usage_errors() {
    let root = tempfile::tempdir().unwrap();
    for args in [
        &["daemon", "--listen", "not-an-addr"][..],
        &["daemon", "--bootstrap", "/ip4/1.2.3"],
        &["connect", "garbage"],
        &["dht", "find-peer", "not-a-peer-id"],
    ] {
        let out = plexus(root.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("invalid value"), "{err}");
    }
    // A bootstrap address without its peer id.
    let out = plexus(
        &root.path().join("n"),
        &[
            "daemon",
            "--api",
            "127.0.0.1:0",
            "--no-mdns",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--bootstrap",
            "/ip4/127.0.0.1/tcp/4001",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("must end with /p2p/PEERID"));
}

#[test]
fn ports_in_use_are_one_line_errors() {
    let root = tempfile::tempdir().unwrap();
    let a = Daemon::start(&root.path().join("a"), &[]);
    let taken = a.tcp_addr().split("/p2p/").next().unwrap().to_string();
    let out = plexus(
        &root.path().join("b"),
        &[
            "daemon",
            "--no-mdns",
            "--api",
            "127.0.0.1:0",
            "--listen",
            &taken,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with(&format!("error: cannot listen on {taken}")),
        "{err}"
    );
    assert!(last.contains("in use"), "{err}");

    let api: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.data_dir.join("api.json")).unwrap())
            .unwrap();
    let out = plexus(
        &root.path().join("c"),
        &[
            "daemon",
            "--no-mdns",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api",
            api["addr"].as_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.lines()
            .last()
            .unwrap()
            .starts_with("error: cannot start the API on"),
        "{err}"
    );
}

#[test]
fn second_daemon_on_one_data_dir_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("a");
    let _a = Daemon::start(&dir, &[]);
    let out = plexus(
        &dir,
        &[
            "daemon",
            "--no-mdns",
            "--api",
            "127.0.0.1:0",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("in use by another running node"));
}

#[test]
fn help_teaches_with_examples() {
    for args in [
        &["--help"][..],
        &["daemon", "--help"],
        &["dht", "find-peer", "--help"],
        &["connect", "--help"],
        &["peers", "--help"],
    ] {
        let out = std::process::Command::new(common::PLEXUS)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Example"), "{args:?}: {text}");
    }
}

#[test]
fn swarm_key_makes_a_private_network_of_daemons() {
    let root = tempfile::tempdir().unwrap();
    let key = root.path().join("team.key");
    let key_arg = key.to_str().unwrap();

    // A fresh key in the IPFS swarm.key format, owner-only, never replaced.
    let out = plexus(root.path(), &["swarm-key", "new", key_arg]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&key).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[..2], ["/key/swarm/psk/1.0.0/", "/base16/"], "{text}");
    assert!(lines[2].len() == 64 && lines[2].chars().all(|c| c.is_ascii_hexdigit()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let out = plexus(root.path(), &["swarm-key", "new", key_arg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));

    // A bad key file: one line naming the file and the format, nothing started.
    let bad = root.path().join("bad.key");
    std::fs::write(&bad, "not a key\n").unwrap();
    let out = plexus(
        &root.path().join("x"),
        &["daemon", "--swarm-key", bad.to_str().unwrap(), "--no-mdns"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("bad.key") && err.contains("/key/swarm/psk/1.0.0/"),
        "{err}"
    );

    // a and b share the key (QUIC is dropped: TCP only); c has none.
    let a = Daemon::start(&root.path().join("a"), &["--swarm-key", key_arg]);
    let b = Daemon::start(&root.path().join("b"), &["--swarm-key", key_arg]);
    let c = Daemon::start(&root.path().join("c"), &[]);
    assert!(
        a.addrs.iter().all(|addr| !addr.contains("quic")),
        "{:?}",
        a.addrs
    );
    let out = b.cli(&["connect", &a.tcp_addr()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = c.cli(&["connect", &a.tcp_addr()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    println!("c (no key) connect to a: {err}");
    assert!(
        err.contains("cannot connect") && err.contains("swarm key"),
        "{err}"
    );
    let peers = peer_ids(&json(a.cli(&["peers", "--json"])));
    assert!(peers.contains(&b.peer_id) && !peers.contains(&c.peer_id));
}

/// Whoever starts the daemon may close its stdout at once (a supervisor
/// that reads nothing, `plexus daemon | head -1`): the daemon must go on.
/// Before, its start-up lines were `println!`s, which panic on a broken
/// pipe, so the daemon died as soon as it had started.
#[test]
fn a_daemon_whose_stdout_is_closed_keeps_running() {
    use std::process::{Command, Stdio};

    let root = tempfile::tempdir().unwrap();
    let key = root.path().join("team.key");
    let out = plexus(root.path(), &["swarm-key", "new", key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = root.path().join("d");
    let mut child = Command::new(common::PLEXUS)
        .arg("--data-dir")
        .arg(&dir)
        .args([
            "daemon",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api",
            "127.0.0.1:0",
        ])
        .args(["--no-mdns", "--swarm-key", key.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("plexus daemon spawns");
    drop(child.stdout.take());

    let answered = wait_until(Duration::from_secs(20), || {
        plexus(&dir, &["status"]).status.success()
    });
    let exited = child.try_wait().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        answered,
        "the daemon never answered status (exit: {exited:?})"
    );
    assert_eq!(exited, None, "the daemon exited");
}

#[test]
fn sigterm_stops_a_daemon_in_the_middle_of_a_get_and_the_get_resumes() {
    use std::process::{Command, Stdio};
    let root = tempfile::tempdir().unwrap();
    let a = Daemon::start(&root.path().join("a"), &[]);
    // 4 MiB at 1 Mbit/s: a get of some 30 s, cut short here.
    let b_dir = root.path().join("b");
    let b = Daemon::start(&b_dir, &["--max-download", "1Mbit"]);
    let src = root.path().join("slow.bin");
    let bytes: Vec<u8> = (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&src, &bytes).unwrap();
    let out = a.cli(&["share", src.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ticket = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    let copy = root.path().join("slow.copy");
    let mut get = Command::new(common::PLEXUS)
        .args(["--data-dir", b_dir.to_str().unwrap(), "get", &ticket, "-o"])
        .arg(&copy)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Under way, and far from done: its API call is open.
    let under_way = wait_until(Duration::from_secs(20), || {
        json(b.cli(&["status", "--json"]))["blob_bytes_received"]
            .as_u64()
            .is_some_and(|n| n > 0)
    });
    assert!(under_way, "the get did not start");
    std::thread::sleep(Duration::from_secs(1));
    assert!(get.try_wait().unwrap().is_none(), "the get ended early");

    // Before: the daemon waited for the get's API call to end (some 30 s).
    let asked = std::time::Instant::now();
    assert_eq!(
        b.terminate(),
        Some(0),
        "SIGTERM during a get: no clean exit within 10 s"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(6),
        "{:?}",
        asked.elapsed()
    );
    let out = get.wait_with_output().unwrap();
    assert!(!out.status.success(), "the cut get reports a failure");
    let err = stderr(&out);
    assert!(
        err.contains("the daemon stopped answering") && err.contains("run the same command"),
        "{err}"
    );
    assert!(!copy.exists(), "nothing unverified is written out");

    // Run again (uncapped): it resumes and completes.
    let b = Daemon::start(&b_dir, &[]);
    let summary = json(b.cli(&["get", &ticket, "-o", copy.to_str().unwrap(), "--json"]));
    assert_eq!(std::fs::read(&copy).unwrap(), bytes);
    let fetched = summary["fetched"].as_u64().unwrap();
    assert!(
        fetched < bytes.len() as u64,
        "fetched everything again: {summary}"
    );
}
