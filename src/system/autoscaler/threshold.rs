//! The seed plan's rule: add `step_up` instances when mean CPU over the window exceeds
//! `scale_up_cpu` (at most once per `cooldown`); remove `step_down` when it has stayed below
//! `scale_down_cpu` for `scale_down_after`. Nothing else (not in-flight requests, not the
//! pending queue) moves it, which is what makes it blind to an I/O-bound app.

use super::{Decision, ScalingMetrics, ScalingPolicy};
use crate::config::ThresholdSpec;

/// The CPU threshold policy.
pub struct ThresholdPolicy {
    spec: ThresholdSpec,
    last_scale_up: f64,
    below_since: Option<f64>,
}

impl ThresholdPolicy {
    /// A policy with the given thresholds.
    pub fn new(spec: ThresholdSpec) -> Self {
        Self {
            spec,
            last_scale_up: f64::NEG_INFINITY,
            below_since: None,
        }
    }
}

impl ScalingPolicy for ThresholdPolicy {
    fn interval(&self) -> f64 {
        self.spec.interval.0
    }

    fn window(&self) -> f64 {
        self.spec.window.0
    }

    fn decide(&mut self, m: &ScalingMetrics) -> Decision {
        let current = m.ready + m.starting;
        let mut desired = current;
        if m.cpu_utilization > self.spec.scale_up_cpu.0 {
            self.below_since = None;
            if m.now - self.last_scale_up >= self.spec.cooldown.0 {
                desired = current + self.spec.step_up;
                self.last_scale_up = m.now;
            }
        } else if m.cpu_utilization < self.spec.scale_down_cpu.0 {
            let since = *self.below_since.get_or_insert(m.now);
            if m.now - since >= self.spec.scale_down_after.0 {
                desired = current.saturating_sub(self.spec.step_down);
                self.below_since = Some(m.now);
            }
        } else {
            self.below_since = None;
        }
        Decision {
            desired,
            idle_retention: 0.0,
        }
    }

    fn cpu_lines(&self) -> Vec<(f64, String)> {
        vec![
            (
                self.spec.scale_up_cpu.0,
                format!("scale up > {:.0} %", self.spec.scale_up_cpu.0 * 100.0),
            ),
            (
                self.spec.scale_down_cpu.0,
                format!(
                    "scale down < {:.0} % for {:.0} min",
                    self.spec.scale_down_cpu.0 * 100.0,
                    self.spec.scale_down_after.0 / 60.0
                ),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{Fraction, Seconds};

    fn policy() -> ThresholdPolicy {
        ThresholdPolicy::new(ThresholdSpec {
            interval: Seconds(10.0),
            window: Seconds(60.0),
            scale_up_cpu: Fraction(0.7),
            scale_down_cpu: Fraction(0.4),
            scale_down_after: Seconds(300.0),
            step_up: 1,
            step_down: 1,
            cooldown: Seconds(60.0),
        })
    }

    fn at(now: f64, util: f64, ready: u32) -> ScalingMetrics {
        ScalingMetrics {
            now,
            ready,
            cpu_utilization: util,
            ..ScalingMetrics::default()
        }
    }

    #[test]
    fn scales_up_with_cooldown() {
        let mut p = policy();
        assert_eq!(p.decide(&at(0.0, 0.9, 1)).desired, 2);
        assert_eq!(p.decide(&at(30.0, 0.9, 2)).desired, 2, "cooldown");
        assert_eq!(p.decide(&at(60.0, 0.9, 2)).desired, 3);
    }

    #[test]
    fn scales_down_only_after_sustained_low_cpu() {
        let mut p = policy();
        for t in (0..300).step_by(10) {
            assert_eq!(p.decide(&at(f64::from(t), 0.1, 3)).desired, 3);
        }
        assert_eq!(p.decide(&at(300.0, 0.1, 3)).desired, 2);
        // A blip above the lower threshold resets the timer.
        assert_eq!(p.decide(&at(310.0, 0.5, 2)).desired, 2);
        assert_eq!(p.decide(&at(320.0, 0.1, 2)).desired, 2);
        assert_eq!(p.decide(&at(610.0, 0.1, 2)).desired, 2, "only 290 s below");
        assert_eq!(p.decide(&at(620.0, 0.1, 2)).desired, 1);
    }

    #[test]
    fn ignores_full_slots_when_cpu_is_low() {
        let mut p = policy();
        let m = ScalingMetrics {
            in_flight: 10.0,
            pending: 50,
            ..at(0.0, 0.2, 1)
        };
        assert_eq!(p.decide(&m).desired, 1);
    }
}
