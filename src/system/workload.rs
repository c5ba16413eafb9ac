//! Traffic: closed workloads of virtual users looping over weighted tasks (like Locust), and
//! open workloads whose sessions arrive as a non-homogeneous Poisson process.
//!
//! Open arrivals use thinning (Lewis and Shedler): candidates arrive at the profile's peak
//! rate and each is kept with probability rate(t) / peak. Closed users start at time 0, at a
//! spawn rate, or along a linear ramp of the user count.

use rand::{Rng, RngExt};
use rand_distr::{Distribution, Exp};

use crate::config::{Arrivals, Task, TaskKind, Users, Workload};

/// A session-arrival rate profile, sessions per second as a function of time.
#[derive(Clone, Debug)]
pub enum RateProfile {
    /// Constant.
    Constant(f64),
    /// 24 hourly rates, repeating daily.
    Hourly([f64; 24]),
    /// Piecewise constant: (start, rate), sorted.
    Piecewise(Vec<(f64, f64)>),
}

impl RateProfile {
    /// The profile of an open workload's `arrivals`.
    pub fn from_spec(a: &Arrivals) -> Self {
        match a {
            Arrivals::PerSecond(r) => RateProfile::Constant(*r),
            Arrivals::PerDay { sessions, diurnal } => match diurnal {
                None => RateProfile::Constant(sessions / 86_400.0),
                Some(w) => {
                    let total: f64 = w.iter().sum();
                    let mut hourly = [0.0; 24];
                    for (h, weight) in w.iter().enumerate().take(24) {
                        hourly[h] = sessions * weight / total / 3_600.0;
                    }
                    RateProfile::Hourly(hourly)
                }
            },
            Arrivals::Piecewise(p) => {
                RateProfile::Piecewise(p.iter().map(|(t, r)| (t.0, *r)).collect())
            }
        }
    }

    /// Rate at time `t`.
    pub fn rate(&self, t: f64) -> f64 {
        match self {
            RateProfile::Constant(r) => *r,
            RateProfile::Hourly(h) => h[((t.rem_euclid(86_400.0)) / 3_600.0) as usize % 24],
            RateProfile::Piecewise(p) => p
                .iter()
                .rev()
                .find(|(start, _)| *start <= t)
                .map_or(0.0, |(_, r)| *r),
        }
    }

    /// Peak rate (the thinning envelope).
    pub fn peak(&self) -> f64 {
        match self {
            RateProfile::Constant(r) => *r,
            RateProfile::Hourly(h) => h.iter().copied().fold(0.0, f64::max),
            RateProfile::Piecewise(p) => p.iter().map(|x| x.1).fold(0.0, f64::max),
        }
    }

    /// Next arrival strictly after `now` (infinity when the rate is 0 from here on).
    pub fn next_arrival<R: Rng + ?Sized>(&self, now: f64, horizon: f64, rng: &mut R) -> f64 {
        let peak = self.peak();
        if peak <= 0.0 {
            return f64::INFINITY;
        }
        let gap = Exp::new(peak).expect("peak rate is positive");
        let mut t = now;
        loop {
            t += gap.sample(rng);
            if t > horizon {
                return f64::INFINITY;
            }
            if rng.random::<f64>() * peak <= self.rate(t) {
                return t;
            }
        }
    }
}

/// Start times of the virtual users of a closed workload.
pub fn user_start_times(w: &Workload) -> Vec<f64> {
    let spaced = |n: u32, rate: Option<f64>| -> Vec<f64> {
        (0..n)
            .map(|i| rate.map_or(0.0, |r| f64::from(i) / r))
            .collect()
    };
    match &w.users {
        None => Vec::new(),
        Some(Users::Fixed(n)) => spaced(*n, w.spawn_rate),
        Some(Users::Ramp { from, to, over }) => {
            let mut times = spaced(*from, w.spawn_rate);
            let extra = to.saturating_sub(*from);
            times.extend((1..=extra).map(|i| over.0 * f64::from(i) / f64::from(extra)));
            times
        }
    }
}

/// One task as a user runs it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TaskPlan {
    /// What the task does.
    pub kind: TaskKind,
    /// Turns of its session.
    pub turns: u32,
    /// Starts of a start burst.
    pub starts: u32,
}

/// Starts in a burst when the task does not say (the seed's locustfile sends five).
pub const DEFAULT_BURST_STARTS: u32 = 5;

/// Weighted task choice.
#[derive(Clone, Debug)]
pub struct TaskMix {
    kinds: Vec<TaskPlan>,
    cumulative: Vec<f64>,
}

impl TaskMix {
    /// A mix from weighted tasks; sessions default to `turns` turns.
    pub fn new(tasks: &[Task], turns: u32) -> Self {
        let mut acc = 0.0;
        let cumulative = tasks
            .iter()
            .map(|t| {
                acc += t.weight;
                acc
            })
            .collect();
        Self {
            kinds: tasks
                .iter()
                .map(|t| TaskPlan {
                    kind: t.kind,
                    turns: t.turns.unwrap_or(turns),
                    starts: t.starts.unwrap_or(DEFAULT_BURST_STARTS),
                })
                .collect(),
            cumulative,
        }
    }

    /// Draws a task.
    pub fn pick<R: Rng + ?Sized>(&self, rng: &mut R) -> TaskPlan {
        if self.kinds.len() == 1 {
            return self.kinds[0];
        }
        let total = *self.cumulative.last().unwrap_or(&1.0);
        let u = rng.random::<f64>() * total;
        let i = self.cumulative.partition_point(|c| *c <= u);
        self.kinds[i.min(self.kinds.len() - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WorkloadKind;
    use crate::units::Seconds;
    use rand::SeedableRng;

    /// Expected arrivals of `p` in [0, horizon], by the midpoint rule.
    fn expected_count(p: &RateProfile, horizon: f64) -> f64 {
        let steps = 10_000;
        let dt = horizon / f64::from(steps);
        (0..steps)
            .map(|i| p.rate((f64::from(i) + 0.5) * dt) * dt)
            .sum()
    }

    #[test]
    fn thinning_matches_expected_count_of_a_diurnal_profile() {
        let mut w = [1.0; 24];
        w[12] = 5.0;
        w[0] = 0.0;
        let p = RateProfile::from_spec(&Arrivals::PerDay {
            sessions: 20_000.0,
            diurnal: Some(w.to_vec()),
        });
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(3);
        let (mut t, mut n, mut in_noon, mut in_midnight) = (0.0, 0u32, 0u32, 0u32);
        loop {
            t = p.next_arrival(t, 86_400.0, &mut rng);
            if !t.is_finite() {
                break;
            }
            n += 1;
            match (t / 3_600.0) as u32 {
                12 => in_noon += 1,
                0 => in_midnight += 1,
                _ => {}
            }
        }
        // 20,000 expected; Poisson sd ~141.
        assert!((f64::from(n) - 20_000.0).abs() < 500.0, "n = {n}");
        let noon_expected = 20_000.0 * 5.0 / 27.0;
        assert!((f64::from(in_noon) - noon_expected).abs() < 4.0 * noon_expected.sqrt());
        assert_eq!(in_midnight, 0);
        assert!((expected_count(&p, 86_400.0) - 20_000.0).abs() < 50.0);
    }

    #[test]
    fn piecewise_rate_steps() {
        let p = RateProfile::Piecewise(vec![(0.0, 1.0), (10.0, 3.0)]);
        assert_eq!(p.rate(5.0), 1.0);
        assert_eq!(p.rate(10.0), 3.0);
        assert_eq!(p.peak(), 3.0);
    }

    #[test]
    fn ramp_spreads_users_evenly() {
        let w = Workload {
            kind: WorkloadKind::Closed,
            users: Some(Users::Ramp {
                from: 2,
                to: 6,
                over: Seconds(40.0),
            }),
            spawn_rate: None,
            think_time: None,
            turn_think_time: None,
            tasks: None,
            iterations: None,
            arrivals: None,
            population: None,
            session: None,
        };
        assert_eq!(user_start_times(&w), vec![0.0, 0.0, 10.0, 20.0, 30.0, 40.0]);
    }

    #[test]
    fn task_mix_follows_weights() {
        let mix = TaskMix::new(
            &[
                Task {
                    kind: TaskKind::FullSession,
                    weight: 3.0,
                    turns: None,
                    starts: None,
                },
                Task {
                    kind: TaskKind::SingleTurn,
                    weight: 1.0,
                    turns: Some(4),
                    starts: None,
                },
            ],
            15,
        );
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(9);
        let picks: Vec<TaskPlan> = (0..40_000).map(|_| mix.pick(&mut rng)).collect();
        let full = picks
            .iter()
            .filter(|t| t.kind == TaskKind::FullSession)
            .count();
        assert!(picks.iter().all(|t| t.turns
            == if t.kind == TaskKind::FullSession {
                15
            } else {
                4
            }));
        assert!((full as f64 / 40_000.0 - 0.75).abs() < 0.01);
    }
}
