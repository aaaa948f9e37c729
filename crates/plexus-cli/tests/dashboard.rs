//! The web dashboard on real daemons: the token-to-cookie login, the token
//! and Origin checks on state-changing requests, the embedded assets, and
//! the page's own requests (cookie and Origin, as a browser sends them)
//! sharing, fetching with streamed progress and chatting between two nodes.

mod common;

use std::time::Duration;

use common::{json, Daemon};
use reqwest::{header, redirect, Client, Method, StatusCode};
use serde_json::{json as body, Value};

/// What a browser holds after logging in to one daemon's dashboard.
struct Page {
    http: Client,
    /// `http://127.0.0.1:PORT`, the page's origin.
    base: String,
    /// `plexus_token_PORT=TOKEN`, as the `Cookie` header sends it.
    cookie: String,
}

/// The URL `plexus open` would open (it holds the token once).
fn login_url(daemon: &Daemon) -> String {
    let out = daemon.cli(&["open", "--print"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn client() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Logs in as a browser does: follows the URL, keeps the cookie.
async fn log_in(daemon: &Daemon) -> Page {
    let url = login_url(daemon);
    let base = url.split("/?").next().unwrap().to_string();
    let http = client();
    let answer = http.get(&url).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let set = answer.headers()[header::SET_COOKIE].to_str().unwrap();
    let cookie = set.split(';').next().unwrap().to_string();
    Page { http, base, cookie }
}

impl Page {
    /// A request as the page's script makes it: cookie, and for anything
    /// but a read, the page's own Origin.
    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header(header::COOKIE, &self.cookie);
        if method != Method::GET {
            r = r.header(header::ORIGIN, &self.base);
        }
        r
    }

    async fn post(&self, path: &str, json: Value) -> Value {
        let answer = self.request(Method::POST, path).json(&json).send().await;
        let answer = answer.unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "POST {path}");
        answer.json().await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_in_the_url_becomes_a_strict_httponly_cookie_and_leaves_the_url() {
    let root = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&root.path().join("a"), &[]);
    let url = login_url(&daemon);
    let (base, token) = url.split_once("/?token=").expect("token in the URL");
    let http = client();

    let answer = http.get(&url).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        answer.headers()[header::LOCATION],
        "/",
        "no token after the login"
    );
    let set = answer.headers()[header::SET_COOKIE].to_str().unwrap();
    let port = base.rsplit(':').next().unwrap();
    assert!(
        set.starts_with(&format!("plexus_token_{port}={token};")),
        "{set}"
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(
            set.split("; ").any(|a| a == attribute),
            "{attribute} in {set}"
        );
    }
    let cookie = set.split(';').next().unwrap();

    // With the cookie: the page, locked to its own scripts.
    let page = http
        .get(format!("{base}/"))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    let html = page.text().await.unwrap();
    assert!(html.contains("<title>Plexus dashboard</title>") && html.contains("id=\"share-form\""));

    // Without it, or with a wrong token: how to log in, and no cookie.
    let bare = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    assert!(bare.text().await.unwrap().contains("plexus open"));
    let wrong = http
        .get(format!("{base}/?token={}", "0".repeat(64)))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(header::SET_COOKIE).is_none());
    // Paths that do not exist: 401 without the token, 404 with it.
    let nowhere = format!("{base}/v1/nowhere");
    let answer = http.get(&nowhere).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    let answer = http.get(&nowhere).header(header::COOKIE, cookie).send();
    assert_eq!(answer.await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn state_changing_requests_need_the_token_and_the_pages_own_origin() {
    let root = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&root.path().join("a"), &[]);
    let page = log_in(&daemon).await;
    let file = root.path().join("notes.txt");
    std::fs::write(&file, b"dashboard notes").unwrap();
    let share = body!({ "path": file });
    let share_url = format!("{}/v1/share", page.base);
    let blobs = || json(daemon.cli(&["--json", "ls"]));

    // No token at all: 401, even from the right origin.
    let answer = page
        .http
        .post(&share_url)
        .header(header::ORIGIN, &page.base);
    let answer = answer.json(&share).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    // The cookie, but sent by a page on another site, or with no Origin: 403.
    for origin in [Some("http://evil.example"), Some("null"), None] {
        let mut r = page
            .http
            .post(&share_url)
            .header(header::COOKIE, &page.cookie);
        if let Some(origin) = origin {
            r = r.header(header::ORIGIN, origin);
        }
        let answer = r.json(&share).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "origin {origin:?}");
    }
    // The bearer token does not excuse a foreign Origin either.
    let token = login_url(&daemon)
        .split("token=")
        .nth(1)
        .unwrap()
        .to_string();
    let answer = page
        .http
        .post(&share_url)
        .bearer_auth(&token)
        .header(header::ORIGIN, "http://evil.example")
        .json(&share)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        blobs(),
        body!([]),
        "nothing was shared by a refused request"
    );

    // The page itself: cookie and own Origin.
    let shared = page.post("/v1/share", share).await;
    let hash = shared["hash"].as_str().unwrap().to_string();
    assert!(shared["ticket"].as_str().unwrap().starts_with("plexus1"));
    assert_eq!(blobs().as_array().unwrap().len(), 1);

    // A removal from another site is refused and removes nothing.
    let remove = format!("{}/v1/blobs/{hash}", page.base);
    let answer = page
        .http
        .delete(&remove)
        .header(header::COOKIE, &page.cookie)
        .header(header::ORIGIN, "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    assert_eq!(blobs().as_array().unwrap().len(), 1);
    let answer = page.request(Method::DELETE, &format!("/v1/blobs/{hash}"));
    assert_eq!(answer.send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(blobs(), body!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_html_css_and_scripts_are_served_from_the_binary() {
    let root = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&root.path().join("a"), &[]);
    let page = log_in(&daemon).await;
    let html = page.request(Method::GET, "/").send().await.unwrap();
    let html = html.text().await.unwrap();
    for (path, kind, marker) in [
        ("/ui/app.js", "text/javascript", "async function poll()"),
        ("/ui/live.js", "text/javascript", "async function* ndjson("),
        (
            "/ui/downloads.js",
            "text/javascript",
            "function renderDownloads(",
        ),
        (
            "/ui/storage.js",
            "text/javascript",
            "async function pollPins()",
        ),
        ("/ui/style.css", "text/css", "progress {"),
    ] {
        assert!(
            html.contains(&format!("\"{path}\"")),
            "the page loads {path}"
        );
        let answer = page.http.get(format!("{}{path}", page.base)).send().await;
        let answer = answer.unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
        assert_eq!(answer.headers()[header::CONTENT_TYPE], kind, "{path}");
        assert!(answer.text().await.unwrap().contains(marker), "{path}");
    }
    let info = page.request(Method::GET, "/ui/info").send().await.unwrap();
    let info: Value = info.json().await.unwrap();
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    let downloads = daemon.data_dir.join("downloads");
    assert_eq!(info["downloads_dir"], downloads.to_str().unwrap());
}

/// The page's flows between two daemons, request for request: share on A,
/// get on B by ticket into B's downloads folder with progress streamed to
/// 100%, then a chat message from A to B's subscription.
#[tokio::test(flavor = "multi_thread")]
async fn two_pages_share_get_with_progress_and_chat() {
    let root = tempfile::tempdir().unwrap();
    let a = Daemon::start(&root.path().join("a"), &[]);
    let b = Daemon::start(&root.path().join("b"), &[]);
    let (page_a, page_b) = (log_in(&a).await, log_in(&b).await);
    let file = root.path().join("song.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();

    let shared = page_a.post("/v1/share", body!({ "path": file })).await;
    let ticket = shared["ticket"].as_str().unwrap();
    let downloads = b.data_dir.join("downloads");
    let get = body!({ "target": ticket, "out": null, "out_dir": downloads, "force": false });
    let answer = page_b.request(Method::POST, "/v1/get").json(&get).send();
    let answer = answer.await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let lines = answer.text().await.unwrap();
    let events: Vec<Value> = lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = events.last().unwrap();
    assert_eq!(last["event"], "done", "{lines}");
    assert_eq!(last["size"], data.len());
    let out = downloads.join("song.bin");
    assert_eq!(last["out"], out.to_str().unwrap());
    assert_eq!(std::fs::read(&out).unwrap(), data);
    for p in events.iter().filter(|e| e["event"] == "progress") {
        assert!(p["done"].as_u64() <= p["total"].as_u64(), "{p}");
    }

    // The routing table's buckets, as the page charts them: A is in one.
    let mut status = Value::Null;
    for _ in 0..50 {
        let answer = page_b
            .request(Method::GET, "/v1/status")
            .send()
            .await
            .unwrap();
        status = answer.json().await.unwrap();
        if status["routing_table_peers"] != 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let buckets = status["routing_buckets"].as_array().unwrap();
    let in_buckets: u64 = buckets.iter().map(|b| b["peers"].as_u64().unwrap()).sum();
    assert_eq!(in_buckets, 1, "{status}");
    assert_eq!(status["routing_table_peers"], 1);
    assert!(buckets.iter().all(|b| b["bucket"].as_u64().unwrap() < 256));

    // Chat: B's page subscribes (a stream on its cookie), A's page sends.
    let topic = "dash-lobby";
    let sub = page_b.request(Method::GET, &format!("/v1/pubsub/{topic}"));
    let mut sub = sub.send().await.unwrap();
    assert_eq!(sub.status(), StatusCode::OK);
    page_a
        .post("/v1/connect", body!({ "addr": b.tcp_addr() }))
        .await;
    let send = page_a.request(Method::POST, &format!("/v1/pubsub/{topic}?wait_secs=20"));
    let sent = send.body("hello from the page").send().await.unwrap();
    assert_eq!(sent.status(), StatusCode::OK);
    let mut buf = String::new();
    let got = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = sub.chunk().await.unwrap() {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(line) = buf.lines().find(|l| !l.trim().is_empty()) {
                return serde_json::from_str::<Value>(line).unwrap();
            }
        }
        panic!("the subscription ended");
    })
    .await
    .expect("the message arrived in time");
    assert_eq!(got["text"], "hello from the page");
    assert_eq!(got["from"], a.peer_id.as_str());
}

#[test]
fn plexus_open_hands_the_login_url_to_the_browser() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("a");
    // No daemon yet: a clear error, no browser.
    let out = common::plexus(&dir, &["open"]);
    assert!(!out.status.success());
    assert!(common::stderr(&out).contains("plexus daemon --data-dir"));

    let daemon = Daemon::start(&dir, &[]);
    let browser = root.path().join("browser.sh");
    let seen = root.path().join("seen-url");
    let script = format!("#!/bin/sh\necho \"$1\" > '{}'\n", seen.display());
    std::fs::write(&browser, script).unwrap();
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = std::process::Command::new(common::PLEXUS)
        .arg("--data-dir")
        .arg(&daemon.data_dir)
        .arg("open")
        .env("BROWSER", &browser)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let url = std::fs::read_to_string(&seen).unwrap();
    assert_eq!(url.trim(), login_url(&daemon));
    assert!(url.contains("/?token="), "{url}");
}
