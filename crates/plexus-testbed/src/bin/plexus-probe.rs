//! `plexus-probe`: a tiny TCP/UDP address echo the testbed runs inside
//! namespaces to prove what its NAT routers do (see `plexus_testbed::probe`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = plexus_testbed::probe::main(&args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
