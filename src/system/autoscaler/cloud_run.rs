//! Cloud Run's documented rule: one recommendation per driver, the maximum wins.
//! CPU: ceil(mean busy vCPUs over the window / (vCPUs per instance x cpu_target)).
//! Concurrency: ceil(mean in-flight requests / (max concurrency x concurrency_target)).
//! Pending requests add instances at once (enough slots for the queue); instances above the
//! recommendation are removed only after `idle_retention` without requests.

use super::{Decision, ScalingMetrics, ScalingPolicy};
use crate::config::CloudRunSpec;

/// The Cloud Run policy.
pub struct CloudRunPolicy {
    spec: CloudRunSpec,
}

impl CloudRunPolicy {
    /// A policy with the given targets.
    pub fn new(spec: CloudRunSpec) -> Self {
        Self { spec }
    }
}

impl ScalingPolicy for CloudRunPolicy {
    fn interval(&self) -> f64 {
        self.spec.interval.0
    }

    fn window(&self) -> f64 {
        self.spec.window.0
    }

    fn decide(&mut self, m: &ScalingMetrics) -> Decision {
        let by_cpu = if self.spec.cpu_target.0 > 0.0 {
            (m.busy_vcpus / (m.vcpu * self.spec.cpu_target.0) - 1e-9).ceil()
        } else {
            0.0
        };
        let by_concurrency = if self.spec.concurrency_target.0 > 0.0 {
            (m.in_flight / (f64::from(m.max_concurrency) * self.spec.concurrency_target.0) - 1e-9)
                .ceil()
        } else {
            0.0
        };
        let mut desired = by_cpu.max(by_concurrency).max(0.0) as u32;
        if m.pending > 0 {
            let current = m.ready + m.starting;
            let for_queue = m.pending.div_ceil(m.max_concurrency.max(1));
            desired = desired.max(current + for_queue.saturating_sub(m.starting));
        }
        Decision {
            desired,
            idle_retention: self.spec.idle_retention.0,
        }
    }

    fn cpu_lines(&self) -> Vec<(f64, String)> {
        if self.spec.cpu_target.0 > 0.0 {
            vec![(
                self.spec.cpu_target.0,
                format!("CPU target {:.0} %", self.spec.cpu_target.0 * 100.0),
            )]
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{Fraction, Seconds};

    fn policy() -> CloudRunPolicy {
        CloudRunPolicy::new(CloudRunSpec {
            interval: Seconds(2.0),
            window: Seconds(60.0),
            cpu_target: Fraction(0.6),
            concurrency_target: Fraction(0.6),
            idle_retention: Seconds(900.0),
        })
    }

    #[test]
    fn concurrency_driver_dominates_an_io_bound_app() {
        // 30 in-flight requests, max concurrency 20 → 30 / 12 → 3 instances; CPU 0.4 vCPU → 1.
        let m = ScalingMetrics {
            ready: 1,
            busy_vcpus: 0.4,
            in_flight: 30.0,
            vcpu: 2.0,
            max_concurrency: 20,
            ..ScalingMetrics::default()
        };
        assert_eq!(policy().decide(&m).desired, 3);
    }

    #[test]
    fn cpu_driver_wins_for_cpu_heavy_load() {
        let m = ScalingMetrics {
            ready: 1,
            busy_vcpus: 3.0,
            in_flight: 2.0,
            vcpu: 1.0,
            max_concurrency: 80,
            ..ScalingMetrics::default()
        };
        assert_eq!(policy().decide(&m).desired, 5);
    }

    #[test]
    fn pending_requests_add_instances() {
        let m = ScalingMetrics {
            ready: 2,
            in_flight: 0.0,
            pending: 25,
            vcpu: 1.0,
            max_concurrency: 10,
            ..ScalingMetrics::default()
        };
        let d = policy().decide(&m);
        assert_eq!(d.desired, 5);
        assert_eq!(d.idle_retention, 900.0);
    }
}
