//! What a host's link carried, by layer: the node's own byte counters
//! (`plexus daemon --metrics`) read from inside its namespace, so a
//! scenario can split the bytes its `tbf` counted into the blob protocol's
//! stream bytes and the rest (the other protocols, Yamux, Noise, TCP/IP
//! headers, ACKs).
//!
//! Not libp2p's `libp2p_bandwidth_bytes_total`: in a 24-getter crowd it
//! counted fewer bytes received over TCP, all protocols together, than the
//! blob protocol's own streams did on 15 of the 24 getters (up to 8 %
//! fewer), so it cannot split the rest further.

use std::process::Command;

use crate::Testbed;

/// Where each host's daemon serves its metrics, inside its own namespace.
pub(super) const METRICS: &str = "127.0.0.1:9464";

/// The flags that make a daemon serve them there.
pub(super) fn metrics_flags() -> Vec<String> {
    vec!["--metrics".into(), METRICS.into()]
}

/// The blob protocol's stream bytes host `i` received so far
/// (`/plexus/blobs/*`, every version and path), or `None` if its metrics
/// cannot be read (it ran without `--metrics`, or it has stopped). A GET
/// by Python's standard library, run inside the namespace, where the
/// daemon listens.
pub(super) fn blob_bytes_received(bed: &Testbed, i: usize) -> Option<f64> {
    let ns = &bed.net.links.get(i)?.ns;
    let get = format!(
        "import urllib.request,sys;sys.stdout.write(urllib.request.urlopen('http://{METRICS}/metrics',timeout=5).read().decode())"
    );
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", &get])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Some(parse(&text))
}

/// Sums the blob protocol's received counters out of the Prometheus text.
fn parse(text: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.starts_with("plexus_protocol_bytes_total{")
                && l.contains("protocol=\"/plexus/blobs/")
                && l.contains("direction=\"received\"")
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_sums_the_blob_protocol_received_on_every_version_and_path() {
        let text = "\
# HELP plexus_protocol_bytes_total Bytes.
plexus_protocol_bytes_total{protocol=\"/plexus/blobs/1.1.0\",direction=\"received\",path=\"direct\"} 1000
plexus_protocol_bytes_total{protocol=\"/plexus/blobs/1.0.0\",direction=\"received\",path=\"direct\"} 24
plexus_protocol_bytes_total{protocol=\"/plexus/blobs/1.1.0\",direction=\"sent\",path=\"direct\"} 5000
plexus_protocol_bytes_total{protocol=\"/plexus/search/1.0.0\",direction=\"received\",path=\"direct\"} 7
plexus_protocol_bytes_total{protocol=\"/plexus/blobs/1.1.0\",direction=\"received\",path=\"relayed\"} 100
libp2p_bandwidth_bytes_total{protocols=\"/ip4/tcp\",direction=\"Inbound\"} 1500
libp2p_bandwidth_bytes_total{protocols=\"/ip4/tcp\",direction=\"Outbound\"} 9000
libp2p_bandwidth_bytes_total{protocols=\"/ip4/udp/quic-v1\",direction=\"Inbound\"} 3
";
        assert_eq!(parse(text), 1124.0);
    }
}
