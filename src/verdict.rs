//! The SLO verdict and the diagnosis of what limits the system first.
//!
//! Diagnosis, in order: if failures exceed the error budget, the dominant failure cause names
//! the bottleneck (no free slot → concurrency slots, or max instances when the fleet sat at its
//! cap; provider 429 → LLM quota; timeouts → LLM latency; crashes → memory; app 429 → rate
//! limit; no-slot failures that come with crashes count as memory, since a crash takes its
//! instance's slots with it). Otherwise the largest contributor to p95 turn time does (pending wait → slots or max
//! instances; CPU contention → CPU; LLM → LLM latency; backoff → quota; datastore).

use crate::config::Slo;
use crate::metrics::{ErrorCause, TurnComponent};
use crate::results::{Bottleneck, SloCheck, SloOverTime, SloVerdict, Summary, TimeSeriesRow};
use crate::stats::Estimate;
use crate::system::model::Model;

/// Error budget used for the diagnosis when the SLO sets none.
const DEFAULT_ERROR_BUDGET: f64 = 0.01;

fn check(name: &str, target: f64, value: Estimate) -> SloCheck {
    SloCheck {
        name: name.to_string(),
        target,
        value,
        met: value.value <= target,
        uncertain: value.ci95[0] <= target && target <= value.ci95[1],
    }
}

/// Judges a summary against the experiment's SLO and names the bottleneck.
pub fn judge(m: &Model, s: &Summary) -> SloVerdict {
    let slo = &m.slo;
    let mut checks = Vec::new();
    let t = &s.turn_latency_s;
    for (name, bound, value) in [
        ("turn_p50", slo.turn_p50, t.p50),
        ("turn_p95", slo.turn_p95, t.p95),
        ("turn_p99", slo.turn_p99, t.p99),
        (
            "session_start_mean",
            slo.session_start_mean,
            s.session_start_latency_s.mean,
        ),
        (
            "session_start_p95",
            slo.session_start_p95,
            s.session_start_latency_s.p95,
        ),
        (
            "session_start_max",
            slo.session_start_max,
            s.session_start_latency_s.max,
        ),
    ] {
        if let Some(b) = bound {
            checks.push(check(name, b.0, value));
        }
    }
    if let Some(b) = slo.error_rate {
        checks.push(check("error_rate", b.0, s.error_rate));
    }
    if let Some(b) = slo.error_rate_excluding_rate_limits {
        checks.push(check(
            "error_rate_excluding_rate_limits",
            b.0,
            s.error_rate_excluding_rate_limits,
        ));
    }
    if let Some(n) = slo.rate_limited_at_least {
        let per_rep = s.errors.rate_limited as f64 / f64::from(s.replications.max(1));
        checks.push(SloCheck {
            name: "rate_limited_at_least".into(),
            target: n as f64,
            value: Estimate {
                value: per_rep,
                ci95: [f64::NAN, f64::NAN],
            },
            met: per_rep >= n as f64,
            uncertain: false,
        });
    }
    let met = checks.iter().all(|c| c.met);
    let (mut bottleneck, mut explanation) = diagnose(m, s, met);
    // A crash is a failure of the system even when the requests it took stay within the
    // error budget: memory is then what breaks first, whatever the latency says.
    if s.instances.crashes > 0 && bottleneck != Bottleneck::Memory {
        explanation = format!(
            "{} instance crash{} (out of memory) took {} requests with {} ({:.2} % of requests{}). \
             Apart from the crashes: {}",
            s.instances.crashes,
            if s.instances.crashes == 1 { "" } else { "es" },
            s.errors.instance_crash,
            if s.instances.crashes == 1 {
                "it"
            } else {
                "them"
            },
            100.0 * s.errors.instance_crash as f64 / s.requests.max(1) as f64,
            if met { ", within the SLO" } else { "" },
            explanation
        );
        bottleneck = Bottleneck::Memory;
    }
    let (capacity_users, first_miss_users) = capacity(&m.slo, s);
    if let Some(miss) = first_miss_users {
        explanation.push_str(&match (capacity_users, met) {
            (Some(ok), _) => format!(
                ". Along the load curve the bounds hold up to ~{ok:.0} users and first fail at ~{miss:.0}"
            ),
            (None, false) => {
                format!(". The bounds fail already in the first load segment (~{miss:.0} users)")
            }
            // The window as a whole meets them, but its first tenth does not.
            (None, true) => format!(
                ". The first load segment (~{miss:.0} users, a tenth of the window) misses the \
                 bounds that the window as a whole meets"
            ),
        });
    }
    SloVerdict {
        met,
        checks,
        bottleneck,
        explanation,
        capacity_users,
        first_miss_users,
        over_time: None,
    }
}

/// A column of the time series.
type Column = fn(&TimeSeriesRow) -> f64;

/// How long the buckets of `rows` from `warmup` on stayed outside the SLO's turn-latency and
/// error-rate bounds (none when it sets neither kind).
pub fn over_time(
    slo: &Slo,
    rows: &[TimeSeriesRow],
    interval: f64,
    warmup: f64,
) -> Option<SloOverTime> {
    let latency_bounds: Vec<(f64, Column)> = [
        (slo.turn_p50, (|r: &TimeSeriesRow| r.turn_p50_s) as Column),
        (slo.turn_p95, |r| r.turn_p95_s),
        (slo.turn_p99, |r| r.turn_p99_s),
    ]
    .into_iter()
    .filter_map(|(bound, value)| bound.map(|b| (b.0, value)))
    .collect();
    let error_bounds: Vec<(f64, Column)> = [
        (
            slo.error_rate,
            (|r: &TimeSeriesRow| r.errors_per_s) as Column,
        ),
        (slo.error_rate_excluding_rate_limits, |r| {
            r.errors_per_s - r.rate_limited_errors_per_s
        }),
    ]
    .into_iter()
    .filter_map(|(bound, failed)| bound.map(|b| (b.0, failed)))
    .collect();
    if latency_bounds.is_empty() && error_bounds.is_empty() {
        return None;
    }
    let outside = |r: &TimeSeriesRow| {
        latency_bounds.iter().any(|(b, v)| v(r) > *b)
            || error_bounds
                .iter()
                .any(|(b, failed)| r.requests_per_s > 0.0 && failed(r) / r.requests_per_s > *b)
    };
    let mut result = SloOverTime {
        interval_s: interval,
        measured_s: 0.0,
        outside_s: 0.0,
        longest_outside_s: 0.0,
        longest_outside_from_s: None,
    };
    let mut run: Option<(f64, f64)> = None;
    // Bucket starts are multiples of the interval; the one holding the warm-up's end counts
    // only when it starts there.
    for r in rows.iter().filter(|r| r.time_s >= warmup - 1e-9 * interval) {
        result.measured_s += interval;
        if outside(r) {
            result.outside_s += interval;
            let (from, length) = run.map_or((r.time_s, interval), |(f, l)| (f, l + interval));
            run = Some((from, length));
            if length > result.longest_outside_s {
                result.longest_outside_s = length;
                result.longest_outside_from_s = Some(from);
            }
        } else {
            run = None;
        }
    }
    Some(result)
}

/// Relative spread of the segments' loads below which the load is taken as fixed.
const FIXED_LOAD_SPREAD: f64 = 0.02;

/// Walks the load curve: the last segment meeting the turn-p95 and error bounds before the
/// first that misses one. A load that does not vary along the window (within 2 %, or one
/// user) has no curve to walk: a segment missing there says nothing about load.
fn capacity(slo: &Slo, s: &Summary) -> (Option<f64>, Option<f64>) {
    let p95_bound = slo.turn_p95.map(|b| b.0);
    let err_bound = slo.error_rate.map(|b| b.0);
    if p95_bound.is_none() && err_bound.is_none() {
        return (None, None);
    }
    let loads = s
        .load_curve
        .iter()
        .map(|p| p.users)
        .filter(|u| u.is_finite());
    let (low, high) = loads.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), u| {
        (lo.min(u), hi.max(u))
    });
    if high - low <= (FIXED_LOAD_SPREAD * high).max(1.0) {
        return (None, None);
    }
    let mut last_ok = None;
    for point in &s.load_curve {
        let within = |v: f64, b: f64| v.is_nan() || v <= b;
        let p95_ok = p95_bound.is_none_or(|b| within(point.turn_p95.value, b));
        let err_ok = err_bound.is_none_or(|b| within(point.error_rate.value, b));
        if p95_ok && err_ok {
            last_ok = Some(point.users);
        } else {
            return (last_ok, Some(point.users));
        }
    }
    (last_ok, None)
}

fn at_cap(m: &Model, s: &Summary) -> bool {
    s.instances.max.value >= f64::from(m.max_instances) - 0.5
}

/// Waiting for a slot means slots are short, or the fleet sat at its instance cap.
fn slots_or_cap(m: &Model, s: &Summary) -> (Bottleneck, String) {
    if at_cap(m, s) {
        (
            Bottleneck::MaxInstances,
            format!(
                "all {} instances are busy: requests wait for a slot (mean {:.1} pending)",
                m.max_instances, s.concurrency.mean_pending.value
            ),
        )
    } else {
        (
            Bottleneck::ConcurrencySlots,
            format!(
                "requests wait for a free slot ({} per instance) while the autoscaler keeps {:.1} instances on average at {:.0} % CPU",
                m.max_concurrency,
                s.instances.mean.value,
                s.cpu_utilization.mean.value * 100.0
            ),
        )
    }
}

/// What a limit is, as a diagnosis reads it: a named bottleneck, or waiting for a slot (which
/// [`slots_or_cap`] resolves from the fleet).
#[derive(Clone, Copy)]
enum Limit {
    Is(Bottleneck),
    SlotsOrCap,
}

/// The diagnosis table for failures: what each dominant cause names, and how its failures
/// happen (completing "N % of them ...").
fn failure_reading(cause: ErrorCause) -> (Limit, &'static str) {
    match cause {
        ErrorCause::NoInstance => (
            Limit::SlotsOrCap,
            "with 429 (no free slot before the pending deadline)",
        ),
        ErrorCause::LlmQuota => (
            Limit::Is(Bottleneck::LlmQuota),
            "because the LLM quota still answered 429 after retries",
        ),
        ErrorCause::Timeout => (
            Limit::Is(Bottleneck::LlmLatency),
            "by the request timeout (slow LLM calls)",
        ),
        ErrorCause::InstanceCrash => (
            Limit::Is(Bottleneck::Memory),
            "when instances ran out of memory",
        ),
        ErrorCause::RateLimited => (
            Limit::Is(Bottleneck::AppRateLimit),
            "on the app's per-user session limits",
        ),
    }
}

/// The diagnosis table for time: what the largest component of p95 turn time names.
fn time_reading(component: TurnComponent) -> Limit {
    match component {
        TurnComponent::Pending => Limit::SlotsOrCap,
        TurnComponent::Cpu | TurnComponent::CpuContention => Limit::Is(Bottleneck::Cpu),
        TurnComponent::RetryBackoff => Limit::Is(Bottleneck::LlmQuota),
        TurnComponent::Datastore => Limit::Is(Bottleneck::Datastore),
        TurnComponent::Llm => Limit::Is(Bottleneck::LlmLatency),
    }
}

fn diagnose(m: &Model, s: &Summary, met: bool) -> (Bottleneck, String) {
    let budget = m.slo.error_rate.map_or(DEFAULT_ERROR_BUDGET, |f| f.0);
    if s.error_rate.value > budget && s.errors.total() > 0 {
        by_failures(m, s)
    } else {
        by_time(m, s, met)
    }
}

/// The bottleneck the dominant failure cause names.
fn by_failures(m: &Model, s: &Summary) -> (Bottleneck, String) {
    let err = &s.errors;
    let (count, dominant) = ErrorCause::ALL
        .iter()
        .map(|c| (err.get(*c), *c))
        .max_by_key(|c| c.0)
        .unwrap_or((0, ErrorCause::NoInstance));
    // A crash takes its instance's slots with it, so no-slot 429s that come with crashes
    // follow from them: memory, not slots, is what the errors show.
    let (count, cause) = if dominant == ErrorCause::NoInstance && err.instance_crash > 0 {
        (err.instance_crash, ErrorCause::InstanceCrash)
    } else {
        (count, dominant)
    };
    let share = count as f64 / err.total() as f64 * 100.0;
    let rate = s.error_rate.value * 100.0;
    let (limit, how) = match failure_reading(cause) {
        // Without retries, a quota 429 is the first answer, not the last of several.
        (limit, _) if cause == ErrorCause::LlmQuota && m.retry.max_retries == 0 => (
            limit,
            "because the LLM quota answered 429 (the app does not retry)",
        ),
        reading => reading,
    };
    let failing = format!("{rate:.1} % of requests fail, {share:.0} % of them {how}");
    match limit {
        Limit::Is(b) => (b, failing),
        Limit::SlotsOrCap => {
            let (b, why) = slots_or_cap(m, s);
            (b, format!("{failing}: {why}"))
        }
    }
}

/// The bottleneck the largest contributor to p95 turn time names.
fn by_time(m: &Model, s: &Summary, met: bool) -> (Bottleneck, String) {
    let p95 = |c: TurnComponent| {
        s.latency_breakdown_s
            .iter()
            .find(|r| r.component == c)
            .map_or(0.0, |r| r.p95.value)
    };
    let (top, secs) = TurnComponent::ALL
        .iter()
        .map(|c| (*c, p95(*c)))
        .filter(|p| p.1.is_finite())
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((TurnComponent::Llm, 0.0));
    let lead = if met {
        "SLO met; the largest share of p95 turn time"
    } else {
        "SLO missed; the largest share of p95 turn time"
    };
    let what = match top {
        TurnComponent::Pending => format!(
            "waiting for a slot ({secs:.2} s at p95 of {:.2} s)",
            s.turn_latency_s.p95.value
        ),
        TurnComponent::Cpu | TurnComponent::CpuContention => format!(
            "CPU ({:.2} s demand + {:.2} s contention at p95) at {:.0} % mean utilisation",
            p95(TurnComponent::Cpu),
            p95(TurnComponent::CpuContention),
            s.cpu_utilization.mean.value * 100.0
        ),
        TurnComponent::RetryBackoff => format!("backing off from LLM 429s ({secs:.2} s at p95)"),
        TurnComponent::Datastore => format!("the datastore ({secs:.2} s at p95)"),
        TurnComponent::Llm => format!(
            "the LLM: {secs:.2} s at p95 over {:.2} calls per turn",
            s.llm.calls_per_turn.value
        ),
    };
    match time_reading(top) {
        Limit::Is(b) => (b, format!("{lead} is {what}")),
        Limit::SlotsOrCap => {
            let (b, why) = slots_or_cap(m, s);
            (b, format!("{lead} is {what}: {why}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::sample_output;

    fn phase2() -> Model {
        let e = crate::config::load(std::path::Path::new("experiments/phase2.yaml"))
            .expect("shipped experiment loads")
            .experiment;
        Model::build(&e).expect("compiles")
    }

    #[test]
    fn crashes_name_memory_even_when_no_slot_failures_outnumber_them() {
        let mut s = sample_output().summary;
        s.errors = Default::default();
        s.errors.add(ErrorCause::NoInstance, 900);
        s.errors.add(ErrorCause::InstanceCrash, 100);
        s.error_rate = Estimate {
            value: 1.0,
            ci95: [1.0, 1.0],
        };
        let (bottleneck, why) = diagnose(&phase2(), &s, false);
        assert_eq!(bottleneck, Bottleneck::Memory, "{why}");
        assert!(why.contains("ran out of memory"), "{why}");
    }

    #[test]
    fn no_slot_failures_without_crashes_still_name_slots_or_cap() {
        let mut s = sample_output().summary;
        s.errors = Default::default();
        s.errors.add(ErrorCause::NoInstance, 900);
        s.error_rate = Estimate {
            value: 1.0,
            ci95: [1.0, 1.0],
        };
        let (bottleneck, _) = diagnose(&phase2(), &s, false);
        assert!(
            matches!(
                bottleneck,
                Bottleneck::ConcurrencySlots | Bottleneck::MaxInstances
            ),
            "{bottleneck:?}"
        );
    }

    #[test]
    fn quota_failures_mention_retries_only_when_the_app_retries() {
        let mut s = sample_output().summary;
        s.errors = Default::default();
        s.errors.add(ErrorCause::LlmQuota, 50);
        s.error_rate = Estimate {
            value: 0.05,
            ci95: [0.04, 0.06],
        };
        let mut m = phase2();
        m.retry.max_retries = 0;
        let (bottleneck, why) = diagnose(&m, &s, false);
        assert_eq!(bottleneck, Bottleneck::LlmQuota);
        assert!(why.contains("the app does not retry"), "{why}");
        assert!(!why.contains("after retries"), "{why}");
        m.retry.max_retries = 3;
        let (_, why) = diagnose(&m, &s, false);
        assert!(why.contains("after retries"), "{why}");
    }

    #[test]
    fn crashes_within_the_error_budget_still_name_memory_and_say_so() {
        let mut s = sample_output().summary;
        s.instances.crashes = 660;
        s.errors = Default::default();
        s.errors.add(ErrorCause::InstanceCrash, 98);
        s.requests = 10_000;
        s.error_rate = Estimate {
            value: 0.0098,
            ci95: [0.008, 0.011],
        };
        let v = judge(&phase2(), &s);
        assert_eq!(v.bottleneck, Bottleneck::Memory, "{}", v.explanation);
        assert!(
            v.explanation.starts_with(
                "660 instance crashes (out of memory) took 98 requests with them (0.98 % of requests"
            ),
            "{}",
            v.explanation
        );
        let mut out = sample_output();
        out.summary.instances.crashes = 660;
        let text = crate::report::render_terminal(&out);
        assert!(
            text.contains("but 660 instances crashed out of memory"),
            "{text}"
        );
        assert!(text.contains("· 660 crashed (out of memory)"), "{text}");
    }

    fn with_load_curve(users: [f64; 4], p95: [f64; 4]) -> Summary {
        let mut s = sample_output().summary;
        for (point, (u, p)) in s.load_curve.iter_mut().zip(users.into_iter().zip(p95)) {
            point.users = u;
            point.turn_p95 = Estimate {
                value: p,
                ci95: [p - 0.1, p + 0.1],
            };
        }
        s
    }

    #[test]
    fn a_fixed_load_has_no_load_curve_to_walk() {
        let m = phase2();
        let fixed = with_load_curve([450.0, 450.4, 449.8, 450.0], [2.0, 2.5, 3.5, 2.0]);
        assert_eq!(capacity(&m.slo, &fixed), (None, None));
        let v = judge(&m, &fixed);
        assert!(!v.explanation.contains("load curve"), "{}", v.explanation);
        assert!(!v.explanation.contains("load segment"), "{}", v.explanation);
        let ramp = with_load_curve([100.0, 200.0, 300.0, 400.0], [2.0, 2.5, 3.5, 4.0]);
        assert_eq!(capacity(&m.slo, &ramp), (Some(200.0), Some(300.0)));
    }

    #[test]
    fn a_window_that_meets_the_bounds_says_so_when_its_first_segment_misses() {
        let m = phase2();
        let mut s = with_load_curve([100.0, 200.0, 300.0, 400.0], [3.5, 2.0, 2.0, 2.0]);
        s.turn_latency_s.p95.value = 2.5;
        s.turn_latency_s.p99.value = 4.0;
        s.turn_latency_s.p50.value = 1.0;
        s.error_rate.value = 0.0;
        let v = judge(&m, &s);
        assert!(v.met, "{:?}", v.checks);
        assert!(
            v.explanation
                .contains("misses the bounds that the window as a whole meets"),
            "{}",
            v.explanation
        );
        assert!(!v.explanation.contains("fail already"), "{}", v.explanation);
    }
}
