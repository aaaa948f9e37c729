//! The node's storage operations (store, get a stored object, pins,
//! unstore) and the storage service that answers peers. The work is the
//! storage component's ([`crate::storage`]); the node adds the network.

use std::{path::Path, sync::Arc, time::Duration};

use libp2p::{Multiaddr, PeerId};
use tokio::sync::mpsc;

use super::{event_loop::Command, Node};
use crate::{
    content::{Hash, Store},
    storage::{
        self,
        behaviour::Inbound,
        client,
        network::StorageNetwork,
        pins::Pins,
        protocol::{Request, Response},
        repair::Repair,
        repairer, PinEntry, Redundancy, StoreTicket, Stored,
    },
    transfer::network::BlobNetwork,
    Error,
};

impl StorageNetwork for Node {
    async fn storage_request(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: Request,
    ) -> Result<Response, Error> {
        self.ask(|reply| {
            Command::Storage(storage::Command::Request {
                peer,
                addrs,
                request,
                reply,
            })
        })
        .await?
    }

    fn content(&self) -> &Arc<Store> {
        &self.store
    }

    async fn forget(&self, hashes: Vec<Hash>) {
        let Some(&hash) = hashes.first() else { return };
        let _ = self
            .ask(|reply| Command::Unpublish {
                hash,
                removed: hashes,
                reply,
            })
            .await;
    }

    async fn addrs(&self) -> Vec<Multiaddr> {
        match self.status().await {
            Ok(status) if !status.listen_addrs.is_empty() => status.listen_addrs,
            _ => self.listen_addrs.clone(),
        }
    }
}

impl Node {
    /// Seals the file at `path`, splits it as `redundancy` says and places
    /// the shards on peers offering storage; returns its ticket.
    pub async fn store_file(&self, path: &Path, redundancy: Redundancy) -> Result<Stored, Error> {
        client::store(self, &self.pins, path, redundancy).await
    }

    /// Gets a stored object from any K of its holders into `out` (refused
    /// if `out` exists, unless `force`); returns its size.
    pub async fn get_stored(
        &self,
        ticket: &StoreTicket,
        out: &Path,
        force: bool,
    ) -> Result<u64, Error> {
        storage::get::get(self, &self.pins, ticket, out, force).await
    }

    /// What this node stores: its own objects, with the shards alive now
    /// (each holder is asked), and the shards it holds for others.
    pub async fn pins(&self) -> Result<Vec<PinEntry>, Error> {
        let mut out = Vec::new();
        for own in self.pins.own() {
            let (k, n) = own.redundancy.k_n();
            let (alive, now) = client::alive(self, &own.holders, own.object).await;
            // Remember holders placed by repairs, for unstore and the next look.
            let new: Vec<_> = now
                .into_iter()
                .filter(|h| !own.holders.iter().any(|o| o.peer == h.peer))
                .collect();
            if !new.is_empty() {
                let mut updated = own.clone();
                updated.holders.extend(new);
                self.pins.add_own(updated)?;
            }
            out.push(PinEntry {
                kind: "own".into(),
                object: own.object,
                name: Some(own.name),
                bytes: own.size,
                redundancy: Some(own.redundancy),
                alive: Some(alive.len()),
                needed: Some(usize::from(k)),
                placed: Some(usize::from(n)),
                index: None,
            });
        }
        for held in self.pins.all_held() {
            out.push(PinEntry {
                kind: "held".into(),
                object: held.object,
                name: None,
                bytes: held.bytes,
                redundancy: None,
                alive: None,
                needed: None,
                placed: None,
                index: Some(held.index),
            });
        }
        Ok(out)
    }

    /// Ends an object this node stored: its holders release their shards.
    /// Returns how many holders confirmed.
    pub async fn unstore(&self, object: Hash) -> Result<usize, Error> {
        client::unstore(self, &self.pins, object).await
    }

    /// Bytes offered to others, and bytes of it still free.
    pub fn storage_offer(&self) -> (u64, u64) {
        (self.pins.offered(), self.pins.free())
    }

    /// Starts the storage service on `inbound` and announces the offer and
    /// the shards held (at start, as shares are).
    pub(super) async fn start_storage(
        &self,
        inbound: mpsc::Receiver<Inbound>,
        probe_every: Duration,
        repair_after: Duration,
    ) {
        serve(self, inbound);
        repair_loop(self, probe_every, repair_after);
        if self.pins.offered() > 0 {
            self.provide(storage::offer_key()).await;
        }
        for held in self.pins.all_held() {
            self.provide(held.shard).await;
            self.provide(held.object).await;
        }
    }
}

/// A handle that does not keep the node running.
pub(super) struct WeakNode {
    node: Node,
    commands: mpsc::WeakSender<Command>,
}

impl WeakNode {
    pub(super) fn new(node: &Node) -> Self {
        let (dead, _) = mpsc::channel(1);
        Self {
            commands: node.commands.downgrade(),
            node: Node {
                commands: dead,
                ..node.clone()
            },
        }
    }

    pub(super) fn upgrade(&self) -> Option<Node> {
        Some(Node {
            commands: self.commands.upgrade()?,
            ..self.node.clone()
        })
    }
}

/// Probes the other holders of every object held here each `probe_every`
/// and repairs what the repair machine decides, until the node stops.
fn repair_loop(node: &Node, probe_every: Duration, repair_after: Duration) {
    let weak = WeakNode::new(node);
    let mut machine = Repair::new(node.peer_id, probe_every, repair_after);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(probe_every.min(Duration::from_secs(5)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(node) = weak.upgrade() else { break };
            let pins = node.pins.clone();
            repairer::round(&node, &pins, &mut machine).await;
        }
    });
}

/// Answers peers' storage requests, each in its own task, until the node
/// stops.
fn serve(node: &Node, mut inbound: mpsc::Receiver<Inbound>) {
    let weak = WeakNode::new(node);
    tokio::spawn(async move {
        while let Some(Inbound {
            peer,
            request,
            reply,
        }) = inbound.recv().await
        {
            let Some(node) = weak.upgrade() else { break };
            tokio::spawn(async move {
                let pins: Arc<Pins> = node.pins.clone();
                let response = storage::server::handle(&node, &pins, peer, request).await;
                let _ = reply.send(response);
            });
        }
    });
}
