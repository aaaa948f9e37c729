//! Interop with another libp2p implementation: a js-libp2p 3.x node
//! (`interop/js/peer.mjs`; Kademlia on `/plexus/kad/1.0.0`, gossipsub)
//! against two Plexus daemons A and B on 127.0.0.1. Dialling A, it
//! identifies and pings A, finds B through the DHT, finds B as the provider
//! of a file B shared by its CID (`findProviders(cid)`, keyed by the CID's
//! multihash as Plexus keys provider records), and exchanges a topic message
//! each way with A.
//!
//! Ignored by default as it needs Node.js 20+ and the npm packages;
//! `.ci/run` installs both and runs it. By hand:
//! `npm ci --prefix interop/js; cargo nextest run -p plexus-cli --test js_interop --run-ignored all`.

mod common;

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc::{self, Receiver},
    time::{Duration, Instant},
};

use common::{json, Daemon, PLEXUS};
use serde_json::Value;

/// The js package (package.json, peer.mjs, node_modules once installed).
const JS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../interop/js");

/// Topic of the message exchange (gossipsub topic `plexus/topic/interop`).
const TOPIC: &str = "interop";

/// Fails, saying what to install, unless `node` runs and the npm packages
/// are in place: never a quiet pass.
fn check_js_setup() {
    let install = "run `npm ci --prefix interop/js` from the repository root (Node.js 20+; \
                   Debian: apt-get install nodejs npm)";
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`node --version` failed ({}): {install}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("cannot run `node` ({e}): {install}"),
    }
    let libp2p = Path::new(JS_DIR).join("node_modules/libp2p/package.json");
    assert!(
        libp2p.exists(),
        "{} is missing: {install}",
        libp2p.display()
    );
}

/// The lines `reader` produces, on a channel (a thread reads them).
fn lines(reader: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A child process killed when dropped (a failed assertion leaves none).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits up to `limit` for a line of `rx` that `want` accepts; all lines
/// seen go into the panic message otherwise.
fn wait_line(rx: &Receiver<String>, limit: Duration, what: &str, want: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if want(&line) => return,
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    panic!("{what} within {limit:?}; saw {seen:?}");
}

#[test]
#[ignore = "needs Node.js and `npm ci --prefix interop/js` (.ci/run installs them)"]
fn a_js_libp2p_peer_identifies_pings_finds_and_chats_with_plexus_nodes() {
    check_js_setup();
    let root = tempfile::tempdir().unwrap();
    let a = Daemon::start(&root.path().join("a"), &[]);
    let b = Daemon::start(&root.path().join("b"), &[]);
    assert!(b.cli(&["connect", &a.tcp_addr()]).status.success());

    // B shares a file; its CID is what the js node looks providers up by.
    let file = root.path().join("interop.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let shared = json(b.cli(&["share", file.to_str().unwrap(), "--json"]));
    let hash: plexus::content::Hash = shared["hash"].as_str().unwrap().parse().unwrap();
    let cid = shared["cid"].as_str().expect("share --json has a cid");
    assert_eq!(cid, hash.cid());

    // A subscribes to the topic (its daemon), printing what arrives.
    let mut sub = Command::new(PLEXUS)
        .arg("--data-dir")
        .arg(&a.data_dir)
        .args(["sub", TOPIC, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (sub_out, sub_err) = (
        lines(sub.stdout.take().unwrap()),
        lines(sub.stderr.take().unwrap()),
    );
    let _sub = Killed(sub);
    wait_line(&sub_err, Duration::from_secs(15), "no `sub` start", |l| {
        l.contains("subscribed to interop")
    });

    let mut js = Command::new("node")
        .arg(Path::new(JS_DIR).join("peer.mjs"))
        .args([&a.tcp_addr(), &b.peer_id, cid, TOPIC])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    let (js_out, js_err) = (
        lines(js.stdout.take().unwrap()),
        lines(js.stderr.take().unwrap()),
    );
    let mut js = Killed(js);

    // Its result lines, by step, until it is done (it bounds every step;
    // this bounds the whole run too).
    let mut steps: HashMap<String, Value> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(200);
    let mut published = false;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(line) = js_out.recv_timeout(left) else {
            break;
        };
        println!("js: {line}");
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let step = v["step"].as_str().unwrap_or_default().to_string();
        if step == "subscribed" && !published {
            // Plexus -> js: A publishes once the js node is subscribed.
            let out = a.cli(&["pub", TOPIC, "hello from plexus", "--wait", "30"]);
            assert!(out.status.success(), "{}", common::stderr(&out));
            published = true;
        }
        steps.insert(step.clone(), v);
        if step == "done" || step == "error" {
            break;
        }
    }
    let stderr: Vec<String> = js_err.try_iter().collect();
    assert!(
        steps.contains_key("done"),
        "the js peer did not finish: {:?}\nstderr: {}",
        steps.get("error"),
        stderr.join("\n")
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = js.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the js peer did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "js peer exit: {status}");

    let identify = &steps["identify"];
    assert_eq!(identify["peer_id"], a.peer_id.as_str());
    assert!(
        identify["agent"].as_str().unwrap().starts_with("plexus/"),
        "{identify}"
    );
    let protocols: Vec<&str> = identify["protocols"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for wanted in ["/plexus/kad/1.0.0", "/ipfs/ping/1.0.0", "/meshsub/1.1.0"] {
        assert!(protocols.contains(&wanted), "{wanted} in {protocols:?}");
    }
    assert!(steps["ping"]["rtt_ms"].as_f64().unwrap() >= 0.0);

    let found = &steps["find-peer"];
    assert_eq!(found["peer_id"], b.peer_id.as_str());
    let addrs: Vec<&str> = found["addrs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // With or without the trailing /p2p/ID (js-libp2p versions differ).
    let bare = |a: &str| a.split("/p2p/").next().unwrap_or(a).to_string();
    let tcp = bare(&b.tcp_addr());
    assert!(addrs.iter().any(|a| bare(a) == tcp), "{tcp} in {addrs:?}");

    let providers = &steps["find-providers"];
    assert_eq!(providers["cid"], cid);
    assert_eq!(providers["providers"][0], b.peer_id.as_str(), "{providers}");

    // js -> Plexus: A's subscriber got the js node's message.
    let js_id = steps["started"]["peer_id"].as_str().unwrap().to_string();
    assert!(
        steps["published"]["recipients"]
            .as_array()
            .unwrap()
            .contains(&Value::from(a.peer_id.as_str())),
        "{}",
        steps["published"]
    );
    wait_line(
        &sub_out,
        Duration::from_secs(15),
        "A's subscriber got no message from the js node",
        |l| {
            let m: Value = serde_json::from_str(l).unwrap_or_default();
            m["from"] == js_id.as_str() && m["text"] == "hello from js"
        },
    );
    // Plexus -> js.
    let message = &steps["message"];
    assert_eq!(message["from"], a.peer_id.as_str());
    assert_eq!(message["text"], "hello from plexus");
    assert_eq!(message["topic"], "plexus/topic/interop");
}
