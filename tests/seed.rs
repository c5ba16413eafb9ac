//! capsim's cost module reproduces the seed plan's arithmetic where the plan states its
//! assumptions (experiments/seed-plan-cost.yaml): Gemini $0.00195, Firestore $0.000066 and
//! Cloud Run $0.00076 per session, about $0.0028 in all; $0.28, $1.40 and $2.80 per day at
//! 100, 500 and 1,000 sessions.

use std::path::Path;

use capsim::config;
use capsim::runner;

#[test]
fn the_plans_cost_arithmetic_is_reproduced() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/seed-plan-cost.yaml");
    let e = config::load(&path).expect("loads").experiment;
    let s = runner::run(&e, false).expect("runs").summary;
    assert_eq!(s.turn_latency_s.n, 15, "one whole 15-turn session");
    assert_eq!(s.errors.total(), 0);
    // One session in the window: the window's cost is the session's cost.
    let window_share = (s.horizon_s - s.warmup_s) / 86_400.0;
    let part = |names: &[&str]| -> f64 {
        s.cost_usd
            .breakdown
            .iter()
            .filter(|r| names.contains(&r.component.as_str()))
            .map(|r| r.per_day.value * window_share)
            .sum()
    };
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1e-12);
    let gemini = part(&["llm_input", "llm_output"]);
    let firestore = part(&["firestore_reads", "firestore_writes", "firestore_deletes"]);
    let cloud_run = part(&[
        "cloud_run_cpu",
        "cloud_run_memory",
        "cloud_run_idle",
        "cloud_run_requests",
    ]);
    // 15 x (400 x $0.10 + 300 x $0.30) / 1M
    assert!(close(gemini, 0.00195), "gemini {gemini}");
    // 20 reads x $0.06 + 30 writes x $0.18, per 100k
    assert!(close(firestore, 0.000066), "firestore {firestore}");
    // 0.1 vCPU x 300 s x $0.000024 + 0.05 GB x 300 s x $0.0000025
    assert!(close(cloud_run, 0.0007575), "cloud run {cloud_run}");
    let per_session = s.cost_usd.per_session.expect("a session started").value;
    assert!(close(per_session, 0.0027735), "{per_session}");
    for (sessions, plan) in [(100.0, 0.28), (500.0, 1.40), (1000.0, 2.80)] {
        // The plan rounds to $0.0028 per session before multiplying.
        assert!(
            (per_session * sessions - plan).abs() < 0.03,
            "{sessions}/day"
        );
    }
}
