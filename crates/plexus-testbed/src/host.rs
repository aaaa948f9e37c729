//! A host of the testbed: a `plexus daemon` running in the host's network
//! namespace with a data dir of its own, and the CLI run next to it.

use std::{
    io::{BufRead, BufReader},
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::mpsc,
    time::Duration,
};

use anyhow::{bail, Context, Result};

/// TCP and QUIC port every daemon listens on (each host has its own address).
pub const PORT: u16 = 4001;

/// Which transports a daemon listens on (and so can dial: a QUIC-only
/// daemon has no TCP address to offer, and its peers' TCP addresses stay
/// unused when they have QUIC ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP and QUIC.
    Both,
    /// TCP only.
    Tcp,
    /// QUIC only.
    Quic,
}

impl Transport {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Both => "tcp+quic",
            Transport::Tcp => "tcp",
            Transport::Quic => "quic",
        }
    }

    /// The transport a multiaddr (or a JSON text holding one) goes over.
    pub fn of(addr: &str) -> Option<Transport> {
        if addr.contains("/quic-v1") {
            Some(Transport::Quic)
        } else if addr.contains("/tcp/") {
            Some(Transport::Tcp)
        } else {
            None
        }
    }
}

/// One daemon in one namespace; killed when dropped.
#[derive(Debug)]
pub struct Host {
    /// The host's namespace.
    pub ns: String,
    /// The host's address.
    pub ip: Ipv4Addr,
    /// The daemon's data dir.
    pub data_dir: PathBuf,
    /// The daemon's peer id.
    pub peer_id: String,
    /// Its TCP and QUIC port.
    pub port: u16,
    /// What it listens on.
    pub transport: Transport,
    pub(crate) plexus: PathBuf,
    daemon: Option<Child>,
}

impl Host {
    /// Starts `plexus daemon` in `ns`, listening on `ip` (TCP and QUIC port
    /// [`PORT`]), with `extra` daemon flags; waits up to 20 s for its line.
    pub fn start(
        plexus: &Path,
        ns: &str,
        ip: Ipv4Addr,
        data_dir: PathBuf,
        extra: &[String],
    ) -> Result<Self> {
        Self::start_at(plexus, ns, ip, PORT, data_dir, extra)
    }

    /// Like [`Host::start`], on `port` instead of [`PORT`].
    pub fn start_at(
        plexus: &Path,
        ns: &str,
        ip: Ipv4Addr,
        port: u16,
        data_dir: PathBuf,
        extra: &[String],
    ) -> Result<Self> {
        Self::start_on(plexus, ns, ip, port, Transport::Both, data_dir, extra)
    }

    /// Like [`Host::start_at`], listening on `transport` only.
    pub fn start_on(
        plexus: &Path,
        ns: &str,
        ip: Ipv4Addr,
        port: u16,
        transport: Transport,
        data_dir: PathBuf,
        extra: &[String],
    ) -> Result<Self> {
        let tcp = format!("/ip4/{ip}/tcp/{port}");
        let quic = format!("/ip4/{ip}/udp/{port}/quic-v1");
        let listen: Vec<&str> = match transport {
            Transport::Both => vec!["--listen", &tcp, "--listen", &quic],
            Transport::Tcp => vec!["--listen", &tcp],
            Transport::Quic => vec!["--listen", &quic],
        };
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(plexus)
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("daemon")
            .args(listen)
            .args(["--api", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(log_file(&data_dir, port))
            .spawn()
            .context("cannot start plexus daemon")?;
        let line = first_line(&mut child, Duration::from_secs(20)).unwrap_or_default();
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.get(3) != Some(&"listening") {
            let _ = child.kill();
            bail!("daemon in {ns} did not start: {line:?}");
        }
        Ok(Self {
            ns: ns.to_string(),
            ip,
            data_dir,
            peer_id: words[2].to_string(),
            port,
            transport,
            plexus: plexus.to_path_buf(),
            daemon: Some(child),
        })
    }

    /// `/ip4/IP/tcp/PORT/p2p/PEERID`: what others bootstrap from.
    pub fn tcp_addr(&self) -> String {
        format!("/ip4/{}/tcp/{}/p2p/{}", self.ip, self.port, self.peer_id)
    }

    /// The address others bootstrap from: TCP, or QUIC for a QUIC-only host.
    pub fn dial_addr(&self) -> String {
        match self.transport {
            Transport::Quic => format!(
                "/ip4/{}/udp/{}/quic-v1/p2p/{}",
                self.ip, self.port, self.peer_id
            ),
            _ => self.tcp_addr(),
        }
    }

    /// A `plexus --data-dir DIR ARGS` command in this host's namespace.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns])
            .arg(&self.plexus)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args);
        c
    }

    /// The daemon's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(Child::id)
    }

    /// Runs the CLI against this host's daemon.
    pub fn cli(&self, args: &[&str]) -> Result<Output> {
        self.command(args).output().context("plexus runs")
    }

    /// Runs the CLI with `--json` and parses stdout; fails with stderr.
    pub fn json(&self, args: &[&str]) -> Result<serde_json::Value> {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.cli(&all)?;
        if !out.status.success() {
            bail!(
                "`plexus {}` on {} failed: {}",
                args.join(" "),
                self.ns,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "`plexus {}` printed no JSON: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Asks the daemon to stop as Ctrl-C would (SIGTERM) and returns at
    /// once: for a scenario that goes on while it stops. [`Host::stop`]
    /// or dropping the host reaps it later.
    pub fn terminate(&self) {
        if let Some(child) = &self.daemon {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
    }

    /// Stops the daemon as Ctrl-C would (SIGTERM: it closes its
    /// connections, so peers need not wait for a timeout to notice), and
    /// kills it if it is still running after 5 s.
    pub fn stop(&mut self) {
        self.terminate();
        if let Some(child) = &mut self.daemon {
            let started = std::time::Instant::now();
            while started.elapsed() < Duration::from_secs(5) {
                if !matches!(child.try_wait(), Ok(None)) {
                    self.daemon = None;
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill();
    }

    /// Kills the daemon (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The daemon's stderr: `$PLEXUS_TESTBED_LOGS/<data dir name>-<port>.log`
/// when that variable names a folder (made if missing; set `RUST_LOG`
/// too), else nowhere. A daemon restarted on another port (each run of a
/// pair scenario) gets a log of its own. A log that cannot be made is
/// said once per daemon, not silently dropped.
fn log_file(data_dir: &Path, port: u16) -> Stdio {
    let Some(dir) = std::env::var_os("PLEXUS_TESTBED_LOGS") else {
        return Stdio::null();
    };
    let name = data_dir.file_name().unwrap_or_default().to_string_lossy();
    let path = Path::new(&dir).join(format!("{name}-{port}.log"));
    let file = std::fs::create_dir_all(&dir).and_then(|()| std::fs::File::create(&path));
    match file {
        Ok(file) => Stdio::from(file),
        Err(e) => {
            eprintln!("PLEXUS_TESTBED_LOGS: cannot write {}: {e}", path.display());
            Stdio::null()
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The first line `child` prints on its piped stdout, if it comes within
/// `limit`. The rest is read and dropped until the child exits, as a
/// terminal would, so the child never writes into a closed pipe.
pub fn first_line(child: &mut Child, limit: Duration) -> Option<String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    rx.recv_timeout(limit).ok()
}
