//! The SLO verdict and the diagnosis of what limits the system first.
//!
//! Diagnosis, in order: if failures exceed the error budget, the dominant failure cause names
//! the bottleneck (no free slot → concurrency slots, or max instances when the fleet sat at its
//! cap; provider 429 → LLM quota; timeouts → LLM latency; crashes → memory; app 429 → rate
//! limit). Otherwise the largest contributor to p95 turn time does (pending wait → slots or max
//! instances; CPU contention → CPU; LLM → LLM latency; backoff → quota; datastore).

use crate::config::Experiment;
use crate::metrics::{ErrorCause, TurnComponent};
use crate::results::{Bottleneck, SloCheck, SloVerdict, Summary};
use crate::stats::Estimate;

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
pub fn judge(e: &Experiment, s: &Summary) -> SloVerdict {
    let slo = &e.slo;
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
    let (bottleneck, mut explanation) = diagnose(e, s, met);
    let (capacity_users, first_miss_users) = capacity(e, s);
    if let Some(miss) = first_miss_users {
        explanation.push_str(&match capacity_users {
            Some(ok) => format!(
                ". Along the load curve the bounds hold up to ~{ok:.0} users and first fail at ~{miss:.0}"
            ),
            None => format!(". The bounds fail already in the first load segment (~{miss:.0} users)"),
        });
    }
    SloVerdict {
        met,
        checks,
        bottleneck,
        explanation,
        capacity_users,
        first_miss_users,
    }
}

/// Walks the load curve: the last segment meeting the turn-p95 and error bounds before the
/// first that misses one.
fn capacity(e: &Experiment, s: &Summary) -> (Option<f64>, Option<f64>) {
    let p95_bound = e.slo.turn_p95.map(|b| b.0);
    let err_bound = e.slo.error_rate.map(|b| b.0);
    if p95_bound.is_none() && err_bound.is_none() {
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

fn at_cap(e: &Experiment, s: &Summary) -> bool {
    s.instances.max.value >= f64::from(e.platform.max_instances) - 0.5
}

fn slots_or_cap(e: &Experiment, s: &Summary) -> (Bottleneck, String) {
    if at_cap(e, s) {
        (
            Bottleneck::MaxInstances,
            format!(
                "all {} instances are busy: requests wait for a slot (mean {:.1} pending)",
                e.platform.max_instances, s.concurrency.mean_pending.value
            ),
        )
    } else {
        (
            Bottleneck::ConcurrencySlots,
            format!(
                "requests wait for a free slot ({} per instance) while the autoscaler keeps {:.1} instances on average at {:.0} % CPU",
                e.platform.max_concurrency,
                s.instances.mean.value,
                s.cpu_utilization.mean.value * 100.0
            ),
        )
    }
}

fn diagnose(e: &Experiment, s: &Summary, met: bool) -> (Bottleneck, String) {
    let budget = e.slo.error_rate.map_or(DEFAULT_ERROR_BUDGET, |f| f.0);
    let err = &s.errors;
    if s.error_rate.value > budget && err.total() > 0 {
        let (count, cause) = ErrorCause::ALL
            .iter()
            .map(|c| (err.get(*c), *c))
            .max_by_key(|c| c.0)
            .unwrap_or((0, ErrorCause::NoInstance));
        let share = count as f64 / err.total() as f64 * 100.0;
        let rate = s.error_rate.value * 100.0;
        return match cause {
            ErrorCause::NoInstance => {
                let (b, why) = slots_or_cap(e, s);
                (
                    b,
                    format!(
                        "{rate:.1} % of requests fail, {share:.0} % of them with 429 (no free slot before the pending deadline): {why}"
                    ),
                )
            }
            ErrorCause::LlmQuota => (
                Bottleneck::LlmQuota,
                format!(
                    "{rate:.1} % of requests fail, {share:.0} % of them because the LLM quota still answered 429 after retries"
                ),
            ),
            ErrorCause::Timeout => (
                Bottleneck::LlmLatency,
                format!(
                    "{rate:.1} % of requests fail, {share:.0} % of them by the request timeout (slow LLM calls)"
                ),
            ),
            ErrorCause::InstanceCrash => (
                Bottleneck::Memory,
                format!(
                    "{rate:.1} % of requests fail, {share:.0} % of them when instances ran out of memory"
                ),
            ),
            ErrorCause::RateLimited => (
                Bottleneck::AppRateLimit,
                format!(
                    "{rate:.1} % of requests fail, {share:.0} % of them on the app's per-user session limits"
                ),
            ),
        };
    }
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
    let p95_turn = s.turn_latency_s.p95.value;
    let lead = if met {
        "SLO met; the largest share of p95 turn time"
    } else {
        "SLO missed; the largest share of p95 turn time"
    };
    match top {
        TurnComponent::Pending => {
            let (b, why) = slots_or_cap(e, s);
            (
                b,
                format!(
                    "{lead} is waiting for a slot ({secs:.2} s at p95 of {p95_turn:.2} s): {why}"
                ),
            )
        }
        TurnComponent::Cpu | TurnComponent::CpuContention => (
            Bottleneck::Cpu,
            format!(
                "{lead} is CPU ({:.2} s demand + {:.2} s contention at p95) at {:.0} % mean utilisation",
                p95(TurnComponent::Cpu),
                p95(TurnComponent::CpuContention),
                s.cpu_utilization.mean.value * 100.0
            ),
        ),
        TurnComponent::RetryBackoff => (
            Bottleneck::LlmQuota,
            format!("{lead} is backing off from LLM 429s ({secs:.2} s at p95)"),
        ),
        TurnComponent::Datastore => (
            Bottleneck::Datastore,
            format!("{lead} is the datastore ({secs:.2} s at p95)"),
        ),
        TurnComponent::Llm => (
            Bottleneck::LlmLatency,
            format!(
                "{lead} is the LLM: {secs:.2} s at p95 over {:.2} calls per turn",
                s.llm.calls_per_turn.value
            ),
        ),
    }
}
