//! `plexus pub`, `sub` and `chat` as a user runs them: real daemons, the
//! NDJSON message stream, a node of the command's own, and bad input.

mod common;

use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc::{self, Receiver},
    time::{Duration, Instant},
};

use common::{json, plexus, stderr, Daemon, PLEXUS};

/// A running `plexus` command with its output lines arriving on channels.
struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Receiver<String>,
    err: Receiver<String>,
}

impl Running {
    fn start(data_dir: &Path, args: &[&str]) -> Running {
        let mut child = Command::new(PLEXUS)
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("plexus spawns");
        let lines = |r: Box<dyn std::io::Read + Send>| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(r).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
            rx
        };
        let out = lines(Box::new(child.stdout.take().unwrap()));
        let err = lines(Box::new(child.stderr.take().unwrap()));
        let stdin = child.stdin.take();
        Running {
            child,
            stdin,
            out,
            err,
        }
    }

    /// Waits (up to 15 s) for a stderr line containing `text`.
    fn wait_err(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.err.recv_timeout(left) {
                Ok(line) if line.contains(text) => return,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("no stderr line with {text:?} in 15 s; got {seen:?}");
    }

    /// The next stdout line within 15 s.
    fn line(&self) -> String {
        self.out
            .recv_timeout(Duration::from_secs(15))
            .expect("an output line within 15 s")
    }

    /// Waits (up to 10 s) for the exit code.
    fn wait_exit(&mut self) -> Option<i32> {
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

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn pub_sub_and_chat_through_daemons() {
    let root = tempfile::tempdir().unwrap();
    let a = Daemon::start(&root.path().join("a"), &[]);
    let b = Daemon::start(&root.path().join("b"), &[]);
    assert!(b.cli(&["connect", &a.tcp_addr()]).status.success());

    let mut sub = Running::start(&b.data_dir, &["sub", "news", "--json", "--count", "2"]);
    sub.wait_err("subscribed to news");
    let sent = json(a.cli(&["pub", "news", "hello there", "--json"]));
    assert_eq!(sent["bytes"], 11);
    assert!(sent["peers"].as_u64().unwrap() >= 1, "{sent}");
    let first: serde_json::Value = serde_json::from_str(&sub.line()).unwrap();
    assert_eq!(first["text"], "hello there");
    assert_eq!(first["topic"], "news");
    assert_eq!(first["from"], a.peer_id.as_str());

    // chat on a: a typed line reaches b's subscriber...
    let mut chat = Running::start(&a.data_dir, &["chat", "news"]);
    chat.wait_err("joined news as");
    let stdin = chat.stdin.as_mut().unwrap();
    writeln!(stdin, "hi from chat").unwrap();
    stdin.flush().unwrap();
    let second: serde_json::Value = serde_json::from_str(&sub.line()).unwrap();
    assert_eq!(second["text"], "hi from chat");
    assert_eq!(sub.wait_exit(), Some(0), "sub stops after --count 2");

    // ...and b's message shows in the chat with b's short id, not a's own.
    let out = b.cli(&["pub", "news", "reply from b"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let short_b = &b.peer_id[b.peer_id.len() - 8..];
    assert_eq!(chat.line(), format!("[{short_b}] reply from b"));
    // Ctrl-D (end of input) leaves cleanly.
    drop(chat.stdin.take());
    assert_eq!(chat.wait_exit(), Some(0));
    chat.wait_err("left news");
}

#[test]
fn sub_without_a_daemon_uses_its_own_node() {
    let root = tempfile::tempdir().unwrap();
    let a = Daemon::start(&root.path().join("a"), &[]);
    let own = root.path().join("own");
    std::fs::create_dir_all(&own).unwrap();
    std::fs::write(
        own.join("config.toml"),
        format!("mdns = false\nbootstrap = [\"{}\"]\n", a.tcp_addr()),
    )
    .unwrap();
    let mut sub = Running::start(&own, &["sub", "alerts", "--count", "1"]);
    sub.wait_err("subscribed to alerts");
    let out = a.cli(&["pub", "alerts", "disk full", "--wait", "15"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = sub.line();
    let short_a = &a.peer_id[a.peer_id.len() - 8..];
    assert_eq!(line, format!("[{short_a}] disk full"));
    assert_eq!(sub.wait_exit(), Some(0));
}

#[test]
fn bad_topics_oversized_messages_and_lonely_topics_are_clear_errors() {
    let root = tempfile::tempdir().unwrap();
    let a = Daemon::start(&root.path().join("a"), &[]);
    let fails_with = |args: &[&str], text: &str| {
        let out = a.cli(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(text), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    };
    fails_with(
        &["pub", "bad topic", "x"],
        "must be 1 to 64 letters, digits",
    );
    fails_with(&["sub", "a.b/c"], "must be 1 to 64 letters, digits");
    fails_with(&["chat", ""], "must be 1 to 64 letters, digits");
    let big = "x".repeat(70_000);
    fails_with(&["pub", "news", &big], "70000 bytes is over the limit");
    fails_with(
        &["pub", "news", "anyone?", "--wait", "0"],
        "no peer subscribed to topic \"news\"",
    );

    // Without a daemon too (a node of its own that finds nobody).
    let lonely = root.path().join("lonely");
    std::fs::create_dir_all(&lonely).unwrap();
    std::fs::write(lonely.join("config.toml"), "mdns = false\n").unwrap();
    let out = plexus(&lonely, &["pub", "news", "anyone?", "--wait", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no peer subscribed"),
        "{}",
        stderr(&out)
    );
}
