//! A new case is one file: cases written into a temporary folder are checked with no code
//! change, and files whose model breaks their theory's assumptions are refused before anything
//! runs, naming the file and the setting.

use std::path::Path;

use super::queue::second_moment;
use super::run_all;
use crate::dist::{DistSpec, Sampler};
use crate::units::Seconds;

/// Writes `<name>.yaml` into `dir`: the queueing lab, then `body`.
fn write_case(dir: &Path, name: &str, body: &str) {
    let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/queueing-lab.yaml");
    let text = format!("name: {name}\nextends: {}\n{body}", lab.display());
    std::fs::write(dir.join(format!("{name}.yaml")), text).unwrap();
}

/// The error of running the suite in a folder holding only this case.
fn refusal(body: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    write_case(dir.path(), "bad", body);
    let e = run_all(dir.path(), 1.0).expect_err("the case is refused");
    format!("{e:#}")
}

#[test]
fn a_new_case_is_one_file() {
    // Fork-join over two log-normal LLM calls: no shipped case has this shape, and its
    // percentiles come from the branch distribution's quantile function.
    let dir = tempfile::tempdir().unwrap();
    write_case(
        dir.path(),
        "fork-join-2-lognormal",
        "platform: { max_concurrency: 100000 }
llm: { models: { exponential-1s: { latency: { end_to_end: { lognormal: { median: 1s, p95: 3s } } } } } }
app:
  requests:
    turn:
      steps:
        - parallel:
            - llm: { agent: a, model: exponential-1s, calls: 1, prompt_tokens: 0, include_history: false, output_tokens: 0 }
            - llm: { agent: b, model: exponential-1s, calls: 1, prompt_tokens: 0, include_history: false, output_tokens: 0 }
workload: { arrivals: { per_second: 5 } }
horizon: 4000s
replications: 5
theory: { kind: fork_join, checks: [turn_p50, turn_p95, turn_p99] }
",
    );
    let checks = run_all(dir.path(), 1.0).expect("the new case runs");
    let metrics: Vec<&str> = checks.iter().map(|c| c.metric.as_str()).collect();
    assert_eq!(metrics, ["turn p50 (s)", "turn p95 (s)", "turn p99 (s)"]);
    // P(max <= t) = F(t)^2, so the turn's p-quantile is the branch's at sqrt(p), for the
    // log-normal with median 1 s and p95 3 s.
    let sigma = 3f64.ln() / 1.644_853_626_951_472_2;
    let z = |p: f64| -std::f64::consts::SQRT_2 * statrs::function::erf::erfc_inv(2.0 * p);
    for (c, p) in checks.iter().zip([0.5f64, 0.95, 0.99]) {
        let expected = (sigma * z(p.sqrt())).exp();
        assert!(
            (c.theory - expected).abs() < 1e-9,
            "{}: {}",
            c.metric,
            c.theory
        );
        assert_eq!(c.case, "fork-join-2-lognormal");
        // 100,000 turns: each percentile within 3 % of theory.
        assert!(c.relative_error < 0.03, "{}: {:?}", c.metric, c.simulated);
    }
}

#[test]
fn a_case_without_theory_is_refused() {
    let e = refusal("horizon: 1000s\n");
    assert!(
        e.contains("bad.yaml: a validation case needs a `theory:` block"),
        "{e}"
    );
}

#[test]
fn a_theory_block_rejects_unknown_fields_and_checks() {
    let e = refusal("horizon: 1000s\ntheory: { kind: erlang_c, checks: [p_wait], servers: 3 }\n");
    assert!(e.contains("bad.yaml") && e.contains("theory"), "{e}");
    assert!(e.contains("unknown field `servers`"), "{e}");
    let e = refusal("horizon: 1000s\ntheory: { kind: erlang_b, checks: [p_wait] }\n");
    assert!(e.contains("`p_wait` is not a choice here"), "{e}");
    let e = refusal("horizon: 1000s\ntheory: { kind: erlang_d, checks: [] }\n");
    assert!(e.contains("`erlang_d` is not a choice here"), "{e}");
}

#[test]
fn a_model_that_breaks_its_theory_is_refused() {
    let lognormal = "llm: { models: { exponential-1s: { latency: { end_to_end: { lognormal: { median: 1s, p95: 3s } } } } } }\n";
    let cases = [
        (
            format!("{lognormal}theory: {{ kind: erlang_c, checks: [p_wait] }}"),
            "erlang_c needs exponential service",
        ),
        (
            "platform: { max_concurrency: 2 }\ntheory: { kind: pollaczek_khinchine, checks: [mean_wait] }".into(),
            "pollaczek_khinchine needs one slot",
        ),
        (
            "theory: { kind: erlang_b, checks: [blocking] }".into(),
            "needs a loss system: `platform.pending_deadline: {fixed: 0s}`",
        ),
        (
            "theory: { kind: mg_infinity, checks: [mean_response] }".into(),
            "mg_infinity needs slots to spare",
        ),
        (
            "theory: { kind: processor_sharing, checks: [mean_response] }".into(),
            "processor_sharing needs a turn of one CPU burst",
        ),
        (
            "workload: { arrivals: { per_second: 2 } }\ntheory: { kind: erlang_c, checks: [p_wait] }"
                .into(),
            "needs utilisation below 1",
        ),
        (
            "theory: { kind: fork_join, checks: [mean_turn] }".into(),
            "fork_join needs a turn of one `parallel` step",
        ),
        (
            "theory: { kind: autoscaler_trajectory, windows: [] }".into(),
            "autoscaler_trajectory needs a scaling policy",
        ),
    ];
    for (body, message) in cases {
        let e = refusal(&format!("horizon: 1000s\n{body}\n"));
        assert!(e.contains("bad.yaml: theory: "), "{e}");
        assert!(e.contains(message), "{body}\n→ {e}");
    }
}

#[test]
fn a_trajectory_window_must_lie_inside_the_run() {
    let e = refusal(
        "horizon: 1000s
platform:
  max_instances: 3
  autoscaler: { cloud_run: { interval: 5s, window: 1m, cpu_target: 0%, concurrency_target: 60%, idle_retention: 2m } }
theory:
  kind: autoscaler_trajectory
  windows: [{ label: late, instances: 1, from: 900s, to: 1200s }]
",
    );
    assert!(
        e.contains("windows[0] (`late`): needs from < to <= horizon (1000 s)"),
        "{e}"
    );
}

#[test]
fn second_moments_from_the_quantile_function() {
    let sampler = |yaml: &str| {
        serde_yaml::from_str::<DistSpec<Seconds>>(yaml)
            .unwrap()
            .sampler()
            .unwrap()
    };
    assert!((second_moment(&Sampler::Constant(1.5)) - 2.25).abs() < 1e-12);
    // Exponential: 2 mean^2.
    let exp = sampler("exponential: { mean: 2s }");
    assert!((second_moment(&exp) - 8.0).abs() < 8e-8);
    // Log-normal with mean 1 and cv 1.5: E[S^2] = mean^2 (1 + cv^2).
    let lognormal = sampler("lognormal: { mean: 1s, cv: 1.5 }");
    let m2 = second_moment(&lognormal);
    assert!((m2 - 3.25).abs() < 3.25e-8, "{m2}");
}
