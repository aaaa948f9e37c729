//! The API client used by every command except `daemon` and `demo`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use reqwest::{Method, StatusCode};
use serde::{de::DeserializeOwned, Serialize};

use super::{
    stream::LineStream,
    types::{ErrorBody, IdResponse},
    ApiInfo, API_FILE,
};

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

    /// The daemon of `data_dir` and its id, if one is running and answering.
    pub async fn running(data_dir: &Path) -> Option<(Self, IdResponse)> {
        let client = Self::for_data_dir(data_dir).ok()?;
        let id = client.get::<IdResponse>("/v1/id").await.ok()?;
        Some((client, id))
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

    /// `POST path` with a raw byte body, answer decoded from JSON.
    pub async fn post_bytes<T: DeserializeOwned>(&self, path: &str, body: Vec<u8>) -> Result<T> {
        let request = self.http.post(self.url(path)).body(body);
        self.send(request).await?.json().await.map_err(Into::into)
    }

    /// `method path` (with a JSON body, if any) answered by a stream of
    /// NDJSON lines: call `next` on the answer for each object. No overall
    /// timeout (streams last as long as they need).
    pub async fn stream<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<LineStream<T>> {
        let mut request = reqwest::Client::new().request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        Ok(LineStream::new(self.send(request).await?))
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

fn no_daemon(data_dir: &Path) -> anyhow::Error {
    anyhow!(
        "no Plexus daemon is running for data dir {} (start one with: plexus daemon --data-dir {})",
        data_dir.display(),
        data_dir.display()
    )
}
