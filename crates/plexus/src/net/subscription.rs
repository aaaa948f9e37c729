//! [`Subscription`]: the receiving end of a pub/sub topic.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use tokio::sync::mpsc;

use super::event_loop::Command;
use crate::pubsub::{self, Message};

/// Messages arriving on one topic ([`Node::subscribe`](crate::Node::subscribe)),
/// in arrival order, the node's own included. Also a
/// [`futures::Stream`]. Dropping it unsubscribes (the node leaves the topic
/// when its last subscription goes).
#[derive(Debug)]
pub struct Subscription {
    topic: String,
    id: u64,
    rx: mpsc::Receiver<Message>,
    commands: mpsc::Sender<Command>,
}

impl Subscription {
    pub(super) fn new(
        topic: String,
        id: u64,
        rx: mpsc::Receiver<Message>,
        commands: mpsc::Sender<Command>,
    ) -> Self {
        Self {
            topic,
            id,
            rx,
            commands,
        }
    }

    /// The topic name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The next message; `None` once the node has stopped.
    pub async fn next(&mut self) -> Option<Message> {
        self.rx.recv().await
    }

    /// A message if one is waiting, without blocking.
    pub fn try_next(&mut self) -> Option<Message> {
        self.rx.try_recv().ok()
    }
}

impl futures::Stream for Subscription {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Best effort: if the queue is full the event loop still notices the
        // closed receiver at the next message on this topic.
        let _ = self
            .commands
            .try_send(Command::Pubsub(pubsub::Command::Unsubscribe {
                topic: std::mem::take(&mut self.topic),
                id: self.id,
            }));
    }
}
