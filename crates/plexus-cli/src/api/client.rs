//! The API client used by every command except `daemon` and `demo`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use reqwest::{Method, StatusCode};
use serde::{de::DeserializeOwned, Serialize};

use super::{sse::SseParser, ApiInfo, ErrorBody, API_FILE};

/// A connection to the daemon that owns a data dir.
pub struct Client {
    http: reqwest::Client,
    info: ApiInfo,
    data_dir: PathBuf,
}

impl Client {
    /// Finds the daemon of `data_dir` through its `api.json`.
    pub fn for_data_dir(data_dir: &Path) -> Result<Self> {
        let info = ApiInfo::read(data_dir).ok_or_else(|| no_daemon(data_dir))?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(120))
            .build()?;
        Ok(Self {
            http,
            info,
            data_dir: data_dir.to_path_buf(),
        })
    }

    /// `GET path`, decoded from JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call(Method::GET, path, None::<&()>).await
    }

    /// `POST path` with a JSON body, decoded from JSON.
    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// `DELETE path`, decoded from JSON.
    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call(Method::DELETE, path, None::<&()>).await
    }

    /// `POST path` with a JSON body; the successful response, unread.
    pub async fn send_json<B: Serialize>(&self, path: &str, body: &B) -> Result<reqwest::Response> {
        self.send(self.http.post(self.url(path)).json(body)).await
    }

    /// `POST path` with a raw byte body, answer decoded from JSON.
    pub async fn post_bytes<T: DeserializeOwned>(&self, path: &str, body: Vec<u8>) -> Result<T> {
        let request = self.http.post(self.url(path)).body(body);
        self.send(request).await?.json().await.map_err(Into::into)
    }

    /// `GET path` as a stream of server-sent events: call `next` on the
    /// answer for each event's data. No overall timeout.
    pub async fn events(&self, path: &str) -> Result<EventStream> {
        let http = reqwest::Client::new();
        let response = self.send(http.get(self.url(path))).await?;
        Ok(EventStream {
            response,
            parser: SseParser::default(),
            ready: std::collections::VecDeque::new(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.info.addr, path)
    }

    /// Sends with the token; turns refusals and error answers into errors.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let response = match request.bearer_auth(&self.info.token).send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Err(no_daemon(&self.data_dir)),
            Err(e) => bail!("the daemon's API at {} did not answer: {e}", self.info.addr),
        };
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            bail!(
                "the daemon at {} refused the API token in {} (a daemon started since? rerun the command, or restart the daemon)",
                self.info.addr,
                self.data_dir.join(API_FILE).display()
            );
        }
        if !status.is_success() {
            let message = match response.json::<ErrorBody>().await {
                Ok(body) => body.error,
                Err(_) => format!("the daemon answered {status}"),
            };
            return Err(anyhow!(message));
        }
        Ok(response)
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T> {
        let mut request = self.http.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        Ok(self.send(request).await?.json().await?)
    }
}

/// Server-sent events from the daemon.
pub struct EventStream {
    response: reqwest::Response,
    parser: SseParser,
    ready: std::collections::VecDeque<String>,
}

impl EventStream {
    /// The next event's data; `None` when the daemon closed the stream.
    pub async fn next(&mut self) -> Result<Option<String>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            match self.response.chunk().await? {
                Some(bytes) => self.ready.extend(self.parser.push(&bytes)),
                None => return Ok(None),
            }
        }
    }
}

fn no_daemon(data_dir: &Path) -> anyhow::Error {
    anyhow!(
        "no Plexus daemon is running for data dir {} (start one with: plexus daemon --data-dir {})",
        data_dir.display(),
        data_dir.display()
    )
}
