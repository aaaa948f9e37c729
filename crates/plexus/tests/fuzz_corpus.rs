//! Replays every file of every fuzz corpus (`fuzz/corpus/<target>/`)
//! through the library function its fuzz target calls, so a regression in
//! a decoder shows up in a normal test run without the fuzzer.
//!
//! `write_seeds` (ignored) writes the seed corpora from real encoded
//! messages: `cargo test -p plexus --test fuzz_corpus -- --ignored`.

use std::{
    path::{Path, PathBuf},
    time::{Duration, UNIX_EPOCH},
};

use libp2p::{identity::Keypair, Multiaddr, PeerId};
use plexus::{
    blobs::protocol::{Form, Request, Response},
    content::{BlobFormat, ChunkNum, ChunkRanges, Collection, CollectionEntry, Hash, Metadata},
    directory::{DirRequest, DirResponse},
    fuzz,
    search::{Hit, SearchAck, SearchMessage},
};

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 8] = [
    ("blob_frame", fuzz::blob_frame),
    ("ticket", fuzz::ticket),
    ("signed_record", fuzz::signed_record),
    ("search_message", fuzz::search_message),
    ("directory_message", fuzz::directory_message),
    ("pubsub_envelope", fuzz::pubsub_envelope),
    ("collection", fuzz::collection),
    ("config_toml", fuzz::config_toml),
];

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

#[test]
fn every_corpus_file_decodes_without_panic() {
    for (name, run) in TARGETS {
        let dir = corpus_dir(name);
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| run(&data));
            assert!(result.is_ok(), "{name}: {} panics", path.display());
            files += 1;
        }
        assert!(files > 0, "{name}: empty corpus");
    }
}

/// The key the fuzz functions treat as the sending neighbour's.
fn sender() -> Keypair {
    Keypair::ed25519_from_bytes(fuzz::SENDER_SECRET).unwrap()
}

fn record(key: &Keypair, name: &str, tags: &[&str]) -> plexus::content::SignedRecord {
    Metadata {
        hash: Hash::of(name.as_bytes()),
        format: BlobFormat::Raw,
        size: 1234,
        name: name.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        publisher: key.public().to_peer_id(),
        timestamp: 1_700_000_000,
    }
    .sign(key)
    .unwrap()
}

fn addrs(peer: PeerId) -> Vec<Multiaddr> {
    vec![
        "/ip4/192.0.2.7/tcp/4001".parse().unwrap(),
        format!("/ip4/198.51.100.1/udp/4001/quic-v1/p2p/{peer}")
            .parse()
            .unwrap(),
    ]
}

fn framed(which: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![which];
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// `blob_frame` inputs: each message in both range-list forms (bit 1 of
/// the first byte: 0 fixed, 1 compact), framed as the codec reads it and
/// bare (bit 0: request or response).
fn blob_seeds(requests: &[Request], responses: &[Response]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (form, bit) in [(Form::Fixed, 0u8), (Form::Compact, 2)] {
        for body in requests.iter().map(|r| r.encode_as(form)) {
            out.push(framed(bit, &body));
            out.push([&[bit][..], &body].concat());
        }
        for body in responses.iter().map(|r| r.encode_as(form)) {
            out.push(framed(bit | 1, &body));
            out.push([&[bit | 1][..], &body].concat());
        }
    }
    out
}

/// Whether a `blob_frame` input decodes, framed or bare, in the form and
/// as the kind its first byte names.
fn blob_seed_decodes(data: &[u8]) -> bool {
    let (which, stream) = data.split_first().expect("not empty");
    let form = if which & 2 == 0 {
        Form::Fixed
    } else {
        Form::Compact
    };
    let body = stream
        .get(4..)
        .filter(|b| stream[..4] == (b.len() as u32).to_le_bytes());
    let decodes = |bytes: &[u8]| {
        if which & 1 == 0 {
            Request::decode_as(bytes, form).is_ok()
        } else {
            Response::decode_as(bytes.to_vec(), form).is_ok()
        }
    };
    body.is_some_and(decodes) || decodes(stream)
}

/// The blob seeds are what they say they are: a seed that decodes in
/// neither form's place (as the bare seeds did once bit 1 picked the form)
/// leaves that form unexercised.
#[test]
fn blob_seeds_decode_in_the_form_they_name() {
    let blob = &seeds()[0];
    assert_eq!(blob.0, "blob_frame");
    for data in &blob.1 {
        assert!(blob_seed_decodes(data), "{data:?} does not decode");
    }
    let files: Vec<Vec<u8>> = std::fs::read_dir(corpus_dir("blob_frame"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seed-")
        })
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    for data in &blob.1 {
        assert!(
            files.contains(data),
            "a blob seed is missing from the corpus: run write_seeds"
        );
    }
}

fn seeds() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let key = sender();
    let other = Keypair::ed25519_from_bytes([9; 32]).unwrap();
    let peer = key.public().to_peer_id();
    let hash = Hash::of(b"seed");
    let ranges = ChunkRanges::from(ChunkNum(16)..ChunkNum(64)) | ChunkRanges::from(ChunkNum(128)..);
    let requests = [
        Request::Have(hash),
        Request::Wants {
            hash,
            wanted: ranges.clone(),
        },
        Request::Get {
            hash,
            ranges: ranges.clone(),
        },
        Request::GetMany(vec![(hash, 4096), (Hash::of(b"other"), 300)]),
    ];
    let responses = [
        Response::Have {
            size: 1 << 20,
            complete: false,
            present: ranges,
            offer: false,
        },
        Response::Data(vec![7; 100]),
        Response::NotFound,
        Response::Missing,
        Response::Busy,
        Response::Refused("busy".into()),
        Response::Many(vec![
            Response::Data(vec![7; 100]),
            Response::NotFound,
            Response::Missing,
        ]),
    ];
    let blob = blob_seeds(&requests, &responses);

    let ticket = |addrs: Vec<Multiaddr>, name: Option<&str>, format| plexus::content::Ticket {
        hash,
        format,
        provider: peer,
        addrs,
        name: name.map(Into::into),
        key: None,
    };
    let tickets = vec![
        ticket(addrs(peer), Some("photos"), BlobFormat::Collection).to_string(),
        ticket(Vec::new(), None, BlobFormat::Raw).to_string(),
        ticket(addrs(peer), Some("Blue Moon.mp3"), BlobFormat::Raw).to_string(),
        ticket(Vec::new(), Some(&"é".repeat(200)), BlobFormat::Raw).to_string(),
        plexus::content::Ticket {
            key: Some(plexus::seal::Key::from_bytes([7; 32])),
            ..ticket(addrs(peer), Some("sealed"), BlobFormat::Collection)
        }
        .to_string(),
        hash.to_string(),
    ];

    let json = |v: &dyn erased::Json| v.json();
    let rec = record(&key, "Blue Moon.mp3", &["jazz", "1961"]);
    let records = vec![
        json(&rec),
        json(&record(&other, "a", &[])),
        json(&record(&key, "x y z", &["t"; 16])),
    ];
    let hit = Hit {
        record: rec.clone(),
        addrs: addrs(peer),
    };
    let search = vec![
        json(&SearchMessage::Hello { super_peer: true }),
        json(&SearchMessage::Index {
            records: vec![rec.clone(), record(&key, "another song", &["rock"])],
            addrs: addrs(peer),
        }),
        json(&SearchMessage::Query {
            id: 42,
            words: vec!["blue".into(), "moon".into()],
            ttl: 3,
        }),
        json(&SearchMessage::Hits {
            id: 42,
            hits: vec![hit.clone()],
        }),
        json(&SearchAck::Ok { super_peer: false }),
        json(&SearchAck::Refused("rate".into())),
    ];
    let directory = vec![
        json(&DirRequest::Publish {
            records: vec![rec.clone(), record(&key, "a song", &["a"])],
            addrs: addrs(peer),
        }),
        json(&DirRequest::Search {
            words: vec!["a".into()],
        }),
        json(&DirResponse::Published {
            accepted: 2,
            ttl_secs: 600,
        }),
        json(&DirResponse::Hits(vec![hit])),
        json(&DirResponse::Refused("no".into())),
    ];
    let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
    let envelopes = vec![
        plexus::pubsub::encode(b"hello", t),
        plexus::pubsub::encode(b"", UNIX_EPOCH),
        plexus::pubsub::encode(&[0xff; 64], t),
    ];
    let entry = |path: &str, size| CollectionEntry {
        path: path.into(),
        hash: Hash::of(path.as_bytes()),
        size,
        mode: 0o644,
    };
    let collections = vec![
        Collection::new(vec![entry("a.txt", 3), entry("docs/readme.md", 100)]).to_bytes(),
        Collection::new(Vec::new()).to_bytes(),
        Collection::new(vec![entry("ünï cødé/ß.bin", u64::MAX)]).to_bytes(),
    ];
    let configs = vec![
        "listen = [\"/ip4/0.0.0.0/tcp/4001\", \"/ip4/0.0.0.0/udp/4001/quic-v1\"]\n\
         bootstrap = [\"/ip4/192.0.2.1/tcp/4001/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq\"]\n\
         api = \"127.0.0.1:5101\"\nmdns = false\nidle_timeout_secs = 60\n\
         max_connections = 512\nmax_connections_per_peer = 4\nmax_inbound = 448\n\
         max_inbound_per_ip = 8\nsuper_peer = true\npubsub_rate = 50\npubsub_burst = 100\n\
         pubsub_peer_rate = 200\npubsub_peer_burst = 400\nswarm_key = \"swarm.key\"\n"
            .into(),
        "directories = []\nmax_connections = 0\nmax_inbound = 4294967295\n".into(),
        "".into(),
    ];
    vec![
        ("blob_frame", blob),
        (
            "ticket",
            tickets.into_iter().map(String::into_bytes).collect(),
        ),
        ("signed_record", records),
        ("search_message", search),
        ("directory_message", directory),
        ("pubsub_envelope", envelopes),
        ("collection", collections),
        (
            "config_toml",
            configs.into_iter().map(String::into_bytes).collect(),
        ),
    ]
}

/// `&dyn` over the message types, to JSON.
mod erased {
    pub trait Json {
        fn json(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> Vec<u8> {
            serde_json::to_vec(self).unwrap()
        }
    }
}

#[test]
#[ignore = "writes the seed corpora into fuzz/corpus"]
fn write_seeds() {
    for (target, seeds) in seeds() {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        for data in seeds {
            (TARGETS.iter().find(|(n, _)| *n == target).unwrap().1)(&data);
            let name = format!("seed-{}", &Hash::of(&data).to_string()[..16]);
            std::fs::write(dir.join(name), data).unwrap();
        }
    }
}
