//! `plexus daemon --compute`, `plexus job run`, `job status` and a
//! worker's `plexus status` with real daemons on loopback: workers on
//! 127.0.0.2-4 (distinct addresses), a runner on 127.0.0.1.

mod common;

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use common::{json, stderr, wait_until, Daemon, PLEXUS};

fn worker(dir: &Path, n: u8, extra: &[&str]) -> Daemon {
    let listen = format!("/ip4/127.0.0.{n}/tcp/0");
    let mut args = vec![
        "daemon",
        "--listen",
        &listen,
        "--api",
        "127.0.0.1:0",
        "--no-mdns",
    ];
    args.extend_from_slice(extra);
    Daemon::start_with(Command::new(PLEXUS), dir, &args)
}

#[test]
fn a_job_through_the_daemon_runs_on_compute_workers_only() {
    let root = tempfile::tempdir().unwrap();
    let runner = Daemon::start(&root.path().join("runner"), &[]);
    let idle = worker(&root.path().join("idle"), 5, &[]);
    assert!(runner.cli(&["connect", &idle.tcp_addr()]).status.success());

    let units = root.path().join("units");
    let expected = common::prime_units(&units, 12, 30_000);
    let module = common::PRIMES_WAT;
    let out = root.path().join("counts.bin");
    let job = |runner: &Daemon| {
        runner.cli(&[
            "job",
            "run",
            module,
            "--inputs",
            units.to_str().unwrap(),
            "--quorum",
            "2",
            "-o",
            out.to_str().unwrap(),
        ])
    };

    // Only a node without --compute around: it refuses, nothing runs.
    let refused = job(&runner);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("does not compute for others"),
        "{}",
        stderr(&refused)
    );
    let status = json(idle.cli(&["--json", "status"]));
    assert_eq!(status["compute"]["enabled"], false);
    assert_eq!(status["compute"]["units_done"], 0);

    let workers: Vec<Daemon> = (2..=4)
        .map(|n| {
            worker(
                &root.path().join(format!("w{n}")),
                n,
                &["--compute", "--compute-threads", "2"],
            )
        })
        .collect();
    for w in &workers {
        let out = runner.cli(&["connect", &w.tcp_addr()]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    // Run in the background and watch it in `job status`.
    let mut child = Command::new(PLEXUS)
        .arg("--data-dir")
        .arg(&runner.data_dir)
        .args([
            "job",
            "run",
            module,
            "--inputs",
            units.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = false;
    let mut running_on_worker = false;
    assert!(wait_until(Duration::from_secs(60), || {
        let jobs = json(runner.cli(&["--json", "job", "status"]));
        seen |= jobs.as_array().is_some_and(|j| !j.is_empty());
        running_on_worker |= workers.iter().any(|w| {
            let s = json(w.cli(&["--json", "status"]));
            s["compute"]["running"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        });
        child.try_wait().unwrap().is_some()
    }));
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(seen, "`job status` listed the job while it ran");
    assert!(running_on_worker, "a worker's status showed a unit it ran");
    assert_eq!(std::fs::read(&out).unwrap(), expected);
    let progress = String::from_utf8_lossy(&output.stderr);
    assert!(
        progress.contains("units done") && progress.contains("job done: 12 units"),
        "{progress}"
    );
    let mut done = 0;
    for w in &workers {
        let s = json(w.cli(&["--json", "status"]));
        assert_eq!(s["compute"]["enabled"], true);
        done += s["compute"]["units_done"].as_u64().unwrap();
    }
    assert!(done >= 24, "each unit ran on two workers: {done}");
    let status = json(idle.cli(&["--json", "status"]));
    assert_eq!(
        status["compute"]["units_done"], 0,
        "the idle node never ran anything"
    );
}
