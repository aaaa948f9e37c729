//! The crate's examples (`crates/plexus/examples/`), run as a user runs
//! them: each built binary must finish on its own, exit 0 and print what
//! it did.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// Longest an example may run; each takes well under a second on loopback.
const LIMIT: Duration = Duration::from_secs(60);

/// The example's binary, next to this test's (`target/<profile>/examples/`).
/// `cargo build --example` first, a no-op when `cargo test` built it
/// already (it does unless asked for one test target, e.g. `--test
/// examples`); it also rebuilds a binary older than its source.
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps");
    let mut cargo = Command::new(env!("CARGO"));
    cargo.args(["build", "--quiet", "-p", "plexus", "--example", name]);
    cargo
        .arg("--target-dir")
        .arg(profile_dir.parent().expect("target/"));
    let profile = profile_dir.file_name().and_then(|p| p.to_str());
    if let Some(profile) = profile.filter(|p| *p != "debug") {
        cargo.args(["--profile", profile]);
    }
    // What cargo sets for a running test, not for a build: ring's build
    // script watches CARGO_MANIFEST_DIR, and a change rebuilds half the tree.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
            "CARGO_PRIMARY_",
        ]
        .iter()
        .any(|prefix| key.starts_with(prefix))
            || key == "CARGO_TARGET_TMPDIR"
        {
            cargo.env_remove(&*key);
        }
    }
    let status = cargo.status().expect("cargo runs");
    assert!(status.success(), "cargo build --example {name} failed");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "no example binary at {}", path.display());
    path
}

/// Runs example `name` (killed after [`LIMIT`]); asserts it exited 0 and
/// returns its standard output.
fn run(name: &str) -> String {
    let mut child = Command::new(binary(name))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let started = Instant::now();
    while child.try_wait().expect("wait works").is_none() {
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!(
                "example {name} still ran after {LIMIT:?}; it printed:\n{}",
                String::from_utf8_lossy(&output.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    println!("example {name} ran {:?}:\n{stdout}", started.elapsed());
    assert!(
        output.status.success(),
        "example {name} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Asserts `text` holds each of `lines`.
fn assert_says(name: &str, text: &str, lines: &[&str]) {
    for line in lines {
        assert!(
            text.contains(line),
            "example {name} did not print {line:?}:\n{text}"
        );
    }
}

#[test]
fn share_and_get_fetches_by_ticket_and_by_hash() {
    let out = run("share_and_get");
    assert_says(
        "share_and_get",
        &out,
        &[
            "ticket: plexus1",
            "B fetched 190000 bytes by ticket",
            "B's copy is identical to A's file",
            "by hash alone; identical",
            "done",
        ],
    );
}

#[test]
fn chat_carries_a_message_each_way() {
    let out = run("chat");
    assert_says(
        "chat",
        &out,
        &[
            "B got from A: hello, is anyone here?",
            "A got from B: hi A, B here",
            "done",
        ],
    );
}

#[test]
fn search_finds_the_shared_file_and_fetches_it() {
    let out = run("search");
    assert_says(
        "search",
        &out,
        &[
            "B found \"Blue Moon lyrics\"",
            "identical to A's file",
            "done",
        ],
    );
}
