//! Entry point for the `api_body` fuzz target and its corpus replay test.

use axum::Json;
use plexus::{content::Hash, content::Ticket, Multiaddr, PeerId};
use serde::de::DeserializeOwned;

use crate::api_types::{ConnectRequest, GetRequest, PublishRequest, SearchRequest, ShareRequest};

/// What a request body or path parameter of the API is decoded as: the first
/// byte picks the route, the rest is the body (or the path parameter). A
/// body is parsed with axum's `Json` extractor, as the server does, then its
/// fields as the handler parses them.
pub fn api_body(data: &[u8]) {
    let Some((&route, body)) = data.split_first() else {
        return;
    };
    match route % 6 {
        0 => {
            if let Some(c) = json::<ConnectRequest>(body) {
                let _ = c.addr.parse::<Multiaddr>();
            }
        }
        1 => {
            let _ = json::<ShareRequest>(body);
        }
        2 => {
            if let Some(g) = json::<GetRequest>(body) {
                target(&g.target);
                let _ = g.out.as_deref().map(std::path::Path::is_absolute);
            }
        }
        3 => {
            let _ = json::<SearchRequest>(body);
        }
        4 => {
            let _ = json::<PublishRequest>(body);
        }
        _ => {
            // `/v1/blobs/{hash}`, `/v1/dht/find-peer/{peer}`, `/v1/pubsub/{topic}`.
            if let Ok(text) = std::str::from_utf8(body) {
                let _ = text.parse::<Hash>();
                let _ = text.parse::<PeerId>();
                let _ = plexus::pubsub::check_topic(text);
            }
        }
    }
}

/// The daemon's `Target::parse`: a ticket or a bare hash.
fn target(text: &str) {
    let text = text.trim();
    if text.starts_with("plexus1") {
        let _ = text.parse::<Ticket>();
    } else {
        let _ = text.parse::<Hash>();
    }
}

/// Decodes like the server's `Json` extractor; what decodes re-encodes
/// and decodes again.
fn json<T: DeserializeOwned + serde::Serialize>(body: &[u8]) -> Option<T> {
    let Json(value) = Json::<T>::from_bytes(body).ok()?;
    let again = serde_json::to_vec(&value).expect("serializable");
    let _ = Json::<T>::from_bytes(&again).expect("re-decodes");
    Some(value)
}
