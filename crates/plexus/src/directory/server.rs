//! The directory server's answers, without I/O.

use std::time::Instant;

use libp2p::PeerId;

use super::{index::Index, DirRequest, DirResponse};

/// Answers `request` from `peer` with `index` (`None`: this node is not a
/// directory server). Every request counts against the peer's rate limit.
pub(crate) fn serve(
    index: Option<&mut Index>,
    peer: PeerId,
    request: DirRequest,
    now: Instant,
) -> DirResponse {
    let Some(index) = index else {
        return DirResponse::Refused("this node is not a directory server".into());
    };
    if let Err(why) = index.admit(peer, now) {
        return DirResponse::Refused(why);
    }
    match request {
        DirRequest::Publish { records, addrs } => match index.publish(peer, records, addrs, now) {
            Ok(accepted) => DirResponse::Published {
                accepted,
                ttl_secs: index.ttl().as_secs(),
            },
            Err(why) => DirResponse::Refused(why),
        },
        DirRequest::Search { words } => match index.search(&words, now) {
            Ok(hits) => DirResponse::Hits(hits),
            Err(why) => DirResponse::Refused(why),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        content::{meta::query_words, BlobFormat, Hash, Metadata},
        directory::index::IndexConfig,
    };
    use libp2p::{identity::Keypair, Multiaddr};

    #[test]
    fn only_a_server_answers_and_undialable_addresses_are_dropped() {
        let key = Keypair::generate_ed25519();
        let me = key.public().to_peer_id();
        let now = Instant::now();
        let search = || DirRequest::Search {
            words: query_words(&["doc"]),
        };
        assert!(matches!(
            serve(None, me, search(), now),
            DirResponse::Refused(why) if why.contains("not a directory server")
        ));
        let mut index = Index::new(IndexConfig::default());
        let record = Metadata {
            hash: Hash::of(b"doc"),
            format: BlobFormat::Raw,
            size: 1,
            name: "doc.txt".into(),
            tags: vec![],
            publisher: me,
            timestamp: 0,
        }
        .sign(&key)
        .unwrap();
        let good: Multiaddr = "/ip4/192.0.2.1/tcp/4001".parse().unwrap();
        let bad: Multiaddr = "/ip4/0.0.0.0/tcp/4001".parse().unwrap();
        let publish = DirRequest::Publish {
            records: vec![record],
            addrs: vec![bad, good.clone()],
        };
        assert!(matches!(
            serve(Some(&mut index), me, publish, now),
            DirResponse::Published { accepted: 1, .. }
        ));
        let DirResponse::Hits(hits) = serve(Some(&mut index), me, search(), now) else {
            panic!("expected hits");
        };
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].addrs, vec![good]);
    }
}
