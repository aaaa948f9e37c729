//! Entry points for the fuzz targets in `fuzz/` and for the corpus replay
//! test (`tests/fuzz_corpus.rs`): one function per decoder of bytes that
//! come from outside. Each decodes `data` and, where cheap, checks
//! properties of the result; a broken property or a decoder panic is a
//! panic here, which the fuzzer reports. Not part of the API.

use std::{
    sync::OnceLock,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use futures::{executor::block_on, io::Cursor};
use libp2p::{identity::Keypair, request_response::Codec as _, PeerId};

use crate::{
    blobs::protocol::{
        Codec, Form, Request, Response, MAX_BOUNDARIES, MAX_CHUNK, MAX_HAVE_BOUNDARIES, PROTOCOL,
        PROTOCOL_COMPACT,
    },
    config::{FileConfig, NodeConfig},
    content::{
        meta::{MAX_NAME_BYTES, MAX_PAYLOAD_BYTES, MAX_TAGS, MAX_TAG_BYTES},
        Collection, Hash, SignedRecord, Ticket,
    },
    directory::{self, DirRequest, DirResponse},
    pubsub,
    search::{self, SearchAck, SearchMessage},
};

/// The secret key of the peer that sends the fuzzed search and directory
/// messages: seeds sign their records with it so they are accepted.
pub const SENDER_SECRET: [u8; 32] = [8; 32];

/// The peer that receives the fuzzed message.
fn me() -> PeerId {
    static ME: OnceLock<PeerId> = OnceLock::new();
    *ME.get_or_init(|| peer_of([7; 32]))
}

/// The peer that sends it.
fn sender() -> PeerId {
    static SENDER: OnceLock<PeerId> = OnceLock::new();
    *SENDER.get_or_init(|| peer_of(SENDER_SECRET))
}

fn peer_of(secret: [u8; 32]) -> PeerId {
    Keypair::ed25519_from_bytes(secret)
        .expect("32 bytes")
        .public()
        .to_peer_id()
}

/// A blob protocol frame, as the codec reads it from a stream: the first
/// byte picks request or response (bit 0) and the protocol version (bit 1:
/// range lists fixed or compact), the rest is the stream (length prefix and
/// body). Also the bare `decode` functions; decoded messages round-trip.
pub fn blob_frame(data: &[u8]) {
    let Some((&which, stream)) = data.split_first() else {
        return;
    };
    let (protocol, form) = if which & 2 == 0 {
        (PROTOCOL, Form::Fixed)
    } else {
        (PROTOCOL_COMPACT, Form::Compact)
    };
    let mut io = Cursor::new(stream);
    if which & 1 == 0 {
        if let Ok(req) = block_on(Codec::default().read_request(&protocol, &mut io)) {
            check_request(&req, form);
        }
        if let Ok(req) = Request::decode_as(stream, form) {
            check_request(&req, form);
        }
    } else {
        if let Ok(res) = block_on(Codec::default().read_response(&protocol, &mut io)) {
            check_response(&res, form);
        }
        if let Ok(res) = Response::decode_as(stream.to_vec(), form) {
            check_response(&res, form);
        }
    }
}

fn check_request(req: &Request, form: Form) {
    if let Request::Get { ranges, .. } | Request::Wants { wanted: ranges, .. } = req {
        check_ranges(ranges, MAX_BOUNDARIES);
    }
    let again = Request::decode_as(&req.encode_as(form), form).expect("re-decodes");
    assert_eq!(&again, req);
}

fn check_response(res: &Response, form: Form) {
    if let Response::Have { present, .. } = res {
        check_ranges(present, MAX_HAVE_BOUNDARIES);
    }
    let again = Response::decode_as(res.encode_as(form), form).expect("re-decodes");
    match (res, &again) {
        // Not UTF-8 on the wire: decoded lossily, then stable.
        (Response::Refused(_), Response::Refused(_)) => {
            let third = Response::decode_as(again.encode_as(form), form).unwrap();
            assert_eq!(third, again)
        }
        _ => assert_eq!(&again, res),
    }
}

fn check_ranges(ranges: &crate::content::ChunkRanges, most: usize) {
    let b = ranges.boundaries();
    assert!(b.len() <= most);
    assert!(b.iter().all(|c| c.0 <= MAX_CHUNK));
}

/// A search protocol message or ack, as JSON (the request-response JSON
/// codec), handed to a fresh search state as a neighbour's message.
pub fn search_message(data: &[u8]) {
    if let Ok(message) = serde_json::from_slice::<SearchMessage>(data) {
        let json = serde_json::to_vec(&message).expect("serializable");
        let again: SearchMessage = serde_json::from_slice(&json).expect("re-decodes");
        assert_eq!(serde_json::to_vec(&again).unwrap(), json);
        let peer = sender();
        for super_peer in [false, true] {
            let mut state = search::state::SearchState::new(me(), Default::default(), super_peer);
            state.handle_connected(peer);
            let _ = state.handle_message(peer, message.clone(), Instant::now());
        }
    }
    if let Ok(ack) = serde_json::from_slice::<SearchAck>(data) {
        let json = serde_json::to_vec(&ack).expect("serializable");
        serde_json::from_slice::<SearchAck>(&json).expect("re-decodes");
    }
}

/// A directory request or response, as JSON; a request is served by a
/// fresh directory index.
pub fn directory_message(data: &[u8]) {
    if let Ok(request) = serde_json::from_slice::<DirRequest>(data) {
        let json = serde_json::to_vec(&request).expect("serializable");
        let again: DirRequest = serde_json::from_slice(&json).expect("re-decodes");
        assert_eq!(serde_json::to_vec(&again).unwrap(), json);
        let mut index = directory::index::Index::new(Default::default());
        let publisher = sender();
        let now = Instant::now();
        let _ = directory::server::serve(Some(&mut index), publisher, request, now);
        // A search afterwards sees only records that verify.
        let words = vec!["a".to_string()];
        if let DirResponse::Hits(hits) = directory::server::serve(
            Some(&mut index),
            publisher,
            DirRequest::Search { words },
            now,
        ) {
            assert!(hits.iter().all(|h| h.record.verify().is_ok()));
        }
    }
    if let Ok(response) = serde_json::from_slice::<DirResponse>(data) {
        if let DirResponse::Hits(hits) = &response {
            for hit in hits {
                let _ = search::SearchHit::from_hit(hit.clone(), "directory");
            }
        }
        let json = serde_json::to_vec(&response).expect("serializable");
        serde_json::from_slice::<DirResponse>(&json).expect("re-decodes");
    }
}

/// A signed metadata record, as JSON: verifying never panics, and what
/// verifies keeps the limits and re-verifies after a round trip.
pub fn signed_record(data: &[u8]) {
    let Ok(record) = serde_json::from_slice::<SignedRecord>(data) else {
        return;
    };
    let Ok(meta) = record.verify() else {
        return;
    };
    assert!(record.payload.len() <= MAX_PAYLOAD_BYTES);
    assert!(meta.name.len() <= MAX_NAME_BYTES && !meta.name.trim().is_empty());
    assert!(meta.tags.len() <= MAX_TAGS);
    assert!(meta.tags.iter().all(|t| t.len() <= MAX_TAG_BYTES));
    let json = serde_json::to_vec(&record).expect("serializable");
    let again: SignedRecord = serde_json::from_slice(&json).expect("re-decodes");
    assert_eq!(again.verify().expect("still verifies"), meta);
    let _ = meta.matches(&meta.terms());
    let ticket = meta.ticket(Vec::new());
    let parsed: Ticket = ticket.to_string().parse().expect("own ticket parses");
    assert_eq!(parsed.hash, meta.hash);
}

/// A pub/sub envelope: what decodes has a payload within the cap and
/// encodes back to the same bytes.
pub fn pubsub_envelope(data: &[u8]) {
    let Some((sent_at, payload)) = pubsub::decode(data) else {
        return;
    };
    assert!(payload.len() <= pubsub::MAX_MESSAGE_BYTES);
    assert!(sent_at >= UNIX_EPOCH);
    assert_eq!(pubsub::encode(payload, sent_at), data);
    let _ = pubsub::unix_millis(sent_at);
    let _ = sent_at.duration_since(SystemTime::now());
    let _ = sent_at.checked_add(Duration::from_secs(1));
}

/// A ticket string; a ticket that parses prints as a ticket that parses
/// to the same (after the printer's caps: 16 addresses, 255-byte name).
pub fn ticket(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = text.parse::<Hash>().map(|h| {
        assert_eq!(h.to_string().parse::<Hash>().unwrap(), h);
        assert!(text.eq_ignore_ascii_case(&h.to_string()));
    });
    let Ok(t) = text.parse::<Ticket>() else {
        return;
    };
    let printed = t.to_string();
    let again: Ticket = printed.parse().expect("a printed ticket parses");
    assert_eq!(again.to_string(), printed, "printing is stable");
    assert_eq!(
        (again.hash, again.format, again.provider),
        (t.hash, t.format, t.provider)
    );
    let name_fits = t.name.as_ref().is_none_or(|n| n.len() <= 255);
    if t.addrs.len() <= 16 && name_fits {
        assert_eq!(again, t);
    }
}

/// A collection blob: what parses has safe, unique paths, a total size
/// that fits, and round-trips.
pub fn collection(data: &[u8]) {
    let Ok(c) = Collection::from_bytes(data) else {
        return;
    };
    let _ = c.total_size();
    for e in &c.entries {
        let path = crate::content::collection::safe_relative_path(&e.path).expect("checked");
        assert!(path.is_relative());
        assert!(path
            .components()
            .all(|p| matches!(p, std::path::Component::Normal(_))));
    }
    let again = Collection::from_bytes(&c.to_bytes()).expect("re-parses");
    assert_eq!(again, c);
}

/// `config.toml`: what parses applies to the defaults without panicking.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = FileConfig::parse(text) else {
        return;
    };
    let mut config = NodeConfig::new("fuzz");
    file.apply(&mut config);
    assert!(config.inbound_cap() <= config.max_connections);
}
