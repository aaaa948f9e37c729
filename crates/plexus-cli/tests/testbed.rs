//! The multi-host scenarios of `plexus-testbed`, run on the `plexus` binary
//! under test: daemons in network namespaces joined by a bridge, links
//! capped with tbf, cut and partitioned. Needs root and iproute2; fails with
//! a clear message when namespaces cannot be made. Each test prints its
//! table of achieved against ideal figures. The NAT scenarios also need
//! iptables (their routers masquerade) and fail, never skip, without it.

use std::path::Path;

use plexus_testbed::{
    scenarios,
    traversal::{self, Pair, Side},
    Mbit, NatKind, Report, Transport,
};

const PLEXUS: &str = env!("CARGO_BIN_EXE_plexus");

fn check(report: plexus_testbed::Result<Report>) {
    let report = report.unwrap_or_else(|e| panic!("scenario could not run: {e:#}"));
    println!("{report}");
    assert!(report.passed(), "below its bounds:\n{report}");
}

#[test]
fn swarm_1_seeder() {
    check(scenarios::swarm(Path::new(PLEXUS), 1, Mbit(20.0)));
}

#[test]
fn swarm_2_seeders() {
    check(scenarios::swarm(Path::new(PLEXUS), 2, Mbit(20.0)));
}

#[test]
fn swarm_4_seeders() {
    check(scenarios::swarm(Path::new(PLEXUS), 4, Mbit(20.0)));
}

#[test]
fn swarm_8_seeders() {
    check(scenarios::swarm(Path::new(PLEXUS), 8, Mbit(20.0)));
}

#[test]
fn uneven_seeders_do_not_hold_up_the_end() {
    let rates = [Mbit(2.0), Mbit(10.0), Mbit(50.0)];
    check(scenarios::uneven(Path::new(PLEXUS), &rates));
}

#[test]
fn getters_spread_pieces_among_themselves() {
    check(scenarios::spread(Path::new(PLEXUS), 8, Mbit(20.0)));
}

#[test]
fn cut_links_do_not_fail_the_download() {
    check(scenarios::cut_links(Path::new(PLEXUS), Mbit(20.0)));
}

#[test]
fn a_healed_partition_finds_everyone_again() {
    check(scenarios::partition(Path::new(PLEXUS), 10));
}

#[test]
fn lan_hosts_find_each_other_by_mdns() {
    check(scenarios::lan(Path::new(PLEXUS), 6));
}

fn pair(sharer: Side, getter: Side, transport: Transport, runs: usize, relayed_runs: usize) {
    let pair = Pair {
        sharer,
        getter,
        transport,
        runs,
        relayed_runs,
    };
    check(traversal::pair(Path::new(PLEXUS), pair).map(|o| o.report));
}

const PP: Side = Side::Behind(NatKind::PortPreserving);
const SYM: Side = Side::Behind(NatKind::Symmetric);

#[test]
fn peers_behind_two_nats_fetch_over_a_hole_punched_tcp_connection() {
    pair(PP, PP, Transport::Tcp, 20, 0);
}

#[test]
fn peers_behind_two_nats_fetch_over_a_hole_punched_quic_connection() {
    pair(PP, PP, Transport::Quic, 20, 0);
}

/// One plain get (refused with the reason) and one `--allow-relay` get
/// (over the relay) per transport: each waits out the 8 s hole-punch wait,
/// so CI runs one of each; `plexus-testbed punch` runs 5 of each.
#[test]
fn symmetric_nats_refuse_with_the_reason_or_relay_when_allowed_tcp() {
    pair(SYM, SYM, Transport::Tcp, 1, 1);
}

#[test]
fn symmetric_nats_refuse_with_the_reason_or_relay_when_allowed_quic() {
    pair(SYM, SYM, Transport::Quic, 1, 1);
}

#[test]
fn a_relayed_get_larger_than_the_relay_limit_stops_naming_the_limit() {
    check(traversal::limit::over_the_limit(
        Path::new(PLEXUS),
        Transport::Tcp,
    ));
}

#[test]
fn a_public_peer_gets_from_one_behind_a_nat_directly() {
    pair(PP, Side::Public, Transport::Tcp, 5, 0);
    pair(PP, Side::Public, Transport::Quic, 5, 0);
}

#[test]
fn a_peer_behind_a_nat_gets_from_a_public_one_directly() {
    pair(Side::Public, PP, Transport::Tcp, 5, 0);
    pair(Side::Public, PP, Transport::Quic, 5, 0);
}

#[test]
fn search_and_pubsub_reach_peers_behind_nats() {
    check(traversal::reach::reach(Path::new(PLEXUS)));
}

#[test]
fn reachability_recovers_after_a_firewall_comes_and_goes() {
    check(plexus_testbed::reach::recover(Path::new(PLEXUS)));
}

#[test]
fn a_private_node_serves_a_dht_lookup_to_a_public_one() {
    check(plexus_testbed::reach::serve(Path::new(PLEXUS)));
}

#[test]
fn a_public_node_finds_a_private_one_by_peer_id_and_connects_through_its_relay() {
    check(plexus_testbed::find::find_private(Path::new(PLEXUS)));
}

#[test]
fn a_private_node_moves_its_reservation_when_a_relay_dies() {
    check(plexus_testbed::reach::relay_loss(Path::new(PLEXUS)));
}

// Storage (issue 12). The kill sequence at the issue's own size (64 MiB,
// about 130 s in a debug build); 8 MiB for the others.
const STORED: u64 = 8 << 20;

#[test]
fn stored_64_mib_4_of_8_survives_its_owner_and_holders_killed_one_at_a_time() {
    let spread = plexus_testbed::storage::Spread::Erasure(4, 8);
    check(plexus_testbed::storage::kill_one_at_a_time(
        Path::new(PLEXUS),
        64 << 20,
        spread,
    ));
}

#[test]
fn stored_4_of_8_survives_4_holders_killed_at_once_and_is_repaired() {
    check(plexus_testbed::storage::kill_many_at_once(
        Path::new(PLEXUS),
        STORED,
    ));
}

#[test]
fn a_full_storer_is_skipped_and_an_unplaceable_store_says_what_it_found() {
    check(plexus_testbed::storage::quota(Path::new(PLEXUS)));
}

#[test]
fn a_zeroed_shard_is_caught_by_an_audit_and_rebuilt_elsewhere() {
    check(plexus_testbed::storage::rot(
        Path::new(PLEXUS),
        STORED,
        false,
    ));
}

#[test]
fn a_zeroed_and_a_deleted_shard_are_caught_and_rebuilt_elsewhere() {
    check(plexus_testbed::storage::rot(
        Path::new(PLEXUS),
        STORED,
        true,
    ));
}

#[test]
fn stored_3_replicas_survive_holders_killed_one_at_a_time() {
    let spread = plexus_testbed::storage::Spread::Replicas(3);
    check(plexus_testbed::storage::kill_one_at_a_time(
        Path::new(PLEXUS),
        STORED,
        spread,
    ));
}

#[test]
fn a_capped_upload_holds_its_rate() {
    use scenarios::Capped;
    check(scenarios::cap_rate(
        Path::new(PLEXUS),
        Capped::Upload,
        Mbit(16.0),
        16 << 20,
    ));
}

#[test]
fn a_capped_download_holds_its_rate() {
    use scenarios::Capped;
    check(scenarios::cap_rate(
        Path::new(PLEXUS),
        Capped::Download,
        Mbit(16.0),
        16 << 20,
    ));
}

/// Issue 16's flash crowd, scaled down for CI: 8 getters, 16 MiB, every
/// link 20 Mbit/s. The aim is 1.2 x the fluid bound and fewer than 2
/// copies from the seeder (`plexus-testbed crowd`). This debug build
/// measured 1.58-1.60 x and 1.05-1.10 copies (three runs, idle machine),
/// since the seeder offers each getter different pieces (`blobs::seeding`)
/// and getters keep one piece in flight per peer, not two; before that,
/// 1.9-3.0 x and 1.76-2.01 copies. CI holds it to 2.5 x (room for a loaded
/// machine) and 1.5 copies, which the old code failed. A crowd that stopped
/// trading among itself (every getter served by the seeder alone) takes
/// 8 x and 8 copies.
#[test]
fn a_flash_crowd_finishes_near_the_fluid_bound() {
    let crowd = scenarios::Crowd {
        slack: 2.5,
        max_copies: 1.5,
        ..scenarios::Crowd::new(8, 16 << 20)
    };
    check(scenarios::crowd(Path::new(PLEXUS), &crowd).map(|r| r.report));
}

#[test]
fn compute_on_six_cpu_limited_workers_speeds_up_and_equals_the_local_run() {
    check(scenarios::compute(Path::new(PLEXUS), 6, 60, 0.25));
}

#[test]
fn compute_survives_a_killed_worker_and_hostile_modules_and_a_non_worker_runs_nothing() {
    check(scenarios::compute_faults(Path::new(PLEXUS)));
}
