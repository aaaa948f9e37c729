//! The directory server (hybrid network) between real nodes on 127.0.0.1:
//! registration by rendezvous, published records searched by keyword,
//! expiry, forged records refused, and the DHT taking over when the
//! directory dies.

mod common;

use std::{collections::BTreeSet, path::Path, time::Duration};

use common::{collect_hits, wait_for};
use futures::StreamExt;
use libp2p::{identity::Keypair, request_response, swarm::SwarmEvent, Multiaddr};
use plexus::{
    content::{BlobFormat, Hash, Metadata},
    directory::{DirRequest, DirResponse, DIRECTORY_PROTOCOL},
    search::SearchHit,
    transfer::GetOptions,
    Node, NodeConfig, PeerId,
};

const WAIT: Duration = Duration::from_secs(15);
const TTL: Duration = Duration::from_secs(3);

/// A TCP-only node whose records live `TTL` at directories, unless `edit`
/// says otherwise.
async fn node_with(dir: &Path, edit: impl FnOnce(&mut NodeConfig)) -> Node {
    common::node_with(dir, |config| {
        config.directory_ttl = TTL;
        edit(config);
    })
    .await
}

async fn directory(root: &Path) -> (Node, Multiaddr) {
    let dir = node_with(&root.join("directory"), |c| c.directory_server = true).await;
    let addr = dir.listen_addrs()[0].clone();
    (dir, addr)
}

async fn search(node: &Node, words: &str, ttl: u8, want: usize) -> Vec<SearchHit> {
    let words = words.split(' ').map(String::from).collect();
    let mut rx = node.search(words, ttl).await.unwrap();
    collect_hits(&mut rx, want, None, Duration::from_secs(5)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_finds_peers_and_content_and_the_dht_takes_over_when_it_dies() {
    let root = tempfile::tempdir().unwrap();
    let (dir, dir_addr) = directory(root.path()).await;
    let mut peers = Vec::new();
    for i in 0..10 {
        let addr = dir_addr.clone();
        let node = node_with(&root.path().join(format!("p{i}")), |c| {
            c.directories = vec![addr]
        })
        .await;
        peers.push(node);
    }
    // Share once the DHT has peers, so provider records spread.
    for (i, node) in peers.iter().enumerate() {
        wait_for("a connection to the directory", async || {
            node.status().await.unwrap().connected_peers > 0
        })
        .await;
        let file = root.path().join(format!("doc{i}.txt"));
        std::fs::write(&file, format!("document number {i}\n").repeat(1000)).unwrap();
        node.share_with(&file, None, vec!["dirtest".into()])
            .await
            .unwrap();
    }
    let ids: BTreeSet<PeerId> = peers.iter().map(|p| p.peer_id()).collect();

    // A newcomer knowing only the directory finds the peers...
    let newcomer = node_with(&root.path().join("new"), |c| {
        c.directories = vec![dir_addr.clone()]
    })
    .await;
    wait_for("the newcomer to connect to all 10 peers", async || {
        let connected: BTreeSet<PeerId> = newcomer
            .peers()
            .await
            .unwrap()
            .into_iter()
            .filter(|p| p.connected)
            .map(|p| p.peer_id)
            .collect();
        ids.is_subset(&connected)
    })
    .await;
    // Peers learnt by rendezvous discovery become search neighbours.
    wait_for("10 search neighbours from rendezvous", async || {
        newcomer.search_stats().await.unwrap().neighbours == 10
    })
    .await;
    // ...and their content, from the directory alone (TTL 0: no flooding).
    let hits = search(&newcomer, "dirtest", 0, 10).await;
    assert_eq!(hits.iter().map(|h| h.holder).collect::<BTreeSet<_>>(), ids);
    assert!(hits.iter().all(|h| h.source == "directory"));
    let doc3 = search(&newcomer, "doc3", 0, 1).await;
    assert_eq!(doc3.len(), 1);
    assert_eq!(doc3[0].meta.name, "doc3.txt");
    assert_eq!(doc3[0].holder, peers[3].peer_id());

    // A peer that stops renewing drops out of the directory.
    let gone = peers.pop().unwrap();
    gone.shutdown().await;
    tokio::time::sleep(TTL + Duration::from_secs(1)).await;
    let hits = search(&newcomer, "dirtest", 0, 10).await;
    assert_eq!(hits.len(), 9, "the stopped peer's records expired");
    assert!(hits.iter().all(|h| h.holder != gone.peer_id()));

    // The directory dies: search by flooding, the DHT and downloads go on.
    dir.shutdown().await;
    let hits = search(&newcomer, "doc3", 2, 1).await;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].source, "flood");
    let hash = doc3[0].meta.hash;
    let providers = newcomer.find_providers(hash).await.unwrap();
    assert!(providers.contains(&peers[3].peer_id()), "{providers:?}");
    let found = newcomer.find_peer(peers[7].peer_id()).await.unwrap();
    assert!(!found.addrs.is_empty());
    newcomer
        .get(
            hash,
            Some(BlobFormat::Raw),
            GetOptions {
                providers: vec![],
                use_dht: true,
                allow_relay: false,
            },
        )
        .finish()
        .await
        .unwrap();
    let out = root.path().join("doc3.out");
    plexus::content::share::export(newcomer.store(), &hash, BlobFormat::Raw, &out, false).unwrap();
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(root.path().join("doc3.txt")).unwrap()
    );
    newcomer.shutdown().await;
    for p in &peers {
        p.shutdown().await;
    }
}

/// A raw client of the directory protocol, to send what a Plexus node never would.
async fn raw_client(dir: PeerId, addr: Multiaddr, request: DirRequest) -> DirResponse {
    raw_client_many(dir, addr, vec![request]).await.remove(0)
}

/// Sends the requests from one new identity, 16 at once (a directory
/// drops streams beyond its per-connection cap); the answers in order.
async fn raw_client_many(
    dir: PeerId,
    addr: Multiaddr,
    requests: Vec<DirRequest>,
) -> Vec<DirResponse> {
    let mut swarm = common::raw::swarm(|_| {
        request_response::json::Behaviour::<DirRequest, DirResponse>::new(
            [(DIRECTORY_PROTOCOL, request_response::ProtocolSupport::Full)],
            request_response::Config::default(),
        )
    });
    swarm.add_peer_address(dir, addr);
    let mut out = Vec::new();
    let mut requests = requests.into_iter().peekable();
    while requests.peek().is_some() {
        let wave = requests.by_ref().take(16).collect();
        out.extend(raw_wave(&mut swarm, dir, wave).await);
    }
    out
}

/// Sends `requests` at once on `swarm`; the answers in order.
async fn raw_wave(
    swarm: &mut libp2p::Swarm<request_response::json::Behaviour<DirRequest, DirResponse>>,
    dir: PeerId,
    requests: Vec<DirRequest>,
) -> Vec<DirResponse> {
    let ids: Vec<_> = requests
        .into_iter()
        .map(|r| swarm.behaviour_mut().send_request(&dir, r))
        .collect();
    let mut answers = std::collections::HashMap::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while answers.len() < ids.len() {
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
            .await
            .expect("directory answers in time");
        match event {
            SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        response,
                        request_id,
                    },
                ..
            }) => {
                answers.insert(request_id, response);
            }
            SwarmEvent::Behaviour(request_response::Event::OutboundFailure { error, .. }) => {
                panic!("request failed: {error}")
            }
            _ => {}
        }
    }
    ids.iter().map(|id| answers.remove(id).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_refuses_records_for_another_peer_and_bad_searches() {
    let root = tempfile::tempdir().unwrap();
    let (dir, dir_addr) = directory(root.path()).await;
    let victim = Keypair::generate_ed25519();
    let record = Metadata {
        hash: Hash::of(b"fake"),
        format: BlobFormat::Raw,
        size: 4,
        name: "fake.iso".into(),
        tags: vec![],
        publisher: victim.public().to_peer_id(),
        timestamp: 0,
    }
    .sign(&victim)
    .unwrap();
    // Validly signed, but by someone other than the sender.
    let response = raw_client(
        dir.peer_id(),
        dir_addr.clone(),
        DirRequest::Publish {
            records: vec![record],
            addrs: vec![],
        },
    )
    .await;
    match response {
        DirResponse::Refused(why) => assert!(why.contains("only publish its own"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let response = raw_client(
        dir.peer_id(),
        dir_addr.clone(),
        DirRequest::Search {
            words: vec!["fake".into()],
        },
    )
    .await;
    assert!(matches!(response, DirResponse::Hits(h) if h.is_empty()));
    let response = raw_client(
        dir.peer_id(),
        dir_addr.clone(),
        DirRequest::Search { words: vec![] },
    )
    .await;
    assert!(matches!(response, DirResponse::Refused(_)));

    // One peer flooding the directory with searches is rate limited.
    let flood = (0..40)
        .map(|_| DirRequest::Search {
            words: vec!["x".into()],
        })
        .collect();
    let answers = raw_client_many(dir.peer_id(), dir_addr, flood).await;
    let limited = answers
        .iter()
        .filter(|a| matches!(a, DirResponse::Refused(why) if why.contains("rate limited")))
        .count();
    assert!((15..=20).contains(&limited), "{limited} of 40 refused");
    dir.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_renew_within_the_directory_lifetime_not_only_their_own() {
    let root = tempfile::tempdir().unwrap();
    let dir = node_with(&root.path().join("directory"), |c| {
        c.directory_server = true;
        c.directory_ttl = Duration::from_secs(2);
    })
    .await;
    let dir_addr = dir.listen_addrs()[0].clone();
    let client = |name: &str| {
        let addr = dir_addr.clone();
        let path = root.path().join(name);
        async move {
            node_with(&path, |c| {
                c.directories = vec![addr];
                c.directory_ttl = Duration::from_secs(600);
            })
            .await
        }
    };
    let holder = client("holder").await;
    let file = root.path().join("notes.txt");
    std::fs::write(&file, b"notes").unwrap();
    holder
        .share_with(&file, None, vec!["renewal".into()])
        .await
        .unwrap();
    let asker = client("asker").await;
    wait_for("the record at the directory", async || {
        search(&asker, "renewal", 0, 1).await.len() == 1
    })
    .await;
    // Three directory lifetimes later the record is still there.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let hits = search(&asker, "renewal", 0, 1).await;
    assert_eq!(hits.len(), 1, "renewed in time");
    assert_eq!(hits[0].holder, holder.peer_id());
    for n in [asker, holder, dir] {
        n.shutdown().await;
    }
}
