//! `plexus share` and `plexus get` as a user runs them: real processes,
//! real files, through a daemon and without one, and a kill -9 mid-download.

mod common;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use common::{json, plexus, stderr, wait_for_percent, Daemon, PLEXUS};

fn write_data(path: &Path, len: usize, seed: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut x = blake3::Hasher::new().update(&[seed]).finalize_xof();
    out.resize(len, 0);
    x.fill(&mut out);
    std::fs::write(path, &out).unwrap();
    out
}

fn ticket_of(output: std::process::Output) -> String {
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    let last = text.lines().last().unwrap().to_string();
    assert!(last.starts_with("plexus1"), "{text}");
    last
}

#[test]
fn share_through_a_daemon_and_get_with_ls_and_rm() {
    let root = tempfile::tempdir().unwrap();
    let a = Daemon::start(&root.path().join("a"), &[]);
    let b = Daemon::start(&root.path().join("b"), &[]);
    let src = root.path().join("report.bin");
    let bytes = write_data(&src, 3 * 1024 * 1024 + 11, 1);
    let ticket = ticket_of(a.cli(&["share", src.to_str().unwrap()]));

    let out = root.path().join("copy.bin");
    let summary = json(b.cli(&["get", &ticket, "-o", out.to_str().unwrap(), "--json"]));
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    assert_eq!(summary["size"], bytes.len() as u64);
    assert_eq!(summary["per_peer"][0]["peer_id"], a.peer_id.as_str());

    // No overwrite without --force.
    let again = b.cli(&["get", &ticket, "-o", out.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already exists (use --force"),
        "{}",
        stderr(&again)
    );
    assert!(b
        .cli(&["get", &ticket, "-o", out.to_str().unwrap(), "--force"])
        .status
        .success());

    let listed = json(b.cli(&["ls", "--json"]));
    let entry = &listed.as_array().unwrap()[0];
    assert_eq!(entry["complete"], true);
    assert_eq!(entry["share"]["name"], "report.bin");
    let hash = entry["hash"].as_str().unwrap().to_string();
    // The CID next to the hex: what other libp2p nodes look providers up by.
    let cid = hash.parse::<plexus::content::Hash>().unwrap().cid();
    assert_eq!(entry["cid"], cid.as_str());
    assert!(cid.starts_with("bafkr4i"), "{cid}");
    let table = String::from_utf8(b.cli(&["ls"]).stdout).unwrap();
    assert!(
        table.contains("report.bin") && table.contains("complete") && table.contains(&cid),
        "{table}"
    );
    assert!(b.cli(&["rm", &hash]).status.success());
    let missing = b.cli(&["rm", &hash]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("not in the store"));
}

#[test]
fn get_without_a_daemon_fetches_a_folder_by_ticket() {
    let root = tempfile::tempdir().unwrap();
    let a = Daemon::start(&root.path().join("a"), &[]);
    let src = root.path().join("album");
    std::fs::create_dir_all(src.join("2025")).unwrap();
    let one = write_data(&src.join("2025/one.jpg"), 200_000, 2);
    let two = write_data(&src.join("two.jpg"), 16 * 1024, 3);
    let ticket = ticket_of(a.cli(&["share", src.to_str().unwrap()]));

    // No daemon for this data dir: get runs a node of its own.
    let work = root.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let out = Command::new(PLEXUS)
        .current_dir(&work)
        .args([
            "--data-dir",
            root.path().join("c").to_str().unwrap(),
            "get",
            &ticket,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(work.join("album/2025/one.jpg")).unwrap(), one);
    assert_eq!(std::fs::read(work.join("album/two.jpg")).unwrap(), two);
}

#[test]
fn bad_tickets_and_unknown_hashes_are_clear_errors() {
    let root = tempfile::tempdir().unwrap();
    let a = Daemon::start(&root.path().join("a"), &[]);
    for target in ["plexus1zzzz", "hello"] {
        let out = a.cli(&["get", target]);
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(err.contains("ticket"), "{err}");
    }
    let hash = "ab".repeat(32);
    let started = std::time::Instant::now();
    let out = a.cli(&["get", &hash, "-o", root.path().join("x").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no provider found"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn get_killed_with_sigkill_resumes_from_what_it_verified() {
    let root = tempfile::tempdir().unwrap();
    let a = Daemon::start(&root.path().join("a"), &[]);
    let src = root.path().join("big.bin");
    let bytes = write_data(&src, 256 * 1024 * 1024, 4);
    let ticket = ticket_of(a.cli(&["share", src.to_str().unwrap()]));
    let dir = root.path().join("getter");
    let out = root.path().join("big.copy");

    let mut child = Command::new(PLEXUS)
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "get",
            &ticket,
            "-o",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill -9 once at least 30% is verified: past the first commits to the store.
    let seen = wait_for_percent(&mut child, 30);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        seen.last().is_some_and(|l| l.starts_with("progress")),
        "no progress lines: {seen:?}"
    );
    assert!(
        !out.exists(),
        "nothing is written out before verification completes"
    );

    let summary = json(plexus(
        &dir,
        &["get", &ticket, "-o", out.to_str().unwrap(), "--json"],
    ));
    let fetched = summary["fetched"].as_u64().unwrap();
    println!("resume fetched {fetched} of {}", bytes.len());
    assert!(
        fetched < bytes.len() as u64,
        "resume fetched everything again"
    );
    assert!(std::fs::read(&out).unwrap() == bytes);
    drop(a);
}

#[test]
fn a_folder_get_killed_with_sigkill_resumes_and_comes_out_intact() {
    // Small files are written without an fsync each and recorded in
    // batches: a kill -9 must leave a store that resumes from what it
    // recorded and never hands out a file it did not verify.
    let root = tempfile::tempdir().unwrap();
    let a = Daemon::start(&root.path().join("a"), &[]);
    let src = root.path().join("folder");
    std::fs::create_dir_all(&src).unwrap();
    let files = 8000;
    for i in 0..files {
        write_data(&src.join(format!("f{i:05}")), 4096, (i % 251) as u8);
    }
    let ticket = ticket_of(a.cli(&["share", src.to_str().unwrap()]));
    let dir = root.path().join("getter");
    let out = root.path().join("copy");
    let mut child = Command::new(PLEXUS)
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "get",
            &ticket,
            "-o",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // 60% of the files, not of the listing (fetched first, its own progress).
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.map_while(Result::ok) {
        seen.push(line.clone());
        let files = line.contains(" MiB from") && line.contains("/31.");
        let p: u64 = line
            .strip_prefix("progress")
            .and_then(|r| r.trim_start().split('%').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        if files && p >= 60 {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let finished = out.exists();
    println!("killed after {:?} (finished: {finished})", seen.last());
    let summary = json(plexus(
        &dir,
        &[
            "get",
            &ticket,
            "-o",
            out.to_str().unwrap(),
            "--force",
            "--json",
        ],
    ));
    let fetched = summary["fetched"].as_u64().unwrap();
    println!("resume fetched {fetched} of {}", files * 4096);
    if !finished {
        assert!(
            fetched < (files * 4096) as u64,
            "resume fetched everything again"
        );
    }
    for i in 0..files {
        let name = format!("f{i:05}");
        assert!(
            std::fs::read(out.join(&name)).unwrap() == std::fs::read(src.join(&name)).unwrap(),
            "{name} differs"
        );
    }
    drop(a);
}

#[test]
fn a_provider_killed_mid_download_is_replaced_by_another() {
    let root = tempfile::tempdir().unwrap();
    let a = Daemon::start(&root.path().join("a"), &[]);
    let b = Daemon::start(&root.path().join("b"), &["--bootstrap", &a.tcp_addr()]);
    let src = root.path().join("big.bin");
    let bytes = write_data(&src, 256 * 1024 * 1024, 5);
    let ticket = ticket_of(a.cli(&["share", src.to_str().unwrap()]));
    ticket_of(b.cli(&["share", src.to_str().unwrap()]));

    // The getter knows A from the ticket and finds B through the DHT.
    let dir = root.path().join("getter");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!("bootstrap = [\"{}\"]\nmdns = false\n", a.tcp_addr()),
    )
    .unwrap();
    let out = root.path().join("big.copy");
    let mut child = Command::new(PLEXUS)
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "get",
            &ticket,
            "-o",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let seen = wait_for_percent(&mut child, 20);
    assert!(
        seen.iter().any(|l| l.contains("from 2 peers")),
        "B was not used: {seen:?}"
    );
    drop(a); // SIGKILL the ticket's own provider
    let status = child.wait().unwrap();
    let mut report = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut report).unwrap();
    assert!(
        status.success(),
        "get failed after a provider died: {report}"
    );
    assert!(std::fs::read(&out).unwrap() == bytes);
    drop(b);
}

/// `POST /v1/get` answers with NDJSON: progress lines, then one `done`; a
/// client that hangs up does not stop the download.
#[test]
fn download_progress_streams_over_the_api_and_survives_a_hang_up() {
    let root = tempfile::tempdir().unwrap();
    let a = Daemon::start(&root.path().join("a"), &[]);
    let b = Daemon::start(&root.path().join("b"), &[]);
    let src = root.path().join("data.bin");
    let bytes = write_data(&src, 128 * 1024 * 1024, 6);
    let ticket = ticket_of(a.cli(&["share", src.to_str().unwrap()]));
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.data_dir.join("api.json")).unwrap())
            .unwrap();
    let url = format!("http://{}/v1/get", info["addr"].as_str().unwrap());
    let token = info["token"].as_str().unwrap().to_string();
    let request = |out: &Path| {
        reqwest::Client::new()
            .post(&url)
            .bearer_auth(&token)
            .json(&serde_json::json!({ "target": ticket, "out": out, "force": false }))
            .send()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();

    // The whole stream: progress lines, then `done` with the summary.
    let out = root.path().join("copy.bin");
    let lines: Vec<serde_json::Value> = runtime.block_on(async {
        let response = request(&out).await.unwrap();
        assert!(response.status().is_success());
        assert_eq!(response.headers()["content-type"], "application/x-ndjson");
        let body = response.text().await.unwrap();
        body.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    });
    let (last, progress) = lines.split_last().unwrap();
    assert_eq!(last["event"], "done", "{last}");
    assert_eq!(last["size"], bytes.len() as u64);
    assert!(!progress.is_empty(), "no progress lines: {lines:?}");
    assert!(progress.iter().all(|p| p["event"] == "progress"));
    assert!(progress.iter().any(|p| p["total"] == bytes.len() as u64));
    assert_eq!(std::fs::read(&out).unwrap(), bytes);

    // Hang up after the first line: the daemon finishes the download anyway.
    assert!(b
        .cli(&["rm", last["hash"].as_str().unwrap()])
        .status
        .success());
    let out = root.path().join("again.bin");
    runtime.block_on(async {
        let mut response = request(&out).await.unwrap();
        let first = response.chunk().await.unwrap().unwrap();
        assert!(first.starts_with(b"{\"event\":"), "{first:?}");
        drop(response);
    });
    assert!(
        !out.exists(),
        "hung up too late: the download had already ended"
    );
    assert!(
        common::wait_until(Duration::from_secs(60), || std::fs::read(&out)
            .is_ok_and(|got| got == bytes)),
        "the download stopped with its client"
    );
}
