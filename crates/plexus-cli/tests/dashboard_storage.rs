//! The dashboard's Storage section, request for request as its script
//! makes them (cookie and the page's own Origin) on real daemons: store a
//! file on two holders, list it with its health, get it back by its ticket
//! through a holder's daemon (listed there as a `stored` download), and
//! unstore it; a page of another origin can do none of it.

mod common;

use std::time::Duration;

use common::{stderr, wait_until, Daemon};
use reqwest::{header, Client, Method, StatusCode};
use serde_json::{json, Value};

/// A daemon's API as its dashboard page calls it.
struct Page {
    http: Client,
    base: String,
    cookie: String,
}

impl Page {
    fn of(daemon: &Daemon) -> Page {
        let info = std::fs::read_to_string(daemon.data_dir.join("api.json")).unwrap();
        let info: Value = serde_json::from_str(&info).unwrap();
        let addr = info["addr"].as_str().unwrap();
        let port = addr.rsplit(':').next().unwrap();
        Page {
            http: Client::new(),
            base: format!("http://{addr}"),
            cookie: format!("plexus_token_{port}={}", info["token"].as_str().unwrap()),
        }
    }

    /// A request with the cookie from `origin` (the page's own when `None`).
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        origin: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut r = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header(header::COOKIE, &self.cookie)
            .header(header::ORIGIN, origin.unwrap_or(&self.base));
        if let Some(body) = body {
            r = r.json(&body);
        }
        let answer = r.send().await.unwrap();
        let status = answer.status();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.send(method, path, body, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        answer
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pages_storage_requests_store_list_get_and_unstore() {
    let root = tempfile::tempdir().unwrap();
    let offer = ["--offer-storage", "16MiB"];
    let s0 = Daemon::start(&root.path().join("s0"), &offer);
    let via = s0.tcp_addr();
    let s1 = Daemon::start(
        &root.path().join("s1"),
        &[&offer[..], &["--bootstrap", &via]].concat(),
    );
    let owner = Daemon::start(&root.path().join("owner"), &["--bootstrap", &via]);
    let out = owner.cli(&["connect", &s1.tcp_addr()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = root.path().join("thesis.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 17 % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let page = Page::of(&owner);

    // Nothing yet; and without the token, not even that.
    assert_eq!(
        page.ok(Method::GET, "/v1/storage/pins", None).await,
        json!([])
    );
    let anon = page
        .http
        .get(format!("{}/v1/storage/pins", page.base))
        .send()
        .await;
    assert_eq!(anon.unwrap().status(), StatusCode::UNAUTHORIZED);

    // A page of another origin cannot store.
    let store = json!({ "path": file, "erasure": null, "replicas": 2 });
    let (status, _) = page
        .send(
            Method::POST,
            "/v1/storage/store",
            Some(store.clone()),
            Some("http://evil.example"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        page.ok(Method::GET, "/v1/storage/pins", None).await,
        json!([])
    );

    // The page stores it, as the Store form sends it.
    let stored = page
        .ok(Method::POST, "/v1/storage/store", Some(store))
        .await;
    assert_eq!(stored["holders"], 2, "{stored}");
    let ticket = stored["ticket"].as_str().unwrap().to_string();
    let object = stored["object"].clone();

    // The list the section shows: the object, with its health.
    let pins = page.ok(Method::GET, "/v1/storage/pins", None).await;
    assert_eq!(pins.as_array().unwrap().len(), 1, "{pins}");
    let own = &pins[0];
    assert_eq!(own["kind"], "own");
    assert_eq!(own["object"], object);
    assert_eq!(own["name"], "thesis.bin");
    assert_eq!(own["bytes"], data.len());
    assert_eq!(own["redundancy"], json!({ "replicas": 2 }));
    assert_eq!(
        (&own["alive"], &own["needed"], &own["placed"]),
        (&json!(2), &json!(1), &json!(2))
    );
    let held = Page::of(&s1)
        .ok(Method::GET, "/v1/storage/pins", None)
        .await;
    assert_eq!(held[0]["kind"], "held", "{held}");
    assert_eq!(held[0]["object"], object);

    // A get of the storage ticket through a holder's daemon is in that
    // daemon's list of downloads, as a stored object.
    let back = root.path().join("back.bin");
    let got = s1.cli(&["get", &ticket, "-o", back.to_str().unwrap()]);
    assert!(got.status.success(), "{}", stderr(&got));
    assert_eq!(std::fs::read(&back).unwrap(), data);
    let downloads = Page::of(&s1).ok(Method::GET, "/v1/downloads", None).await;
    let d = &downloads[0];
    assert_eq!(
        (&d["kind"], &d["state"]),
        (&json!("stored"), &json!("done")),
        "{downloads}"
    );
    assert_eq!(d["hash"], object);
    assert_eq!(d["name"], "thesis.bin");
    assert_eq!(
        (&d["done"], &d["total"]),
        (&json!(data.len()), &json!(data.len()))
    );

    // Unstore: refused from another origin, done by the page's button.
    let unstore = json!({ "object": object });
    let (status, _) = page
        .send(
            Method::POST,
            "/v1/storage/unstore",
            Some(unstore.clone()),
            Some("http://evil.example"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        page.ok(Method::GET, "/v1/storage/pins", None)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let released = page
        .ok(Method::POST, "/v1/storage/unstore", Some(unstore))
        .await;
    assert_eq!(released, 2);
    assert_eq!(
        page.ok(Method::GET, "/v1/storage/pins", None).await,
        json!([])
    );
    let freed = wait_until(Duration::from_secs(10), || {
        common::json(s1.cli(&["--json", "pins"]))
            .as_array()
            .is_some_and(|a| a.is_empty())
    });
    assert!(freed, "the holder still holds the shard");
}
