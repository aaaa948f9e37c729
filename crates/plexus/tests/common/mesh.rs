//! Linking helpers that need only `plexus` and `tokio`, so that the CLI's
//! `plexus bench pubsub` can include this same file (`#[path]`) instead of
//! keeping its own copy.

use std::time::Duration;

use plexus::{Error, Multiaddr, Node};

/// The node's TCP listen address.
pub fn tcp_addr(node: &Node) -> Multiaddr {
    node.listen_addrs()
        .iter()
        .find(|a| a.to_string().contains("/tcp/"))
        .cloned()
        .expect("a TCP listen address")
}

/// Polls every 100 ms until, for every link `(a, b)`, `a` has `b` and `b`
/// has `a` in its gossipsub mesh for `topic`. False if `limit` passes first.
pub async fn wait_for_mesh(
    nodes: &[Node],
    links: &[(usize, usize)],
    topic: &str,
    limit: Duration,
) -> Result<bool, Error> {
    let deadline = tokio::time::Instant::now() + limit;
    'wait: while tokio::time::Instant::now() < deadline {
        for &(a, b) in links {
            for (x, y) in [(a, b), (b, a)] {
                if !nodes[x]
                    .mesh_peers(topic)
                    .await?
                    .contains(&nodes[y].peer_id())
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue 'wait;
                }
            }
        }
        return Ok(true);
    }
    Ok(false)
}
