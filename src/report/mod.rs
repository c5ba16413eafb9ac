//! Rendering a finished run: the terminal summary, the output folder (`summary.json`, CSVs,
//! PNG charts and the manifest, swapped into place atomically); and the side-by-side table of
//! several runs.

mod canvas;
pub mod capacity;
pub mod columns;
mod compare;
mod dir_lock;
mod files;
pub(crate) mod format;
mod manifest;
mod output_dir;
mod over_time;
pub mod plot;
pub mod shard;
pub mod study;
mod study_plot;
pub mod table;
mod terminal;

pub use compare::comparison_table;
pub use format::about;
pub use output_dir::OutputWriter;
pub use terminal::render_terminal;

/// A small synthetic run shared by the report tests.
#[cfg(test)]
pub(crate) mod fixture {
    use crate::config::{Point, PrecisionMetric};
    use crate::metrics::TurnComponent;
    use crate::results::{
        AgentRow, Bottleneck, BreakdownRow, ConcurrencySummary, CostRow, CostSummary, CpuSummary,
        DAYS_PER_MONTH, ErrorCounts, HistogramRow, Inputs, InstanceSummary, LatencySummary,
        LittlesLaw, LlmSummary, LoadPoint, MeasuredRequest, PrecisionOutcome, RunOutput,
        ScalingLines, SloCheck, SloVerdict, Summary, TimeSeriesRow,
    };
    use crate::stats::Estimate;

    /// Estimate with a symmetric interval.
    pub(crate) fn est(value: f64, half: f64) -> Estimate {
        Estimate {
            value,
            ci95: [value - half, value + half],
        }
    }

    fn latency(scale: f64, n: u64) -> LatencySummary {
        LatencySummary {
            n,
            ci_method: "replications".into(),
            mean: est(1.9 * scale, 0.08 * scale),
            p50: est(1.7 * scale, 0.07 * scale),
            p90: est(2.2 * scale, 0.1 * scale),
            p95: est(2.41 * scale, 0.11 * scale),
            p99: est(3.3 * scale, 0.25 * scale),
            max: est(6.0 * scale, 0.9 * scale),
            warning: None,
        }
    }

    /// Histogram rows approximating a log-normal-ish latency distribution.
    fn histogram(metric: MeasuredRequest, scale: f64) -> Vec<HistogramRow> {
        let weights: Vec<u64> = (1..=60u64)
            .map(|i| {
                let x = i as f64 / 10.0;
                let d = (x - 1.9).abs();
                (1000.0 * (-d * d * 1.5).exp()) as u64 + 1
            })
            .collect();
        let total: u64 = weights.iter().sum();
        let mut acc = 0;
        weights
            .iter()
            .enumerate()
            .map(|(i, &count)| {
                acc += count;
                HistogramRow {
                    metric,
                    upper_s: (i + 1) as f64 / 10.0 * scale,
                    count,
                    cdf: acc as f64 / total as f64,
                }
            })
            .collect()
    }

    /// The synthetic run.
    pub(crate) fn sample_output() -> RunOutput {
        let breakdown = [
            (TurnComponent::Pending, 0.05, 0.3),
            (TurnComponent::Cpu, 0.12, 0.2),
            (TurnComponent::CpuContention, 0.03, 0.1),
            (TurnComponent::Llm, 1.6, 2.1),
            (TurnComponent::RetryBackoff, 0.0, 0.0),
            (TurnComponent::Datastore, 0.1, 0.15),
        ]
        .iter()
        .map(|&(component, m, p)| BreakdownRow {
            component,
            mean: est(m, m * 0.05),
            p95: est(p, p * 0.08),
        })
        .collect();
        let costs = [
            ("llm_output", 820.0),
            ("llm_input", 310.0),
            ("cloud_run_cpu", 95.0),
            ("cloud_run_memory", 12.0),
            ("firestore_reads", 0.8),
        ];
        let total: f64 = costs.iter().map(|c| c.1).sum();
        let summary = Summary {
            capsim_version: "0.1.0".to_string(),
            experiment: "baseline".to_string(),
            seed: 42,
            replications: 10,
            precision: Some(PrecisionOutcome {
                metric: PrecisionMetric::TurnP95,
                target: 0.03,
                achieved: 0.021,
                met: true,
            }),
            horizon_s: 3600.0,
            warmup_s: 312.0,
            inputs: Inputs {
                point: Point::default(),
                workload: "closed".into(),
                users: Some(100),
                sessions_per_s: None,
                vcpu: 1.0,
                memory_gib: 2.0,
                max_concurrency: 10,
                min_instances: 0,
                max_instances: 100,
                autoscaler: "threshold".into(),
                llm_model: Some("gemini-2.0-flash".into()),
                llm_latency_scale: 1.0,
            },
            turn_latency_s: latency(1.0, 12_345),
            session_start_latency_s: LatencySummary {
                warning: Some("p99 rests on fewer than 100 samples".to_string()),
                ..latency(0.4, 300)
            },
            latency_breakdown_s: breakdown,
            errors: ErrorCounts {
                no_instance: 40,
                timeout: 12,
                ..ErrorCounts::default()
            },
            error_rate: est(0.0042, 0.0013),
            error_rate_excluding_rate_limits: est(0.0042, 0.0013),
            requests: 12_400,
            abandoned_sessions: 0,
            turn_throughput_per_s: est(3.43, 0.05),
            instances: InstanceSummary {
                mean: est(3.2, 0.2),
                max: est(5.0, 0.4),
                cold_starts: 14,
                crashes: 0,
            },
            cpu_utilization: CpuSummary {
                mean: est(0.631, 0.02),
                slowdown: est(1.1, 0.02),
            },
            concurrency: ConcurrencySummary {
                mean_in_flight: est(4.1, 0.3),
                mean_pending: est(0.05, 0.01),
                turn_wait_probability: est(0.12, 0.02),
            },
            llm: LlmSummary {
                calls_per_turn: est(3.0, 0.0),
                input_tokens_per_turn: est(4200.0, 30.0),
                output_tokens_per_turn: est(610.0, 12.0),
                quota_rejections: 0,
                agents: vec![
                    AgentRow {
                        agent: "partner".into(),
                        calls_per_turn: est(1.0, 0.0),
                        mean_call_latency_s: est(1.4, 0.05),
                        input_tokens_per_call: est(2100.0, 20.0),
                        output_tokens_per_call: est(150.0, 3.0),
                        cost_per_day: est(12.5, 0.4),
                    },
                    AgentRow {
                        agent: "room".into(),
                        calls_per_turn: est(1.0, 0.0),
                        mean_call_latency_s: est(0.9, 0.03),
                        input_tokens_per_call: est(1400.0, 15.0),
                        output_tokens_per_call: est(50.0, 2.0),
                        cost_per_day: est(6.1, 0.2),
                    },
                ],
            },
            cost_usd: CostSummary {
                per_turn: Some(est(0.0028, 0.0001)),
                per_session: Some(est(0.041, 0.002)),
                per_day: est(total, 12.0),
                per_month: est(total * DAYS_PER_MONTH, 12.0 * DAYS_PER_MONTH),
                breakdown: costs
                    .iter()
                    .map(|&(c, v)| CostRow {
                        component: c.to_string(),
                        per_day: est(v, v * 0.01),
                        share: v / total,
                    })
                    .collect(),
            },
            littles_law: LittlesLaw {
                l: 4.15,
                lambda_w: 4.12,
                relative_error: 0.007,
            },
            load_curve: (1..=4)
                .map(|i| LoadPoint {
                    from_s: 312.0 + 822.0 * f64::from(i - 1),
                    to_s: 312.0 + 822.0 * f64::from(i),
                    users: 25.0 * f64::from(i),
                    instances: 1.0 + f64::from(i),
                    turns: 3000,
                    turn_p95: est(2.0 + 0.3 * f64::from(i), 0.1),
                    error_rate: est(0.001 * f64::from(i), 0.0005),
                })
                .collect(),
            slo: SloVerdict {
                met: true,
                checks: vec![
                    SloCheck {
                        name: "turn_p95".to_string(),
                        target: 3.0,
                        value: est(2.41, 0.11),
                        met: true,
                        uncertain: false,
                    },
                    SloCheck {
                        name: "error_rate".to_string(),
                        target: 0.005,
                        value: est(0.0042, 0.0013),
                        met: true,
                        uncertain: true,
                    },
                ],
                bottleneck: Bottleneck::LlmLatency,
                explanation: "LLM calls make up 84 % of turn time.".to_string(),
                capacity_users: Some(75.0),
                first_miss_users: Some(100.0),
                over_time: None,
            },
            events: 1_234_567,
            warnings: Vec::new(),
        };
        let timeseries = (0..60)
            .map(|i| {
                let t = i as f64 * 60.0;
                let load = (i as f64 / 10.0).min(1.0);
                TimeSeriesRow {
                    time_s: t,
                    users: 100.0 * load,
                    instances_ready: 1.0 + 3.0 * load,
                    instances_starting: if i % 9 == 1 { 1.0 } else { 0.0 },
                    cpu_utilization: 0.3 + 0.35 * load + 0.05 * (i as f64).sin(),
                    in_flight: 4.0 * load,
                    pending: 0.1 * load,
                    llm_in_flight: 3.5 * load,
                    turns_per_s: 3.4 * load,
                    turn_latency_mean_s: if i == 0 { f64::NAN } else { 1.9 },
                    errors_per_s: 0.01,
                    no_instance_errors_per_s: 0.01,
                    ..TimeSeriesRow::default()
                }
            })
            .collect();
        let mut rows = histogram(MeasuredRequest::Turn, 1.0);
        rows.extend(histogram(MeasuredRequest::SessionStart, 0.4));
        RunOutput {
            summary,
            timeseries,
            histogram: rows,
            scaling: ScalingLines {
                policy: "cloud_run".to_string(),
                cpu: vec![(0.6, "scale target 60 %".to_string())],
                concurrency_target: Some(0.6),
                max_instances: 6,
            },
        }
    }
}
