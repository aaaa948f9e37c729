//! Compute on the node: the worker service that answers peers' units,
//! running jobs, and their status. The work is the compute component's
//! ([`crate::compute`]); the node adds the network.

use std::{net::IpAddr, sync::Arc, time::Duration};

use libp2p::{multiaddr::Protocol, PeerId};
use tokio::sync::{mpsc, watch};

use super::{event_loop::Command, storage::WeakNode, Node};
use crate::{
    compute::{
        self,
        behaviour::Inbound,
        network::ComputeNetwork,
        protocol::{Request, Response},
        Job, JobProgress, JobResult,
    },
    content::{Hash, Store},
    discovery,
    transfer::network::BlobNetwork,
    Error,
};

/// How long a DHT lookup for workers may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

impl ComputeNetwork for Node {
    async fn compute_request(&self, peer: PeerId, request: Request) -> Result<Response, Error> {
        self.ask(|reply| {
            Command::Compute(compute::Command::Request {
                peer,
                addrs: Vec::new(),
                request,
                reply,
            })
        })
        .await?
    }

    fn content(&self) -> &Arc<Store> {
        &self.store
    }

    async fn peer_ips(&self, peer: PeerId) -> Vec<IpAddr> {
        let Ok(peers) = self.peers().await else {
            return Vec::new();
        };
        let mut ips: Vec<IpAddr> = peers
            .into_iter()
            .filter(|p| p.peer_id == peer)
            .flat_map(|p| p.connections)
            .filter(|a| !a.iter().any(|p| p == Protocol::P2pCircuit))
            .filter_map(|a| {
                a.iter().find_map(|p| match p {
                    Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
                    Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
                    _ => None,
                })
            })
            .collect();
        ips.sort();
        ips.dedup();
        ips
    }

    async fn candidates(&self, key: Hash) -> Vec<PeerId> {
        let mut peers = self.connected_peers().await.unwrap_or_default();
        if let Ok(Ok(found)) =
            tokio::time::timeout(LOOKUP_TIMEOUT, BlobNetwork::find_providers(self, key)).await
        {
            peers.extend(found);
        }
        peers.sort();
        peers.dedup();
        peers
    }
}

impl Node {
    /// Runs `job` on workers in the network: each unit on at least
    /// `job.quorum` workers that differ by peer id and address, trusted
    /// where a strict majority agrees. `progress` follows it.
    pub async fn run_job(
        &self,
        job: Job,
        progress: watch::Sender<JobProgress>,
    ) -> Result<JobResult, Error> {
        let id = self.register(&job);
        let result = self.run_registered(id, job, progress).await;
        self.compute.end_job(id, None);
        result
    }

    /// Starts `job` in the background and returns its id: follow it with
    /// [`Node::jobs`], collect it with [`Node::job_result`].
    pub fn start_job(&self, job: Job) -> u64 {
        let id = self.register(&job);
        let node = self.clone();
        tokio::spawn(async move {
            let (tx, _) = watch::channel(JobProgress::new(Hash::of(&job.wasm), job.inputs.len()));
            let result = node.run_registered(id, job, tx).await;
            node.compute
                .end_job(id, Some(result.map_err(|e| e.to_string())));
        });
        id
    }

    /// The result of a job [`Node::start_job`] started, once it ended
    /// (then it is forgotten); none while it runs or if unknown.
    pub fn job_result(&self, id: u64) -> Option<Result<JobResult, String>> {
        self.compute.take_result(id)
    }

    fn register(&self, job: &Job) -> u64 {
        self.compute
            .new_job(JobProgress::new(Hash::of(&job.wasm), job.inputs.len()))
    }

    async fn run_registered(
        &self,
        id: u64,
        job: Job,
        progress: watch::Sender<JobProgress>,
    ) -> Result<JobResult, Error> {
        let result = compute::runner::run(self, &self.compute, id, job, progress).await?;
        for worker in &result.workers {
            let before = self.compute.mark(&worker.peer);
            self.compute.set_mark(worker.peer, before.max(worker.lost));
        }
        Ok(result)
    }

    /// The jobs this node runs now.
    pub fn jobs(&self) -> Vec<JobProgress> {
        self.compute.jobs()
    }

    /// Starts the worker service on `inbound` and, with `--compute`,
    /// announces this node as a worker.
    pub(super) async fn start_compute(&self, inbound: mpsc::Receiver<Inbound>) {
        serve(self, inbound);
        if self.compute.config.enabled {
            let _ = self
                .commands
                .send(Command::Discovery(discovery::Command::ProvideStored {
                    hashes: vec![compute::compute_key()],
                }))
                .await;
        }
    }
}

/// Answers peers' compute requests, each in its own task, until the node
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
                let service = node.compute.clone();
                let response = compute::worker::handle(&node, &service, peer, request).await;
                let _ = reply.send(response);
            });
        }
    });
}
