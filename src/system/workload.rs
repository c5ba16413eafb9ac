//! Traffic: closed workloads of virtual users looping over weighted tasks (like Locust), and
//! open workloads whose sessions arrive as a non-homogeneous Poisson process.
//!
//! Open arrivals use thinning (Lewis and Shedler): candidates arrive at the profile's peak
//! rate and each is kept with probability rate(t) / peak. Closed users start at time 0, at a
//! spawn rate, or along a linear ramp of the user count.

use rand::{Rng, RngExt};
use rand_distr::{Distribution, Exp};

use crate::config::{Arrivals, Task, TaskKind, UserStage, Users, Workload, stage_corners};

/// A session-arrival rate profile, sessions per second as a function of time.
#[derive(Clone, Debug)]
pub enum RateProfile {
    /// Constant.
    Constant(f64),
    /// 24 hourly rates, repeating daily.
    Hourly([f64; 24]),
    /// Piecewise constant: (start, rate), sorted.
    Piecewise(Vec<(f64, f64)>),
    /// Piecewise linear through (time, rate) corners, sorted; constant after the last.
    Linear(Vec<(f64, f64)>),
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
            Arrivals::Stages(stages) => RateProfile::Linear(stage_corners(stages)),
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
            RateProfile::Linear(corners) => {
                let after = corners.partition_point(|(start, _)| *start <= t);
                match (after.checked_sub(1).map(|i| corners[i]), corners.get(after)) {
                    (None, _) => 0.0,
                    (Some((_, r)), None) => r,
                    (Some((t0, r0)), Some(&(t1, r1))) => r0 + (r1 - r0) * (t - t0) / (t1 - t0),
                }
            }
        }
    }

    /// Peak rate (the thinning envelope).
    pub fn peak(&self) -> f64 {
        match self {
            RateProfile::Constant(r) => *r,
            RateProfile::Hourly(h) => h.iter().copied().fold(0.0, f64::max),
            RateProfile::Piecewise(p) | RateProfile::Linear(p) => {
                p.iter().map(|x| x.1).fold(0.0, f64::max)
            }
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

/// When the virtual users of a closed workload start, and when users are asked to stop.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserSchedule {
    /// Start time of each user, in user order.
    pub starts: Vec<f64>,
    /// Times at which one user above the target is asked to stop.
    pub stops: Vec<f64>,
}

impl UserSchedule {
    /// The schedule of a closed workload: its `users` (fixed or ramped) or its `stages`.
    pub fn of(w: &Workload) -> Self {
        let spaced = |n: u32, rate: Option<f64>, from: f64| -> Vec<f64> {
            (0..n)
                .map(|i| from + rate.map_or(0.0, |r| f64::from(i) / r))
                .collect()
        };
        let starts = match &w.users {
            None => return w.stages.as_deref().map_or_else(Self::default, Self::staged),
            Some(Users::Fixed(n)) => spaced(*n, w.spawn_rate, 0.0),
            Some(Users::Ramp {
                from,
                to,
                over,
                start,
            }) => {
                let start = start.map_or(0.0, |s| s.0);
                let mut times = spaced(*from, w.spawn_rate, start);
                let extra = to.saturating_sub(*from);
                times.extend((1..=extra).map(|i| start + over.0 * f64::from(i) / f64::from(extra)));
                times
            }
        };
        Self {
            starts,
            stops: Vec::new(),
        }
    }

    /// Each stage moves the user count towards its target at its rate until the next stage
    /// begins.
    fn staged(stages: &[UserStage]) -> Self {
        let mut schedule = Self::default();
        let mut users = 0u32;
        for (k, stage) in stages.iter().enumerate() {
            let end = stages.get(k + 1).map_or(f64::INFINITY, |next| next.at.0);
            let change = stage.users.abs_diff(users);
            let times = (0..change)
                .map(|i| stage.at.0 + stage.rate.map_or(0.0, |r| f64::from(i) / r))
                .take_while(|t| *t < end);
            let list = if stage.users > users {
                &mut schedule.starts
            } else {
                &mut schedule.stops
            };
            let before = list.len();
            list.extend(times);
            let moved = (list.len() - before) as u32;
            users = if stage.users > users {
                users + moved
            } else {
                users - moved
            };
        }
        schedule
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
    use crate::config::{RateStage, WorkloadKind};
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

    /// A closed workload with these users and stages and nothing else.
    fn closed(users: Option<Users>, stages: Option<Vec<UserStage>>) -> Workload {
        Workload {
            kind: WorkloadKind::Closed,
            users,
            stages,
            stop: None,
            spawn_rate: None,
            think_time: None,
            turn_think_time: None,
            tasks: None,
            iterations: None,
            arrivals: None,
            population: None,
            session: None,
            on_error: None,
        }
    }

    fn stage(at: f64, users: u32, rate: Option<f64>) -> UserStage {
        UserStage {
            at: Seconds(at),
            users,
            rate,
        }
    }

    #[test]
    fn ramp_spreads_users_evenly() {
        let w = closed(
            Some(Users::Ramp {
                from: 2,
                to: 6,
                over: Seconds(40.0),
                start: None,
            }),
            None,
        );
        assert_eq!(
            UserSchedule::of(&w).starts,
            vec![0.0, 0.0, 10.0, 20.0, 30.0, 40.0]
        );
    }

    #[test]
    fn a_ramp_with_a_start_begins_late() {
        let w = closed(
            Some(Users::Ramp {
                from: 1,
                to: 3,
                over: Seconds(20.0),
                start: Some(Seconds(1_800.0)),
            }),
            None,
        );
        assert_eq!(UserSchedule::of(&w).starts, vec![1_800.0, 1_810.0, 1_820.0]);
    }

    #[test]
    fn stages_start_and_stop_users_at_their_rates() {
        // A spike: 2 users at once, up to 5 at 1 user/s from 10 s, back to 2 at 2/s at 20 s.
        let w = closed(
            None,
            Some(vec![
                stage(0.0, 2, None),
                stage(10.0, 5, Some(1.0)),
                stage(20.0, 2, Some(2.0)),
            ]),
        );
        let s = UserSchedule::of(&w);
        assert_eq!(s.starts, vec![0.0, 0.0, 10.0, 11.0, 12.0]);
        assert_eq!(s.stops, vec![20.0, 20.5, 21.0]);
    }

    #[test]
    fn a_stage_ends_where_the_next_begins() {
        // 10 users at 1/s cannot all start in the 3 s before the next stage: 3 do, and the
        // next stage stops those 3 and no more.
        let w = closed(
            None,
            Some(vec![stage(0.0, 10, Some(1.0)), stage(3.0, 0, None)]),
        );
        let s = UserSchedule::of(&w);
        assert_eq!(s.starts, vec![0.0, 1.0, 2.0]);
        assert_eq!(s.stops, vec![3.0, 3.0, 3.0]);
    }

    #[test]
    fn a_first_stage_late_delays_the_start() {
        let w = closed(None, Some(vec![stage(1_800.0, 2, None)]));
        assert_eq!(UserSchedule::of(&w).starts, vec![1_800.0, 1_800.0]);
    }

    #[test]
    fn staged_rates_run_straight_between_corners() {
        let p = RateProfile::from_spec(&Arrivals::Stages(vec![
            RateStage {
                at: Seconds(0.0),
                per_second: 1.0,
                over: None,
            },
            RateStage {
                at: Seconds(100.0),
                per_second: 5.0,
                over: Some(Seconds(100.0)),
            },
        ]));
        assert_eq!(p.rate(50.0), 1.0);
        assert_eq!(p.rate(150.0), 3.0);
        assert_eq!(p.rate(1_000.0), 5.0);
        assert_eq!(p.peak(), 5.0);
        let late = RateProfile::from_spec(&Arrivals::Stages(vec![RateStage {
            at: Seconds(600.0),
            per_second: 2.0,
            over: None,
        }]));
        assert_eq!((late.rate(599.0), late.rate(600.0)), (0.0, 2.0));
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
