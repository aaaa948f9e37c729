//! `plexus share --encrypt` with real daemons: the ticket holder gets the
//! plaintext; a peer that fetches by bare hash stores and serves only
//! ciphertext (a search of its whole data dir finds no plaintext marker and
//! no file name); wrong and missing keys are clear errors.

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use common::{json, plexus, stderr, wait_for_percent, Daemon, PLEXUS};
use plexus::{content::Ticket, seal::Key};

const MARKER: &[u8] = b"PLAINTEXT-MARKER-q7Wz-do-not-leak|";

/// A file of `MARKER` repeated to at least `len` bytes (many chunks).
fn write_marked(path: &Path, len: usize) -> Vec<u8> {
    let bytes: Vec<u8> = MARKER.iter().copied().cycle().take(len).collect();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, &bytes).unwrap();
    bytes
}

/// Every regular file under `dir` that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                files += 1;
                let bytes = std::fs::read(&path).unwrap_or_default();
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    hits.push(path);
                }
            }
        }
    }
    assert!(files > 0, "nothing to search under {}", dir.display());
    hits
}

fn share_encrypted(a: &Daemon, path: &Path) -> (String, String) {
    let shared = json(a.cli(&["share", "--encrypt", path.to_str().unwrap(), "--json"]));
    assert_eq!(shared["encrypted"], true, "{shared}");
    let ticket = shared["ticket"].as_str().unwrap().to_string();
    let parsed: Ticket = ticket.parse().unwrap();
    assert!(parsed.key.is_some(), "the ticket carries the key");
    (ticket, shared["hash"].as_str().unwrap().to_string())
}

fn with_key(ticket: &str, key: Option<Key>) -> String {
    let mut t: Ticket = ticket.parse().unwrap();
    t.key = key;
    t.to_string()
}

/// `get HASH` by a peer without the key: it fetches and keeps the
/// ciphertext, and says the content is encrypted and the key is in the ticket.
fn get_bare_hash(c: &Daemon, hash: &str, out: &Path) {
    let got = c.cli(&["get", hash, "-o", out.to_str().unwrap()]);
    assert_eq!(got.status.code(), Some(1), "{}", stderr(&got));
    let err = stderr(&got);
    assert!(
        err.contains("is encrypted") && err.contains("plexus get TICKET"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written without the key");
    let listed = json(c.cli(&["ls", "--json"]));
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["hash"] == hash)
        .unwrap_or_else(|| panic!("C does not store {hash}: {listed}"));
    assert_eq!(entry["complete"], true);
}

#[test]
fn an_encrypted_file_is_plaintext_only_for_the_ticket_holder() {
    let root = tempfile::tempdir().unwrap();
    let a = Daemon::start(&root.path().join("a"), &[]);
    let b = Daemon::start(&root.path().join("b"), &["--bootstrap", &a.tcp_addr()]);
    let c = Daemon::start(&root.path().join("c"), &["--bootstrap", &a.tcp_addr()]);
    let src = root.path().join("diary.txt");
    let plain = write_marked(&src, 1024 * 1024 + 4321);
    let (ticket, hash) = share_encrypted(&a, &src);

    let out = root.path().join("diary-b.txt");
    let got = json(b.cli(&["get", &ticket, "-o", out.to_str().unwrap(), "--json"]));
    assert_eq!(std::fs::read(&out).unwrap(), plain, "{got}");
    assert_eq!(got["decrypted"], plain.len() as u64);
    assert_eq!(got["size"], plexus::seal::sealed_len(plain.len() as u64));

    get_bare_hash(&c, &hash, &root.path().join("diary-c.txt"));

    // C stored the content and never held plaintext; neither do the stores
    // of A and B (the plaintext is only in A's source and B's output).
    for dir in [
        c.data_dir.clone(),
        a.data_dir.join("store"),
        b.data_dir.join("store"),
    ] {
        let hits = files_containing(&dir, &MARKER[..16]);
        assert!(hits.is_empty(), "plaintext in {hits:?}");
    }

    // A wrong key and a missing key, with the ciphertext already stored.
    let wrong = root.path().join("wrong.txt");
    let bad = b.cli(&[
        "get",
        &with_key(&ticket, Some(Key::generate())),
        "-o",
        wrong.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("the ticket's key does not open this content"),
        "{}",
        stderr(&bad)
    );
    assert!(!wrong.exists());
    let keyless = b.cli(&[
        "get",
        &with_key(&ticket, None),
        "-o",
        wrong.to_str().unwrap(),
    ]);
    assert_eq!(keyless.status.code(), Some(1));
    assert!(
        stderr(&keyless).contains("is encrypted"),
        "{}",
        stderr(&keyless)
    );
    assert!(!wrong.exists());

    // The owner and the ticket holder gone, C (no key) serves the
    // ciphertext, and a newcomer with the ticket opens it.
    drop(a);
    drop(b);
    let d = Daemon::start(&root.path().join("d"), &["--bootstrap", &c.tcp_addr()]);
    let out = root.path().join("diary-d.txt");
    let got = json(d.cli(&["get", &ticket, "-o", out.to_str().unwrap(), "--json"]));
    assert_eq!(got["per_peer"][0]["peer_id"], c.peer_id.as_str(), "{got}");
    assert_eq!(std::fs::read(&out).unwrap(), plain);
}

#[test]
fn an_encrypted_folder_hides_its_file_names_too() {
    let root = tempfile::tempdir().unwrap();
    let a = Daemon::start(&root.path().join("a"), &[]);
    let b = Daemon::start(&root.path().join("b"), &["--bootstrap", &a.tcp_addr()]);
    let c = Daemon::start(&root.path().join("c"), &["--bootstrap", &a.tcp_addr()]);
    let src = root.path().join("folder");
    let secret_name = "merger-with-Initech-plan.txt";
    let one = write_marked(&src.join("2025").join(secret_name), 200_000);
    let two = write_marked(&src.join("empty-but-named-Zorblax.txt"), 0);
    let (ticket, hash) = share_encrypted(&a, &src);
    // No search record: an encrypted share publishes nothing by name.
    let found = b.cli(&["search", "folder", "--timeout", "2", "--json"]);
    assert!(found.status.success(), "{}", stderr(&found));
    let lines = String::from_utf8_lossy(&found.stdout).into_owned();
    assert!(!lines.contains(&hash), "{lines}");

    let out = root.path().join("copy");
    json(b.cli(&["get", &ticket, "-o", out.to_str().unwrap(), "--json"]));
    assert_eq!(
        std::fs::read(out.join("2025").join(secret_name)).unwrap(),
        one
    );
    assert_eq!(
        std::fs::read(out.join("empty-but-named-Zorblax.txt")).unwrap(),
        two
    );

    get_bare_hash(&c, &hash, &root.path().join("c-copy"));
    for needle in [&MARKER[..16], b"Initech", b"Zorblax"] {
        for dir in [
            c.data_dir.clone(),
            a.data_dir.join("store/blobs"),
            b.data_dir.join("store/blobs"),
        ] {
            let hits = files_containing(&dir, needle);
            assert!(
                hits.is_empty(),
                "{:?} in {hits:?}",
                String::from_utf8_lossy(needle)
            );
        }
    }

    let wrong = root.path().join("wrong");
    let bad = b.cli(&[
        "get",
        &with_key(&ticket, Some(Key::generate())),
        "-o",
        wrong.to_str().unwrap(),
    ]);
    assert!(
        stderr(&bad).contains("the ticket's key does not open this content"),
        "{}",
        stderr(&bad)
    );
    assert!(!wrong.exists());
    let keyless = b.cli(&[
        "get",
        &with_key(&ticket, None),
        "-o",
        wrong.to_str().unwrap(),
    ]);
    assert!(
        stderr(&keyless).contains("is encrypted"),
        "{}",
        stderr(&keyless)
    );
    assert!(!wrong.exists());
}

#[test]
fn an_encrypted_get_killed_with_sigkill_resumes_and_opens() {
    let root = tempfile::tempdir().unwrap();
    let a = Daemon::start(&root.path().join("a"), &[]);
    let src = root.path().join("big.txt");
    let plain = write_marked(&src, 64 * 1024 * 1024 + 77);
    let (ticket, _) = share_encrypted(&a, &src);
    let dir = root.path().join("getter");
    let out = root.path().join("big.copy");
    let get = |json: bool| {
        let mut args = vec!["get", &ticket, "-o", out.to_str().unwrap()];
        args.extend(json.then_some("--json"));
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };

    let mut child = Command::new(PLEXUS)
        .arg("--data-dir")
        .arg(&dir)
        .args(get(false))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill -9 once at least 30% is verified.
    let seen = wait_for_percent(&mut child, 30);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        seen.last().is_some_and(|l| l.starts_with("progress")),
        "{seen:?}"
    );
    assert!(
        !out.exists(),
        "nothing is written out before the download ends"
    );

    let args = get(true);
    let summary = json(plexus(
        &dir,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    let fetched = summary["fetched"].as_u64().unwrap();
    let size = summary["size"].as_u64().unwrap();
    println!("resume fetched {fetched} of {size} sealed bytes");
    assert!(fetched < size, "resume fetched everything again");
    assert!(std::fs::read(&out).unwrap() == plain);
    drop(a);
}
