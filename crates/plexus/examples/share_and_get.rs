//! Share a file on one node and fetch it on another, both in this program.
//!
//! Node A shares a file and prints its ticket; node B fetches it twice:
//! once from the ticket (which names A and its addresses), once knowing
//! only the hash (B finds A through the DHT). Every 16 KiB chunk group is
//! verified against the hash on arrival; the copy written out is compared
//! byte for byte with the original.
//!
//! ```sh
//! cargo run -p plexus --example share_and_get
//! ```
//!
//! Both nodes listen on 127.0.0.1 only, with mDNS off
//! ([`NodeConfig::loopback`]): nothing leaves this machine.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use plexus::{
    content::{share, BlobFormat, Ticket},
    transfer::GetOptions,
    Node, NodeConfig,
};

/// Longest any one step may take.
const STEP: Duration = Duration::from_secs(20);

#[tokio::main]
async fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;

    // Two nodes on loopback; B joins the network through A.
    let a = Node::start(NodeConfig::loopback(dir.path().join("a"))).await?;
    let mut config = NodeConfig::loopback(dir.path().join("b"));
    config.bootstrap = vec![a.listen_addrs()[0].clone()];
    let b = Node::start(config).await?;
    println!("node A: {}", a.peer_id());
    println!("node B: {}", b.peer_id());

    // A shares a file: it is imported into A's store and announced.
    let original = dir.path().join("hello.txt");
    std::fs::write(&original, "Hello from node A!\n".repeat(10_000))?;
    let shared = a.share(&original).await?;
    println!(
        "A shared {} ({} bytes), hash {}",
        shared.name, shared.size, shared.ticket.hash
    );
    let text = shared.ticket.to_string();
    println!("ticket: {text}");

    // B gets it from the ticket, as text, the way it would arrive by chat
    // or e-mail.
    let ticket: Ticket = text.parse().map_err(anyhow::Error::msg)?;
    let options = GetOptions {
        providers: vec![(ticket.provider, ticket.addrs.clone())],
        use_dht: false,
        allow_relay: false,
    };
    let download = b.get(ticket.hash, Some(ticket.format), options);
    let stats = tokio::time::timeout(STEP, download.finish())
        .await
        .context("the get by ticket took too long")??;
    println!(
        "B fetched {} bytes by ticket in {:.3} s, verified chunk by chunk",
        stats.fetched, stats.secs
    );
    let copy = dir.path().join("copy.txt");
    share::export(b.store(), &ticket.hash, BlobFormat::Raw, &copy, false)?;
    ensure!(
        std::fs::read(&copy)? == std::fs::read(&original)?,
        "the copy differs from the original"
    );
    println!("B's copy is identical to A's file");

    // A second file, fetched by its bare hash: B asks the DHT who has it.
    let second = dir.path().join("numbers.txt");
    let numbers: String = (0..20_000).map(|i| format!("{i}\n")).collect();
    std::fs::write(&second, &numbers)?;
    let hash = a.share(&second).await?.ticket.hash;
    let options = GetOptions {
        providers: Vec::new(),
        use_dht: true,
        allow_relay: false,
    };
    let stats = tokio::time::timeout(STEP, b.get(hash, None, options).finish())
        .await
        .context("the get by hash took too long")??;
    let from: Vec<_> = stats.per_peer.iter().map(|p| p.peer_id).collect();
    ensure!(
        from == [a.peer_id()],
        "expected the bytes from A, got {from:?}"
    );
    let copy = dir.path().join("numbers-copy.txt");
    share::export(b.store(), &hash, stats.format, &copy, false)?;
    ensure!(
        std::fs::read_to_string(&copy)? == numbers,
        "the second copy differs from the original"
    );
    println!(
        "B found A in the DHT and fetched {hash} ({} bytes) by hash alone; identical",
        stats.size
    );

    a.shutdown().await;
    b.shutdown().await;
    println!("done");
    Ok(())
}
