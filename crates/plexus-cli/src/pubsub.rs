//! `plexus pub`, `sub` and `chat`: topic messages through the daemon when
//! one runs for the data dir (the API streams them as NDJSON),
//! otherwise with a node of their own.

use std::{path::Path, time::Duration};

use anyhow::Result;
use plexus::{pubsub::short_id, Node, PeerId, Subscription};
use reqwest::Method;
use tokio::io::AsyncBufReadExt;

use crate::{
    api::{
        client::Client,
        ops::{own_node, publish_waiting},
        stream::LineStream,
        types::{ApiMessage, PublishResponse, MAX_WAIT_SECS},
    },
    text::printable,
};

/// `plexus pub TOPIC MESSAGE`
pub async fn publish(
    data_dir: &Path,
    topic: &str,
    message: &str,
    wait: u64,
    json: bool,
) -> Result<()> {
    plexus::pubsub::check_topic(topic)?;
    let wait = wait.min(MAX_WAIT_SECS);
    let data = message.as_bytes().to_vec();
    let answer = match Client::running(data_dir).await {
        Some((client, _)) => {
            let path = format!("/v1/pubsub/{topic}?wait_secs={wait}");
            client.post_bytes(&path, data).await?
        }
        None => {
            let node = own_node(data_dir, false).await?;
            let result = publish_waiting(&node, topic, data, Duration::from_secs(wait)).await;
            if result.is_ok() {
                // Let the message leave before the node stops.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            node.shutdown().await;
            PublishResponse {
                topic: topic.to_string(),
                bytes: message.len(),
                peers: result?,
            }
        }
    };
    if json {
        println!("{}", serde_json::to_string(&answer)?);
    } else {
        println!(
            "sent {} bytes on {} ({} subscribed peers known)",
            answer.bytes, answer.topic, answer.peers
        );
    }
    Ok(())
}

/// Where messages come from: the daemon's event stream or our own node.
enum Feed {
    Daemon(LineStream<ApiMessage>),
    Own(Subscription),
}

impl Feed {
    async fn next(&mut self) -> Result<Option<ApiMessage>> {
        match self {
            Feed::Daemon(messages) => messages.next().await,
            Feed::Own(sub) => Ok(sub.next().await.map(|m| ApiMessage::from(&m))),
        }
    }
}

/// A subscription through the daemon, or a node of our own.
async fn open(
    data_dir: &Path,
    topic: &str,
) -> Result<(Feed, Option<Client>, Option<Node>, PeerId)> {
    plexus::pubsub::check_topic(topic)?;
    if let Some((client, id)) = Client::running(data_dir).await {
        let path = format!("/v1/pubsub/{topic}");
        let messages = client.stream(Method::GET, &path, None::<&()>).await?;
        return Ok((Feed::Daemon(messages), Some(client), None, id.peer_id));
    }
    let node = own_node(data_dir, false).await?;
    let sub = node.subscribe(topic).await?;
    let me = node.peer_id();
    Ok((Feed::Own(sub), None, Some(node), me))
}

fn print_message(m: &ApiMessage, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(m)?);
    } else {
        match &m.text {
            Some(text) => println!("[{}] {}", m.from_short, printable(text)),
            None => println!(
                "[{}] ({} bytes of binary data)",
                m.from_short,
                m.data_hex.as_deref().unwrap_or("").len() / 2
            ),
        }
    }
    Ok(())
}

/// `plexus sub TOPIC`: prints messages until Ctrl-C (or `count` of them).
pub async fn subscribe(data_dir: &Path, topic: &str, count: Option<u64>, json: bool) -> Result<()> {
    let (mut feed, _client, node, _) = open(data_dir, topic).await?;
    eprintln!("subscribed to {topic} (Ctrl-C to stop)");
    let mut seen = 0u64;
    let result = loop {
        if count.is_some_and(|c| seen >= c) {
            break Ok(());
        }
        tokio::select! {
            m = feed.next() => match m {
                Ok(Some(m)) => {
                    print_message(&m, json)?;
                    seen += 1;
                }
                Ok(None) => break Err(anyhow::anyhow!("the daemon closed the stream (did it stop?)")),
                Err(e) => break Err(e),
            },
            _ = tokio::signal::ctrl_c() => break Ok(()),
        }
    };
    if let Some(node) = node {
        node.shutdown().await;
    }
    result
}

/// `plexus chat TOPIC`: stdin lines out, others' messages in; Ctrl-D leaves.
pub async fn chat(data_dir: &Path, topic: &str) -> Result<()> {
    let (mut feed, client, node, me) = open(data_dir, topic).await?;
    eprintln!(
        "joined {topic} as {}; type a line and Enter to send, Ctrl-D to leave",
        short_id(&me)
    );
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let result = loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) if line.trim().is_empty() => {}
                Ok(Some(line)) => {
                    let sent = match (&client, &node) {
                        (Some(client), _) => client
                            .post_bytes::<PublishResponse>(&format!("/v1/pubsub/{topic}"), line.into_bytes())
                            .await
                            .map(|_| ()),
                        (None, Some(node)) => node.publish(topic, line).await.map(|_| ()).map_err(Into::into),
                        (None, None) => unreachable!("a daemon or a node"),
                    };
                    if let Err(e) = sent {
                        eprintln!("(not sent: {e:#})");
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e.into()),
            },
            m = feed.next() => match m {
                Ok(Some(m)) if m.from == me => {}
                Ok(Some(m)) => print_message(&m, false)?,
                Ok(None) => break Err(anyhow::anyhow!("the daemon closed the stream (did it stop?)")),
                Err(e) => break Err(e),
            },
        }
    };
    eprintln!("left {topic}");
    if let Some(node) = node {
        node.shutdown().await;
    }
    result
}
