//! The API's one streaming style, NDJSON (`application/x-ndjson`): one JSON
//! object a line, and a blank line as a heartbeat after 15 s of silence
//! (so a server notices a client that went away); readers skip blank lines.
//! Search results, topic messages and download progress all use it.

use std::{convert::Infallible, marker::PhantomData, time::Duration};

use anyhow::{Context, Result};
use axum::{
    body::{Body, Bytes},
    http::header,
    response::{IntoResponse, Response},
};
use futures::{Stream, StreamExt};
use serde::{de::DeserializeOwned, Serialize};

/// Content type of every streamed answer.
pub const NDJSON: &str = "application/x-ndjson";

/// Silence after which the server sends a blank line.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// Server side: an answer streaming `items` as NDJSON, with heartbeats;
/// it ends when `items` ends.
pub fn ndjson<S, T>(items: S) -> Response
where
    S: Stream<Item = T> + Send + 'static,
    T: Serialize,
{
    let lines = futures::stream::unfold(Box::pin(items), |mut items| async move {
        let line = match tokio::time::timeout(HEARTBEAT, items.next()).await {
            Ok(Some(item)) => {
                let mut line = serde_json::to_vec(&item).expect("serializable");
                line.push(b'\n');
                line
            }
            Ok(None) => return None,
            Err(_) => b"\n".to_vec(),
        };
        Some((Ok::<_, Infallible>(Bytes::from(line)), items))
    });
    ([(header::CONTENT_TYPE, NDJSON)], Body::from_stream(lines)).into_response()
}

/// Client side: the lines of a streamed answer, decoded as they arrive.
pub struct LineStream<T> {
    response: reqwest::Response,
    buf: Vec<u8>,
    item: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> LineStream<T> {
    /// Reads `response`'s body as NDJSON.
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            buf: Vec::new(),
            item: PhantomData,
        }
    }

    /// The next object; `None` when the daemon closed the stream.
    pub async fn next(&mut self) -> Result<Option<T>> {
        loop {
            while let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue; // heartbeat
                }
                let item = serde_json::from_slice(&line).context("bad line from the daemon")?;
                return Ok(Some(item));
            }
            let chunk = self.response.chunk().await.map_err(|e| {
                anyhow::anyhow!(
                    "the daemon stopped answering in the middle (it was stopped or crashed: {e}); \
                     start it again and run the same command (a get resumes from what it verified)"
                )
            })?;
            match chunk {
                Some(bytes) => self.buf.extend_from_slice(&bytes),
                None => return Ok(None),
            }
        }
    }
}
