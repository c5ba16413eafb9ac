//! Pins the projected turn p95 of every shipped experiment (fixed seed, shorter horizon), so a
//! change that moves a projection is a conscious one. When a model or mechanism changes on
//! purpose, rerun `cargo test --test regression`, check that the new values are explained by
//! the change, and update the table in the same commit.

use std::path::Path;

use capsim::config::{self, Overlay};
use capsim::runner;

/// (file, experiment name, horizon in seconds, replications, pinned turn p95 in seconds).
/// NaN pins an experiment that completes no turns.
#[rustfmt::skip]
const PINS: &[(&str, &str, f64, u32, f64)] = &[
    ("experiments/phase1.yaml", "phase1", 1200.0, 2, 4.685823),
    ("experiments/phase2.yaml", "phase2", 1200.0, 2, 4.847614999999999),
    ("experiments/phase3.yaml", "phase3", 1200.0, 2, 20.987903),
    ("experiments/phase1-deployed.yaml", "phase1-deployed", 1200.0, 2, 8.134655),
    ("experiments/phase2-deployed.yaml", "phase2-deployed", 1200.0, 2, 8.177662999999999),
    ("experiments/phase3-deployed.yaml", "phase3-deployed", 1200.0, 2, 8.099839),
    ("experiments/daily-cost.yaml", "daily-cost-100", 21600.0, 2, 9.863167),
    ("experiments/daily-cost.yaml", "daily-cost-500", 21600.0, 2, 8.345599),
    ("experiments/daily-cost.yaml", "daily-cost-1000", 21600.0, 2, 8.345599),
    ("experiments/seed-plan.yaml", "seed-plan-10-users", 1200.0, 2, 4.485119),
    ("experiments/seed-plan.yaml", "seed-plan-100-users", 1200.0, 2, 5.2367349999999995),
    ("experiments/seed-plan.yaml", "seed-plan-10-users-cpu-share", 1200.0, 2, 10.735615),
    ("experiments/seed-plan.yaml", "seed-plan-30-users-cpu-share", 1200.0, 2, 8.323070999999999),
    ("experiments/seed-plan.yaml", "seed-plan-500-users-40-slots-1-instance", 1200.0, 2, 4.458495),
    ("experiments/seed-plan-cost.yaml", "seed-plan-cost", 400.0, 1, 20.004863),
    ("experiments/seed-plan-daily-cost.yaml", "seed-plan-daily-cost-100", 21600.0, 2, 4.431871),
    ("experiments/seed-plan-daily-cost.yaml", "seed-plan-daily-cost-500", 21600.0, 2, 4.6960630000000005),
    ("experiments/seed-plan-daily-cost.yaml", "seed-plan-daily-cost-1000", 21600.0, 2, 4.624383),
    ("experiments/seed-optimizations.yaml", "seed-optimizations-sequential", 1200.0, 2, 6.072319),
    ("experiments/seed-optimizations.yaml", "seed-optimizations-parallel", 1200.0, 2, 4.137983),
    ("experiments/seed-prescaling.yaml", "seed-prescaling-threshold-min-1", 1200.0, 2, 19.431423000000002),
    ("experiments/seed-prescaling.yaml", "seed-prescaling-threshold-min-4", 1200.0, 2, 4.382719),
    ("experiments/seed-prescaling.yaml", "seed-prescaling-cloud-run-rule", 1200.0, 2, 4.378623),
    ("experiments/spike.yaml", "spike", 3600.0, 2, 8.159230999999998),
    ("experiments/step.yaml", "step", 3000.0, 2, 8.306687),
    ("experiments/what-if.yaml", "what-if-baseline", 1200.0, 2, 8.212479),
    ("experiments/what-if.yaml", "what-if-llm-2x-slower", 1200.0, 2, 16.752639000000002),
    ("experiments/what-if.yaml", "what-if-traffic-3x", 1200.0, 2, 8.312831),
    ("experiments/what-if.yaml", "what-if-llm-2x-slower-traffic-3x", 1200.0, 2, 16.592895),
    ("experiments/what-if.yaml", "what-if-free-tier-quota", 1200.0, 2, f64::NAN),
    ("experiments/seed-load-tests/1-concurrent-session-creation.yaml", "seed-1-concurrent-session-creation", 600.0, 20, f64::NAN),
    ("experiments/seed-load-tests/2-concurrent-turn-execution.yaml", "seed-2-concurrent-turn-execution", 600.0, 20, 5.8765301999999995),
    ("experiments/seed-load-tests/3-full-session-flow.yaml", "seed-3-full-session-flow", 600.0, 20, 8.3494902),
    ("experiments/seed-load-tests/4-rate-limiting.yaml", "seed-4-rate-limiting", 600.0, 20, f64::NAN),
    ("experiments/seed-load-tests/5-latency-distribution.yaml", "seed-5-latency-distribution", 600.0, 20, 8.468683799999999),
    ("experiments/sweeps/capacity.yaml", "capacity-plan-turn_p95-3s", 1200.0, 2, 5.281791),
    ("experiments/sweeps/capacity.yaml", "capacity-plan-turn_p95-10s", 1200.0, 2, 5.281791),
    ("experiments/sweeps/capacity.yaml", "capacity-deployed-turn_p95-3s", 1200.0, 2, 8.171519),
    ("experiments/sweeps/capacity.yaml", "capacity-deployed-turn_p95-10s", 1200.0, 2, 8.171519),
    ("experiments/sweeps/concurrency.yaml", "concurrency-2GiB-max_concurrency-5", 1200.0, 2, 8.130559),
    ("experiments/sweeps/concurrency.yaml", "concurrency-2GiB-max_concurrency-10", 1200.0, 2, 8.398847),
    ("experiments/sweeps/concurrency.yaml", "concurrency-2GiB-max_concurrency-20", 1200.0, 2, 8.349695),
    ("experiments/sweeps/concurrency.yaml", "concurrency-2GiB-max_concurrency-40", 1200.0, 2, 8.108031),
    ("experiments/sweeps/concurrency.yaml", "concurrency-2GiB-max_concurrency-80", 1200.0, 2, 8.108031),
    ("experiments/sweeps/concurrency.yaml", "concurrency-8GiB-max_concurrency-5", 1200.0, 2, 8.130559),
    ("experiments/sweeps/concurrency.yaml", "concurrency-8GiB-max_concurrency-10", 1200.0, 2, 8.398847),
    ("experiments/sweeps/concurrency.yaml", "concurrency-8GiB-max_concurrency-20", 1200.0, 2, 8.349695),
    ("experiments/sweeps/concurrency.yaml", "concurrency-8GiB-max_concurrency-40", 1200.0, 2, 8.151039),
    ("experiments/sweeps/concurrency.yaml", "concurrency-8GiB-max_concurrency-80", 1200.0, 2, 8.151039),
    ("experiments/sweeps/llm-latency.yaml", "llm-latency-latency_scale-1.0", 1200.0, 2, 8.349695),
    ("experiments/sweeps/llm-latency.yaml", "llm-latency-latency_scale-1.5", 1200.0, 2, 12.521471),
    ("experiments/sweeps/llm-latency.yaml", "llm-latency-latency_scale-2.0", 1200.0, 2, 15.798271),
    ("experiments/sweeps/llm-latency.yaml", "llm-latency-latency_scale-2.5", 1200.0, 2, 20.316159),
    ("experiments/sweeps/llm-latency.yaml", "llm-latency-latency_scale-3.0", 1200.0, 2, 22.913023000000003),
    ("experiments/sweeps/models.yaml", "models-default_model-gemini-2.0-flash", 1200.0, 2, 8.349695),
    ("experiments/sweeps/models.yaml", "models-default_model-gemini-2.5-flash", 1200.0, 2, 5.416959),
    ("experiments/sweeps/models.yaml", "models-default_model-gemini-2.5-flash-lite", 1200.0, 2, 6.027263),
    ("experiments/sweeps/platform.yaml", "platform-cloud_run-max_instances-10_vcpu-1", 1200.0, 2, 8.419327),
    ("experiments/sweeps/platform.yaml", "platform-cloud_run-max_instances-10_vcpu-2", 1200.0, 2, 8.349695),
    ("experiments/sweeps/platform.yaml", "platform-cloud_run-max_instances-100_vcpu-1", 1200.0, 2, 8.419327),
    ("experiments/sweeps/platform.yaml", "platform-cloud_run-max_instances-100_vcpu-2", 1200.0, 2, 8.349695),
    ("experiments/sweeps/platform.yaml", "platform-threshold-max_instances-10_vcpu-1", 1200.0, 2, 8.427519),
    ("experiments/sweeps/platform.yaml", "platform-threshold-max_instances-10_vcpu-2", 1200.0, 2, 8.654847),
    ("experiments/sweeps/platform.yaml", "platform-threshold-max_instances-100_vcpu-1", 1200.0, 2, 8.427519),
    ("experiments/sweeps/platform.yaml", "platform-threshold-max_instances-100_vcpu-2", 1200.0, 2, 8.654847),
    ("experiments/validation/mmc-10-0.8.yaml", "mmc-10-0.8", 2000.0, 2, 3.348479),
    ("experiments/validation/mm1-ps-0.5.yaml", "mm1-ps-0.5", 2000.0, 2, 7.294975),
    ("experiments/validation/mmc-1-0.5.yaml", "mmc-1-0.5", 5000.0, 2, 5.902335),
    ("experiments/validation/mmc-4-0.8.yaml", "mmc-4-0.8", 5000.0, 2, 4.636671),
    ("experiments/validation/mmc-10-0.9.yaml", "mmc-10-0.9", 5000.0, 2, 4.372479),
    ("experiments/validation/loss-5-4.yaml", "loss-5-4", 5000.0, 2, 2.981887),
    ("experiments/validation/md1-0.7.yaml", "md1-0.7", 5000.0, 2, 5.152767),
    ("experiments/validation/mg1-lognormal-0.6.yaml", "mg1-lognormal-0.6", 5000.0, 2, 14.802943),
    ("experiments/validation/mm1-ps-0.9.yaml", "mm1-ps-0.9", 5000.0, 2, 43.859967),
    ("experiments/validation/md1-ps-0.8.yaml", "md1-ps-0.8", 5000.0, 2, 12.947455000000001),
    ("experiments/validation/mginf-lognormal.yaml", "mginf-lognormal", 5000.0, 2, 2.971647),
    ("experiments/validation/fork-join-3.yaml", "fork-join-3", 5000.0, 2, 4.084735),
    ("experiments/validation/autoscale-cloud-run-step.yaml", "autoscale-cloud-run-step", 3000.0, 2, 1.000447),
    ("experiments/validation/autoscale-threshold-step.yaml", "autoscale-threshold-step", 4200.0, 2, 1.348607),
];

#[test]
fn shipped_experiments_keep_their_projected_p95() {
    let mut drifted = Vec::new();
    for (file, name, horizon, replications, pinned) in PINS {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let overlays = [
            Overlay::replications(*replications),
            Overlay::horizon(*horizon),
        ];
        let loaded =
            config::load_all_with(&path, &overlays).unwrap_or_else(|e| panic!("{file}: {e}"));
        let e = loaded
            .into_iter()
            .map(|l| l.experiment)
            .find(|e| e.name == *name)
            .unwrap_or_else(|| panic!("{file} has no experiment {name}"));
        let p95 = runner::run(&e, false)
            .expect("runs")
            .summary
            .turn_latency_s
            .p95
            .value;
        let same = (p95.is_nan() && pinned.is_nan()) || (p95 - pinned).abs() <= 1e-9 * pinned.abs();
        if !same {
            drifted.push(format!(
                "    (\"{file}\", \"{name}\", {horizon:.1}, {replications}, {p95:?}),"
            ));
        }
    }
    assert!(
        drifted.is_empty(),
        "projected p95 moved; if intended, update PINS:\n{}",
        drifted.join("\n")
    );
}

#[test]
fn every_shipped_experiment_is_pinned() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("experiments folder") {
            let p = entry.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                files.push(p);
            }
        }
    }
    for file in files {
        for loaded in config::load_all(&file).unwrap_or_else(|e| panic!("{e}")) {
            let name = loaded.experiment.name;
            assert!(
                PINS.iter().any(|p| p.1 == name),
                "experiment {name} ({}) has no regression pin",
                file.display()
            );
        }
    }
}
