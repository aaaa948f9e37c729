//! Replays every file of the `api_body` fuzz corpus through the function
//! the fuzz target calls, so a regression shows up without the fuzzer.
//! `write_seeds` (ignored) writes the seeds from real request bodies:
//! `cargo test -p plexus-cli --test fuzz_corpus -- --ignored`.

use std::path::{Path, PathBuf};

use plexus::content::Hash;
use plexus_cli::{
    api_types::{ConnectRequest, GetRequest, PublishRequest, SearchRequest, ShareRequest},
    fuzz::api_body,
};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/api_body")
}

#[test]
fn every_corpus_file_decodes_without_panic() {
    let mut files = 0;
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| api_body(&data));
        assert!(result.is_ok(), "{} panics", path.display());
        files += 1;
    }
    assert!(files > 0, "empty corpus");
}

fn body(route: u8, json: impl serde::Serialize) -> Vec<u8> {
    [vec![route], serde_json::to_vec(&json).unwrap()].concat()
}

#[test]
#[ignore = "writes the seed corpus into fuzz/corpus/api_body"]
fn write_seeds() {
    let hash = Hash::of(b"seed");
    let provider = libp2p::identity::Keypair::ed25519_from_bytes([8; 32])
        .unwrap()
        .public()
        .to_peer_id();
    let ticket = plexus::content::Ticket {
        hash,
        format: plexus::content::BlobFormat::Raw,
        provider,
        addrs: vec!["/ip4/192.0.2.7/tcp/4001".parse().unwrap()],
        name: Some("song.mp3".into()),
        key: None,
    }
    .to_string();
    let seeds = [
        body(
            0,
            ConnectRequest {
                addr: "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq"
                    .into(),
            },
        ),
        body(
            1,
            ShareRequest {
                path: "/home/a/photos".into(),
                name: Some("photos".into()),
                tags: vec!["holiday".into()],
                encrypt: false,
            },
        ),
        body(
            2,
            GetRequest {
                target: ticket,
                out: Some("/tmp/out".into()),
                out_dir: None,
                force: false,
                allow_relay: false,
            },
        ),
        body(
            2,
            GetRequest {
                target: hash.to_string(),
                out: None,
                out_dir: Some("/tmp/downloads".into()),
                force: true,
                allow_relay: false,
            },
        ),
        body(
            3,
            SearchRequest {
                words: vec!["blue".into(), "moon".into()],
                ttl: 3,
                timeout_secs: 5,
            },
        ),
        body(
            4,
            PublishRequest {
                hash,
                name: "Blue Moon.mp3".into(),
                tags: vec!["jazz".into()],
            },
        ),
        [&[5u8][..], hash.to_string().as_bytes()].concat(),
        [&[5u8][..], b"12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq"].concat(),
        [&[5u8][..], b"chat"].concat(),
    ];
    std::fs::create_dir_all(corpus_dir()).unwrap();
    for data in seeds {
        api_body(&data);
        let name = format!("seed-{}", &Hash::of(&data).to_string()[..16]);
        std::fs::write(corpus_dir().join(name), data).unwrap();
    }
}
