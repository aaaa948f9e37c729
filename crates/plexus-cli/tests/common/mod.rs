//! Helpers for tests that run the real `plexus` binary.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

/// Path of the binary under test.
pub const PLEXUS: &str = env!("CARGO_BIN_EXE_plexus");

/// A `plexus daemon` child process, killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub data_dir: PathBuf,
    pub peer_id: String,
    pub addrs: Vec<String>,
    /// The line the daemon printed when it started.
    pub banner: String,
}

impl Daemon {
    /// Starts a daemon on 127.0.0.1 with free ports and no mDNS.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Daemon {
        let mut args = vec![
            "daemon",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--listen",
            "/ip4/127.0.0.1/udp/0/quic-v1",
            "--api",
            "127.0.0.1:0",
            "--no-mdns",
        ];
        args.extend_from_slice(extra);
        Self::start_with(Command::new(PLEXUS), data_dir, &args)
    }

    /// Starts `command` (already holding the program) with `--data-dir` and `args`,
    /// waiting up to 20 s for its "listening on" line.
    pub fn start_with(mut command: Command, data_dir: &Path, args: &[&str]) -> Daemon {
        let mut child = command
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("plexus daemon spawns");
        let line = plexus_testbed::host::first_line(&mut child, Duration::from_secs(20))
            .expect("daemon printed its listen line in time");
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.get(3), Some(&"listening"), "unexpected line: {line}");
        let addrs = words
            .iter()
            .filter(|w| w.starts_with('/'))
            .map(|w| w.to_string())
            .collect();
        Daemon {
            child,
            data_dir: data_dir.to_path_buf(),
            peer_id: words[2].to_string(),
            addrs,
            banner: line.clone(),
        }
    }

    /// The daemon's TCP address, with `/p2p/PEERID`.
    pub fn tcp_addr(&self) -> String {
        self.addrs
            .iter()
            .find(|a| a.contains("/tcp/"))
            .cloned()
            .expect("a TCP address")
    }

    /// Runs `plexus --data-dir DIR args...` against this daemon.
    pub fn cli(&self, args: &[&str]) -> Output {
        plexus(&self.data_dir, args)
    }

    /// Sends SIGTERM and waits (up to 10 s) for a clean exit; returns its code.
    pub fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `plexus --data-dir DIR args...` and returns its output.
pub fn plexus(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(PLEXUS)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("plexus runs")
}

/// Stdout of a successful run, parsed as JSON.
pub fn json(output: Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("valid JSON")
}

/// Stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Polls `check` every 200 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// Reads `plexus get` progress lines from `child` until `percent` is reached.
pub fn wait_for_percent(child: &mut std::process::Child, percent: u64) -> Vec<String> {
    use std::io::BufRead;
    let lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.map_while(Result::ok) {
        seen.push(line.clone());
        let p: u64 = line
            .strip_prefix("progress")
            .and_then(|r| r.trim_start().split('%').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        if p >= percent {
            break;
        }
    }
    seen
}

/// Writes `count` inputs for `examples/compute/primes.wat` into `dir`
/// (a new folder): unit i counts the primes in [i*width, (i+1)*width).
/// Returns the job's expected output: each count as 4 bytes, little-endian.
#[allow(dead_code)]
pub fn prime_units(dir: &std::path::Path, count: u32, width: u32) -> Vec<u8> {
    std::fs::create_dir(dir).unwrap();
    let mut expected = Vec::new();
    for i in 0..count {
        let (lo, hi) = (i * width, (i + 1) * width);
        let input = [lo.to_le_bytes(), hi.to_le_bytes()].concat();
        std::fs::write(dir.join(format!("{i:02}")), input).unwrap();
        let primes = (lo..hi)
            .filter(|&n| n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0))
            .count() as u32;
        expected.extend_from_slice(&primes.to_le_bytes());
    }
    expected
}

/// `examples/compute/primes.wat`.
#[allow(dead_code)]
pub const PRIMES_WAT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/compute/primes.wat"
);
