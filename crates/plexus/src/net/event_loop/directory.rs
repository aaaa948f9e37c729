//! The event loop's share of the directory (hybrid) network: as a client,
//! rendezvous registration, record publishing, peer discovery and searches
//! with each configured directory; as a server, the record index.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use libp2p::{
    rendezvous,
    request_response::{self, Message, OutboundRequestId},
    swarm::dial_opts::DialOpts,
    Multiaddr, PeerId,
};

use super::EventLoop;
use crate::{
    discovery,
    search::directory::{DirRequest, DirResponse, Index, IndexConfig, NAMESPACE},
};

/// Pause between dials of a directory that is down.
const REDIAL: Duration = Duration::from_secs(10);

/// Directory client and server state.
pub(crate) struct DirectoryState {
    /// Configured directory servers.
    directories: Vec<(PeerId, Multiaddr)>,
    /// When each directory is due for a renewal (or a redial).
    due: HashMap<PeerId, Instant>,
    /// Registration and record lifetime asked for (client) or granted (server).
    ttl: Duration,
    /// The record index, on a directory server.
    index: Option<Index>,
    /// Directory searches under way, by the local query they feed.
    searches: HashMap<OutboundRequestId, u64>,
}

impl DirectoryState {
    pub(crate) fn new(
        directories: Vec<(PeerId, Multiaddr)>,
        ttl: std::time::Duration,
        server: bool,
    ) -> Self {
        Self {
            due: directories
                .iter()
                .map(|(p, _)| (*p, Instant::now()))
                .collect(),
            directories,
            ttl,
            index: server.then(|| {
                Index::new(IndexConfig {
                    ttl,
                    ..IndexConfig::default()
                })
            }),
            searches: HashMap::new(),
        }
    }

    /// How many directories are configured.
    pub(crate) fn count(&self) -> usize {
        self.directories.len()
    }

    /// Whether any directory is configured.
    pub(crate) fn is_client(&self) -> bool {
        !self.directories.is_empty()
    }

    /// How often registrations and records are renewed: half their
    /// lifetime (the shorter of the one asked for and the one granted).
    fn renew_every(&self, granted: Option<Duration>) -> Duration {
        let ttl = granted.map_or(self.ttl, |g| g.min(self.ttl));
        (ttl / 2).max(Duration::from_secs(1))
    }

    fn is_directory(&self, peer: &PeerId) -> bool {
        self.directories.iter().any(|(p, _)| p == peer)
    }
}

fn namespace() -> rendezvous::Namespace {
    rendezvous::Namespace::from_static(NAMESPACE)
}

impl EventLoop {
    /// Runs every second: expires the index (on a server); renews
    /// connected directories that are due and redials the others.
    pub(super) fn directory_tick(&mut self) {
        let now = Instant::now();
        if let Some(index) = self.directory.index.as_mut() {
            index.expire(now);
        }
        for (peer, addr) in self.directory.directories.clone() {
            if self.directory.due.get(&peer).is_some_and(|at| *at > now) {
                continue;
            }
            if self.swarm.is_connected(&peer) {
                self.directory_renew(peer);
            } else {
                self.directory.due.insert(peer, now + REDIAL);
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, addr.clone());
                if let Err(e) = self.swarm.dial(addr.clone()) {
                    tracing::debug!(%addr, "cannot dial directory: {e}");
                }
            }
        }
    }

    /// A connection is up; if it is to a directory, register and publish.
    pub(super) fn on_directory_connected(&mut self, peer: PeerId) {
        if self.directory.is_directory(&peer) {
            self.directory_renew(peer);
        }
    }

    /// Registers (rendezvous), publishes every own record, and asks for
    /// the other registered peers.
    fn directory_renew(&mut self, peer: PeerId) {
        let next = Instant::now() + self.directory.renew_every(None);
        self.directory.due.insert(peer, next);
        let ttl = self.directory.ttl.as_secs().max(1);
        let behaviour = self.swarm.behaviour_mut();
        if let Err(e) = behaviour.rendezvous.register(namespace(), peer, Some(ttl)) {
            tracing::warn!(%peer, "cannot register with directory: {e}");
        }
        behaviour
            .rendezvous
            .discover(Some(namespace()), None, None, peer);
        self.send_records(peer);
    }

    /// Records changed: publish them again to connected directories.
    pub(super) fn directory_republish(&mut self) {
        for (peer, _) in self.directory.directories.clone() {
            if self.swarm.is_connected(&peer) {
                self.send_records(peer);
            }
        }
    }

    /// Sends this node's records and addresses to directory `peer`.
    fn send_records(&mut self, peer: PeerId) {
        let request = DirRequest::Publish {
            records: self.swarm.behaviour().search.own_records(),
            addrs: self.listen_addrs(),
        };
        self.swarm
            .behaviour_mut()
            .directory
            .send_request(&peer, request);
    }

    /// Sends local query `id` to every connected directory.
    pub(super) fn search_directories(&mut self, id: u64, words: Vec<String>) {
        for (peer, _) in self.directory.directories.clone() {
            if self.swarm.is_connected(&peer) {
                let request = DirRequest::Search {
                    words: words.clone(),
                };
                let req = self
                    .swarm
                    .behaviour_mut()
                    .directory
                    .send_request(&peer, request);
                self.directory.searches.insert(req, id);
            }
        }
    }

    pub(super) fn on_rendezvous_event(&mut self, event: rendezvous::client::Event) {
        match event {
            rendezvous::client::Event::Discovered { registrations, .. } => {
                let me = self.peer_id();
                for registration in registrations {
                    let peer = registration.record.peer_id();
                    if peer == me {
                        continue;
                    }
                    let addrs: Vec<Multiaddr> = registration
                        .record
                        .addresses()
                        .iter()
                        .filter(|a| discovery::is_dialable(a))
                        .cloned()
                        .collect();
                    for addr in &addrs {
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .add_address(&peer, addr.clone());
                    }
                    if self.swarm.is_connected(&peer) {
                        self.swarm.behaviour_mut().search.want(peer);
                    } else if !addrs.is_empty() {
                        self.swarm.behaviour_mut().search.want(peer);
                        let opts = DialOpts::peer_id(peer).addresses(addrs).build();
                        if let Err(e) = self.swarm.dial(opts) {
                            tracing::debug!(%peer, "cannot dial peer from directory: {e}");
                        }
                    }
                }
            }
            rendezvous::client::Event::Registered {
                rendezvous_node,
                ttl,
                ..
            } => {
                tracing::debug!(%rendezvous_node, ttl, "registered with directory");
            }
            rendezvous::client::Event::RegisterFailed {
                rendezvous_node,
                error,
                ..
            } => {
                tracing::warn!(%rendezvous_node, ?error, "directory refused registration");
            }
            _ => {}
        }
    }

    pub(super) fn on_directory_event(
        &mut self,
        event: request_response::Event<DirRequest, DirResponse>,
    ) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let response = self.serve_directory(peer, request);
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .directory
                    .send_response(channel, response);
            }
            request_response::Event::Message {
                peer,
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => match response {
                DirResponse::Hits(hits) => {
                    if let Some(id) = self.directory.searches.remove(&request_id) {
                        self.swarm
                            .behaviour_mut()
                            .search
                            .deliver(id, hits, "directory");
                    }
                }
                DirResponse::Published { accepted, ttl_secs } => {
                    tracing::debug!(%peer, accepted, ttl_secs, "published to directory");
                    // Renew before the directory's own lifetime runs out.
                    let every = self
                        .directory
                        .renew_every(Some(Duration::from_secs(ttl_secs)));
                    let next = Instant::now() + every;
                    if let Some(due) = self.directory.due.get_mut(&peer) {
                        *due = (*due).min(next);
                    }
                }
                DirResponse::Refused(why) => {
                    self.directory.searches.remove(&request_id);
                    tracing::warn!(%peer, "directory refused: {why}");
                }
            },
            request_response::Event::OutboundFailure {
                request_id,
                peer,
                error,
                ..
            } => {
                self.directory.searches.remove(&request_id);
                tracing::debug!(%peer, "directory request failed: {error}");
            }
            _ => {}
        }
    }

    fn serve_directory(&mut self, peer: PeerId, request: DirRequest) -> DirResponse {
        let Some(index) = self.directory.index.as_mut() else {
            return DirResponse::Refused("this node is not a directory server".into());
        };
        let now = Instant::now();
        if let Err(why) = index.admit(peer, now) {
            return DirResponse::Refused(why);
        }
        match request {
            DirRequest::Publish { records, addrs } => {
                let addrs = addrs
                    .into_iter()
                    .filter(discovery::is_dialable)
                    .take(16)
                    .collect();
                match index.publish(peer, records, addrs, now) {
                    Ok(accepted) => DirResponse::Published {
                        accepted,
                        ttl_secs: index.ttl().as_secs(),
                    },
                    Err(why) => DirResponse::Refused(why),
                }
            }
            DirRequest::Search { words } => match index.search(&words, now) {
                Ok(hits) => DirResponse::Hits(hits),
                Err(why) => DirResponse::Refused(why),
            },
        }
    }
}
