//! The validation suite: each file in `experiments/validation/` checked against a closed form.
//!
//! A case runs its experiment through the whole pipeline and compares named metrics with
//! theory. A check passes when the simulated 95 % confidence interval covers the theory value
//! or, where the interval is tighter than the simulator's own resolution, when the relative
//! error is under 1 % (percentiles come from HDR histograms with 3 significant digits).
//! Autoscaler cases compare the time-averaged instance count in windows where the
//! hand-worked trajectory is flat.

use std::path::Path;

use anyhow::Context;

use crate::config::{self, Arrivals, Experiment};
use crate::results::RunOutput;
use crate::runner;
use crate::stats::Estimate;
use crate::theory::{
    MmcQueue, erlang_b, fork_join_exponential_mean, mm1_ps_conditional_response,
    mm1_ps_mean_response, pollaczek_khinchine_mean_wait,
};

/// Relative error accepted when the interval misses the theory value.
pub const TOLERANCE: f64 = 0.01;

/// Files of the suite, relative to the repository root, in report order.
pub const CASES: &[&str] = &[
    "experiments/validation/mmc-1-0.5.yaml",
    "experiments/validation/mmc-4-0.8.yaml",
    "experiments/validation/mmc-10-0.8.yaml",
    "experiments/validation/mmc-10-0.9.yaml",
    "experiments/validation/loss-5-4.yaml",
    "experiments/validation/md1-0.7.yaml",
    "experiments/validation/mg1-lognormal-0.6.yaml",
    "experiments/validation/mm1-ps-0.5.yaml",
    "experiments/validation/mm1-ps-0.9.yaml",
    "experiments/validation/md1-ps-0.8.yaml",
    "experiments/validation/mginf-lognormal.yaml",
    "experiments/validation/fork-join-3.yaml",
    "experiments/validation/autoscale-cloud-run-step.yaml",
    "experiments/validation/autoscale-threshold-step.yaml",
];

/// One metric of one case against theory.
#[derive(Clone, Debug)]
pub struct Check {
    /// Experiment name.
    pub case: String,
    /// What is compared.
    pub metric: String,
    /// Closed-form value.
    pub theory: f64,
    /// Simulated estimate with its 95 % interval.
    pub simulated: Estimate,
    /// |simulated - theory| / theory.
    pub relative_error: f64,
    /// Interval covers theory, or relative error under [`TOLERANCE`].
    pub pass: bool,
}

impl Check {
    fn new(case: &str, metric: &str, theory: f64, simulated: Estimate) -> Check {
        let relative_error = (simulated.value - theory).abs() / theory.abs();
        Check {
            case: case.to_string(),
            metric: metric.to_string(),
            theory,
            simulated,
            relative_error,
            pass: simulated.contains(theory) || relative_error < TOLERANCE,
        }
    }
}

fn arrival_rate(e: &Experiment) -> anyhow::Result<f64> {
    match &e.workload.arrivals {
        Some(Arrivals::PerSecond(r)) => Ok(*r),
        _ => anyhow::bail!("{}: validation needs a constant arrival rate", e.name),
    }
}

fn component(out: &RunOutput, name: &str) -> Estimate {
    out.summary
        .latency_breakdown_s
        .iter()
        .find(|r| r.component == name)
        .map_or(
            Estimate {
                value: f64::NAN,
                ci95: [f64::NAN; 2],
            },
            |r| r.mean,
        )
}

/// Time-averaged ready instances over [from, to), averaged over replications.
fn instances_between(out: &RunOutput, from: f64, to: f64) -> Estimate {
    let rows: Vec<f64> = out
        .timeseries
        .iter()
        .filter(|r| r.time_s >= from && r.time_s < to)
        .map(|r| r.instances_ready)
        .collect();
    let value = rows.iter().sum::<f64>() / rows.len().max(1) as f64;
    Estimate {
        value,
        ci95: [f64::NAN; 2],
    }
}

/// Instance counts against a hand-worked trajectory: (metric, instances, from s, to s).
fn windows(name: &str, out: &RunOutput, expected: &[(&str, f64, f64, f64)]) -> Vec<Check> {
    expected
        .iter()
        .map(|(metric, n, from, to)| {
            Check::new(name, metric, *n, instances_between(out, *from, *to))
        })
        .collect()
}

fn mmc_checks(name: &str, out: &RunOutput, q: MmcQueue) -> Vec<Check> {
    let t = &out.summary.turn_latency_s;
    vec![
        Check::new(
            name,
            "P(wait > 0)",
            q.prob_wait(),
            out.summary.concurrency.turn_wait_probability,
        ),
        Check::new(
            name,
            "mean wait (s)",
            q.mean_wait(),
            component(out, "pending"),
        ),
        Check::new(name, "mean response (s)", q.mean_response(), t.mean),
        Check::new(name, "response p50 (s)", q.response_quantile(0.5), t.p50),
        Check::new(name, "response p95 (s)", q.response_quantile(0.95), t.p95),
        Check::new(name, "response p99 (s)", q.response_quantile(0.99), t.p99),
    ]
}

/// Theory for one case, from the experiment's own arrival rate and slot count.
fn expectations(e: &Experiment, out: &RunOutput) -> anyhow::Result<Vec<Check>> {
    let name = e.name.as_str();
    let slots = e.platform.max_concurrency * e.platform.min_instances;
    let t = &out.summary.turn_latency_s;
    Ok(match name {
        n if n.starts_with("mmc-") => mmc_checks(
            n,
            out,
            MmcQueue {
                lambda: arrival_rate(e)?,
                mu: 1.0,
                c: slots,
            },
        ),
        "loss-5-4" => vec![Check::new(
            name,
            "blocking probability (Erlang B)",
            erlang_b(slots, arrival_rate(e)?),
            out.summary.error_rate,
        )],
        "md1-0.7" => vec![Check::new(
            name,
            "mean wait (s), P-K",
            pollaczek_khinchine_mean_wait(arrival_rate(e)?, 1.0, 1.0),
            component(out, "pending"),
        )],
        "mg1-lognormal-0.6" => vec![Check::new(
            name,
            "mean wait (s), P-K",
            // Log-normal with mean 1 and cv 1.5: E[S^2] = mean^2 (1 + cv^2).
            pollaczek_khinchine_mean_wait(arrival_rate(e)?, 1.0, 1.0 + 1.5 * 1.5),
            component(out, "pending"),
        )],
        "mm1-ps-0.5" | "mm1-ps-0.9" => {
            let lambda = arrival_rate(e)?;
            vec![
                Check::new(
                    name,
                    "mean response (s), 1/(mu - lambda)",
                    mm1_ps_mean_response(lambda, 1.0),
                    t.mean,
                ),
                // E[T | x] = x / (1 - rho) for every size x, so E[T / x] = 1 / (1 - rho).
                Check::new(
                    name,
                    "mean slowdown T/x, from E[T|x] = x/(1 - rho)",
                    mm1_ps_conditional_response(1.0, lambda),
                    out.summary.cpu_utilization.slowdown,
                ),
            ]
        }
        "md1-ps-0.8" => vec![Check::new(
            name,
            "mean response of size x = 1 (s), x/(1 - rho)",
            mm1_ps_conditional_response(1.0, arrival_rate(e)?),
            t.mean,
        )],
        "mginf-lognormal" => {
            // Service log-normal with median 1 s and p95 3 s.
            let sigma = 3.0f64.ln() / 1.644_853_626_951_472_2;
            let q = |z: f64| (sigma * z).exp();
            vec![
                Check::new(name, "response p50 (s)", 1.0, t.p50),
                Check::new(name, "response p95 (s)", 3.0, t.p95),
                Check::new(name, "response p99 (s)", q(2.326_347_874_040_841), t.p99),
                Check::new(
                    name,
                    "mean response (s)",
                    (sigma * sigma / 2.0).exp(),
                    t.mean,
                ),
            ]
        }
        "fork-join-3" => vec![Check::new(
            name,
            "mean turn (s), H_3 / mu",
            fork_join_exponential_mean(3, 1.0),
            t.mean,
        )],
        "autoscale-cloud-run-step" => windows(
            name,
            out,
            &[
                ("instances at 3/s, 5-10 min", 1.0, 300.0, 600.0),
                ("instances at 27/s, 20-30 min", 5.0, 1200.0, 1800.0),
                ("instances back at 3/s, 40-50 min", 1.0, 2400.0, 3000.0),
            ],
        ),
        "autoscale-threshold-step" => windows(
            name,
            out,
            &[
                ("instances at 25 % CPU, 5-10 min", 1.0, 300.0, 600.0),
                (
                    "instances at 1.5 vCPU of work, 25-40 min",
                    3.0,
                    1500.0,
                    2400.0,
                ),
                (
                    "instances after 10+ min below 40 %, 60-70 min",
                    1.0,
                    3600.0,
                    4200.0,
                ),
            ],
        ),
        other => anyhow::bail!("no closed form registered for validation case `{other}`"),
    })
}

/// Runs one case; `scale` shortens (or lengthens) stationary cases' horizons.
pub fn run_case(file: &Path, scale: f64) -> anyhow::Result<Vec<Check>> {
    let mut e = config::load(file)?.experiment;
    if !e.name.starts_with("autoscale-") {
        let horizon = config::Overlay::horizon(e.horizon.0 * scale);
        e = config::load_with(file, &[horizon])?.experiment;
    }
    let out = runner::run(&e, false).with_context(|| format!("running {}", file.display()))?;
    expectations(&e, &out)
}

/// Runs every case under `root`.
pub fn run_all(root: &Path, scale: f64) -> anyhow::Result<Vec<Check>> {
    let mut all = Vec::new();
    for rel in CASES {
        all.extend(run_case(&root.join(rel), scale)?);
    }
    Ok(all)
}

fn cells(c: &Check) -> [String; 6] {
    let ci = if c.simulated.ci95.iter().all(|x| x.is_finite()) {
        format!(
            "{:.4} [{:.4}, {:.4}]",
            c.simulated.value, c.simulated.ci95[0], c.simulated.ci95[1]
        )
    } else {
        format!("{:.4}", c.simulated.value)
    };
    [
        c.case.clone(),
        c.metric.clone(),
        format!("{:.4}", c.theory),
        ci,
        format!("{:.2} %", c.relative_error * 100.0),
        if c.pass { "pass" } else { "FAIL" }.to_string(),
    ]
}

const HEADER: [&str; 6] = [
    "case",
    "metric",
    "theory",
    "simulated (95 % CI)",
    "rel. error",
    "result",
];

fn rows(checks: &[Check]) -> Vec<Vec<String>> {
    std::iter::once(HEADER.map(str::to_string).to_vec())
        .chain(checks.iter().map(|c| cells(c).to_vec()))
        .collect()
}

/// The checks as an aligned plain-text table.
pub fn table(checks: &[Check]) -> String {
    let failed = checks.iter().filter(|c| !c.pass).count();
    format!(
        "{}{} passed, {} failed\n",
        crate::report::table::aligned(&rows(checks)),
        checks.len() - failed,
        failed
    )
}

/// The checks as a Markdown document naming the command that made it.
pub fn markdown(checks: &[Check], command: &str) -> String {
    let mut out = String::from("# Validation against queueing theory\n\n");
    out.push_str(&format!(
        "Generated by `{command}`; do not edit by hand. Each case is a file in \
`experiments/validation/` run through the whole pipeline (file, model, replications, \
summary). A check passes when the simulated 95 % confidence interval across replications \
covers the theory value, or when the relative error is under {:.0} % (percentiles carry the \
HDR histograms' 3-significant-digit resolution; autoscaler cases compare time-averaged \
instance counts in windows where the hand-worked trajectory is flat).\n\n",
        TOLERANCE * 100.0
    ));
    out.push_str(&crate::report::table::markdown(&rows(checks)));
    let failed = checks.iter().filter(|c| !c.pass).count();
    out.push_str(&format!(
        "\n{} checks: {} passed, {} failed.\n",
        checks.len(),
        checks.len() - failed,
        failed
    ));
    out
}
