//! The daemon's one list of downloads, `GET /v1/downloads`, on real daemons:
//! a `plexus get` from the command line (not from the page) is in the
//! daemon's list while it runs and as done after; the list needs the token
//! like the rest of the API.

mod common;

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{json, Daemon};
use reqwest::{header, Client, StatusCode};
use serde_json::Value;

/// The API's address and token from the daemon's `api.json`.
fn api(daemon: &Daemon) -> (String, String) {
    let info = std::fs::read_to_string(daemon.data_dir.join("api.json")).unwrap();
    let info: Value = serde_json::from_str(&info).unwrap();
    let base = format!("http://{}", info["addr"].as_str().unwrap());
    (base, info["token"].as_str().unwrap().to_string())
}

async fn downloads(http: &Client, base: &str, token: &str) -> Vec<Value> {
    let answer = http
        .get(format!("{base}/v1/downloads"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    answer.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cli_get_is_in_the_daemons_downloads_while_it_runs_and_done_after() {
    let root = tempfile::tempdir().unwrap();
    // A's upload capped so the get lasts seconds and can be watched.
    let a = Daemon::start(&root.path().join("a"), &["--max-upload", "8Mbit"]);
    let b = Daemon::start(&root.path().join("b"), &[]);
    let file = root.path().join("lecture.bin");
    let data: Vec<u8> = (0..4_000_000u32).map(|i| (i * 11 % 247) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let shared = json(a.cli(&["share", file.to_str().unwrap(), "--json"]));
    let ticket = shared["ticket"].as_str().unwrap();
    let hash = shared["hash"].as_str().unwrap();

    let (base, token) = api(&b);
    let http = Client::new();
    assert_eq!(downloads(&http, &base, &token).await, Vec::<Value>::new());
    let out = root.path().join("copy.bin");
    let get = Command::new(env!("CARGO_BIN_EXE_plexus"))
        .arg("--data-dir")
        .arg(&b.data_dir)
        .args(["get", ticket, "-o"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // While it runs (a quarter in): active, with its rate and the total known.
    let deadline = Instant::now() + Duration::from_secs(30);
    let running = loop {
        let list = downloads(&http, &base, &token).await;
        if let Some(d) = list
            .iter()
            .find(|d| d["state"] == "active" && d["done"].as_u64().unwrap() >= 1_000_000)
        {
            break d.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the CLI's get never showed as running: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(running["kind"], "get");
    assert_eq!(running["hash"], hash);
    assert_eq!(running["name"], "lecture.bin");
    assert_eq!(running["out"], out.to_str().unwrap());
    assert_eq!(running["total"], data.len());
    assert!(
        running["done"].as_u64().unwrap() < data.len() as u64,
        "{running}"
    );
    assert!(running["ended_unix_ms"].is_null());
    let running_rate = running["rate"].as_f64().unwrap();
    // Bytes per second over the last seconds, under the cap's 1 MB/s. The
    // window can still hold the get's start (finding and dialing the
    // provider: seconds when the whole suite runs on 2 cores; 232 kB/s was
    // seen then), so the floor only checks the unit and that bytes move.
    assert!(
        running_rate > 100_000.0 && running_rate < 3_000_000.0,
        "{running}"
    );
    eprintln!(
        "running: {} of {} bytes at {running_rate:.0} B/s",
        running["done"], running["total"]
    );

    let got = get.wait_with_output().unwrap();
    assert!(got.status.success(), "{}", common::stderr(&got));
    assert_eq!(std::fs::read(&out).unwrap(), data);
    // After: one entry, done, with its figures.
    let list = downloads(&http, &base, &token).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let done = &list[0];
    assert_eq!(done["id"], running["id"]);
    assert_eq!(done["state"], "done");
    assert_eq!(done["done"], data.len());
    assert_eq!(done["total"], data.len());
    assert_eq!(done["peers"], 1);
    assert!(done["error"].is_null());
    let (started, ended) = (
        done["started_unix_ms"].as_u64(),
        done["ended_unix_ms"].as_u64(),
    );
    assert!(ended.unwrap() > started.unwrap(), "{done}");
    // 4 MB through an 8 Mbit/s cap: about 1 MB/s (the cap allows a burst).
    let rate = done["rate"].as_f64().unwrap();
    eprintln!(
        "CLI get of 4 MB under an 8 Mbit/s cap: {rate:.0} B/s, {} ms",
        ended.unwrap() - started.unwrap()
    );
    assert!(rate > 100_000.0 && rate < 3_000_000.0, "rate {rate}");

    // A get that fails (a hash nobody has) is listed too, with its error.
    let missing = "ab".repeat(32);
    let failed = b.cli(&[
        "get",
        &missing,
        "-o",
        root.path().join("none").to_str().unwrap(),
    ]);
    assert!(!failed.status.success());
    let list = downloads(&http, &base, &token).await;
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["state"], "failed");
    assert_eq!(list[0]["hash"], missing);
    assert!(!list[0]["error"].as_str().unwrap().is_empty());
    assert_eq!(list[1]["id"], done["id"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_of_downloads_needs_the_token() {
    let root = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&root.path().join("a"), &[]);
    let (base, token) = api(&daemon);
    let url = format!("{base}/v1/downloads");
    let http = Client::new();
    // No token, or a wrong one: 401.
    let answer = http.get(&url).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    let answer = http.get(&url).bearer_auth("x".repeat(64)).send().await;
    assert_eq!(answer.unwrap().status(), StatusCode::UNAUTHORIZED);
    let port = base.rsplit(':').next().unwrap();
    let wrong = format!("plexus_token_{port}={}", "0".repeat(token.len()));
    let answer = http.get(&url).header(header::COOKIE, wrong).send().await;
    assert_eq!(answer.unwrap().status(), StatusCode::UNAUTHORIZED);
    // The right cookie, but read from another site: 403.
    let cookie = format!("plexus_token_{port}={token}");
    let answer = http
        .get(&url)
        .header(header::COOKIE, &cookie)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await;
    assert_eq!(answer.unwrap().status(), StatusCode::FORBIDDEN);
    // The page itself, and the commands' bearer token: the list.
    let answer = http
        .get(&url)
        .header(header::COOKIE, &cookie)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await;
    assert_eq!(answer.unwrap().status(), StatusCode::OK);
    assert_eq!(downloads(&http, &base, &token).await, Vec::<Value>::new());
}
