//! Cloud Run's documented rule: one recommendation per driver, the maximum wins.
//! CPU: ceil(mean busy vCPUs over the window / (vCPUs per instance x cpu_target)).
//! Concurrency: ceil(mean in-flight requests / (max concurrency x concurrency_target)).
//! Pending requests add instances at once (enough slots for the queue); instances above the
//! recommendation are removed only after `idle_retention` without requests.

use super::{Cadence, CpuLine, Decision, ScalingMetrics, ScalingPolicy, SpecError};
use crate::config::CloudRunSpec;

/// The policy's key in experiment files.
const NAME: &str = "cloud_run";

/// The Cloud Run policy.
pub struct CloudRunPolicy {
    spec: CloudRunSpec,
    cadence: Cadence,
}

impl CloudRunPolicy {
    /// A policy with the given targets, or the first one it cannot run with.
    pub fn new(spec: CloudRunSpec) -> Result<Self, SpecError> {
        let cadence = Cadence::checked(NAME, spec.interval, spec.window)?;
        if spec.cpu_target.0 == 0.0 && spec.concurrency_target.0 == 0.0 {
            return Err(SpecError::new(
                NAME,
                "cpu_target",
                "cpu_target and concurrency_target cannot both be off (0)",
            ));
        }
        Ok(Self { spec, cadence })
    }
}

impl ScalingPolicy for CloudRunPolicy {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cadence(&self) -> Cadence {
        self.cadence
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

    fn concurrency_target(&self) -> Option<f64> {
        (self.spec.concurrency_target.0 > 0.0).then_some(self.spec.concurrency_target.0)
    }

    fn cpu_lines(&self) -> Vec<CpuLine> {
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

    fn spec() -> CloudRunSpec {
        CloudRunSpec {
            interval: Seconds(2.0),
            window: Seconds(60.0),
            cpu_target: Fraction(0.6),
            concurrency_target: Fraction(0.6),
            idle_retention: Seconds(900.0),
        }
    }

    fn policy() -> CloudRunPolicy {
        CloudRunPolicy::new(spec()).expect("valid targets")
    }

    #[test]
    fn refuses_both_drivers_off_and_a_zero_interval() {
        let field = |s: CloudRunSpec| CloudRunPolicy::new(s).err().map(|e| e.field);
        let off = CloudRunSpec {
            cpu_target: Fraction(0.0),
            concurrency_target: Fraction(0.0),
            ..spec()
        };
        assert_eq!(field(off).as_deref(), Some("cloud_run.cpu_target"));
        let never = CloudRunSpec {
            interval: Seconds(0.0),
            ..spec()
        };
        assert_eq!(field(never).as_deref(), Some("cloud_run.interval"));
        assert_eq!(field(spec()), None);
    }

    #[test]
    fn draws_only_an_active_cpu_target() {
        assert_eq!(
            policy().cpu_lines(),
            vec![(0.6, "CPU target 60 %".to_string())]
        );
        let io_only = CloudRunSpec {
            cpu_target: Fraction(0.0),
            ..spec()
        };
        let lines = CloudRunPolicy::new(io_only).expect("valid").cpu_lines();
        assert!(lines.is_empty());
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
