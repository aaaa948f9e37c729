//! Compute for others with real nodes on loopback: workers on their own
//! 127.0.0.X addresses (so the runner sees distinct IPs), a runner on
//! 127.0.0.1, real blob transfers of modules and inputs, and a hand-made
//! worker that lies.

mod common;

use std::{
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use futures::StreamExt;
use libp2p::{request_response, swarm::SwarmEvent, Multiaddr, PeerId};
use plexus::{
    compute::{
        examples::Example,
        protocol::{self, Request, Response},
        run_unit, ComputeConfig, Job, JobProgress, JobResult, Limits, UnitError,
    },
    content::Hash,
    Node, NodeConfig,
};
use tokio::sync::watch;

/// A node on 127.0.0.`n` (TCP only); computing for others if `compute`.
async fn worker(dir: &Path, n: u8, compute: bool, threads: usize) -> Node {
    let mut config = NodeConfig::loopback(dir.join(format!("w{n}")));
    config.listen = vec![format!("/ip4/127.0.0.{n}/tcp/0").parse().unwrap()];
    config.compute = ComputeConfig {
        enabled: compute,
        threads,
        limits: Limits::DEFAULT,
    };
    Node::start(config).await.expect("worker starts")
}

/// The runner, on 127.0.0.1, connected to each of `peers`.
async fn runner(dir: &Path, peers: &[Multiaddr]) -> Node {
    let mut config = NodeConfig::loopback(dir.join("runner"));
    config.listen.truncate(1);
    let node = Node::start(config).await.expect("runner starts");
    for addr in peers {
        node.connect(addr.clone()).await.expect("runner connects");
    }
    node
}

fn addr(node: &Node) -> Multiaddr {
    node.listen_addrs()[0].clone()
}

/// `units` ranges of 5,000 numbers each for the primes example.
fn prime_ranges(units: u32) -> Vec<Vec<u8>> {
    (0..units)
        .map(|i| [(i * 5000).to_le_bytes(), ((i + 1) * 5000).to_le_bytes()].concat())
        .collect()
}

fn local(wasm: &[u8], inputs: &[Vec<u8>], limits: &Limits) -> Vec<Result<Vec<u8>, UnitError>> {
    inputs.iter().map(|i| run_unit(wasm, i, limits)).collect()
}

async fn run(node: &Node, job: Job) -> Result<JobResult, plexus::Error> {
    let (tx, _) = watch::channel(JobProgress::new(Hash::of(b""), 0));
    tokio::time::timeout(Duration::from_secs(120), node.run_job(job, tx))
        .await
        .expect("the job ends within 2 minutes")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_of_twelve_units_over_three_workers_equals_the_local_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut workers = Vec::new();
    for n in 2..=4 {
        workers.push(worker(dir.path(), n, true, 2).await);
    }
    let node = runner(dir.path(), &workers.iter().map(addr).collect::<Vec<_>>()).await;
    let wasm = Example::Primes.wasm();
    let inputs = prime_ranges(12);
    let result = run(
        &node,
        Job {
            wasm: wasm.clone(),
            inputs: inputs.clone(),
            quorum: 2,
            limits: Limits::DEFAULT,
        },
    )
    .await
    .expect("the job runs");
    assert_eq!(result.outputs, local(&wasm, &inputs, &Limits::DEFAULT));
    let total: u32 = result
        .assembled()
        .unwrap()
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .sum();
    assert_eq!(total, 6057, "primes below 60,000");
    assert!(
        result.copies >= 24,
        "each unit ran twice: {}",
        result.copies
    );
    assert_eq!(result.workers.len(), 3);
    for w in &result.workers {
        assert!(w.agreed > 0 && w.lost == 0, "{w:?}");
    }
    // Each worker counted what it ran.
    let mut ran = 0;
    for w in &workers {
        let status = w.status().await.unwrap().compute;
        assert!(status.enabled && status.running.is_empty());
        ran += status.units_done;
    }
    assert_eq!(ran, result.copies);
}

/// A worker that answers every unit with wrong bytes without running it,
/// on 127.0.0.`n`; counts the units it lied about.
async fn liar(n: u8, lies: Arc<AtomicU64>) -> (PeerId, Multiaddr) {
    let mut swarm = common::raw::swarm(|_| {
        request_response::Behaviour::with_codec(
            protocol::codec(),
            [(protocol::PROTOCOL, request_response::ProtocolSupport::Full)],
            request_response::Config::default(),
        )
    });
    let peer = *swarm.local_peer_id();
    swarm
        .listen_on(format!("/ip4/127.0.0.{n}/tcp/0").parse().unwrap())
        .unwrap();
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break address;
        }
    };
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            }) = swarm.select_next_some().await
            {
                let answer = match request {
                    Request::Hello => Response::Offer {
                        threads: 8,
                        limits: Limits::DEFAULT,
                    },
                    Request::Unit { .. } => {
                        lies.fetch_add(1, Ordering::SeqCst);
                        Response::Output(vec![0xEE; 4])
                    }
                };
                let _ = swarm.behaviour_mut().send_response(channel, answer);
            }
        }
    });
    (peer, addr.with(libp2p::multiaddr::Protocol::P2p(peer)))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lying_worker_is_outvoted_every_time_and_marked() {
    let dir = tempfile::tempdir().unwrap();
    let mut addrs = Vec::new();
    let mut workers = Vec::new();
    for n in 2..=4 {
        let w = worker(dir.path(), n, true, 2).await;
        addrs.push(addr(&w));
        workers.push(w);
    }
    let lies = Arc::new(AtomicU64::new(0));
    let (cheat, cheat_addr) = liar(5, lies.clone()).await;
    addrs.push(cheat_addr);
    let node = runner(dir.path(), &addrs).await;
    let wasm = Example::Primes.wasm();
    let inputs = prime_ranges(12);
    let result = run(
        &node,
        Job {
            wasm: wasm.clone(),
            inputs: inputs.clone(),
            quorum: 2,
            limits: Limits::DEFAULT,
        },
    )
    .await
    .expect("the job runs");
    assert_eq!(result.outputs, local(&wasm, &inputs, &Limits::DEFAULT));
    let lied = lies.load(Ordering::SeqCst);
    assert!(lied > 0, "the liar got units");
    let report = result.workers.iter().find(|w| w.peer == cheat).unwrap();
    assert_eq!(report.lost, lied, "every lie lost its vote");
    assert_eq!(report.agreed, 0);
    for w in result.workers.iter().filter(|w| w.peer != cheat) {
        assert_eq!(w.lost, 0, "{w:?}");
    }
    eprintln!(
        "liar: {lied} lies, all outvoted; {} copies for 12 units",
        result.copies
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_unit_leaves_a_job_that_completes() {
    let dir = tempfile::tempdir().unwrap();
    let mut workers = Vec::new();
    for n in 2..=4 {
        workers.push(worker(dir.path(), n, true, 1).await);
    }
    let node = runner(dir.path(), &workers.iter().map(addr).collect::<Vec<_>>()).await;
    let wasm = Example::Pi.wasm();
    // Units of ~0.5 s each in a debug build.
    let inputs: Vec<Vec<u8>> = (0..8u64)
        .map(|seed| [&seed.to_le_bytes()[..], &300_000u32.to_le_bytes()].concat())
        .collect();
    let job = Job {
        wasm: wasm.clone(),
        inputs: inputs.clone(),
        quorum: 2,
        limits: Limits::DEFAULT,
    };
    let running = {
        let node = node.clone();
        tokio::spawn(async move { run(&node, job).await })
    };
    // Kill the first worker once it runs a unit.
    let victim = workers.remove(0);
    let mut saw_unit = false;
    for _ in 0..200 {
        if !victim.status().await.unwrap().compute.running.is_empty() {
            saw_unit = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(saw_unit, "the victim got a unit");
    victim.shutdown().await;
    let killed = std::time::Instant::now();
    let result = running.await.unwrap().expect("the job completes");
    // Re-assigned at once, not after the copy's 90 s deadline.
    assert!(
        killed.elapsed() < Duration::from_secs(30),
        "{:?}",
        killed.elapsed()
    );
    let expected = tokio::task::spawn_blocking(move || local(&wasm, &inputs, &Limits::DEFAULT))
        .await
        .unwrap();
    assert_eq!(result.outputs, expected);
    let gone = result
        .workers
        .iter()
        .find(|w| w.peer == victim.peer_id())
        .unwrap();
    assert!(gone.gone, "{gone:?}");
}

fn hostile(name: &str) -> Vec<u8> {
    wat::parse_file(format!(
        "{}/../../examples/compute/hostile/{name}.wat",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_modules_fail_each_unit_with_its_reason_and_workers_stay_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let mut workers = Vec::new();
    for n in 2..=3 {
        workers.push(worker(dir.path(), n, true, 2).await);
    }
    let node = runner(dir.path(), &workers.iter().map(addr).collect::<Vec<_>>()).await;
    let limits = Limits {
        fuel: 20_000_000,
        memory_bytes: 1 << 20,
        output_bytes: 1024,
    };
    let job = |wasm: Vec<u8>| Job {
        wasm,
        inputs: vec![vec![1], vec![2]],
        quorum: 2,
        limits,
    };
    for (name, reason) in [
        ("endless", "ran out of fuel"),
        ("membomb", "memory limit of 1048576 bytes"),
        ("trap", "integer divide by zero"),
        ("bigoutput", "over the output limit"),
    ] {
        let result = run(&node, job(hostile(name))).await.expect("the job runs");
        assert_eq!(result.outputs.len(), 2);
        for out in &result.outputs {
            let err = out.as_ref().expect_err(name);
            assert!(err.to_string().contains(reason), "{name}: {err}");
        }
    }
    // Refused before anything is shared or sent.
    let err = run(&node, job(hostile("imports"))).await.unwrap_err();
    assert!(err.to_string().contains("env.clock"), "{err}");
    // The workers are fine and still compute.
    let wasm = Example::Primes.wasm();
    let result = run(
        &node,
        Job {
            wasm,
            inputs: prime_ranges(2),
            quorum: 2,
            limits: Limits::DEFAULT,
        },
    )
    .await
    .expect("a good job runs after the hostile ones");
    assert!(result.outputs.iter().all(Result::is_ok));
    for w in &workers {
        let status = w.status().await.unwrap().compute;
        assert_eq!(status.units_failed, 8, "4 hostile jobs x 2 units");
        assert!(status.units_done >= 2);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_without_compute_runs_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut others = Vec::new();
    for n in 2..=3 {
        others.push(worker(dir.path(), n, false, 2).await);
    }
    let node = runner(dir.path(), &others.iter().map(addr).collect::<Vec<_>>()).await;
    let err = run(
        &node,
        Job {
            wasm: Example::Primes.wasm(),
            inputs: prime_ranges(2),
            quorum: 1,
            limits: Limits::DEFAULT,
        },
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("does not compute for others"),
        "{err}"
    );
    // They refused at Hello, so no unit was ever sent, and none ran.
    for o in &others {
        let status = o.status().await.unwrap().compute;
        assert!(!status.enabled);
        assert_eq!(status.units_done + status.units_failed, 0);
        assert!(status.running.is_empty());
    }
}
