//! The seed plan's rule: add `step_up` instances when mean CPU over the window exceeds
//! `scale_up_cpu` (at most once per `cooldown`); remove `step_down` when it has stayed below
//! `scale_down_cpu` for `scale_down_after`. Nothing else (not in-flight requests, not the
//! pending queue) moves it, which is what makes it blind to an I/O-bound app.

use super::{Cadence, CpuLine, Decision, ScalingMetrics, ScalingPolicy, SpecError};
use crate::config::ThresholdSpec;

/// The policy's key in experiment files.
const NAME: &str = "threshold";

/// The CPU threshold policy.
pub struct ThresholdPolicy {
    spec: ThresholdSpec,
    cadence: Cadence,
    last_scale_up: f64,
    below_since: Option<f64>,
}

impl ThresholdPolicy {
    /// A policy with the given thresholds, or the first one it cannot run with.
    pub fn new(spec: ThresholdSpec) -> Result<Self, SpecError> {
        let cadence = Cadence::checked(NAME, spec.interval, spec.window)?;
        if spec.scale_down_cpu.0 >= spec.scale_up_cpu.0 {
            return Err(SpecError::new(
                NAME,
                "scale_down_cpu",
                "must be below scale_up_cpu",
            ));
        }
        if spec.step_up == 0 || spec.step_down == 0 {
            return Err(SpecError::new(NAME, "step_up", "steps must be at least 1"));
        }
        Ok(Self {
            spec,
            cadence,
            last_scale_up: f64::NEG_INFINITY,
            below_since: None,
        })
    }
}

impl ScalingPolicy for ThresholdPolicy {
    fn name(&self) -> &'static str {
        NAME
    }

    fn cadence(&self) -> Cadence {
        self.cadence
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

    fn concurrency_target(&self) -> Option<f64> {
        None
    }

    fn cpu_lines(&self) -> Vec<CpuLine> {
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

    fn spec() -> ThresholdSpec {
        ThresholdSpec {
            interval: Seconds(10.0),
            window: Seconds(60.0),
            scale_up_cpu: Fraction(0.7),
            scale_down_cpu: Fraction(0.4),
            scale_down_after: Seconds(300.0),
            step_up: 1,
            step_down: 1,
            cooldown: Seconds(60.0),
        }
    }

    fn policy() -> ThresholdPolicy {
        ThresholdPolicy::new(spec()).expect("valid thresholds")
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        let field = |s: ThresholdSpec| ThresholdPolicy::new(s).err().map(|e| e.field);
        let crossed = ThresholdSpec {
            scale_down_cpu: Fraction(0.8),
            ..spec()
        };
        assert_eq!(field(crossed).as_deref(), Some("threshold.scale_down_cpu"));
        let no_step = ThresholdSpec {
            step_down: 0,
            ..spec()
        };
        assert_eq!(field(no_step).as_deref(), Some("threshold.step_up"));
        let no_window = ThresholdSpec {
            window: Seconds(0.0),
            ..spec()
        };
        assert_eq!(field(no_window).as_deref(), Some("threshold.window"));
        assert_eq!(field(spec()), None);
    }

    #[test]
    fn draws_both_thresholds() {
        let lines = policy().cpu_lines();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], (0.7, "scale up > 70 %".to_string()));
        assert_eq!(lines[1].1, "scale down < 40 % for 5 min");
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
