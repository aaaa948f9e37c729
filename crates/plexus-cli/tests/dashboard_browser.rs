//! The dashboard in a real browser (headless system Chromium driven by
//! Playwright for Python; `tests/browser/dashboard.py`): share a file
//! through one daemon's page, get it through a second daemon's page by
//! ticket to 100%, find a second by search and get it with the hit's
//! button, see a `plexus get` started from the command line in B's list of
//! downloads, store a file from B's Storage section on A and C and unstore
//! it, run a compute job from B's page on A (a worker), chat, and see a
//! page of another origin refused.
//!
//! Ignored by default as it needs Chromium and Playwright; `.ci/run`
//! installs both and runs it. By hand:
//! `apt-get install chromium; python3 -m venv /tmp/pw; /tmp/pw/bin/pip install playwright==1.65.2;
//! PLEXUS_BROWSER_PYTHON=/tmp/pw/bin/python cargo nextest run -p plexus-cli --test dashboard_browser --run-ignored all`.
//! `PLEXUS_SCREENSHOTS=DIR` also saves screenshots there: the whole page
//! (`dashboard.png`) and each section (`dashboard-SECTION.png`), as in `docs/`.

mod common;

use std::process::Command;

use common::Daemon;

fn login_url(daemon: &Daemon) -> String {
    let out = daemon.cli(&["open", "--print"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
#[ignore = "needs Chromium and Playwright (.ci/run installs them)"]
fn share_get_and_chat_through_two_dashboards_in_chromium() {
    let root = tempfile::tempdir().unwrap();
    // A and C offer storage, for B's page to store a file on both; A
    // computes for others, for B's page to run a job.
    let a = Daemon::start(
        &root.path().join("a"),
        &["--offer-storage", "16MiB", "--compute"],
    );
    let b = Daemon::start(&root.path().join("b"), &[]);
    let file = root.path().join("browser-test.bin");
    let data: Vec<u8> = (0..5_000_000u32).map(|i| (i * 13 % 253) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let file2 = root.path().join("holiday-photos.bin");
    let data2: Vec<u8> = (0..700_000u32).map(|i| (i * 7 % 241) as u8).collect();
    std::fs::write(&file2, &data2).unwrap();

    // A `plexus get` on B from the command line, not from the page, from a
    // third daemon with its upload capped so it runs for seconds.
    let c = Daemon::start(
        &root.path().join("c"),
        &["--max-upload", "4Mbit", "--offer-storage", "16MiB"],
    );
    let file3 = root.path().join("cli-started.bin");
    std::fs::write(&file3, &data[..3_000_000]).unwrap();
    let shared = common::json(c.cli(&["share", file3.to_str().unwrap(), "--json"]));
    let cli_out = root.path().join("cli-copy.bin");
    let cli_get = Command::new(env!("CARGO_BIN_EXE_plexus"))
        .arg("--data-dir")
        .arg(&b.data_dir)
        .args(["get", shared["ticket"].as_str().unwrap(), "-o"])
        .arg(&cli_out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    // A compute job: count primes in 4 ranges (examples/compute/primes.wat).
    let units = root.path().join("units");
    let expected = common::prime_units(&units, 4, 10_000);
    let job_hex: String = expected.iter().map(|b| format!("{b:02x}")).collect();
    let module = common::PRIMES_WAT;

    let args = serde_json::json!({
        "url_a": login_url(&a),
        "url_b": login_url(&b),
        "addr_a": a.tcp_addr(),
        "share_path": file,
        "share_path2": file2,
        "cli_name": "cli-started.bin",
        "topic": "browser-lobby",
        "job_module": module,
        "job_inputs": units,
        "job_hex": job_hex,
        "screenshots": std::env::var("PLEXUS_SCREENSHOTS").ok(),
    });
    let python = std::env::var("PLEXUS_BROWSER_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/dashboard.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(args.to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (set PLEXUS_BROWSER_PYTHON): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("browser test passed"));
    let got = cli_get.wait_with_output().unwrap();
    assert!(got.status.success(), "{}", common::stderr(&got));
    assert_eq!(std::fs::read(&cli_out).unwrap(), &data[..3_000_000]);
    // What B's page fetched is on B's disk, byte for byte.
    let fetched = b.data_dir.join("downloads").join("browser-test.bin");
    assert_eq!(std::fs::read(&fetched).unwrap(), data);
    let found = b.data_dir.join("downloads").join("holiday-photos.bin");
    assert_eq!(std::fs::read(&found).unwrap(), data2);
}
