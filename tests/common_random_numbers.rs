//! Common random numbers: each random purpose draws from its own stream derived from (seed,
//! replication, purpose), so two configurations that differ in one parameter see the same
//! users. Here the instance count and slots change; every session's arrival time does not.

use std::path::Path;

use capsim::config;
use capsim::system::model::Model;
use capsim::system::run_replication;

#[test]
fn changing_the_fleet_leaves_every_arrival_time_unchanged() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/daily-cost.yaml");
    let base = config::load_all(&path)
        .expect("loads")
        .into_iter()
        .map(|l| l.experiment)
        .find(|e| e.name == "daily-cost-1000")
        .expect("variant");
    let mut small = base.clone();
    small.platform.min_instances = 1;
    small.platform.max_instances = 1;
    small.platform.max_concurrency = 1;
    small.horizon = capsim::units::Seconds(6.0 * 3600.0);
    let mut big = small.clone();
    big.platform.min_instances = 1;
    big.platform.max_instances = 100;
    big.platform.max_concurrency = 20;
    let (a, b) = (Model::build(&small).unwrap(), Model::build(&big).unwrap());
    for rep in 0..3 {
        let (ra, _) = run_replication(&a, rep, 0.0).expect("runs");
        let (rb, _) = run_replication(&b, rep, 0.0).expect("runs");
        assert_ne!(ra.arrivals_fingerprint, 0, "sessions arrived");
        assert_eq!(
            ra.arrivals_fingerprint, rb.arrivals_fingerprint,
            "replication {rep}: arrival times differ between fleets"
        );
        // The fleets do differ in what they do with those users: one slot makes them queue.
        assert_ne!(ra.measured.turn.mean, rb.measured.turn.mean);
    }
    // A different replication or seed sees different users.
    let r0 = run_replication(&a, 0, 0.0)
        .expect("runs")
        .0
        .arrivals_fingerprint;
    let r1 = run_replication(&a, 1, 0.0)
        .expect("runs")
        .0
        .arrivals_fingerprint;
    assert_ne!(r0, r1);
    let mut reseeded = a.clone();
    reseeded.seed += 1;
    let s0 = run_replication(&reseeded, 0, 0.0)
        .expect("runs")
        .0
        .arrivals_fingerprint;
    assert_ne!(r0, s0);
}
