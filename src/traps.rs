//! Known traps of a simulated load test, flagged in the summary with the setting that avoids
//! each. A trap is a run whose numbers are right for what it simulated but wrong for the
//! question a capacity planner asks of it:
//!
//! - **lockstep start**: many closed-workload users start within a tenth of the cycle they
//!   then repeat (think time plus one task), so they send their requests in step for the
//!   first cycles and load comes in bursts and lulls no real population makes;
//! - **short horizon**: the measured window holds fewer than three session lengths, so the
//!   sessions in it are mostly cut off at one end and their contexts have not grown as long
//!   as a steady state's;
//! - **looping users at daily limits**: a closed-workload virtual user starts session after
//!   session, more than a real user does in a day, and runs into the app's per-user daily
//!   limit, so the 429s measure the test, not the app.
//!
//! Session lengths and cycles are measured, not assumed: by Little's law, a session's mean
//! length is the mean number of sessions open over the rate at which sessions end, and a
//! user's cycle is the mean number of users over the same rate.

use crate::report::format::duration as human_duration;
use crate::results::{Summary, Trap, TrapKind};
use crate::system::ReplicationResult;
use crate::system::model::{Model, Traffic};
use crate::units::Seconds;

/// Fewer users than this starting together are not flagged.
const LOCKSTEP_USERS: usize = 10;

/// Users starting within this share of their cycle start "together".
const LOCKSTEP_SHARE: f64 = 0.1;

/// Session lengths the measured window should hold at least.
const SESSION_LENGTHS: f64 = 3.0;

/// The traps a finished run fell into.
pub fn flag(model: &Model, reps: &[ReplicationResult], summary: &Summary) -> Vec<Trap> {
    let window: f64 = reps.iter().map(|r| r.window).sum();
    let ended: f64 = reps
        .iter()
        .map(|r| r.measured.counts.sessions_ended as f64)
        .sum();
    // Per second of the window, over all replications.
    let per_s = |f: fn(&ReplicationResult) -> f64| reps.iter().map(f).sum::<f64>() / window;
    let end_rate = ended / window;
    let session_length = (end_rate > 0.0).then(|| per_s(|r| r.integrals.sessions) / end_rate);
    let cycle = (end_rate > 0.0).then(|| per_s(|r| r.integrals.users) / end_rate);
    let mut traps = Vec::new();
    if let (
        Traffic::Closed {
            schedule,
            iterations,
            ..
        },
        Some(cycle),
    ) = (&model.traffic, cycle)
    {
        // Users that run one task do not repeat it, so they cannot stay in step.
        if iterations.is_none_or(|n| n > 1) {
            traps.extend(lockstep(&schedule.starts, cycle));
        }
    }
    if let Some(length) = session_length.filter(|_| model.turns > 1) {
        traps.extend(short_horizon(
            window / reps.len().max(1) as f64,
            length,
            summary,
        ));
    }
    if let (Traffic::Closed { .. }, Some(limit), Some(cycle)) =
        (&model.traffic, model.sessions_per_day, cycle)
    {
        traps.extend(daily_limit(model, summary, limit, cycle));
    }
    traps
}

/// The users that start within a tenth of a cycle from the first start.
fn lockstep(starts: &[f64], cycle: f64) -> Option<Trap> {
    let first = starts.iter().copied().reduce(f64::min)?;
    let span = LOCKSTEP_SHARE * cycle;
    let mut together: Vec<f64> = starts
        .iter()
        .copied()
        .filter(|t| *t - first <= span)
        .collect();
    if together.len() < LOCKSTEP_USERS {
        return None;
    }
    together.sort_by(f64::total_cmp);
    let within = together.last().copied().unwrap_or(first) - first;
    let n = together.len();
    let rate = n as f64 / cycle;
    Some(Trap {
        kind: TrapKind::LockstepStart,
        message: format!(
            "{n} users start within {}, under a tenth of the {} cycle (think time and one task) \
             they then repeat: they send their requests in step for the first cycles, in bursts \
             and lulls a real population does not make",
            human_duration(within.max(0.0)),
            human_duration(cycle)
        ),
        fix: format!(
            "spread their starts over one cycle: `workload.spawn_rate: {}` (users a second; \
             with `stages`, that `rate` on the first stage)",
            round_rate(rate)
        ),
    })
}

/// A measured window shorter than a few session lengths.
fn short_horizon(window: f64, session: f64, summary: &Summary) -> Option<Trap> {
    if window >= SESSION_LENGTHS * session {
        return None;
    }
    let needed = summary.warmup_s + SESSION_LENGTHS * session;
    Some(Trap {
        kind: TrapKind::ShortHorizon,
        message: format!(
            "the measured window ({}) holds {:.1} session lengths (a session lasts {} on \
             average): most of its sessions are cut off at one end, and their contexts are \
             shorter than in a steady state",
            human_duration(window),
            window / session,
            human_duration(session)
        ),
        fix: format!(
            "run longer: `horizon: {}` or more (warm-up plus {SESSION_LENGTHS:.0} session \
             lengths)",
            Seconds((needed / 60.0).ceil() * 60.0)
        ),
    })
}

/// Looping virtual users refused by the app's per-user daily limit.
fn daily_limit(model: &Model, summary: &Summary, limit: u32, cycle: f64) -> Option<Trap> {
    let slo = &model.slo;
    // A run that tests the limits on purpose is not in a trap.
    let tests_limits =
        slo.rate_limited_at_least.is_some() || slo.error_rate_excluding_rate_limits.is_some();
    if summary.errors.rate_limited == 0 || tests_limits {
        return None;
    }
    let per_day = 86_400.0 / cycle;
    Some(Trap {
        kind: TrapKind::LoopingUsersAtDailyLimits,
        message: format!(
            "{} requests were refused by the app's limit of {limit} sessions per user per day: \
             each virtual user loops, starting a session every {} ({per_day:.0} a day), which \
             no real user does",
            summary.errors.rate_limited,
            human_duration(cycle)
        ),
        fix: format!(
            "let each virtual user play at most a day's allowance (`workload.iterations: \
             {limit}`), or model many users with an open workload and `population:`"
        ),
    })
}

/// A rate in users a second to two significant digits.
fn round_rate(rate: f64) -> String {
    if rate <= 0.0 || !rate.is_finite() {
        return "0".into();
    }
    let digits = (1 - rate.log10().floor() as i32).max(0) as usize;
    format!("{rate:.digits$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_starting_together_are_flagged_with_a_spawn_rate_that_spreads_them() {
        let together: Vec<f64> = (0..50).map(|i| f64::from(i) * 0.2).collect();
        let trap = lockstep(&together, 600.0).expect("50 users in 10 s of a 10 min cycle");
        assert_eq!(trap.kind, TrapKind::LockstepStart);
        assert!(
            trap.message.starts_with("50 users start within 10 s"),
            "{}",
            trap.message
        );
        assert!(
            trap.fix.contains("`workload.spawn_rate: 0.083`"),
            "{}",
            trap.fix
        );
        // Spread over a whole cycle, only a tenth start within a tenth of it: 5 < 10.
        let spread: Vec<f64> = (0..50).map(|i| f64::from(i) * 12.0).collect();
        assert!(lockstep(&spread, 600.0).is_none());
    }

    #[test]
    fn rates_keep_two_significant_digits() {
        assert_eq!(round_rate(0.083_333), "0.083");
        assert_eq!(round_rate(1.5), "1.5");
        assert_eq!(round_rate(12.4), "12");
    }
}
