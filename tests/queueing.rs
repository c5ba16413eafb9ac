//! capsim against closed-form queueing results, through the whole pipeline (experiment file →
//! model → replications → summary): M/M/c with Erlang C, M/M/1 processor sharing, and
//! Little's law on full-model runs. Each theory value must fall inside the simulated 95 %
//! confidence interval across replications.

use std::path::Path;

use capsim::config;
use capsim::config::Overlay;
use capsim::results::RunOutput;
use capsim::runner;
use capsim::stats::Estimate;
use capsim::theory::{MmcQueue, mm1_ps_mean_response};

fn run(rel: &str, horizon: f64, replications: u32) -> RunOutput {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let overlays = [
        Overlay::seed(11),
        Overlay::replications(replications),
        Overlay::horizon(horizon),
    ];
    let e = config::load_with(&path, &overlays)
        .expect("experiment loads")
        .experiment;
    runner::run(&e, false).expect("runs")
}

fn assert_covers(what: &str, simulated: Estimate, theory: f64) {
    assert!(
        simulated.contains(theory),
        "{what}: theory {theory:.5} outside simulated {:.5} [{:.5}, {:.5}]",
        simulated.value,
        simulated.ci95[0],
        simulated.ci95[1]
    );
}

fn component_mean(out: &RunOutput, name: &str) -> Estimate {
    out.summary
        .latency_breakdown_s
        .iter()
        .find(|r| r.component.label() == name)
        .expect("component present")
        .mean
}

#[test]
fn mmc_matches_erlang_c() {
    let out = run("experiments/validation/mmc-10-0.8.yaml", 20_000.0, 10);
    let q = MmcQueue {
        lambda: 8.0,
        mu: 1.0,
        c: 10,
    };
    let s = &out.summary;
    assert!(s.turn_latency_s.n > 1_000_000, "n = {}", s.turn_latency_s.n);
    assert_covers(
        "P(wait > 0)",
        s.concurrency.turn_wait_probability,
        q.prob_wait(),
    );
    assert_covers("mean wait", component_mean(&out, "pending"), q.mean_wait());
    assert_covers("mean response", s.turn_latency_s.mean, q.mean_response());
    let l = s.littles_law.l;
    assert!(
        (l - q.mean_in_system()).abs() / q.mean_in_system() < 0.01,
        "L = {l:.4}, theory {:.4}",
        q.mean_in_system()
    );
    // Percentiles carry HDR quantisation (3 significant digits) on top of sampling error.
    let p95 = s.turn_latency_s.p95;
    let theory_p95 = q.response_quantile(0.95);
    assert!(
        (p95.value - theory_p95).abs() / theory_p95 < 0.01,
        "p95 {:.4} vs theory {theory_p95:.4}",
        p95.value
    );
}

#[test]
fn mm1_processor_sharing_mean_response() {
    let out = run("experiments/validation/mm1-ps-0.5.yaml", 20_000.0, 10);
    assert_covers(
        "M/M/1-PS mean response",
        out.summary.turn_latency_s.mean,
        mm1_ps_mean_response(0.5, 1.0),
    );
    // Nobody waits for a slot: sharing happens inside the instance.
    assert_eq!(out.summary.concurrency.turn_wait_probability.value, 0.0);
    let contention = component_mean(&out, "cpu_contention").value;
    // Mean response 2 s = 1 s of demand + 1 s of slowdown from sharing.
    assert!((contention - 1.0).abs() < 0.1, "contention {contention}");
}

#[test]
fn littles_law_holds_on_the_full_model() {
    for rel in [
        "experiments/phase2.yaml",
        "experiments/phase2-deployed.yaml",
    ] {
        let out = run(rel, 3_600.0, 3);
        let l = &out.summary.littles_law;
        assert!(l.l > 1.0, "{rel}: L = {}", l.l);
        assert!(
            l.relative_error < 0.02,
            "{rel}: L = {:.3}, lambda W = {:.3}",
            l.l,
            l.lambda_w
        );
    }
}
