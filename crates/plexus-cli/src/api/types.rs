//! Every request and response body of the API, shared by the server
//! (`api/server`) and the client commands.

use std::path::PathBuf;

use plexus::{
    content::{BlobFormat, Hash},
    pubsub::{short_id, unix_millis},
    search::SearchHit,
    transfer::{DownloadStats, Progress},
    Message, Multiaddr, PeerId,
};
use serde::{Deserialize, Serialize};

/// Answer of `GET /v1/id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdResponse {
    /// The daemon's peer id.
    pub peer_id: PeerId,
    /// Where it listens.
    pub listen_addrs: Vec<Multiaddr>,
}

/// Body of `POST /v1/limits`: the caps to change, in bytes per second
/// (0: no cap); those left out stay as they are.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LimitsRequest {
    /// New cap on blob uploads.
    #[serde(default)]
    pub max_upload: Option<u64>,
    /// New cap on blob downloads.
    #[serde(default)]
    pub max_download: Option<u64>,
}

/// Body of `POST /v1/connect`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConnectRequest {
    /// Multiaddr to dial.
    pub addr: String,
}

/// Body of `POST /v1/connect`'s answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConnectResponse {
    /// The peer that answered.
    pub peer_id: PeerId,
}

/// Body of every error answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
}

/// Body of `POST /v1/share`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShareRequest {
    /// File or folder to share (absolute).
    pub path: PathBuf,
    /// Display name instead of the file name.
    #[serde(default)]
    pub name: Option<String>,
    /// Tags to record with it.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Encrypt it; the key is only in the answer's ticket.
    #[serde(default)]
    pub encrypt: bool,
}

/// Answer of `POST /v1/share`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShareResponse {
    /// The ticket to hand out.
    pub ticket: String,
    /// The content hash.
    pub hash: Hash,
    /// The hash as a CIDv1 (`raw`, BLAKE3 multihash), the name other
    /// libp2p nodes find its providers by.
    #[serde(default)]
    pub cid: String,
    /// File or folder name.
    pub name: String,
    /// Total bytes.
    pub size: u64,
    /// Tags recorded with it.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Encrypted: the ticket carries the key.
    #[serde(default)]
    pub encrypted: bool,
}

impl From<plexus::Shared> for ShareResponse {
    fn from(shared: plexus::Shared) -> Self {
        Self {
            encrypted: shared.ticket.key.is_some(),
            ticket: shared.ticket.to_string(),
            hash: shared.ticket.hash,
            cid: shared.ticket.hash.cid(),
            name: shared.name,
            size: shared.size,
            tags: shared.tags,
        }
    }
}

/// Body of `POST /v1/get`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetRequest {
    /// Ticket or hash.
    pub target: String,
    /// Output path (absolute).
    pub out: Option<PathBuf>,
    /// Without `out`: the folder (absolute) to write into, under the
    /// ticket's name or the hash (the dashboard's downloads folder).
    #[serde(default)]
    pub out_dir: Option<PathBuf>,
    /// Replace an existing path.
    pub force: bool,
    /// Fetch over a relayed connection when no direct one comes.
    #[serde(default)]
    pub allow_relay: bool,
}

/// The end of a `get`: figures and where the content was written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetSummary {
    /// Download figures.
    #[serde(flatten)]
    pub stats: DownloadStats,
    /// The file or folder written.
    pub out: PathBuf,
    /// For encrypted content, the plaintext bytes written (the figures
    /// count the encrypted bytes fetched and stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decrypted: Option<u64>,
}

/// One line of the NDJSON stream `POST /v1/get` answers with: progress
/// while it runs, then exactly one `done` or `failed`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum GetEvent {
    /// Live figures.
    Progress(Progress),
    /// Finished and written out.
    Done(GetSummary),
    /// Failed; nothing more follows.
    Failed {
        /// What went wrong, for a person.
        error: String,
    },
}

/// Body of `POST /v1/search`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchRequest {
    /// Keywords.
    pub words: Vec<String>,
    /// Hops, 0 to 7.
    pub ttl: u8,
    /// Seconds to collect results.
    pub timeout_secs: u64,
}

/// One result line: printed by `search --json`, streamed by the API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchResult {
    /// Content hash.
    pub hash: Hash,
    /// Display name.
    pub name: String,
    /// Total bytes.
    pub size: u64,
    /// Blob or collection.
    pub format: BlobFormat,
    /// Tags.
    pub tags: Vec<String>,
    /// The peer holding it.
    pub holder: PeerId,
    /// Where the holder listens.
    pub addrs: Vec<Multiaddr>,
    /// "flood" or "directory".
    pub source: String,
    /// A ticket that fetches it from the holder.
    pub ticket: String,
}

impl From<SearchHit> for SearchResult {
    fn from(hit: SearchHit) -> Self {
        Self {
            ticket: hit.ticket().to_string(),
            hash: hit.meta.hash,
            name: hit.meta.name,
            size: hit.meta.size,
            format: hit.meta.format,
            tags: hit.meta.tags,
            holder: hit.holder,
            addrs: hit.addrs,
            source: hit.source,
        }
    }
}

/// Body of `POST /v1/publish`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishRequest {
    /// Content hash.
    pub hash: Hash,
    /// Display name.
    pub name: String,
    /// Tags.
    pub tags: Vec<String>,
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn binary_payloads_are_hex_in_json() {
        let m = Message {
            topic: "t".into(),
            from: PeerId::random(),
            sent_at: UNIX_EPOCH,
            received_at: UNIX_EPOCH + Duration::from_millis(5),
            data: vec![0xff, 0x00],
        };
        let api = ApiMessage::from(&m);
        assert_eq!((api.text, api.data_hex.as_deref()), (None, Some("ff00")));
        assert_eq!(api.received_at_ms, 5);
        assert_eq!(api.from_short, short_id(&m.from));
    }

    #[test]
    fn get_events_are_one_tagged_object_each() {
        let p = GetEvent::Progress(Progress {
            total: 10,
            done: 4,
            peers: 2,
        });
        let line = serde_json::to_string(&p).unwrap();
        assert_eq!(
            line,
            r#"{"event":"progress","total":10,"done":4,"peers":2}"#
        );
        let failed: GetEvent = serde_json::from_str(r#"{"event":"failed","error":"x"}"#).unwrap();
        assert!(matches!(failed, GetEvent::Failed { error } if error == "x"));
    }
}

/// Body of `POST /v1/storage/store`.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoreRequest {
    /// Absolute path of the file.
    pub path: PathBuf,
    /// `K/N` erasure coding (default 4/8), or `None` with `replicas`.
    pub erasure: Option<String>,
    /// N whole copies instead of erasure coding.
    pub replicas: Option<u8>,
}

/// Answer of `POST /v1/storage/store`.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoreResponse {
    /// The storage ticket (holds the key).
    pub ticket: String,
    /// The object (its manifest's hash).
    pub object: Hash,
    /// Bytes of the file.
    pub size: u64,
    /// Bytes placed in the network, all shards.
    pub stored_bytes: u64,
    /// Holders placed.
    pub holders: usize,
    /// Seconds it took.
    pub secs: f64,
}

/// Body of `POST /v1/storage/get`.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredGetRequest {
    /// The storage ticket (`plexusstore1...`).
    pub ticket: String,
    /// Absolute output path.
    pub out: PathBuf,
    /// Replace the output if it exists.
    pub force: bool,
}

/// Answer of `POST /v1/storage/get`.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredGetResponse {
    /// Where the file was written.
    pub out: PathBuf,
    /// Its size.
    pub size: u64,
    /// Seconds it took.
    pub secs: f64,
}

/// Body of `POST /v1/storage/unstore`.
#[derive(Debug, Serialize, Deserialize)]
pub struct UnstoreRequest {
    /// The object (its manifest's hash).
    pub object: Hash,
}

/// Body of `POST /v1/jobs`: run a compute job (the daemon reads the files).
#[derive(Debug, Serialize, Deserialize)]
pub struct JobRequest {
    /// The module (`.wasm` or WebAssembly text), an absolute path.
    pub module: PathBuf,
    /// A directory (one unit per file) or a file (cut into `units`).
    pub inputs: PathBuf,
    /// Units to cut a file into.
    pub units: Option<u32>,
    /// Workers that must agree on each unit.
    pub quorum: usize,
    /// What each unit may use (the defaults when left out).
    #[serde(default)]
    pub limits: plexus::compute::Limits,
}

/// Answer of `POST /v1/jobs`.
#[derive(Debug, Serialize, Deserialize)]
pub struct JobStarted {
    /// The job's id on the daemon.
    pub id: u64,
}

/// Answer of `GET /v1/jobs/{id}`: its progress while it runs, its result
/// (once) when it ended.
#[derive(Debug, Serialize, Deserialize)]
pub struct JobState {
    /// How it goes (none: it ended).
    pub progress: Option<plexus::compute::JobProgress>,
    /// How it ended: the result or the error.
    pub result: Option<Result<plexus::compute::JobResult, String>>,
}

/// Which daemon path a download took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DownloadKind {
    /// `POST /v1/get`: content by ticket or hash (`plexus get`, the page).
    Get,
    /// `POST /v1/storage/get`: a stored object (`plexus get plexusstore1...`);
    /// no byte progress until it ends.
    Stored,
}

/// Where a download is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DownloadState {
    /// Still running.
    Active,
    /// Finished and written out.
    Done,
    /// Ended with an error.
    Failed,
}

/// One entry of `GET /v1/downloads`: a download the daemon runs or ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownloadEntry {
    /// The daemon's number for it (unique while the daemon runs).
    pub id: u64,
    /// Which path it took.
    pub kind: DownloadKind,
    /// The content hash, or for a stored object its manifest's hash.
    pub hash: Hash,
    /// Name from the ticket, when it had one.
    pub name: Option<String>,
    /// Where it is written.
    pub out: Option<PathBuf>,
    /// Bytes present and verified.
    pub done: u64,
    /// Bytes in all (0 while unknown).
    pub total: u64,
    /// Bytes per second over the last few seconds (the average, once ended).
    pub rate: f64,
    /// Providers being asked (while active) or that sent bytes (once done),
    /// when known.
    pub peers: Option<usize>,
    /// Active, done or failed.
    pub state: DownloadState,
    /// Why it failed.
    pub error: Option<String>,
    /// When it started, Unix milliseconds.
    pub started_unix_ms: u64,
    /// When it ended, Unix milliseconds.
    pub ended_unix_ms: Option<u64>,
}
