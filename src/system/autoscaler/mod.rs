//! Autoscaling policies. Each policy is one file implementing [`ScalingPolicy`]; the world
//! calls it every `interval` with windowed metrics and applies the decision: start instances up
//! to the desired count (bounded by max instances), or remove idle instances down to it (never
//! below min instances, and only instances idle for at least the policy's retention).

mod cloud_run;
mod threshold;

use std::collections::VecDeque;

pub use cloud_run::CloudRunPolicy;
pub use threshold::ThresholdPolicy;

use crate::config::AutoscalerSpec;

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

/// An autoscaling policy.
pub trait ScalingPolicy: Send {
    /// Seconds between evaluations.
    fn interval(&self) -> f64;
    /// Averaging window of its metrics.
    fn window(&self) -> f64;
    /// Decides the instance count.
    fn decide(&mut self, m: &ScalingMetrics) -> Decision;
    /// CPU-utilisation lines worth drawing on charts, with labels.
    fn cpu_lines(&self) -> Vec<(f64, String)>;
}

/// Builds the policy named in the experiment (`None` for `fixed`).
pub fn build(spec: &AutoscalerSpec) -> Option<Box<dyn ScalingPolicy>> {
    match spec {
        AutoscalerSpec::Fixed => None,
        AutoscalerSpec::Threshold(t) => Some(Box::new(ThresholdPolicy::new(t.clone()))),
        AutoscalerSpec::CloudRun(c) => Some(Box::new(CloudRunPolicy::new(c.clone()))),
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
