//! The daemon's local HTTP+JSON API: the server half runs inside
//! `plexus daemon`, the client half in every other command. Both speak
//! the types of [`types`]; [`ops`] holds the node operations the server and
//! the commands without a daemon share; streams are NDJSON ([`stream`]).

pub mod client;
pub mod downloads;
pub mod ops;
pub mod server;
pub mod stream;
pub use plexus_cli::api_types as types;

use std::{net::SocketAddr, path::Path};

use serde::{Deserialize, Serialize};

/// File in the data dir that tells clients where the API is and its token.
pub const API_FILE: &str = "api.json";

/// Default address of the API.
pub const DEFAULT_API_ADDR: &str = "127.0.0.1:5101";

/// Contents of `api.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiInfo {
    /// Where the API listens.
    pub addr: SocketAddr,
    /// Bearer token every request must carry.
    pub token: String,
}

impl ApiInfo {
    /// Reads `api.json` from `data_dir`, if a daemon wrote one.
    pub fn read(data_dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(data_dir.join(API_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes `api.json` (owner-only permissions).
    pub fn write(&self, data_dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("serializable");
        plexus::identity::write_private(&data_dir.join(API_FILE), &json)
    }
}
