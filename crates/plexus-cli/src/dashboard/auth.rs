//! Who may call the daemon's API: a client holding the token, either as a
//! bearer header (the commands) or as the dashboard's cookie (a browser).
//! A request that carries an `Origin` must come from the dashboard's own
//! origin, and a state-changing request authorised by the cookie must carry
//! one; with the cookie, a browser's `Sec-Fetch-Site` must say the request
//! comes from the page itself (or from the user). So a page on another site
//! can neither read nor drive the node, even in a browser that holds the
//! cookie.

use axum::http::{header, HeaderMap, Method, StatusCode};

/// The token and the name of the cookie that carries it.
#[derive(Debug, Clone)]
pub struct Auth {
    token: String,
    cookie: String,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No token, or a wrong one: 401.
    NoToken,
    /// A foreign (or, for a cookie, missing) `Origin`: 403.
    ForeignOrigin,
}

impl Refusal {
    /// The status code and message of the refusal.
    pub fn answer(self) -> (StatusCode, &'static str) {
        match self {
            Refusal::NoToken => (
                StatusCode::UNAUTHORIZED,
                "missing or wrong API token (open the dashboard with `plexus open`)",
            ),
            Refusal::ForeignOrigin => (
                StatusCode::FORBIDDEN,
                "request from another origin refused: only the dashboard's own page may drive this node",
            ),
        }
    }
}

impl Auth {
    /// The API's token; the cookie's name holds the API port, as cookies
    /// are not kept apart by port and two daemons may run on one host.
    pub fn new(token: String, port: u16) -> Self {
        Self {
            token,
            cookie: format!("plexus_token_{port}"),
        }
    }

    /// The `Set-Cookie` value that hands the token to the browser: not
    /// readable by scripts, never sent by requests from other sites.
    pub fn set_cookie(&self) -> String {
        format!(
            "{}={}; HttpOnly; SameSite=Strict; Path=/",
            self.cookie, self.token
        )
    }

    /// Whether `given` is the token (compared in constant time).
    pub fn is_token(&self, given: &str) -> bool {
        constant_time_eq(given.as_bytes(), self.token.as_bytes())
    }

    /// Checks the token (bearer header or cookie) and the `Origin`.
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| self.is_token(t));
        let cookie = !bearer && self.cookie_token(headers).is_some_and(|t| self.is_token(t));
        if !bearer && !cookie {
            return Err(Refusal::NoToken);
        }
        // Browsers say where a request comes from; with the cookie, reads
        // too (a topic stream joins the topic) come only from the page
        // itself or from the user (a typed or opened URL).
        let site = headers.get("sec-fetch-site").map(|v| v.as_bytes());
        if cookie && site.is_some_and(|s| s != b"same-origin" && s != b"none") {
            return Err(Refusal::ForeignOrigin);
        }
        match headers.get(header::ORIGIN) {
            Some(origin) if Some(origin.as_bytes()) != own_origin(headers).as_deref() => {
                Err(Refusal::ForeignOrigin)
            }
            None if cookie && changes_state(method) => Err(Refusal::ForeignOrigin),
            _ => Ok(()),
        }
    }

    /// The value of this daemon's cookie, if the request has one.
    pub fn cookie_token<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.cookie)
            .map(|(_, value)| value)
    }
}

/// `http://HOST` of the request: the origin of a page this server served.
fn own_origin(headers: &HeaderMap) -> Option<Vec<u8>> {
    let host = headers.get(header::HOST)?.as_bytes();
    Some([b"http://".as_slice(), host].concat())
}

/// Methods that change something (everything but reads).
fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Compares without an early exit, so timing does not leak the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderName, HeaderValue};

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:5101"));
        for (name, value) in pairs {
            h.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn the_cookie_needs_the_own_origin_to_change_state() {
        let auth = Auth::new("t0k".into(), 5101);
        let cookie = (header::COOKIE, "a=b; plexus_token_5101=t0k");
        let own = (header::ORIGIN, "http://127.0.0.1:5101");
        let evil = (header::ORIGIN, "http://evil.example");
        assert_eq!(
            auth.check(&Method::GET, &headers(std::slice::from_ref(&cookie))),
            Ok(())
        );
        assert_eq!(
            auth.check(&Method::POST, &headers(std::slice::from_ref(&cookie))),
            Err(Refusal::ForeignOrigin)
        );
        assert_eq!(
            auth.check(&Method::POST, &headers(&[cookie.clone(), evil.clone()])),
            Err(Refusal::ForeignOrigin)
        );
        assert_eq!(
            auth.check(&Method::POST, &headers(&[cookie, own.clone()])),
            Ok(())
        );
        // Another port's cookie, or none, is no token.
        let other = (header::COOKIE, "plexus_token_5102=t0k");
        assert_eq!(
            auth.check(&Method::POST, &headers(&[other, own])),
            Err(Refusal::NoToken)
        );
        // A read made by another page of the same site (another port).
        let cookie = (header::COOKIE, "plexus_token_5101=t0k");
        let fetch_site = HeaderName::from_static("sec-fetch-site");
        for (site, ok) in [
            ("same-origin", true),
            ("none", true),
            ("same-site", false),
            ("cross-site", false),
        ] {
            let h = headers(&[cookie.clone(), (fetch_site.clone(), site)]);
            assert_eq!(auth.check(&Method::GET, &h).is_ok(), ok, "{site}");
        }
        // The commands: bearer header, no Origin.
        let bearer = (header::AUTHORIZATION, "Bearer t0k");
        assert_eq!(
            auth.check(&Method::POST, &headers(std::slice::from_ref(&bearer))),
            Ok(())
        );
        assert_eq!(
            auth.check(&Method::POST, &headers(&[bearer, evil])),
            Err(Refusal::ForeignOrigin)
        );
    }
}
