//! The web dashboard the daemon serves on its API address: one page of
//! plain HTML, CSS and JavaScript embedded in the binary, driving the node
//! through the same API as the commands.
//!
//! `GET /?token=TOKEN` (the URL `plexus open` opens and the daemon prints)
//! hands the token to the browser as an HttpOnly, SameSite=Strict cookie
//! and redirects to `/`, so the token is in no later URL. The page's
//! requests carry the cookie; [`auth`] checks it and their `Origin`.

pub mod auth;

use std::{path::PathBuf, sync::Arc};

use axum::{
    extract::{Query, State},
    http::{header, HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde::{Deserialize, Serialize};

use auth::Auth;

const INDEX_HTML: &str = include_str!("assets/index.html");
const LOGIN_HTML: &str = include_str!("assets/login.html");
const APP_JS: &str = include_str!("assets/app.js");
const LIVE_JS: &str = include_str!("assets/live.js");
const DOWNLOADS_JS: &str = include_str!("assets/downloads.js");
const STORAGE_JS: &str = include_str!("assets/storage.js");
const COMPUTE_JS: &str = include_str!("assets/compute.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// The page may load only its own scripts and styles, talk only to this
/// server, and not be framed by another site.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The dashboard's own figures, `GET /ui/info`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DashboardInfo {
    /// The daemon's version.
    pub version: String,
    /// Where the page saves downloads unless told otherwise.
    pub downloads_dir: PathBuf,
}

#[derive(Clone)]
struct DashState {
    auth: Arc<Auth>,
    info: Arc<DashboardInfo>,
}

/// The dashboard's routes: the page, its assets, and `/ui/info`.
pub fn router(auth: Arc<Auth>, downloads_dir: PathBuf) -> Router {
    let info = DashboardInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        downloads_dir,
    };
    let state = DashState {
        auth,
        info: Arc::new(info),
    };
    Router::new()
        .route("/", get(index))
        .route("/ui/info", get(info_route))
        .route("/ui/app.js", get(|| asset("text/javascript", APP_JS)))
        .route("/ui/live.js", get(|| asset("text/javascript", LIVE_JS)))
        .route(
            "/ui/downloads.js",
            get(|| asset("text/javascript", DOWNLOADS_JS)),
        )
        .route(
            "/ui/storage.js",
            get(|| asset("text/javascript", STORAGE_JS)),
        )
        .route(
            "/ui/compute.js",
            get(|| asset("text/javascript", COMPUTE_JS)),
        )
        .route("/ui/style.css", get(|| asset("text/css", STYLE_CSS)))
        .fallback(not_found)
        .with_state(state)
}

/// The dashboard's URL for a browser, with the token once.
pub fn login_url(addr: std::net::SocketAddr, token: &str) -> String {
    let host = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => std::net::Ipv4Addr::LOCALHOST.into(),
        ip if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!(
        "http://{}/?token={token}",
        std::net::SocketAddr::new(host, addr.port())
    )
}

#[derive(Deserialize)]
struct LoginQuery {
    token: Option<String>,
}

/// With `?token=`: sets the cookie and redirects to `/`. Otherwise the
/// page for a browser with the cookie, or how to get one.
async fn index(
    State(s): State<DashState>,
    Query(q): Query<LoginQuery>,
    headers: HeaderMap,
) -> Response {
    let no_store = [
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    if let Some(token) = q.token {
        if !s.auth.is_token(&token) {
            return (StatusCode::UNAUTHORIZED, no_store, login_page()).into_response();
        }
        let cookie = s.auth.set_cookie();
        return (
            StatusCode::SEE_OTHER,
            no_store,
            [
                (header::SET_COOKIE, cookie.as_str()),
                (header::LOCATION, "/"),
            ],
        )
            .into_response();
    }
    match s.auth.check(&Method::GET, &headers) {
        Ok(()) => (
            no_store,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::X_FRAME_OPTIONS, "DENY"),
            ],
            INDEX_HTML,
        )
            .into_response(),
        Err(_) => (StatusCode::UNAUTHORIZED, no_store, login_page()).into_response(),
    }
}

fn login_page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
        ],
        LOGIN_HTML,
    )
}

async fn info_route(State(s): State<DashState>, headers: HeaderMap) -> Response {
    match s.auth.check(&Method::GET, &headers) {
        Ok(()) => Json(s.info.as_ref().clone()).into_response(),
        Err(refusal) => refusal.answer().into_response(),
    }
}

/// Any other path: 401 without the token (as the API always answered),
/// else 404.
async fn not_found(State(s): State<DashState>, method: Method, headers: HeaderMap) -> Response {
    match s.auth.check(&method, &headers) {
        Ok(()) => (StatusCode::NOT_FOUND, "no such page or API route").into_response(),
        Err(refusal) => refusal.answer().into_response(),
    }
}

/// A static asset: no secrets in it, so served without the token.
async fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}
