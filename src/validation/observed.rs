//! What a validation check reads from a run's output to set beside its closed form.

use crate::metrics::TurnComponent;
use crate::results::RunOutput;
use crate::stats::Estimate;

/// A turn-latency percentile reported in the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Percentile {
    /// Median.
    P50,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
}

/// A simulated metric, with its 95 % interval where the summary has one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Observed {
    /// Share of turns that waited for a slot.
    WaitProbability,
    /// Mean time a turn spent in the pending queue.
    MeanPendingWait,
    /// Mean turn latency.
    TurnMean,
    /// A turn-latency percentile.
    Turn(Percentile),
    /// Share of requests that failed.
    ErrorRate,
    /// Mean CPU slowdown (wall time over demand) of turns.
    Slowdown,
    /// Time-averaged ready instances over `[from, to)` seconds, averaged over replications
    /// (no interval: the buckets of one window are not independent).
    InstancesBetween {
        /// Window start, seconds.
        from: f64,
        /// Window end, seconds.
        to: f64,
    },
}

impl Observed {
    /// The metric's estimate in `out`.
    pub(super) fn read(self, out: &RunOutput) -> Estimate {
        let s = &out.summary;
        match self {
            Observed::WaitProbability => s.concurrency.turn_wait_probability,
            Observed::MeanPendingWait => s
                .latency_breakdown_s
                .iter()
                .find(|r| r.component == TurnComponent::Pending)
                .map_or_else(unknown, |r| r.mean),
            Observed::TurnMean => s.turn_latency_s.mean,
            Observed::Turn(Percentile::P50) => s.turn_latency_s.p50,
            Observed::Turn(Percentile::P95) => s.turn_latency_s.p95,
            Observed::Turn(Percentile::P99) => s.turn_latency_s.p99,
            Observed::ErrorRate => s.error_rate,
            Observed::Slowdown => s.cpu_utilization.slowdown,
            Observed::InstancesBetween { from, to } => {
                let rows: Vec<f64> = out
                    .timeseries
                    .iter()
                    .filter(|r| r.time_s >= from && r.time_s < to)
                    .map(|r| r.instances_ready)
                    .collect();
                Estimate {
                    value: rows.iter().sum::<f64>() / rows.len().max(1) as f64,
                    ci95: [f64::NAN; 2],
                }
            }
        }
    }
}

/// An estimate the summary does not hold.
fn unknown() -> Estimate {
    Estimate {
        value: f64::NAN,
        ci95: [f64::NAN; 2],
    }
}
