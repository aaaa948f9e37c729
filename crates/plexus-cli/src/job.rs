//! `plexus job run|status|demo`, and the daemon's `--compute` flags.

use std::{
    io::Write,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context, Result};
use clap::{Args, Subcommand};
use plexus::{
    compute::{
        examples::Example, read_module, run_unit, split_inputs, ComputeConfig, Job, JobProgress,
        JobResult, Limits,
    },
    content::Hash,
    Node, NodeConfig,
};
use tokio::sync::watch;

use crate::api::{
    client::Client,
    ops::own_node,
    types::{JobRequest, JobStarted, JobState},
};

/// `plexus daemon` flags for computing for others.
#[derive(Debug, Args, Default)]
pub struct ComputeArgs {
    /// Run compute units for other peers (off by default: a node without it
    /// refuses every unit). Units run in a WebAssembly sandbox with no
    /// files, network or clock, within the limits below.
    #[arg(long)]
    pub compute: bool,
    /// Units run at once, each on its own thread (default 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub compute_threads: Option<u16>,
    /// Most memory one unit may use, e.g. 64MiB (the default).
    #[arg(long, value_name = "SIZE", value_parser = plexus::config::parse_size)]
    pub compute_memory: Option<u64>,
    /// Longest one unit may run, in seconds (default 10), counted as an
    /// instruction budget so every worker stops a unit at the same point.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub compute_time: Option<u64>,
}

/// Applies the flags on top of `config` (from `config.toml`).
pub fn apply(args: &ComputeArgs, config: &mut ComputeConfig) {
    if args.compute {
        config.enabled = true;
    }
    if let Some(n) = args.compute_threads {
        config.threads = usize::from(n);
    }
    if let Some(bytes) = args.compute_memory {
        config.limits.memory_bytes = bytes;
    }
    if let Some(secs) = args.compute_time {
        config.limits.fuel = Limits::fuel_for(Duration::from_secs(secs));
    }
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Run a WebAssembly job on peers that compute for others: each unit on
    /// --quorum workers that differ by peer id and IP address, trusted where
    /// a strict majority agrees.
    #[command(
        after_help = "The module exports `memory`, `alloc(len) -> ptr` and `run(ptr, len) -> i64`\n((out_ptr << 32) | out_len) and imports nothing; see examples/compute/*.wat.\n\nUnits: a DIR gives one unit per file (in name order); a FILE is cut into --units\nequal byte ranges. The outputs, in unit order, go to stdout or -o FILE; progress\n(units done, workers, rate) to stderr. Through the daemon when one runs for the\ndata dir, otherwise with a node of its own.\n\nExamples:\n  plexus job run examples/compute/primes.wat --inputs ranges/ --quorum 2 -o counts.bin\n  plexus job run filter.wasm --inputs data.bin --units 64 --json\n  plexus job demo     try it on nodes on this machine first"
    )]
    Run {
        /// The module: a .wasm file, or WebAssembly text (.wat).
        #[arg(value_name = "JOB.wasm")]
        module: PathBuf,
        /// A directory (one unit per file) or a file (cut into --units).
        #[arg(long, value_name = "DIR|FILE")]
        inputs: PathBuf,
        /// Units to cut a FILE into.
        #[arg(long, value_name = "N")]
        units: Option<u32>,
        /// Workers that must agree on each unit (1: trust any one).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
        quorum: u16,
        /// Write the output here instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Longest a unit may run, in seconds (an instruction budget).
        #[arg(long, default_value_t = 10, value_name = "SECS")]
        time: u64,
        /// Most memory a unit may use.
        #[arg(long, default_value = "64MiB", value_name = "SIZE", value_parser = plexus::config::parse_size)]
        memory: u64,
    },
    /// List the jobs the running daemon runs: units done, workers, rate.
    #[command(after_help = "Example:\n  plexus job status --json")]
    Status,
    /// Start workers on this machine (127.0.0.2, .3, ...: one address each,
    /// so they count as distinct) and run a bundled example job on them.
    #[command(
        after_help = "Examples:\n  plexus job demo\n  plexus job demo --example mandelbrot --workers 4 --units 24 -o mandelbrot.pgm\n  plexus job demo --example pi --quorum 3"
    )]
    Demo {
        /// primes, pi or mandelbrot.
        #[arg(long, default_value = "primes")]
        example: String,
        /// Worker nodes to start (2 to 16).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(2..=16))]
        workers: u16,
        /// Units to split the job into.
        #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=1000))]
        units: u32,
        /// Workers that must agree on each unit.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
        quorum: u16,
        /// Write the output here (the Mandelbrot image as a PGM file).
        #[arg(short, long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Runs a `plexus job` command.
pub async fn run(data_dir: &Path, command: JobCommand, json: bool) -> Result<()> {
    match command {
        JobCommand::Run {
            module,
            inputs,
            units,
            quorum,
            out,
            time,
            memory,
        } => {
            let limits = Limits {
                fuel: Limits::fuel_for(Duration::from_secs(time)),
                memory_bytes: memory,
                ..Limits::DEFAULT
            };
            let result = run_job(data_dir, &module, &inputs, units, quorum.into(), limits).await?;
            report(&result, out.as_deref(), &[], json, true)
        }
        JobCommand::Status => status(data_dir, json).await,
        JobCommand::Demo {
            example,
            workers,
            units,
            quorum,
            out,
        } => {
            demo(
                &example,
                workers,
                units,
                quorum.into(),
                out.as_deref(),
                json,
            )
            .await
        }
    }
}

async fn run_job(
    data_dir: &Path,
    module: &Path,
    inputs: &Path,
    units: Option<u32>,
    quorum: usize,
    limits: Limits,
) -> Result<JobResult> {
    let abs =
        |p: &Path| std::fs::canonicalize(p).with_context(|| format!("cannot read {}", p.display()));
    let (module, inputs) = (abs(module)?, abs(inputs)?);
    if let Some((client, _)) = Client::running(data_dir).await {
        let body = JobRequest {
            module,
            inputs,
            units,
            quorum,
            limits,
        };
        let JobStarted { id } = client.post("/v1/jobs", &body).await?;
        let mut shown = Instant::now();
        loop {
            let state: JobState = client.get(&format!("/v1/jobs/{id}")).await?;
            match (state.progress, state.result) {
                (_, Some(result)) => return result.map_err(anyhow::Error::msg),
                (Some(p), None) => {
                    if shown.elapsed() >= Duration::from_secs(1) {
                        show(&p);
                        shown = Instant::now();
                    }
                }
                (None, None) => bail!("the daemon lost job {id} (restarted?)"),
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    let job = Job {
        wasm: read_module(&module)?,
        inputs: split_inputs(&inputs, units)?,
        quorum,
        limits,
    };
    let node = own_node(data_dir, false).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !node.status().await.is_ok_and(|s| s.connected_peers > 0) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let result = with_progress(&node, job).await;
    node.shutdown().await;
    Ok(result?)
}

fn show(p: &JobProgress) {
    eprintln!(
        "{}/{} units done, {} workers, {} copies answered, {:.1} units/s",
        p.done,
        p.units,
        p.workers,
        p.copies,
        p.rate()
    );
}

/// Runs `job` on `node`, printing progress each second.
async fn with_progress(node: &Node, job: Job) -> Result<JobResult, plexus::Error> {
    let (tx, mut rx) = watch::channel(JobProgress::new(Hash::of(&job.wasm), job.inputs.len()));
    let printer = tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let p = rx.borrow_and_update().clone();
            show(&p);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let result = node.run_job(job, tx).await;
    printer.abort();
    result
}

/// Prints what `result` says and writes its output (after `header`).
fn report(
    result: &JobResult,
    out: Option<&Path>,
    header: &[u8],
    json: bool,
    stdout: bool,
) -> Result<()> {
    let failed: Vec<(usize, String)> = result
        .outputs
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.as_ref().err().map(|e| (i, e.to_string())))
        .collect();
    let output: Vec<u8> = result.outputs.iter().flatten().flatten().copied().collect();
    if json {
        let summary = serde_json::json!({
            "module": result.module,
            "units": result.outputs.len(),
            "copies": result.copies,
            "secs": result.secs,
            "workers": result.workers,
            "failed": failed.iter().map(|(u, r)| serde_json::json!({"unit": u, "reason": r})).collect::<Vec<_>>(),
            "output_bytes": output.len(),
            "output_blake3": blake3::hash(&output).to_hex().to_string(),
        });
        eprintln!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        eprintln!(
            "job done: {} units, {} copies on {} workers in {:.2}s",
            result.outputs.len(),
            result.copies,
            result.workers.len(),
            result.secs
        );
        for w in &result.workers {
            let mark = if w.lost > 0 {
                "  MARKED: its results lost votes"
            } else {
                ""
            };
            eprintln!(
                "  worker {}: {} agreed, {} lost{}{mark}",
                w.peer,
                w.agreed,
                w.lost,
                if w.gone { ", left" } else { "" }
            );
        }
    }
    match out {
        Some(path) => {
            let mut bytes = header.to_vec();
            bytes.extend_from_slice(&output);
            std::fs::write(path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None if stdout && !json => std::io::stdout().write_all(&output)?,
        None => {}
    }
    if let Some((unit, reason)) = failed.first() {
        bail!(
            "{} of {} units failed; unit {unit}: {reason}",
            failed.len(),
            result.outputs.len()
        );
    }
    Ok(())
}

async fn status(data_dir: &Path, json: bool) -> Result<()> {
    let jobs: Vec<JobProgress> = Client::for_data_dir(data_dir)?.get("/v1/jobs").await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&jobs)?);
        return Ok(());
    }
    if jobs.is_empty() {
        println!("no jobs running (start one with `plexus job run`)");
    }
    for j in &jobs {
        println!(
            "job {}  module {}  {}/{} units  {} workers  {} copies  {:.1} units/s  {:.0}s",
            j.id,
            j.module,
            j.done,
            j.units,
            j.workers,
            j.copies,
            j.rate(),
            j.secs
        );
    }
    Ok(())
}

async fn demo(
    name: &str,
    workers: u16,
    units: u32,
    quorum: usize,
    out: Option<&Path>,
    json: bool,
) -> Result<()> {
    let example = Example::from_name(name)
        .with_context(|| format!("no example {name:?}: primes, pi or mandelbrot"))?;
    let root = tempfile::tempdir()?;
    eprintln!("Starting {workers} workers on 127.0.0.2.. and a runner on 127.0.0.1...");
    let mut nodes = Vec::new();
    for i in 0..workers {
        let mut config = NodeConfig::loopback(root.path().join(format!("worker{i}")));
        config.listen = vec![format!("/ip4/127.0.0.{}/tcp/0", i + 2).parse()?];
        config.compute = ComputeConfig {
            enabled: true,
            threads: 1,
            limits: Limits::DEFAULT,
        };
        nodes.push(Node::start(config).await?);
    }
    let mut config = NodeConfig::loopback(root.path().join("runner"));
    config.listen.truncate(1);
    let runner = Node::start(config).await?;
    for n in &nodes {
        runner.connect(n.listen_addrs()[0].clone()).await?;
    }
    let wasm = example.wasm();
    let inputs = example.inputs(units);
    eprintln!("Running {example} in {units} units, each on {quorum} workers...");
    let job = Job {
        wasm: wasm.clone(),
        inputs: inputs.clone(),
        quorum,
        limits: Limits::DEFAULT,
    };
    let result = with_progress(&runner, job).await;
    for n in nodes.iter().chain(Some(&runner)) {
        n.shutdown().await;
    }
    let result = result?;
    let started = Instant::now();
    let local = tokio::task::spawn_blocking(move || {
        inputs
            .iter()
            .map(|i| run_unit(&wasm, i, &Limits::DEFAULT))
            .collect::<Vec<_>>()
    })
    .await?;
    let local_secs = started.elapsed().as_secs_f64();
    let same = local == result.outputs;
    report(&result, out, &example.header(), json, false)?;
    let outputs: Vec<Vec<u8>> = result.outputs.iter().flatten().cloned().collect();
    eprintln!("{}", example.summary(&outputs));
    eprintln!("identical to a local run on one thread ({local_secs:.2}s): {same}");
    ensure!(same, "the job's result differs from the local run");
    Ok(())
}
