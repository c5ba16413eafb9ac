//! Resource budget: before anything is simulated, estimate the memory and the number of
//! events an experiment needs, and refuse what is past the budget, showing the arithmetic.
//!
//! The estimate is deliberately coarse and errs high. Memory: the simulated world of each
//! replication running at once (users, distinct users of an open workload, warm instances,
//! time-series buckets) plus the results of every replication, kept until aggregation.
//! Events per replication: autoscaler evaluations (`horizon / interval`), time-series buckets,
//! and requests times [`EVENTS_PER_REQUEST`]; requests come at the peak arrival rate times
//! requests per session (open), or at most one per user per second (closed). Replications
//! count up to `precision`'s cap, plus the `warmup: auto` pilot.

use std::fmt;

use crate::config::{Arrivals, Experiment, Warmup};

/// Bytes per virtual user: its actor, session and conversation history.
const BYTES_PER_USER: f64 = 512.0;
/// Bytes per distinct user of an open workload (its rate-limit state).
const BYTES_PER_MEMBER: f64 = 64.0;
/// Bytes per warm instance (`min_instances`).
const BYTES_PER_INSTANCE: f64 = 4096.0;
/// Bytes per time-series bucket, in a running world and in each replication's result.
const BYTES_PER_BUCKET: f64 = 256.0;
/// Bytes of one recorded latency bucket of a time-series bucket's turn histogram.
const BYTES_PER_LATENCY_PAIR: f64 = 16.0;
/// Most recorded latency buckets a time-series bucket keeps (two-digit HDR buckets a turn's
/// latency can fall in, from a millisecond to an hour).
const MAX_LATENCY_PAIRS: f64 = 2048.0;
/// Bytes of one replication's result besides its time series (histograms, counters).
const BYTES_PER_RESULT: f64 = 1024.0 * 1024.0;
/// Events one request causes on average (routing, CPU bursts, LLM and datastore calls, ...).
const EVENTS_PER_REQUEST: f64 = 30.0;
/// Fastest a closed-workload user sends requests: one per second.
const CLOSED_REQUESTS_PER_USER_PER_S: f64 = 1.0;

/// Default memory budget: 4 GiB.
pub const DEFAULT_MEMORY: u64 = 4 << 30;
/// Default event budget: 10^10 events (tens of minutes at a few million events per second).
pub const DEFAULT_EVENTS: f64 = 1e10;
/// Runs past this many events show their estimate in the progress line.
pub const LONG_RUN_EVENTS: f64 = 1e9;

/// What an experiment is estimated to need.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Peak memory, bytes.
    pub memory: f64,
    /// Events over all replications.
    pub events: f64,
}

/// The limits a run must stay within.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    /// Memory, bytes.
    pub memory: u64,
    /// Events; infinite with `--allow-long`.
    pub events: f64,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            memory: DEFAULT_MEMORY,
            events: DEFAULT_EVENTS,
        }
    }
}

/// Refused: the estimate is past the budget.
#[derive(Debug, thiserror::Error)]
#[error("experiment `{name}` cannot finish within the budget: {reason}")]
pub struct OverBudget {
    name: String,
    reason: String,
}

/// Estimates `e`'s peak memory and events when replications run `threads` at a time.
pub fn estimate(e: &Experiment, threads: usize) -> Estimate {
    let horizon = e.horizon.0;
    let w = &e.workload;
    let users = f64::from(w.peak_users());
    let members = f64::from(w.population.unwrap_or(0));
    let buckets = horizon / e.sample_interval.0;
    let replications = f64::from(match &e.precision {
        Some(p) => p.rule().2.max(e.replications),
        None => e.replications,
    }) + f64::from(u8::from(e.warmup == Warmup::Auto));
    let world = users * BYTES_PER_USER
        + members * BYTES_PER_MEMBER
        + f64::from(e.platform.min_instances) * BYTES_PER_INSTANCE
        + buckets * BYTES_PER_BUCKET;
    let at_once = replications.min(threads.max(1) as f64);
    let requests_per_session = f64::from(e.app.turns) + 1.0;
    let request_rate = match &w.arrivals {
        Some(arrivals) => peak_sessions_per_s(arrivals) * requests_per_session,
        None => users * CLOSED_REQUESTS_PER_USER_PER_S,
    };
    // Each bucket's turn latencies, in every running replication and in the pool.
    let latency_pairs = (request_rate * e.sample_interval.0).clamp(1.0, MAX_LATENCY_PAIRS);
    let interval_latencies = buckets * latency_pairs * BYTES_PER_LATENCY_PAIR * (at_once + 1.0);
    let memory = world * at_once
        + replications * (buckets * BYTES_PER_BUCKET + BYTES_PER_RESULT)
        + interval_latencies;
    // An experiment that reaches the budget passed validation, so its policy builds.
    let ticks = match crate::system::autoscaler::build(&e.platform.autoscaler) {
        Ok(Some(policy)) => horizon / policy.cadence().interval,
        Ok(None) | Err(_) => 0.0,
    };
    let per_replication = ticks + buckets + request_rate * horizon * EVENTS_PER_REQUEST;
    Estimate {
        memory,
        events: per_replication * replications,
    }
}

/// The highest session arrival rate of a profile, per second.
fn peak_sessions_per_s(arrivals: &Arrivals) -> f64 {
    match arrivals {
        Arrivals::PerSecond(rate) => *rate,
        Arrivals::PerDay { sessions, diurnal } => {
            let flat = sessions / 86_400.0;
            match diurnal {
                Some(weights) if !weights.is_empty() => {
                    let total: f64 = weights.iter().sum();
                    let peak = weights.iter().copied().fold(0.0, f64::max);
                    flat * peak * weights.len() as f64 / total
                }
                _ => flat,
            }
        }
        Arrivals::Piecewise(steps) => steps.iter().map(|s| s.1).fold(0.0, f64::max),
        Arrivals::Stages(stages) => stages.iter().map(|s| s.per_second).fold(0.0, f64::max),
    }
}

impl Budget {
    /// Refuses `estimate` for experiment `name` when it is past either limit.
    pub fn check(&self, name: &str, estimate: &Estimate) -> Result<(), OverBudget> {
        let refuse = |reason: String| {
            Err(OverBudget {
                name: name.to_string(),
                reason,
            })
        };
        if estimate.memory > self.memory as f64 {
            return refuse(format!(
                "it needs about {} of memory, more than the {} allowed ({}); raise the limit with --budget-memory",
                gib(estimate.memory),
                gib(self.memory as f64),
                MEMORY_ARITHMETIC
            ));
        }
        if estimate.events > self.events {
            return refuse(format!(
                "it needs about {:.1e} events, more than the {:.0e} allowed ({}); shorten the horizon, or pass --allow-long",
                estimate.events, self.events, EVENTS_ARITHMETIC
            ));
        }
        Ok(())
    }
}

/// How the memory estimate is made, for error messages.
const MEMORY_ARITHMETIC: &str = "512 B per user, 64 B per distinct user, 4 KiB per warm instance and 256 B per time-series bucket in each running replication, plus 1 MiB and the time series of each replication's result, plus up to 2,048 latency pairs of 16 B per time-series bucket (one per request in it) in each running replication and in the pool";
/// How the event estimate is made, for error messages.
const EVENTS_ARITHMETIC: &str = "per replication: horizon / autoscaler interval, the time-series buckets, and 30 per request at the peak request rate";

/// Bytes as GiB or MiB with one decimal.
fn gib(bytes: f64) -> String {
    if bytes >= f64::from(1u32 << 30) {
        format!("{:.1} GiB", bytes / f64::from(1u32 << 30))
    } else {
        format!("{:.1} MiB", bytes / f64::from(1u32 << 20))
    }
}

impl fmt::Display for Estimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "about {:.1e} events, {}", self.events, gib(self.memory))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{Overlay, load_with};

    fn phase2(sets: &[&str]) -> Experiment {
        let overlays: Vec<Overlay> = sets
            .iter()
            .map(|s| Overlay::parse_set(s).expect("valid --set"))
            .collect();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/phase2.yaml");
        load_with(&path, &overlays).expect("loads").experiment
    }

    #[test]
    fn a_shipped_experiment_is_within_the_default_budget() {
        let e = phase2(&[]);
        let est = estimate(&e, 2);
        assert!(est.memory > 0.0 && est.events > 0.0, "{est:?}");
        Budget::default()
            .check(&e.name, &est)
            .expect("within budget");
    }

    #[test]
    fn a_billion_users_is_refused_with_the_arithmetic() {
        let e = phase2(&["workload.users=1000000000"]);
        let err = Budget::default()
            .check(&e.name, &estimate(&e, 2))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("memory") && err.contains("512 B per user"),
            "{err}"
        );
        assert!(err.contains("--budget-memory"), "{err}");
    }

    #[test]
    fn a_raised_budget_admits_what_the_default_refuses() {
        let e = phase2(&[
            "platform.min_instances=2000000",
            "platform.max_instances=2000000",
        ]);
        let est = estimate(&e, 1);
        assert!(Budget::default().check(&e.name, &est).is_err(), "{est:?}");
        let raised = Budget {
            memory: 64 << 30,
            ..Budget::default()
        };
        raised.check(&e.name, &est).expect("within 64 GiB");
    }

    #[test]
    fn a_ten_year_horizon_is_refused_for_its_events() {
        let e = phase2(&["horizon=3650d", "sample_interval=1d"]);
        let est = estimate(&e, 2);
        let err = Budget::default()
            .check(&e.name, &est)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("events") && err.contains("--allow-long"),
            "{err}"
        );
        let long = Budget {
            events: f64::INFINITY,
            ..Budget::default()
        };
        long.check(&e.name, &est)
            .expect("--allow-long lifts the event limit");
    }

    #[test]
    fn a_nanosecond_autoscaler_interval_counts_its_evaluations() {
        let slow = estimate(&phase2(&[]), 2).events;
        let e = phase2(&["platform.autoscaler.threshold.interval=1ns"]);
        let fast = estimate(&e, 2).events;
        // At least one replication's worth of evaluations, one per nanosecond of the horizon.
        assert!(fast - slow >= e.horizon.0 * 1e9, "{slow} -> {fast}");
    }

    #[test]
    fn the_peak_of_a_diurnal_profile_is_its_busiest_hour() {
        let mut diurnal = vec![1.0; 24];
        diurnal[12] = 25.0;
        let arrivals = Arrivals::PerDay {
            sessions: 86_400.0,
            diurnal: Some(diurnal),
        };
        // 24 hours of weight 48 in all: the busiest hour has 25/48 of the day's sessions.
        let expected = 25.0 * 24.0 / 48.0;
        assert!((peak_sessions_per_s(&arrivals) - expected).abs() < 1e-9);
    }
}
