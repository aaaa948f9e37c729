//! What a host's link carried, by layer: the node's own byte counters
//! (`plexus daemon --metrics`) read from inside its namespace, so a
//! scenario can split the bytes its `tbf` counted into the blob protocol's
//! stream bytes and the rest (the other protocols, Yamux, Noise, TCP/IP
//! headers, ACKs), and the share of its TCP data segments that were
//! retransmissions (the kernel's counters, read the same way).
//!
//! Not libp2p's `libp2p_bandwidth_bytes_total`: in a 24-getter crowd it
//! counted fewer bytes received over TCP, all protocols together, than the
//! blob protocol's own streams did on 15 of the 24 getters (up to 8 %
//! fewer), so it cannot split the rest further.

use std::process::Command;

use super::load::min_median_max;
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

/// What each host's link received per byte of a file of `size` bytes,
/// split into the blob protocol's streams and the rest (the other
/// protocols, Yamux, Noise, TCP/IP headers, ACKs): `received` holds
/// (host, bytes its link received), `before` and `after` each host's
/// [`blob_bytes_received`]. `None` if no host's counters could be read.
pub(super) fn layers_note(
    received: &[(usize, f64)],
    before: &[Option<f64>],
    after: &[Option<f64>],
    size: u64,
) -> Option<String> {
    let f = size as f64;
    let (blobs, rest): (Vec<f64>, Vec<f64>) = received
        .iter()
        .filter_map(|&(i, wire)| {
            let blobs = (after.get(i).copied()?? - before.get(i).copied()??).max(0.0);
            (blobs > 0.0).then(|| (blobs / f, (wire - blobs) / f))
        })
        .unzip();
    (!blobs.is_empty()).then(|| {
        format!(
            "of that, per byte of the file (min/median/max): the blob protocol's streams {} (the file, repeats, `Have` answers, requests), the rest {} (other protocols, Yamux, Noise, TCP/IP headers, ACKs)",
            thousandths(blobs),
            thousandths(rest)
        )
    })
}

/// Host `i`'s TCP data segments so far, from its namespace's kernel
/// counters: (sent for the first time, retransmitted). `None` if they
/// cannot be read.
///
/// Every retransmitted segment crossed the host's upload twice (or was
/// dropped on the way once), so the share shows what congestion in the
/// links' queues costs beside the headers.
pub(super) fn tcp_data_segments(bed: &Testbed, i: usize) -> Option<(u64, u64)> {
    let ns = &bed.net.links.get(i)?.ns;
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "cat",
            "/proc/net/snmp",
            "/proc/net/netstat",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |table: &str, name: &str| -> Option<u64> {
        let mut rows = text.lines().filter(|l| l.starts_with(table));
        let (names, values) = (rows.next()?, rows.next()?);
        let at = names.split_whitespace().position(|n| n == name)?;
        values.split_whitespace().nth(at)?.parse().ok()
    };
    Some((
        field("TcpExt:", "TCPOrigDataSent")?,
        field("Tcp:", "RetransSegs")?,
    ))
}

/// The share of host 0's (the seeder's) and `getters`' TCP data segments
/// that were retransmissions between two reads of [`tcp_data_segments`]
/// per host. `None` if the seeder's or no getter's counters could be read.
pub(super) fn retransmissions_note(
    before: &[Option<(u64, u64)>],
    after: &[Option<(u64, u64)>],
    getters: &[usize],
) -> Option<String> {
    // What congestion in the 100 ms queues cost: segments sent twice.
    let retransmitted = |i: usize| -> Option<f64> {
        let ((o0, r0), (o1, r1)) = (before.get(i).copied()??, after.get(i).copied()??);
        let (orig, re) = (o1.checked_sub(o0)?, r1.checked_sub(r0)?);
        (orig + re > 0).then(|| re as f64 / (orig + re) as f64 * 100.0)
    };
    let seeder = retransmitted(0)?;
    let shares: Vec<f64> = getters.iter().filter_map(|&i| retransmitted(i)).collect();
    (!shares.is_empty()).then(|| {
        format!(
            "TCP data segments that were retransmissions (%): seeder {seeder:.1}, getters (min/median/max) {}",
            min_median_max(shares)
        )
    })
}

/// min/median/max to three decimals.
fn thousandths(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    match (v.first(), v.last()) {
        (Some(lo), Some(hi)) => format!("{lo:.3}/{:.3}/{hi:.3}", v[v.len() / 2]),
        _ => "-".into(),
    }
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

    #[test]
    fn layers_note_splits_each_link_and_skips_hosts_without_counters() {
        let received = [(1, 1150.0), (2, 1100.0), (3, 999.0)];
        let before = [None, Some(0.0), Some(10.0), None];
        let after = [None, Some(1030.0), Some(1030.0), Some(5.0)];
        let note = layers_note(&received, &before, &after, 1000).unwrap();
        assert!(
            note.contains("streams 1.020/1.030/1.030")
                && note.contains("the rest 0.080/0.120/0.120"),
            "{note}"
        );
        assert_eq!(layers_note(&received, &[None; 4], &after, 1000), None);
    }

    #[test]
    fn retransmissions_note_needs_the_seeder_and_one_getter() {
        let before = [Some((0, 0)), Some((100, 0)), None];
        let after = [Some((98, 2)), Some((190, 10)), Some((50, 5))];
        let note = retransmissions_note(&before, &after, &[1, 2]).unwrap();
        assert!(
            note.contains("seeder 2.0, getters (min/median/max) 10.00/10.00/10.00"),
            "{note}"
        );
        assert_eq!(retransmissions_note(&[None; 3], &after, &[1, 2]), None);
        assert_eq!(retransmissions_note(&before, &after, &[2]), None);
    }
}
