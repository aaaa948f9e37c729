//! The directory client without I/O: when to register with each configured
//! directory and publish the records again (renewal scheduling), when to
//! redial a directory that is down, searches sent to the directories, and
//! peers discovered there.
//!
//! What arrives goes in through `handle_*` (with the current time); what
//! the node must do comes out of [`DirectoryClient::poll_action`].

use std::{
    collections::{HashMap, HashSet, VecDeque},
    time::{Duration, Instant},
};

use libp2p::{Multiaddr, PeerId};

use super::{index::MAX_ADDRS_PER_PEER, DirRequest, DirResponse, Event, MAX_RESULTS};
use crate::{content::SignedRecord, discovery};

/// Pause between dials of a directory that is down.
pub(crate) const REDIAL: Duration = Duration::from_secs(10);

/// Most registered peers asked of a directory at once (the rendezvous
/// discover limit) and taken from one answer; each is dialled.
pub(crate) const MAX_DISCOVERED: usize = 100;

/// What the node must do for the directory client, in order.
#[derive(Debug)]
pub(crate) enum Action {
    /// Register with directory `peer` (rendezvous) for `ttl_secs`.
    Register { peer: PeerId, ttl_secs: u64 },
    /// Ask directory `peer` for the other registered peers (rendezvous).
    Discover { peer: PeerId },
    /// Send `request` to directory `peer`; `query` is the local search its
    /// hits feed.
    Send {
        peer: PeerId,
        request: DirRequest,
        query: Option<u64>,
    },
    /// Dial a directory that is down.
    DialDirectory { addr: Multiaddr },
    /// Dial a peer found at a directory.
    DialPeer { peer: PeerId, addrs: Vec<Multiaddr> },
    /// Confirm a listen address as external (rendezvous registers only
    /// external addresses).
    ConfirmExternal(Multiaddr),
    /// Tell the rest of the node.
    Emit(Event),
}

/// A node's side of its configured directories.
pub(crate) struct DirectoryClient {
    me: PeerId,
    /// Configured directory servers.
    directories: Vec<(PeerId, Multiaddr)>,
    /// When each directory is due for a renewal (or a redial).
    due: HashMap<PeerId, Instant>,
    /// Registration and record lifetime asked for.
    ttl: Duration,
    /// This node's records, published to every directory.
    records: Vec<SignedRecord>,
    /// Where this node listens, each ending in `/p2p/PEERID`.
    listen_addrs: Vec<Multiaddr>,
    /// Peers with at least one open connection.
    connected: HashSet<PeerId>,
    out: VecDeque<Action>,
}

impl DirectoryClient {
    /// Node `me`'s client of `directories`, each due now, asking for `ttl`.
    pub(crate) fn new(
        me: PeerId,
        directories: Vec<(PeerId, Multiaddr)>,
        ttl: Duration,
        now: Instant,
    ) -> Self {
        Self {
            me,
            due: directories.iter().map(|(p, _)| (*p, now)).collect(),
            directories,
            ttl,
            records: Vec::new(),
            listen_addrs: Vec::new(),
            connected: HashSet::new(),
            out: VecDeque::new(),
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

    /// The next thing to do.
    pub(crate) fn poll_action(&mut self) -> Option<Action> {
        self.out.pop_front()
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

    fn connected_directories(&self) -> Vec<PeerId> {
        self.directories
            .iter()
            .map(|(p, _)| *p)
            .filter(|p| self.connected.contains(p))
            .collect()
    }

    /// Renews connected directories that are due and redials the others.
    pub(crate) fn handle_tick(&mut self, now: Instant) {
        for (peer, addr) in self.directories.clone() {
            if self.due.get(&peer).is_some_and(|at| *at > now) {
                continue;
            }
            if self.connected.contains(&peer) {
                self.renew(peer, now);
            } else {
                self.due.insert(peer, now + REDIAL);
                self.out.push_back(Action::Emit(Event::Redialing {
                    peer,
                    addr: addr.clone(),
                }));
                self.out.push_back(Action::DialDirectory { addr });
            }
        }
    }

    /// A first connection to `peer` is up; a directory is registered with
    /// and gets the records.
    pub(crate) fn handle_connected(&mut self, peer: PeerId, now: Instant) {
        self.connected.insert(peer);
        if self.is_directory(&peer) {
            self.renew(peer, now);
        }
    }

    /// Every connection to `peer` closed.
    pub(crate) fn handle_disconnected(&mut self, peer: PeerId) {
        self.connected.remove(&peer);
    }

    /// A new listen address: confirmed as external when this node uses
    /// directories and the address is dialable.
    pub(crate) fn handle_new_listen_addr(&mut self, addr: &Multiaddr) {
        if self.is_client() && discovery::is_dialable(addr) {
            self.out.push_back(Action::ConfirmExternal(addr.clone()));
        }
    }

    /// Where this node listens now (published with its records).
    pub(crate) fn set_listen_addrs(&mut self, addrs: Vec<Multiaddr>) {
        self.listen_addrs = addrs;
    }

    /// Registers (rendezvous), publishes every own record, and asks for the
    /// other registered peers; the next renewal is due at half the lifetime.
    fn renew(&mut self, peer: PeerId, now: Instant) {
        self.due.insert(peer, now + self.renew_every(None));
        let ttl_secs = self.ttl.as_secs().max(1);
        self.out.push_back(Action::Register { peer, ttl_secs });
        self.out.push_back(Action::Discover { peer });
        self.send_records(peer);
    }

    fn send_records(&mut self, peer: PeerId) {
        let request = DirRequest::Publish {
            records: self.records.clone(),
            addrs: self.listen_addrs.clone(),
        };
        self.out.push_back(Action::Send {
            peer,
            request,
            query: None,
        });
    }

    /// This node's records changed: publish them again to connected
    /// directories.
    pub(crate) fn set_own_records(&mut self, records: Vec<SignedRecord>) {
        self.records = records;
        for peer in self.connected_directories() {
            self.send_records(peer);
        }
    }

    /// Sends local search `query` to every connected directory.
    pub(crate) fn search(&mut self, query: u64, words: Vec<String>) {
        for peer in self.connected_directories() {
            self.out.push_back(Action::Send {
                peer,
                request: DirRequest::Search {
                    words: words.clone(),
                },
                query: Some(query),
            });
        }
    }

    /// Directory `peer` answered a request (sent for local search `query`,
    /// if any).
    pub(crate) fn handle_response(
        &mut self,
        peer: PeerId,
        query: Option<u64>,
        response: DirResponse,
        now: Instant,
    ) {
        match response {
            DirResponse::Hits(mut hits) => {
                hits.truncate(MAX_RESULTS);
                if let Some(query) = query {
                    self.out
                        .push_back(Action::Emit(Event::Hits { query, hits }));
                }
            }
            DirResponse::Published { accepted, ttl_secs } => {
                tracing::debug!(%peer, accepted, ttl_secs, "published to directory");
                // Renew before the directory's own lifetime runs out.
                let next = now + self.renew_every(Some(Duration::from_secs(ttl_secs)));
                if let Some(due) = self.due.get_mut(&peer) {
                    *due = (*due).min(next);
                }
            }
            DirResponse::Refused(why) => {
                tracing::warn!(%peer, "directory refused: {why}");
            }
        }
    }

    /// Peers registered at a directory, with the addresses they registered:
    /// the first [`MAX_ADDRS_PER_PEER`] dialable ones are passed on
    /// ([`Event::Discovered`]) and dialled unless the peer is connected
    /// already; at most [`MAX_DISCOVERED`] peers of one answer are taken.
    pub(crate) fn handle_discovered(&mut self, registrations: Vec<(PeerId, Vec<Multiaddr>)>) {
        for (peer, addrs) in registrations.into_iter().take(MAX_DISCOVERED) {
            if peer == self.me {
                continue;
            }
            let addrs: Vec<Multiaddr> = addrs
                .into_iter()
                .filter(discovery::is_dialable)
                .take(MAX_ADDRS_PER_PEER)
                .collect();
            if self.connected.contains(&peer) {
                self.out
                    .push_back(Action::Emit(Event::Discovered { peer, addrs }));
            } else if !addrs.is_empty() {
                self.out.push_back(Action::Emit(Event::Discovered {
                    peer,
                    addrs: addrs.clone(),
                }));
                self.out.push_back(Action::DialPeer { peer, addrs });
            }
        }
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
