//! The DHT at scale, short: real Plexus nodes on the in-process memory
//! transport (no root, no namespaces). Every peer lookup and provider find
//! succeeds with a known hop count, the median is at most 3 hops, and
//! after 30% of the nodes leave at once the last round (after a routing
//! table refresh) succeeds fully again. `plexus-testbed dht-sim` is the
//! full-size version.

use std::time::{Duration, Instant};

use plexus_testbed::sim::{self, SimConfig};

/// Nodes in the short run (debug build on a shared 2-core machine).
const NODES: usize = 40;

#[tokio::test(flavor = "multi_thread")]
async fn dht_lookups_stay_short_and_survive_churn() {
    let started = Instant::now();
    let mut config = SimConfig::new(NODES);
    config.churn = vec![30];
    config.lookups = 20;
    config.refresh = Duration::from_secs(5);
    config.rounds = vec![0.0, 1.5];
    config.idle_window = Duration::from_secs(1);
    config.quiet_limit = Duration::from_secs(15);
    let report = sim::run(config).await.expect("simulation runs");
    println!("{report}");
    println!("took {:.1} s", started.elapsed().as_secs_f64());
    let breaches = report.breaches(3);
    assert!(breaches.is_empty(), "bounds broken: {breaches:?}");
    // The hop counts were really read from Kademlia's answers: with k = 20
    // about half of 40 nodes hold each provider record themselves (0 hops),
    // the others need at least one.
    assert!(report.finds.hops.2 >= 1, "{:?}", report.find_hops);
    assert_eq!(report.steps.len(), 1);
    assert_eq!(report.steps[0].left, NODES - NODES * 30 / 100);
}
