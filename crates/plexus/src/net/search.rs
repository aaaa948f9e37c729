//! Keyword search on the node.

use tokio::sync::mpsc;

use super::{event_loop::Command, Node};
use crate::{
    search::{self, SearchHit, SearchStats},
    Error,
};

impl Node {
    /// Searches by keywords: floods the query to neighbours with `ttl`
    /// (at most 7; 0 floods to nobody) and asks the configured directories. Verified,
    /// de-duplicated hits arrive on the receiver as they come; drop it to
    /// end the search.
    pub async fn search(
        &self,
        words: Vec<String>,
        ttl: u8,
    ) -> Result<mpsc::Receiver<SearchHit>, Error> {
        let (hits, rx) = mpsc::channel(1024);
        self.ask(|reply| Command::StartSearch {
            words,
            ttl,
            hits,
            reply,
        })
        .await??;
        Ok(rx)
    }

    /// Figures of the flooding search on this node.
    pub async fn search_stats(&self) -> Result<SearchStats, Error> {
        self.ask(|reply| Command::Search(search::Command::Stats { reply }))
            .await
    }
}
