//! Turns replication results into the run's summary: estimates with confidence intervals
//! across replications, pooled histograms, averaged time series, the SLO verdict and the
//! diagnosis of the binding bottleneck.

use hdrhistogram::Histogram;

use crate::interval_latencies::SparseLatencies;
use crate::metrics::{
    AgentUsage, ErrorCause, LatencyStats, QUANTILES, SEGMENTS, TurnComponent, WindowLatencies,
};
use crate::results::*;
use crate::stats::Estimate;
use crate::system::ReplicationResult;
use crate::system::cost::COST_NAMES;
use crate::system::model::Model;

/// Fewest tail samples per replication behind a percentile before it is flagged.
const MIN_TAIL_SAMPLES: f64 = 10.0;

/// Estimate across replications of a quantity that cannot be negative (every quantity a run
/// reports: latencies, rates, counts, costs), so a Student-t bound below zero is cut at zero.
fn estimate(values: impl Iterator<Item = f64>) -> Estimate {
    let v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return Estimate {
            value: f64::NAN,
            ci95: [f64::NAN, f64::NAN],
        };
    }
    let mut e = Estimate::from_replications(&v);
    if e.ci95[0] < 0.0 {
        e.ci95[0] = 0.0;
    }
    e
}

fn seconds(micros: u64) -> f64 {
    micros as f64 / 1e6
}

/// Latency estimates from one histogram's statistics per replication. With a single
/// replication the intervals come from batch means instead: the measured window's equal time
/// batches act as the independent units around the whole run's point estimate, and,
/// latencies being non-negative, the lower bound is cut at zero like every other interval.
fn latency_summary(hists: &[&LatencyStats], batches: &[&LatencyStats]) -> LatencySummary {
    let with_data: Vec<&LatencyStats> = hists.iter().copied().filter(|h| h.n > 0).collect();
    let n: u64 = hists.iter().map(|h| h.n).sum();
    let single = with_data.len() == 1;
    let units: Vec<&LatencyStats> = if single {
        batches.iter().copied().filter(|h| h.n > 0).collect()
    } else {
        with_data.clone()
    };
    let stat = |f: &dyn Fn(&LatencyStats) -> f64| -> Estimate {
        let across = estimate(units.iter().map(|h| f(h)));
        if single {
            let value = f(with_data[0]);
            let half = across.half_width();
            Estimate {
                value,
                ci95: [(value - half).max(0.0), value + half],
            }
        } else {
            across
        }
    };
    let q = |p: f64| stat(&|h| h.quantile(p));
    let fewest = with_data.iter().map(|h| h.n).min().unwrap_or(0) as f64;
    let warning = QUANTILES
        .iter()
        .rev()
        .find(|p| fewest * (1.0 - **p) < MIN_TAIL_SAMPLES)
        .map(|p| {
            format!(
                "p{:.0} and above rest on fewer than {MIN_TAIL_SAMPLES:.0} tail samples per replication ({fewest:.0} samples in the smallest replication): run longer or add replications",
                p * 100.0
            )
        });
    LatencySummary {
        n,
        ci_method: if single {
            "batch_means"
        } else {
            "replications"
        }
        .to_string(),
        mean: stat(&|h| h.mean),
        p50: q(0.5),
        p90: q(0.9),
        p95: q(0.95),
        p99: q(0.99),
        max: stat(&|h| h.max),
        warning: if n == 0 {
            Some("no samples".into())
        } else {
            warning
        },
    }
}

fn histogram_rows(metric: MeasuredRequest, h: &Histogram<u64>) -> Vec<HistogramRow> {
    if h.is_empty() {
        return Vec::new();
    }
    // Log-spaced bucket edges from 1 ms, 5 % apart, up to the largest sample.
    let top = h.highest_equivalent(h.max());
    let mut edges = Vec::new();
    let mut edge = 1_000.0f64;
    loop {
        edges.push(edge.round() as u64);
        if edge.round() as u64 >= top {
            break;
        }
        edge *= 1.05;
    }
    let mut counts = vec![0u64; edges.len()];
    for v in h.iter_recorded() {
        let k = edges.partition_point(|e| *e < v.value_iterated_to());
        counts[k.min(edges.len() - 1)] += v.count_at_value();
    }
    let total = h.len() as f64;
    let mut cumulative = 0u64;
    edges
        .iter()
        .zip(counts)
        .map(|(e, count)| {
            cumulative += count;
            HistogramRow {
                metric,
                upper_s: seconds(*e),
                count,
                cdf: cumulative as f64 / total,
            }
        })
        .collect()
}

/// `x` to 12 significant digits: a time average of a whole number of users or instances is
/// computed as a sum of products, which leaves noise in the last digits (499.9999999999988
/// users for 500); 12 digits are far beyond any interval and read as the number it is.
fn settle(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    format!("{x:.11e}").parse().unwrap_or(x)
}

/// The replications' time series averaged bucket by bucket, except the turn percentiles and
/// their sample count, which come from the bucket's turns pooled over replications.
fn average_series(reps: &[ReplicationResult], pooled: &[SparseLatencies]) -> Vec<TimeSeriesRow> {
    let len = reps.iter().map(|r| r.timeseries.len()).min().unwrap_or(0);
    (0..len)
        .map(|i| {
            let empty = SparseLatencies::default();
            let turns = pooled.get(i).unwrap_or(&empty);
            let rows: Vec<&TimeSeriesRow> = reps.iter().map(|r| &r.timeseries[i]).collect();
            let mean = |f: fn(&TimeSeriesRow) -> f64| {
                let v: Vec<f64> = rows
                    .iter()
                    .map(|r| f(r))
                    .filter(|x| x.is_finite())
                    .collect();
                if v.is_empty() {
                    f64::NAN
                } else {
                    settle(v.iter().sum::<f64>() / v.len() as f64)
                }
            };
            TimeSeriesRow {
                time_s: rows[0].time_s,
                users: mean(|r| r.users),
                sessions: mean(|r| r.sessions),
                instances_ready: mean(|r| r.instances_ready),
                instances_starting: mean(|r| r.instances_starting),
                instance_crashes: mean(|r| r.instance_crashes),
                cpu_utilization: mean(|r| r.cpu_utilization),
                in_flight: mean(|r| r.in_flight),
                pending: mean(|r| r.pending),
                llm_in_flight: mean(|r| r.llm_in_flight),
                llm_calls_per_min: mean(|r| r.llm_calls_per_min),
                llm_rpm_quota: rows[0].llm_rpm_quota,
                llm_input_tokens_per_min: mean(|r| r.llm_input_tokens_per_min),
                llm_tpm_quota: rows[0].llm_tpm_quota,
                requests_per_s: mean(|r| r.requests_per_s),
                turns_per_s: mean(|r| r.turns_per_s),
                turn_latency_mean_s: mean(|r| r.turn_latency_mean_s),
                turn_p50_s: turns.quantile(0.50),
                turn_p95_s: turns.quantile(0.95),
                turn_p99_s: turns.quantile(0.99),
                turn_samples: turns.count() as f64,
                errors_per_s: mean(|r| r.errors_per_s),
                no_instance_errors_per_s: mean(|r| r.no_instance_errors_per_s),
                llm_quota_errors_per_s: mean(|r| r.llm_quota_errors_per_s),
                timeout_errors_per_s: mean(|r| r.timeout_errors_per_s),
                instance_crash_errors_per_s: mean(|r| r.instance_crash_errors_per_s),
                rate_limited_errors_per_s: mean(|r| r.rate_limited_errors_per_s),
            }
        })
        .collect()
}

fn load_curve(reps: &[ReplicationResult], series: &[TimeSeriesRow], warmup: f64) -> Vec<LoadPoint> {
    let Some(first) = reps.first() else {
        return Vec::new();
    };
    let len = first.measured.segment_length;
    (0..SEGMENTS)
        .map(|k| {
            let from = warmup + len * k as f64;
            let to = from + len;
            let rows: Vec<&TimeSeriesRow> = series
                .iter()
                .filter(|r| r.time_s >= from - 1e-9 && r.time_s < to - 1e-9)
                .collect();
            let avg = |f: fn(&TimeSeriesRow) -> f64| {
                if rows.is_empty() {
                    f64::NAN
                } else {
                    settle(rows.iter().map(|r| f(r)).sum::<f64>() / rows.len() as f64)
                }
            };
            LoadPoint {
                from_s: from,
                to_s: to,
                users: avg(|r| r.users),
                instances: avg(|r| r.instances_ready + r.instances_starting),
                turns: reps.iter().map(|r| r.measured.segment_turns[k].n).sum(),
                turn_p95: estimate(
                    reps.iter()
                        .filter(|r| r.measured.segment_turns[k].n > 0)
                        .map(|r| r.measured.segment_turns[k].quantile(0.95)),
                ),
                error_rate: estimate(reps.iter().map(|r| {
                    ratio(
                        r.measured.counts.segment_errors[k] as f64,
                        r.measured.counts.segment_finished[k] as f64,
                    )
                })),
            }
        })
        .collect()
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

/// Per-agent LLM use, in the order of `agents` (the compiled pipelines' agent names).
fn agent_rows(reps: &[ReplicationResult], agents: &[String]) -> Vec<AgentRow> {
    agents
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let per_rep = |f: &dyn Fn(&ReplicationResult, &AgentUsage) -> f64| {
                estimate(reps.iter().map(|r| f(r, &r.measured.counts.agents[i])))
            };
            AgentRow {
                agent: name.clone(),
                calls_per_turn: per_rep(&|r, a| {
                    ratio(a.calls as f64, r.measured.counts.turns_ok as f64)
                }),
                mean_call_latency_s: per_rep(&|_, a| ratio(a.latency_sum, a.calls as f64)),
                input_tokens_per_call: per_rep(&|_, a| {
                    ratio(a.input_tokens as f64, a.calls as f64)
                }),
                output_tokens_per_call: per_rep(&|_, a| {
                    ratio(a.output_tokens as f64, a.calls as f64)
                }),
                cost_per_day: per_rep(&|r, a| a.cost * 86_400.0 / r.window),
            }
        })
        .collect()
}

/// The replications every section of the summary is built from.
#[derive(Clone, Copy)]
struct Replications<'a>(&'a [ReplicationResult]);

impl Replications<'_> {
    /// Estimate across replications of `f` of each.
    fn estimate(self, f: impl Fn(&ReplicationResult) -> f64) -> Estimate {
        estimate(self.0.iter().map(f))
    }

    /// Plain mean across replications of `f` of each (no interval).
    fn mean(self, f: impl Fn(&ReplicationResult) -> f64) -> f64 {
        self.0.iter().map(f).sum::<f64>() / self.0.len() as f64
    }

    /// Total over replications of the count `f` of each.
    fn total(self, f: impl Fn(&ReplicationResult) -> u64) -> u64 {
        self.0.iter().map(f).sum()
    }

    /// `f`, a quantity per replication's measured window, as a rate per day.
    fn per_day(self, f: impl Fn(&ReplicationResult) -> f64) -> Estimate {
        self.estimate(|r| f(r) * 86_400.0 / r.window)
    }
}

/// Turn and session-start latency.
fn latencies(reps: Replications) -> (LatencySummary, LatencySummary) {
    let first = &reps.0[0].measured;
    let turn = latency_summary(
        &reps.0.iter().map(|r| &r.measured.turn).collect::<Vec<_>>(),
        &first.segment_turns.iter().collect::<Vec<_>>(),
    );
    let start = latency_summary(
        &reps.0.iter().map(|r| &r.measured.start).collect::<Vec<_>>(),
        &first.segment_starts.iter().collect::<Vec<_>>(),
    );
    (turn, start)
}

/// Mean and p95 of each component of turn time.
fn breakdown(reps: Replications) -> Vec<BreakdownRow> {
    TurnComponent::ALL
        .iter()
        .map(|&c| BreakdownRow {
            component: c,
            mean: reps.estimate(|r| {
                ratio(
                    r.measured.counts.breakdown_sum[c.index()],
                    r.measured.counts.turns_ok as f64,
                )
            }),
            p95: estimate(
                reps.0
                    .iter()
                    .filter(|r| r.measured.counts.turns_ok > 0)
                    .map(|r| r.measured.component_p95[c.index()]),
            ),
        })
        .collect()
}

/// Failures by cause, and the error rates with and without the app's own 429s.
fn errors(reps: Replications) -> (ErrorCounts, Estimate, Estimate) {
    let mut errors = ErrorCounts::default();
    for r in reps.0 {
        for c in ErrorCause::ALL {
            errors.add(c, r.measured.counts.errors.get(c));
        }
    }
    let rate = reps.estimate(|r| {
        ratio(
            r.measured.counts.errors.total() as f64,
            r.measured.counts.finished as f64,
        )
    });
    let excluding_rate_limits = reps.estimate(|r| {
        let e = &r.measured.counts.errors;
        ratio(
            (e.total() - e.rate_limited) as f64,
            r.measured.counts.finished as f64,
        )
    });
    (errors, rate, excluding_rate_limits)
}

fn instances(reps: Replications) -> InstanceSummary {
    InstanceSummary {
        mean: reps.estimate(|r| settle((r.integrals.ready + r.integrals.starting) / r.window)),
        max: reps.estimate(|r| f64::from(r.max_instances)),
        cold_starts: reps.total(|r| r.measured.counts.cold_starts),
        crashes: reps.total(|r| r.measured.counts.instance_crashes),
    }
}

fn cpu(reps: Replications) -> CpuSummary {
    CpuSummary {
        mean: reps.estimate(|r| ratio(r.integrals.busy_vcpus, r.integrals.capacity_vcpus)),
        slowdown: reps.estimate(|r| {
            ratio(
                r.measured.counts.cpu_slowdown_sum,
                r.measured.counts.cpu_slowdown_turns as f64,
            )
        }),
    }
}

fn concurrency(reps: Replications) -> ConcurrencySummary {
    ConcurrencySummary {
        mean_in_flight: reps.estimate(|r| settle(r.integrals.in_flight / r.window)),
        mean_pending: reps.estimate(|r| settle(r.integrals.pending / r.window)),
        turn_wait_probability: reps
            .estimate(|r| r.measured.component_share_nonzero[TurnComponent::Pending.index()]),
    }
}

fn llm(reps: Replications, agents: &[String]) -> LlmSummary {
    let per_turn = |count: fn(&ReplicationResult) -> u64| {
        reps.estimate(move |r| ratio(count(r) as f64, r.measured.counts.turns_ok as f64))
    };
    LlmSummary {
        calls_per_turn: per_turn(|r| r.measured.counts.turn_llm_calls),
        input_tokens_per_turn: per_turn(|r| r.measured.counts.turn_input_tokens),
        output_tokens_per_turn: per_turn(|r| r.measured.counts.turn_output_tokens),
        quota_rejections: reps.total(|r| r.measured.counts.quota_rejections),
        agents: agent_rows(reps.0, agents),
    }
}

/// Cost per turn, session and day, and each component's share of the day.
fn cost(reps: Replications) -> CostSummary {
    let per_day = reps.per_day(|r| r.cost.total());
    let breakdown = COST_NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let component = reps.per_day(|r| r.cost.components()[i]);
            CostRow {
                component: name.to_string(),
                share: ratio(component.value, per_day.value),
                per_day: component,
            }
        })
        .collect();
    let any_turns = reps.0.iter().any(|r| r.measured.counts.turns_ok > 0);
    let any_sessions = reps.0.iter().any(|r| r.measured.counts.sessions_ended > 0);
    CostSummary {
        per_turn: any_turns
            .then(|| reps.estimate(|r| ratio(r.cost.total(), r.measured.counts.turns_ok as f64))),
        per_session: any_sessions.then(|| {
            reps.estimate(|r| ratio(r.cost.total(), r.measured.counts.sessions_ended as f64))
        }),
        per_month: per_day.scaled(DAYS_PER_MONTH),
        per_day,
        breakdown,
    }
}

/// Little's law as a consistency check: time-averaged requests in the system against
/// throughput times time in system.
fn littles_law(reps: Replications) -> LittlesLaw {
    let l = reps.mean(|r| (r.integrals.in_flight + r.integrals.pending) / r.window);
    // Each request finished in the window with its whole time in the system: the time that
    // requests straddling the warm-up's end bring in stands for the time of those still in
    // the system at the horizon, which is left out.
    let lambda_w = reps.mean(|r| r.measured.counts.completed_time_in_system / r.window);
    LittlesLaw {
        l,
        lambda_w,
        relative_error: ratio((l - lambda_w).abs(), l),
    }
}

/// Latency distribution rows of the turns and session starts pooled over the replications.
fn histograms(pooled: &WindowLatencies) -> Vec<HistogramRow> {
    let mut rows = histogram_rows(MeasuredRequest::Turn, &pooled.turn);
    rows.extend(histogram_rows(MeasuredRequest::SessionStart, &pooled.start));
    rows
}

/// Builds the run's output from its replications of the compiled `model` and their latency
/// histograms `pooled` into one, one section at a time, then judges it against the model's
/// SLO.
pub fn summarize(
    model: &Model,
    reps: &[ReplicationResult],
    pooled: &WindowLatencies,
    warmup: f64,
    inputs: Inputs,
) -> RunOutput {
    let all = Replications(reps);
    let (turn_latency_s, session_start_latency_s) = latencies(all);
    let (errors, error_rate, error_rate_excluding_rate_limits) = errors(all);
    let mut summary = Summary {
        capsim_version: env!("CARGO_PKG_VERSION").to_string(),
        experiment: model.name.clone(),
        seed: model.seed,
        replications: reps.len() as u32,
        precision: None,
        horizon_s: model.horizon,
        warmup_s: warmup,
        inputs,
        turn_latency_s,
        session_start_latency_s,
        latency_breakdown_s: breakdown(all),
        errors,
        error_rate,
        error_rate_excluding_rate_limits,
        requests: all.total(|r| r.measured.counts.finished),
        abandoned_sessions: all.total(|r| r.measured.counts.abandoned_sessions),
        turn_throughput_per_s: all
            .estimate(|r| r.measured.counts.turns_completed as f64 / r.window),
        instances: instances(all),
        cpu_utilization: cpu(all),
        concurrency: concurrency(all),
        llm: llm(all, &model.program.agents),
        cost_usd: cost(all),
        littles_law: littles_law(all),
        load_curve: Vec::new(),
        slo: SloVerdict {
            met: true,
            checks: Vec::new(),
            bottleneck: Bottleneck::LlmLatency,
            explanation: String::new(),
            capacity_users: None,
            first_miss_users: None,
            over_time: None,
        },
        events: all.total(|r| r.events),
        warnings: Vec::new(),
    };
    let timeseries = average_series(reps, &pooled.intervals);
    summary.load_curve = load_curve(reps, &timeseries, warmup);
    summary.slo = crate::verdict::judge(model, &summary);
    summary.slo.over_time =
        crate::verdict::over_time(&model.slo, &timeseries, model.sample_interval, warmup);
    summary.warnings = crate::traps::flag(model, reps, &summary);
    RunOutput {
        summary,
        timeseries,
        histogram: histograms(pooled),
        scaling: model.autoscaler.lines.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{latency_histogram, record_seconds};

    #[test]
    fn intervals_of_non_negative_quantities_stop_at_zero() {
        let e = estimate([0.0, 0.0, 3.0].into_iter());
        assert_eq!(e.ci95[0], 0.0);
        assert!(e.ci95[1] > 3.0);
        let wide = Estimate::from_replications(&[0.0, 0.0, 3.0]);
        assert!(wide.ci95[0] < 0.0, "the raw t interval does cross zero");
    }

    #[test]
    fn histogram_rows_cover_every_sample_once() {
        let mut h = latency_histogram();
        for ms in [0.5, 2.0, 2.0, 40.0, 900.0, 12_000.0] {
            record_seconds(&mut h, ms / 1000.0);
        }
        let rows = histogram_rows(MeasuredRequest::Turn, &h);
        assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), 6);
        assert_eq!(rows.last().map(|r| r.cdf), Some(1.0));
        assert!(rows.windows(2).all(|w| w[0].upper_s < w[1].upper_s));
    }

    #[test]
    fn latency_summary_flags_thin_tails() {
        let mut h = latency_histogram();
        for i in 1..=200 {
            record_seconds(&mut h, f64::from(i) / 100.0);
        }
        let h = LatencyStats::of(&h);
        let s = latency_summary(&[&h, &h], &[]);
        assert_eq!(s.n, 400);
        assert!((s.p50.value - 1.0).abs() < 0.01);
        assert!(s.warning.as_deref().is_some_and(|w| w.contains("p99")));
        assert_eq!(s.ci_method, "replications");
    }

    #[test]
    fn one_replication_takes_its_intervals_from_batches() {
        let mut whole = latency_histogram();
        let mut batches = Vec::new();
        for b in 0..10 {
            let mut h = latency_histogram();
            for i in 1..=100 {
                let v = f64::from(i) / 100.0 * (1.0 + f64::from(b) / 100.0);
                record_seconds(&mut h, v);
                record_seconds(&mut whole, v);
            }
            batches.push(h);
        }
        let batches: Vec<LatencyStats> = batches.iter().map(LatencyStats::of).collect();
        let s = latency_summary(
            &[&LatencyStats::of(&whole)],
            &batches.iter().collect::<Vec<_>>(),
        );
        assert_eq!(s.ci_method, "batch_means");
        assert!((s.p50.value - whole.value_at_quantile(0.5) as f64 / 1e6).abs() < 1e-12);
        assert!(s.p50.half_width() > 0.0 && s.p50.contains(s.p50.value));
    }

    #[test]
    fn batch_means_intervals_stop_at_zero() {
        // Nine fast batches and one slow one: the raw interval around the small median
        // reaches below zero.
        let mut whole = latency_histogram();
        let batches: Vec<_> = (0..10)
            .map(|b| {
                let mut h = latency_histogram();
                let v = if b == 9 { 20.0 } else { 0.1 };
                for _ in 0..100 {
                    record_seconds(&mut h, v);
                    record_seconds(&mut whole, v);
                }
                h
            })
            .map(|h| LatencyStats::of(&h))
            .collect();
        let s = latency_summary(
            &[&LatencyStats::of(&whole)],
            &batches.iter().collect::<Vec<_>>(),
        );
        assert_eq!(s.ci_method, "batch_means");
        assert!(s.p50.value < 0.2, "p50 {}", s.p50.value);
        assert_eq!(s.p50.ci95[0], 0.0, "{:?}", s.p50.ci95);
        assert!(s.p50.ci95[1] > 1.0, "{:?}", s.p50.ci95);
    }
}
