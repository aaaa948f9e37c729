//! `plexus pub`, `sub` and `chat`: topic messages through the daemon when
//! one runs for the data dir (the API streams them as server-sent events),
//! otherwise with a node of their own.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Result;
use plexus::{
    pubsub::{short_id, unix_millis, MAX_MESSAGE_BYTES},
    Error, Message, Node, PeerId, Subscription,
};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncBufReadExt;

use crate::{
    api::client::{Client, EventStream},
    content::{daemon, own_node},
    text::printable,
};

/// Longest `--wait` the daemon accepts for a publish.
pub const MAX_WAIT_SECS: u64 = 60;

/// A message as the API streams it and `plexus sub --json` prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiMessage {
    /// Topic name.
    pub topic: String,
    /// The author's peer id (from the message's signature).
    pub from: PeerId,
    /// Its last 8 characters.
    pub from_short: String,
    /// Send time by the author's clock, ms since the Unix epoch.
    pub sent_at_ms: u64,
    /// Receive time, ms since the Unix epoch.
    pub received_at_ms: u64,
    /// The payload, when it is UTF-8 text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The payload in hex, when it is not text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_hex: Option<String>,
}

impl From<&Message> for ApiMessage {
    fn from(m: &Message) -> Self {
        let text = String::from_utf8(m.data.clone()).ok();
        Self {
            topic: m.topic.clone(),
            from: m.from,
            from_short: short_id(&m.from),
            sent_at_ms: unix_millis(m.sent_at),
            received_at_ms: unix_millis(m.received_at),
            data_hex: text.is_none().then(|| hex::encode(&m.data)),
            text,
        }
    }
}

/// Answer of `POST /v1/pubsub/{topic}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishResponse {
    /// Topic name.
    pub topic: String,
    /// Payload bytes sent.
    pub bytes: usize,
    /// Subscribed peers known when it was sent.
    pub peers: usize,
}

/// Waits up to `wait` for a subscribed peer, then publishes.
pub async fn publish_waiting(
    node: &Node,
    topic: &str,
    data: Vec<u8>,
    wait: Duration,
) -> Result<usize, Error> {
    plexus::pubsub::check_topic(topic)?;
    if data.len() > MAX_MESSAGE_BYTES {
        return Err(Error::MessageTooLarge {
            size: data.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    let deadline = Instant::now() + wait;
    while node.topic_peers(topic).await?.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.publish(topic, data).await
}

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
    let answer = match daemon(data_dir).await {
        Some(client) => {
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
    Daemon(EventStream),
    Own(Subscription),
}

impl Feed {
    async fn next(&mut self) -> Result<Option<ApiMessage>> {
        match self {
            Feed::Daemon(events) => match events.next().await? {
                Some(data) => Ok(Some(serde_json::from_str(&data)?)),
                None => Ok(None),
            },
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
    if let Some(client) = daemon(data_dir).await {
        let id: serde_json::Value = client.get("/v1/id").await?;
        let me: PeerId = serde_json::from_value(id["peer_id"].clone())?;
        let events = client.events(&format!("/v1/pubsub/{topic}")).await?;
        return Ok((Feed::Daemon(events), Some(client), None, me));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_payloads_are_hex_in_json() {
        let m = Message {
            topic: "t".into(),
            from: PeerId::random(),
            sent_at: std::time::UNIX_EPOCH,
            received_at: std::time::UNIX_EPOCH + Duration::from_millis(5),
            data: vec![0xff, 0x00],
        };
        let api = ApiMessage::from(&m);
        assert_eq!((api.text, api.data_hex.as_deref()), (None, Some("ff00")));
        assert_eq!(api.received_at_ms, 5);
        assert_eq!(api.from_short, short_id(&m.from));
    }
}
