//! Chat on a topic between two nodes in this program.
//!
//! Both nodes subscribe to the topic `lobby`; A says hello, B answers, and
//! each prints what it received: who sent it (the author, from the
//! message's signature) and the text.
//!
//! ```sh
//! cargo run -p plexus --example chat
//! ```
//!
//! Both nodes listen on 127.0.0.1 only, with mDNS off
//! ([`NodeConfig::loopback`]): nothing leaves this machine.

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use plexus::{Node, NodeConfig, Subscription};

const TOPIC: &str = "lobby";
/// Longest any one step may take.
const STEP: Duration = Duration::from_secs(15);

#[tokio::main]
async fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let a = Node::start(NodeConfig::loopback(dir.path().join("a"))).await?;
    let b = Node::start(NodeConfig::loopback(dir.path().join("b"))).await?;
    println!("node A: {}", a.peer_id());
    println!("node B: {}", b.peer_id());

    // Subscribe first, then connect: the nodes tell each other their topics.
    let mut a_sub = a.subscribe(TOPIC).await?;
    let mut b_sub = b.subscribe(TOPIC).await?;
    b.connect(a.listen_addrs()[0].clone()).await?;
    wait_for_each_other(&a, &b).await?;
    println!("A and B are both on topic {TOPIC:?}");

    a.publish(TOPIC, "hello, is anyone here?").await?;
    let (from, text) = receive(&mut b_sub, &b).await?;
    ensure!(
        from == a.peer_id(),
        "B got a message from {from}, not from A"
    );
    println!("B got from A: {text}");

    b.publish(TOPIC, "hi A, B here").await?;
    let (from, text) = receive(&mut a_sub, &a).await?;
    ensure!(
        from == b.peer_id(),
        "A got a message from {from}, not from B"
    );
    println!("A got from B: {text}");

    a.shutdown().await;
    b.shutdown().await;
    println!("done");
    Ok(())
}

/// Waits until each node forwards messages on the topic to the other (its
/// gossipsub mesh, formed at a heartbeat after they connect).
async fn wait_for_each_other(a: &Node, b: &Node) -> Result<()> {
    let deadline = tokio::time::Instant::now() + STEP;
    while tokio::time::Instant::now() < deadline {
        if a.mesh_peers(TOPIC).await?.contains(&b.peer_id())
            && b.mesh_peers(TOPIC).await?.contains(&a.peer_id())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("A and B did not join each other's mesh on {TOPIC:?} in {STEP:?}")
}

/// The next message on `sub` that `me` did not write (a subscription also
/// yields the node's own messages): its author and text.
async fn receive(sub: &mut Subscription, me: &Node) -> Result<(plexus::PeerId, String)> {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let message = tokio::time::timeout_at(deadline, sub.next())
            .await
            .context("no message arrived in time")?
            .context("the node stopped")?;
        if message.from != me.peer_id() {
            return Ok((message.from, String::from_utf8_lossy(&message.data).into()));
        }
    }
}
