//! Autoscaling policies. Each policy is one file implementing [`ScalingPolicy`]: its checks
//! (its constructor refuses parameters it cannot run), its name, its cadence, its decision
//! rule and the lines it wants drawn on charts. The world calls it every cadence interval with
//! metrics averaged over the cadence window and applies the decision: start instances up to the
//! desired count (bounded by max instances), or remove idle instances down to it (never below
//! min instances, and only instances idle for at least the policy's retention).
//!
//! A new policy takes three touches: its file here (plus its arm in [`build`], which the
//! compiler demands), its variant in `config::AutoscalerSpec`, and its section in
//! `docs/experiment-files.md` (a test fails if the documentation misses a policy).

mod cloud_run;
mod threshold;

use std::collections::VecDeque;

pub use cloud_run::CloudRunPolicy;
pub use threshold::ThresholdPolicy;

use crate::config::AutoscalerSpec;
use crate::results::ScalingLines;
use crate::units::Seconds;

/// What a policy sees at an evaluation.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScalingMetrics {
    /// Current time.
    pub now: f64,
    /// Ready instances.
    pub ready: u32,
    /// Starting instances.
    pub starting: u32,
    /// Mean busy vCPUs over the window (all instances).
    pub busy_vcpus: f64,
    /// Mean CPU utilisation of ready instances over the window.
    pub cpu_utilization: f64,
    /// Mean in-flight requests over the window.
    pub in_flight: f64,
    /// Requests pending now.
    pub pending: u32,
    /// vCPUs per instance.
    pub vcpu: f64,
    /// Max concurrency per instance.
    pub max_concurrency: u32,
}

/// A policy's decision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    /// Instances wanted (ready plus starting), before min/max bounds.
    pub desired: u32,
    /// Only instances idle at least this long may be removed.
    pub idle_retention: f64,
}

/// When a policy looks: every `interval` seconds, at metrics averaged over the last `window`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cadence {
    /// Seconds between evaluations.
    pub interval: f64,
    /// Averaging window of the metrics, seconds.
    pub window: f64,
}

impl Cadence {
    /// The cadence of policy `policy`, refusing a non-positive interval or window.
    pub fn checked(policy: &str, interval: Seconds, window: Seconds) -> Result<Self, SpecError> {
        for (field, value) in [("interval", interval.0), ("window", window.0)] {
            if !(value.is_finite() && value > 0.0) {
                return Err(SpecError::new(
                    policy,
                    field,
                    format!("must be greater than 0 (got {value})"),
                ));
            }
        }
        Ok(Self {
            interval: interval.0,
            window: window.0,
        })
    }
}

/// Why a policy's parameters cannot run.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    /// Field path below `platform.autoscaler`, e.g. `threshold.scale_down_cpu`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl SpecError {
    /// An error on `field` of policy `policy`.
    pub fn new(policy: &str, field: &str, message: impl Into<String>) -> Self {
        Self {
            field: format!("{policy}.{field}"),
            message: message.into(),
        }
    }
}

/// A CPU-utilisation line worth drawing on charts: the level and its label.
pub type CpuLine = (f64, String);

/// An autoscaling policy.
pub trait ScalingPolicy: Send {
    /// The policy's key in experiment files (`threshold`, `cloud_run`).
    fn name(&self) -> &'static str;
    /// When it evaluates and over which window.
    fn cadence(&self) -> Cadence;
    /// Decides the instance count.
    fn decide(&mut self, m: &ScalingMetrics) -> Decision;
    /// CPU-utilisation lines worth drawing on charts, with labels.
    fn cpu_lines(&self) -> Vec<CpuLine>;
    /// The in-flight requests per instance the rule aims at, as a fraction of max concurrency
    /// (`None` when it does not scale on concurrency), drawn on charts.
    fn concurrency_target(&self) -> Option<f64>;
}

/// Builds the policy named in the experiment (`None` for `fixed`), or says which of its
/// parameters cannot run.
pub fn build(spec: &AutoscalerSpec) -> Result<Option<Box<dyn ScalingPolicy>>, SpecError> {
    fn boxed<P: ScalingPolicy + 'static>(
        policy: Result<P, SpecError>,
    ) -> Result<Option<Box<dyn ScalingPolicy>>, SpecError> {
        Ok(Some(Box::new(policy?)))
    }
    match spec {
        AutoscalerSpec::Fixed => Ok(None),
        AutoscalerSpec::Threshold(t) => boxed(ThresholdPolicy::new(t.clone())),
        AutoscalerSpec::CloudRun(c) => boxed(CloudRunPolicy::new(c.clone())),
    }
}

/// A checked autoscaler spec, compiled once per run: each replication gets a fresh policy from
/// it, and the charts read its name and lines without building one.
#[derive(Clone, Debug)]
pub struct Autoscaler {
    spec: AutoscalerSpec,
    /// The policy's name and chart lines.
    pub lines: ScalingLines,
}

impl Autoscaler {
    /// Checks the spec and records its chart lines (`max_instances` is drawn beside them).
    pub fn compile(spec: &AutoscalerSpec, max_instances: u32) -> Result<Self, SpecError> {
        let policy = build(spec)?;
        Ok(Self {
            spec: spec.clone(),
            lines: ScalingLines {
                policy: policy.as_ref().map_or("fixed", |p| p.name()).to_string(),
                cpu: policy.as_ref().map(|p| p.cpu_lines()).unwrap_or_default(),
                concurrency_target: policy.and_then(|p| p.concurrency_target()),
                max_instances,
            },
        })
    }

    /// A fresh policy for one replication (`None` for `fixed`).
    pub fn policy(&self) -> Option<Box<dyn ScalingPolicy>> {
        build(&self.spec).expect("the spec was checked when the autoscaler was compiled")
    }
}

/// Cumulative integrals sampled at evaluations, for windowed averages.
#[derive(Clone, Copy, Debug, Default)]
pub struct Integrals {
    /// Time of the sample.
    pub time: f64,
    /// ∫ busy vCPUs dt.
    pub busy_vcpu_seconds: f64,
    /// ∫ ready-instance vCPUs dt.
    pub capacity_vcpu_seconds: f64,
    /// ∫ in-flight requests dt.
    pub in_flight_seconds: f64,
}

/// A sliding window over [`Integrals`] samples.
#[derive(Clone, Debug, Default)]
pub struct MetricWindow {
    samples: VecDeque<Integrals>,
}

impl MetricWindow {
    /// Adds a sample and returns the averages over the last `window` seconds (or since start):
    /// (busy vCPUs, CPU utilisation, in-flight requests).
    pub fn push(&mut self, now: Integrals, window: f64) -> (f64, f64, f64) {
        self.samples.push_back(now);
        while self.samples.len() > 2 && self.samples[1].time <= now.time - window {
            self.samples.pop_front();
        }
        let then = self.samples.front().copied().unwrap_or_default();
        let dt = now.time - then.time;
        if dt <= 0.0 {
            return (0.0, 0.0, 0.0);
        }
        let busy = (now.busy_vcpu_seconds - then.busy_vcpu_seconds) / dt;
        let cap = now.capacity_vcpu_seconds - then.capacity_vcpu_seconds;
        let util = if cap > 0.0 {
            (now.busy_vcpu_seconds - then.busy_vcpu_seconds) / cap
        } else {
            0.0
        };
        let inflight = (now.in_flight_seconds - then.in_flight_seconds) / dt;
        (busy, util, inflight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every policy key of `config::AutoscalerSpec`, as its derived deserializer lists them, so
    /// a variant added to the enum cannot be missed here.
    fn policy_keys() -> Vec<String> {
        let refusal = serde_yaml::from_str::<AutoscalerSpec>("no_such_policy")
            .expect_err("not a policy")
            .to_string();
        let listed = refusal
            .split("expected one of ")
            .nth(1)
            .expect("serde lists the variants");
        listed
            .split(',')
            .map(|k| k.split('`').nth(1).expect("a quoted key").to_string())
            .collect()
    }

    #[test]
    fn the_documentation_describes_every_policy() {
        let keys = policy_keys();
        assert!(keys.len() >= 3, "{keys:?}");
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/experiment-files.md"),
        )
        .expect("docs/experiment-files.md");
        for key in keys {
            let row = if key == "fixed" {
                "| `autoscaler: fixed` |".to_string()
            } else {
                format!("| `autoscaler: {{ {key}: {{...}} }}` |")
            };
            assert!(
                doc.contains(&row),
                "docs/experiment-files.md has no row `{row}` in its autoscaler table"
            );
        }
    }

    #[test]
    fn a_compiled_policy_is_named_by_its_key_and_draws_its_lines() {
        let threshold: AutoscalerSpec = serde_yaml::from_str(
            "!threshold {interval: 10s, window: 1m, scale_up_cpu: 70%, scale_down_cpu: 40%, \
             scale_down_after: 5m, step_up: 1, step_down: 1, cooldown: 1m}",
        )
        .expect("a threshold spec");
        let cloud_run: AutoscalerSpec = serde_yaml::from_str(
            "!cloud_run {interval: 5s, window: 1m, cpu_target: 60%, concurrency_target: 60%, \
             idle_retention: 15m}",
        )
        .expect("a cloud_run spec");
        for (key, spec) in [("threshold", threshold), ("cloud_run", cloud_run)] {
            let compiled = Autoscaler::compile(&spec, 7).expect("valid");
            assert_eq!(compiled.lines.policy, key);
            assert_eq!(compiled.lines.max_instances, 7);
            assert!(!compiled.lines.cpu.is_empty());
            assert_eq!(compiled.policy().expect("a policy").name(), key);
            let by_concurrency = compiled.lines.concurrency_target;
            assert_eq!(by_concurrency, (key == "cloud_run").then_some(0.6), "{key}");
        }
        let fixed = Autoscaler::compile(&AutoscalerSpec::Fixed, 3).expect("valid");
        assert_eq!(fixed.lines.policy, "fixed");
        assert!(fixed.policy().is_none() && fixed.lines.cpu.is_empty());
    }

    #[test]
    fn window_averages_the_last_minute() {
        let mut w = MetricWindow::default();
        // 1 busy vCPU of 2 available for 120 s, then 2 of 2 for 60 s.
        let mut acc = Integrals::default();
        for t in 1..=180 {
            let busy = if t <= 120 { 1.0 } else { 2.0 };
            acc = Integrals {
                time: f64::from(t),
                busy_vcpu_seconds: acc.busy_vcpu_seconds + busy,
                capacity_vcpu_seconds: acc.capacity_vcpu_seconds + 2.0,
                in_flight_seconds: acc.in_flight_seconds + 3.0,
            };
            let (b, u, f) = w.push(acc, 60.0);
            if t == 120 {
                assert!((b - 1.0).abs() < 1e-9 && (u - 0.5).abs() < 1e-9);
            }
            if t == 180 {
                assert!((b - 2.0).abs() < 1e-9 && (u - 1.0).abs() < 1e-9);
                assert!((f - 3.0).abs() < 1e-9);
            }
        }
    }
}
