//! A tiny TCP/UDP echo of addresses (Rust std only) to prove what a NAT
//! does: the server answers every connection or datagram with the source
//! address it saw; the asker prints it. The `plexus-probe` binary runs
//! either side inside a namespace; [`Server`], [`ask_tcp`] and [`ask_udp`]
//! drive it from a test.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{bail, Context, Result};

/// How long an asker waits for a connection or an answer.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// The probe binary's entry: `tcp-serve ADDR`, `udp-serve ADDR`,
/// `tcp-ask ADDR`, `udp-ask LOCAL_PORT ADDR...`.
pub fn main(args: &[String]) -> Result<()> {
    let addr = |i: usize| -> Result<SocketAddr> {
        args.get(i)
            .context("missing address")?
            .parse()
            .context("bad address")
    };
    match args.first().map(String::as_str) {
        Some("tcp-serve") => {
            let listener = TcpListener::bind(addr(1)?)?;
            ready()?;
            for stream in listener.incoming() {
                let mut stream = stream?;
                let seen = stream.peer_addr()?;
                let _ = writeln!(stream, "{seen}");
            }
            Ok(())
        }
        Some("udp-serve") => {
            let socket = UdpSocket::bind(addr(1)?)?;
            ready()?;
            let mut buf = [0u8; 64];
            loop {
                let (_, seen) = socket.recv_from(&mut buf)?;
                socket.send_to(seen.to_string().as_bytes(), seen)?;
            }
        }
        Some("tcp-ask") => {
            let mut stream = TcpStream::connect_timeout(&addr(1)?, ASK_TIMEOUT)?;
            stream.set_read_timeout(Some(ASK_TIMEOUT))?;
            let mut seen = String::new();
            stream.read_to_string(&mut seen)?;
            print!("{seen}");
            Ok(())
        }
        Some("udp-ask") => {
            let port: u16 = args.get(1).context("missing port")?.parse()?;
            let socket = UdpSocket::bind(("0.0.0.0", port))?;
            socket.set_read_timeout(Some(ASK_TIMEOUT))?;
            let mut buf = [0u8; 64];
            for i in 2..args.len() {
                let to = addr(i)?;
                socket.send_to(b"?", to)?;
                let (n, from) = socket
                    .recv_from(&mut buf)
                    .with_context(|| format!("no answer from {to}"))?;
                if from != to {
                    bail!("answer from {from}, not {to}");
                }
                println!("{}", String::from_utf8_lossy(&buf[..n]));
            }
            Ok(())
        }
        _ => bail!("usage: plexus-probe tcp-serve ADDR | udp-serve ADDR | tcp-ask ADDR | udp-ask LOCAL_PORT ADDR..."),
    }
}

fn ready() -> Result<()> {
    let mut out = std::io::stdout();
    writeln!(out, "ready")?;
    out.flush()?;
    Ok(())
}

/// A probe server running in a namespace; killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
}

impl Server {
    /// Starts `plexus-probe tcp-serve ADDR` (`udp` false) or `udp-serve` in
    /// `ns` and waits up to 5 s until it listens.
    pub fn start(probe: &Path, ns: &str, udp: bool, addr: SocketAddr) -> Result<Self> {
        let mode = if udp { "udp-serve" } else { "tcp-serve" };
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(probe)
            .args([mode, &addr.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start plexus-probe")?;
        let line = crate::host::first_line(&mut child, Duration::from_secs(5));
        let server = Self { child };
        match line {
            Some(line) if line.trim() == "ready" => Ok(server),
            other => bail!("probe {mode} {addr} in {ns} did not start: {other:?}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ask(probe: &Path, ns: &str, args: &[String]) -> Result<String> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(probe)
        .args(args)
        .output()
        .context("cannot run plexus-probe")?;
    if !out.status.success() {
        bail!(
            "plexus-probe {} in {ns}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Connects from `ns` to `to` over TCP: the source address the server saw.
pub fn ask_tcp(probe: &Path, ns: &str, to: SocketAddr) -> Result<SocketAddr> {
    let seen = ask(probe, ns, &["tcp-ask".into(), to.to_string()])?;
    seen.trim()
        .parse()
        .with_context(|| format!("bad answer {seen:?}"))
}

/// Sends one datagram from `ns`, local port `port`, to each of `to` in
/// turn: the source address each server saw.
pub fn ask_udp(probe: &Path, ns: &str, port: u16, to: &[SocketAddr]) -> Result<Vec<SocketAddr>> {
    let mut args = vec!["udp-ask".to_string(), port.to_string()];
    args.extend(to.iter().map(SocketAddr::to_string));
    let seen = ask(probe, ns, &args)?;
    seen.lines()
        .map(|l| l.parse().with_context(|| format!("bad answer {l:?}")))
        .collect()
}
