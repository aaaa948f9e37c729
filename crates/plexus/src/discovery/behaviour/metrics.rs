//! Discovery's libp2p events into libp2p's metrics (the node's registry,
//! see [`crate::metrics`]).

use libp2p::metrics::Recorder;

use super::{Behaviour, InnerEvent};

impl Behaviour {
    /// Records identify, ping and Kademlia events (mDNS has no metrics).
    pub(super) fn record(&self, event: &InnerEvent) {
        let Some(m) = self.metrics.as_deref() else {
            return;
        };
        match event {
            InnerEvent::Identify(e) => m.record(e),
            InnerEvent::Ping(e) => m.record(e),
            InnerEvent::Kad(e) => m.record(e),
            InnerEvent::Mdns(_) => {}
        }
    }
}
