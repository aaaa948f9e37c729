//! `plexus bench`: the whole `get` call as a user runs it. Two `plexus
//! daemon` processes on 127.0.0.1; `plexus share FILE` on one, then
//! `plexus get TICKET -o OUT` on the other, timed from the start of the
//! command until the output file is synced. Also reports the peak resident
//! memory (VmHWM) of both daemons.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use tokio::process::{Child, Command};

/// How long a daemon may take to start.
const START_LIMIT: Duration = Duration::from_secs(30);
/// How long one CLI call may take.
const CALL_LIMIT: Duration = Duration::from_secs(900);

/// One `plexus daemon` child process with its own data directory.
pub struct Daemon {
    child: Child,
    dir: PathBuf,
}

impl Daemon {
    /// Starts a daemon in `dir` listening on loopback TCP and QUIC, and
    /// waits until its API answers.
    pub async fn start(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let log = std::fs::File::create(dir.join("daemon.log"))?;
        let child = Command::new(std::env::current_exe()?)
            .arg("--data-dir")
            .arg(dir)
            .args([
                "daemon",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--listen",
                "/ip4/127.0.0.1/udp/0/quic-v1",
                "--no-mdns",
                "--api",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        let daemon = Self {
            child,
            dir: dir.to_path_buf(),
        };
        let started = Instant::now();
        loop {
            if daemon.cli(&["status"]).await.is_ok() {
                return Ok(daemon);
            }
            anyhow::ensure!(
                started.elapsed() < START_LIMIT,
                "the daemon in {} did not start (see its daemon.log)",
                dir.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Runs `plexus --data-dir DIR args...` against this daemon; returns
    /// its standard output.
    pub async fn cli(&self, args: &[&str]) -> Result<String> {
        let run = Command::new(std::env::current_exe()?)
            .arg("--data-dir")
            .arg(&self.dir)
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(CALL_LIMIT, run)
            .await
            .context("plexus command did not end")??;
        anyhow::ensure!(
            out.status.success(),
            "plexus {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(String::from_utf8(out.stdout)?)
    }

    /// Peak resident memory of the daemon process in bytes (VmHWM).
    pub fn vm_hwm(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    /// CPU seconds the daemon process has used so far (user + system,
    /// all threads).
    pub fn cpu_secs(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()?)).ok()?;
        // Fields after the command name (which may hold spaces): state is
        // field 3, utime and stime are fields 14 and 15.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf only reads a constant.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        (hz > 0).then(|| ticks as f64 / hz as f64)
    }

    /// Stops the daemon.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// What the whole-call runs measured.
pub struct WholeCall {
    /// Median seconds of the call, output file synced.
    pub secs: f64,
    /// The daemon's own transfer phase in that run (`transfer_secs`).
    pub transfer_secs: f64,
    /// Peak resident memory of the provider and the getter daemon.
    pub hwm: (Option<u64>, Option<u64>),
    /// Cores the provider and the getter daemon kept busy on average over
    /// the calls (CPU seconds over wall seconds).
    pub cores: (Option<f64>, Option<f64>),
    /// The transports of the getter's connections after the last call
    /// (both daemons listen on TCP and QUIC; see `prefer_transport`).
    pub transports: Vec<String>,
}

/// Shares `file` on one daemon and gets it `runs` times on another, each
/// time into a fresh output path and with the blob removed from the
/// getter's store first. With `drop_source`, `file` is deleted once shared
/// (the provider keeps its own copy), so a large run needs less disk.
pub async fn whole_get(
    root: &Path,
    file: &Path,
    runs: usize,
    drop_source: bool,
) -> Result<WholeCall> {
    let provider = Daemon::start(&root.join("daemon-provider")).await?;
    let getter = Daemon::start(&root.join("daemon-getter")).await?;
    let result = async {
        let shared: serde_json::Value = serde_json::from_str(
            &provider
                .cli(&["share", file.to_str().context("path not UTF-8")?, "--json"])
                .await?,
        )?;
        let ticket = shared["ticket"].as_str().context("no ticket")?.to_string();
        let hash = shared["hash"].as_str().context("no hash")?.to_string();
        if drop_source {
            std::fs::remove_file(file)?;
        }
        let mut calls = Vec::new();
        let mut cpu_before = (provider.cpu_secs(), getter.cpu_secs());
        let mut cpu_used = (0.0, 0.0);
        let mut wall = 0.0;
        for i in 0..runs.max(1) {
            let out = root.join(format!("daemon-out-{i}.bin"));
            let started = Instant::now();
            let got: serde_json::Value = serde_json::from_str(
                &getter
                    .cli(&["get", &ticket, "-o", out.to_str().unwrap(), "--json"])
                    .await?,
            )?;
            std::fs::File::open(&out)?.sync_all()?;
            let secs = started.elapsed().as_secs_f64();
            wall += secs;
            let transfer = got["transfer_secs"].as_f64().unwrap_or(f64::NAN);
            calls.push((secs, transfer));
            std::fs::remove_file(&out)?;
            let cpu = (provider.cpu_secs(), getter.cpu_secs());
            getter.cli(&["rm", &hash]).await?;
            cpu_used.0 += cpu.0.zip(cpu_before.0).map_or(f64::NAN, |(a, b)| a - b);
            cpu_used.1 += cpu.1.zip(cpu_before.1).map_or(f64::NAN, |(a, b)| a - b);
            cpu_before = (provider.cpu_secs(), getter.cpu_secs());
        }
        let peers: serde_json::Value =
            serde_json::from_str(&getter.cli(&["peers", "--json"]).await?)?;
        let transports = peers
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["connections"].as_array().into_iter().flatten())
            .filter_map(|a| a.as_str()?.parse::<plexus::Multiaddr>().ok())
            .map(|a| plexus::Transport::of(&a).map_or("other".to_string(), |t| t.to_string()))
            .collect();
        calls.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (secs, transfer_secs) = calls[calls.len() / 2];
        Ok(WholeCall {
            secs,
            transfer_secs,
            hwm: (provider.vm_hwm(), getter.vm_hwm()),
            cores: (
                Some(cpu_used.0 / wall).filter(|c| c.is_finite()),
                Some(cpu_used.1 / wall).filter(|c| c.is_finite()),
            ),
            transports,
        })
    }
    .await;
    provider.stop().await;
    getter.stop().await;
    result
}
