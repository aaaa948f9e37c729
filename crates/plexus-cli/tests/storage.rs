//! `plexus store`, `get` of a storage ticket, `pins` and `unstore` with
//! real daemons: the file comes back byte-identical with its owner's
//! daemon stopped and N - K holders gone.

mod common;

use std::time::Duration;

use common::{json, plexus, stderr, wait_until, Daemon};

#[test]
fn store_through_a_daemon_get_with_the_owner_and_two_holders_gone() {
    let root = tempfile::tempdir().unwrap();
    let first = Daemon::start(&root.path().join("s0"), &["--offer-storage", "16MiB"]);
    let via = first.tcp_addr();
    let mut storers = vec![first];
    for i in 1..4 {
        let dir = root.path().join(format!("s{i}"));
        storers.push(Daemon::start(
            &dir,
            &["--offer-storage", "16MiB", "--bootstrap", &via],
        ));
    }
    let owner = Daemon::start(&root.path().join("owner"), &["--bootstrap", &via]);
    // The first is the owner's bootstrap peer; the others are dialled.
    for s in &storers[1..] {
        let out = owner.cli(&["connect", &s.tcp_addr()]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let src = root.path().join("report.bin");
    let bytes: Vec<u8> = (0..700_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&src, &bytes).unwrap();

    // A bad shape is refused before anything is sent.
    let bad = owner.cli(&["store", src.to_str().unwrap(), "--erasure", "5/4"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("4/8"), "{}", stderr(&bad));

    let started = std::time::Instant::now();
    let stored = json(owner.cli(&["--json", "store", src.to_str().unwrap(), "--erasure", "2/4"]));
    eprintln!("store took {:?}", started.elapsed());
    assert_eq!(stored["holders"], 4);
    let ticket = stored["ticket"].as_str().unwrap().to_string();
    assert!(ticket.starts_with("plexusstore1"));
    let object = stored["object"].as_str().unwrap().to_string();

    let pins = json(owner.cli(&["--json", "pins"]));
    assert_eq!(pins[0]["alive"], 4);
    assert_eq!(pins[0]["needed"], 2);
    let held = json(storers[1].cli(&["--json", "pins"]));
    assert_eq!(held[0]["kind"], "held");

    // Owner offline, two of four holders gone.
    owner.terminate();
    storers.pop();
    storers.pop();
    // A newcomer without a daemon, bootstrapping from a live holder.
    let getter = root.path().join("getter");
    std::fs::create_dir_all(&getter).unwrap();
    std::fs::write(
        getter.join("config.toml"),
        format!("bootstrap = [\"{via}\"]\nmdns = false\n"),
    )
    .unwrap();
    let out = root.path().join("back.bin");
    let started = std::time::Instant::now();
    let got = plexus(&getter, &["get", &ticket, "-o", out.to_str().unwrap()]);
    assert!(got.status.success(), "{}", stderr(&got));
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    eprintln!("get without a daemon took {:?}", started.elapsed());

    // The owner's daemon is back: it ends the object, the holders free it.
    let owner = Daemon::start(&root.path().join("owner"), &["--bootstrap", &via]);
    let done = owner.cli(&["unstore", &object]);
    assert!(done.status.success(), "{}", stderr(&done));
    let freed = wait_until(Duration::from_secs(5), || {
        json(storers[1].cli(&["--json", "pins"]))
            .as_array()
            .is_some_and(|a| a.is_empty())
    });
    assert!(freed, "the holder still pins the object");
}
