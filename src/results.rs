//! What a run produces: the summary (the documented `summary.json` schema), the time series and
//! the pooled latency histograms. Built by `aggregate` from replication results, consumed by
//! `report`.

use serde::{Deserialize, Serialize};

use crate::config::{
    Arrivals, AutoscalerSpec, Experiment, Point, PrecisionMetric, Users, stage_corners,
};
use crate::metrics::{ErrorCause, TurnComponent};
use crate::stats::Estimate;

/// Everything `summary.json` holds. Field names are a stable, documented schema
/// (`docs/summary-schema.md`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    /// Version of capsim that produced the file.
    pub capsim_version: String,
    /// Experiment name.
    pub experiment: String,
    /// Master seed.
    pub seed: u64,
    /// Replications run.
    pub replications: u32,
    /// Sequential stopping outcome (absent when the experiment sets no `precision`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<PrecisionOutcome>,
    /// Simulated time per replication, seconds.
    pub horizon_s: f64,
    /// Warm-up discarded per replication, seconds (chosen by MSER-5 when `warmup: auto`).
    pub warmup_s: f64,
    /// The settings that locate this run: its scenario and swept values, and the load,
    /// instance shape, scaling and model it ran with.
    pub inputs: Inputs,
    /// Scene-turn latency, seconds, from request sent to response (pending wait included).
    pub turn_latency_s: LatencySummary,
    /// Session-start latency, seconds.
    pub session_start_latency_s: LatencySummary,
    /// Where turn time went, per component.
    pub latency_breakdown_s: Vec<BreakdownRow>,
    /// Failed requests by cause, summed over replications.
    pub errors: ErrorCounts,
    /// Failed requests / all requests, per replication.
    pub error_rate: Estimate,
    /// Failed requests other than app rate limits / all requests.
    pub error_rate_excluding_rate_limits: Estimate,
    /// Requests finished (ok or failed) in the measured window, summed over replications.
    pub requests: u64,
    /// Session tasks given up after a failed request in the window, summed over replications.
    pub abandoned_sessions: u64,
    /// Turns completed per second in the window (counted when they complete).
    pub turn_throughput_per_s: Estimate,
    /// Instance counts.
    pub instances: InstanceSummary,
    /// CPU utilisation of ready instances.
    pub cpu_utilization: CpuSummary,
    /// In-flight requests and the pending queue.
    pub concurrency: ConcurrencySummary,
    /// LLM calls and tokens.
    pub llm: LlmSummary,
    /// Cost.
    pub cost_usd: CostSummary,
    /// Little's law check, L = lambda W, over requests in the measured window.
    pub littles_law: LittlesLaw,
    /// The measured window cut into equal segments: how latency and errors move with load.
    pub load_curve: Vec<LoadPoint>,
    /// SLO verdict.
    pub slo: SloVerdict,
    /// Known traps the run fell into, each with the setting that avoids it.
    pub warnings: Vec<Trap>,
    /// Events simulated, summed over replications.
    pub events: u64,
}

/// The key settings of a run, so a notebook reading `summary.json` never parses folder names.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Inputs {
    /// Variant or sweep scenario, and each swept path with its value.
    #[serde(flatten)]
    pub point: Point,
    /// `closed` or `open`.
    pub workload: String,
    /// Closed: virtual users (a ramp's final count).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<u32>,
    /// Open: mean session arrival rate over the horizon, sessions per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions_per_s: Option<f64>,
    /// vCPUs per instance.
    pub vcpu: f64,
    /// Memory per instance, GiB.
    pub memory_gib: f64,
    /// Requests one instance serves at once.
    pub max_concurrency: u32,
    /// Instance bounds of the autoscaler.
    pub min_instances: u32,
    /// See `min_instances`.
    pub max_instances: u32,
    /// Autoscaling policy: `fixed`, `threshold` or `cloud_run`.
    pub autoscaler: String,
    /// The app's default LLM model (absent: each step names its own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm_model: Option<String>,
    /// Multiplier on every LLM latency.
    pub llm_latency_scale: f64,
}

impl Inputs {
    /// The inputs of experiment `e`.
    pub fn of(e: &Experiment) -> Inputs {
        let w = &e.workload;
        let users = w.users.as_ref().map(|u| match u {
            Users::Fixed(n) => *n,
            Users::Ramp { to, .. } => *to,
        });
        let users = users.or_else(|| w.stages.is_some().then(|| w.peak_users()));
        let sessions_per_s = w.arrivals.as_ref().map(|a| match a {
            Arrivals::PerSecond(rate) => *rate,
            Arrivals::PerDay { sessions, .. } => sessions / 86_400.0,
            Arrivals::Piecewise(steps) => piecewise_mean(steps, e.horizon.0),
            Arrivals::Stages(stages) => corners_mean(&stage_corners(stages), e.horizon.0),
        });
        let p = &e.platform;
        Inputs {
            point: e.point.clone(),
            workload: match w.kind {
                crate::config::WorkloadKind::Closed => "closed",
                crate::config::WorkloadKind::Open => "open",
            }
            .into(),
            users,
            sessions_per_s,
            vcpu: p.vcpu,
            memory_gib: p.memory.0 as f64 / (1u64 << 30) as f64,
            max_concurrency: p.max_concurrency,
            min_instances: p.min_instances,
            max_instances: p.max_instances,
            autoscaler: match p.autoscaler {
                AutoscalerSpec::Fixed => "fixed",
                AutoscalerSpec::Threshold(_) => "threshold",
                AutoscalerSpec::CloudRun(_) => "cloud_run",
            }
            .into(),
            llm_model: e.llm.default_model.clone(),
            llm_latency_scale: e.llm.latency_scale,
        }
    }
}

/// Time-weighted mean of a piecewise-constant rate (`[start, rate]` steps) over `[0, horizon]`.
fn piecewise_mean(steps: &[(crate::units::Seconds, f64)], horizon: f64) -> f64 {
    let mut total = 0.0;
    for (k, (start, rate)) in steps.iter().enumerate() {
        let end = steps
            .get(k + 1)
            .map_or(horizon, |next| next.0.0)
            .min(horizon);
        total += rate * (end - start.0.min(horizon)).max(0.0);
    }
    if horizon > 0.0 { total / horizon } else { 0.0 }
}

/// Mean over [0, horizon] of a rate running straight between `(time, rate)` corners, 0
/// before the first and the last one's after it.
fn corners_mean(corners: &[(f64, f64)], horizon: f64) -> f64 {
    let mut total = 0.0;
    let clip = |t: f64| t.clamp(0.0, horizon);
    for pair in corners.windows(2) {
        let ((t0, r0), (t1, r1)) = (pair[0], pair[1]);
        let (a, b) = (clip(t0), clip(t1));
        if b > a {
            let at = |t: f64| r0 + (r1 - r0) * (t - t0) / (t1 - t0);
            total += (at(a) + at(b)) / 2.0 * (b - a);
        }
    }
    if let Some(&(t, r)) = corners.last() {
        total += r * (horizon - clip(t));
    }
    if horizon > 0.0 { total / horizon } else { 0.0 }
}

/// What sequential stopping achieved.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PrecisionOutcome {
    /// Targeted estimate, e.g. `turn_p95`.
    pub metric: PrecisionMetric,
    /// Target relative half-width.
    pub target: f64,
    /// Relative half-width reached.
    pub achieved: f64,
    /// Whether the target was reached before the replication cap.
    pub met: bool,
}

/// Latency percentiles with 95 % confidence intervals across replications.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Samples behind the estimates, summed over replications.
    pub n: u64,
    /// How the intervals were made: `replications` (Student-t across replications) or
    /// `batch_means` (one replication: across 10 equal time batches of the measured window).
    /// Either way a lower bound below zero is cut at zero (latencies are non-negative).
    pub ci_method: String,
    /// Mean.
    pub mean: Estimate,
    /// Median.
    pub p50: Estimate,
    /// 90th percentile.
    pub p90: Estimate,
    /// 95th percentile.
    pub p95: Estimate,
    /// 99th percentile.
    pub p99: Estimate,
    /// Largest value (the interval is across replications' maxima).
    pub max: Estimate,
    /// Set when a percentile rests on too few samples to trust.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// Contribution of one component to turn latency (critical path of the pipeline).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BreakdownRow {
    /// `pending`, `cpu`, `cpu_contention`, `llm`, `retry_backoff` or `datastore`.
    pub component: TurnComponent,
    /// Mean seconds per turn.
    pub mean: Estimate,
    /// 95th percentile of seconds per turn.
    pub p95: Estimate,
}

/// Failed requests by cause.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ErrorCounts {
    /// No free slot before the pending deadline (429).
    pub no_instance: u64,
    /// Provider quota exceeded (429), after the app's retries if it has any.
    pub llm_quota: u64,
    /// Request timeout / agent timeout (504).
    pub timeout: u64,
    /// Instance out of memory; its in-flight requests failed.
    pub instance_crash: u64,
    /// App per-user limit (429).
    pub rate_limited: u64,
}

impl ErrorCounts {
    /// Failures of one cause.
    pub fn get(&self, cause: ErrorCause) -> u64 {
        match cause {
            ErrorCause::NoInstance => self.no_instance,
            ErrorCause::LlmQuota => self.llm_quota,
            ErrorCause::Timeout => self.timeout,
            ErrorCause::InstanceCrash => self.instance_crash,
            ErrorCause::RateLimited => self.rate_limited,
        }
    }

    /// Counts `n` more failures of `cause`.
    pub fn add(&mut self, cause: ErrorCause, n: u64) {
        let count = match cause {
            ErrorCause::NoInstance => &mut self.no_instance,
            ErrorCause::LlmQuota => &mut self.llm_quota,
            ErrorCause::Timeout => &mut self.timeout,
            ErrorCause::InstanceCrash => &mut self.instance_crash,
            ErrorCause::RateLimited => &mut self.rate_limited,
        };
        *count += n;
    }

    /// All failures.
    pub fn total(&self) -> u64 {
        ErrorCause::ALL.iter().map(|c| self.get(*c)).sum()
    }
}

/// Instance counts over the measured window.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InstanceSummary {
    /// Time-averaged instances (ready plus starting).
    pub mean: Estimate,
    /// Most instances at once.
    pub max: Estimate,
    /// Instances started (cold starts) in the window, summed over replications.
    pub cold_starts: u64,
    /// Instances that crashed (out of memory) in the window, summed over replications.
    pub crashes: u64,
}

/// CPU utilisation of ready instances (busy vCPU-seconds / available vCPU-seconds).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CpuSummary {
    /// Time average over the window.
    pub mean: Estimate,
    /// Mean over turns with CPU work of (CPU wall time / CPU demand): how much sharing the
    /// vCPUs stretches a turn's CPU work (1 = never slowed).
    pub slowdown: Estimate,
}

/// In-flight requests and the pending queue.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConcurrencySummary {
    /// Time-averaged in-flight requests (holding a slot).
    pub mean_in_flight: Estimate,
    /// Time-averaged pending requests.
    pub mean_pending: Estimate,
    /// Share of turns that waited for a slot (Erlang C's P(wait > 0) in an M/M/c setting).
    pub turn_wait_probability: Estimate,
}

/// LLM usage.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LlmSummary {
    /// LLM calls per completed turn.
    pub calls_per_turn: Estimate,
    /// Input tokens per completed turn.
    pub input_tokens_per_turn: Estimate,
    /// Output tokens per completed turn.
    pub output_tokens_per_turn: Estimate,
    /// Calls answered 429 by the provider (before retries), summed over replications.
    pub quota_rejections: u64,
    /// Use by agent (the `agent` names of the pipelines' LLM steps).
    pub agents: Vec<AgentRow>,
}

/// LLM use of one agent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AgentRow {
    /// Agent name.
    pub agent: String,
    /// Calls per completed turn (calls made by any request kind, over turns).
    pub calls_per_turn: Estimate,
    /// Mean latency of one call, seconds.
    pub mean_call_latency_s: Estimate,
    /// Input tokens per call.
    pub input_tokens_per_call: Estimate,
    /// Output (and thinking) tokens per call.
    pub output_tokens_per_call: Estimate,
    /// Dollars per day.
    pub cost_per_day: Estimate,
}

/// Cost in US dollars.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CostSummary {
    /// Per completed turn (null when no turn completed).
    pub per_turn: Option<Estimate>,
    /// Per session ended in the window (closed, left or abandoned after an error; null when
    /// none ended). Sessions the horizon cut off are not counted.
    pub per_session: Option<Estimate>,
    /// The window's mean spend rate carried over 24 hours: the simulated load as it was, so
    /// for a ramp or a spike the rate of that shape, not a forecast of a real day.
    pub per_day: Estimate,
    /// `per_day` times the days of an average month ([`DAYS_PER_MONTH`]).
    pub per_month: Estimate,
    /// Per day by component.
    pub breakdown: Vec<CostRow>,
}

/// A known trap of a simulated load test that a run fell into.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Trap {
    /// Which trap.
    pub kind: TrapKind,
    /// What happened, in numbers.
    pub message: String,
    /// The setting that avoids it.
    pub fix: String,
}

/// The known traps. Serialized as their `snake_case` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrapKind {
    /// Closed-workload users start together and stay in step.
    LockstepStart,
    /// The measured window holds fewer than three session lengths.
    ShortHorizon,
    /// Looping virtual users run into the app's per-user daily limit.
    LoopingUsersAtDailyLimits,
}

/// Days in an average month (365.25 / 12): a monthly cost is the daily cost times this.
pub const DAYS_PER_MONTH: f64 = 365.25 / 12.0;

/// One cost component.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CostRow {
    /// e.g. `cloud_run_cpu`, `llm_output`, `firestore_reads`.
    pub component: String,
    /// Dollars per day.
    pub per_day: Estimate,
    /// Share of the total.
    pub share: f64,
}

/// Little's law on requests: time-averaged number in system against throughput x mean time.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LittlesLaw {
    /// Time-averaged requests in the system (pending or in flight).
    pub l: f64,
    /// Throughput x mean time in system.
    pub lambda_w: f64,
    /// |L - lambda W| / L.
    pub relative_error: f64,
}

/// One segment of the load curve.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadPoint {
    /// Segment start, seconds.
    pub from_s: f64,
    /// Segment end, seconds.
    pub to_s: f64,
    /// Mean active users (closed) or sessions in progress (open).
    pub users: f64,
    /// Mean instances.
    pub instances: f64,
    /// Turns started in the segment, summed over replications.
    pub turns: u64,
    /// Turn p95 of requests sent in the segment.
    pub turn_p95: Estimate,
    /// Failed / finished requests sent in the segment.
    pub error_rate: Estimate,
}

/// SLO verdict.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SloVerdict {
    /// All checks met (a check is met when its estimate is within the bound).
    pub met: bool,
    /// Each bound.
    pub checks: Vec<SloCheck>,
    /// What limits the system first.
    pub bottleneck: Bottleneck,
    /// One sentence on why.
    pub explanation: String,
    /// Highest load (users) of a load-curve segment that met the turn-p95 and error-rate bounds
    /// before the first segment that missed one, or of the last segment when none missed (null
    /// when the first segment already missed or the SLO sets neither bound).
    pub capacity_users: Option<f64>,
    /// Load (users) of the first segment that missed (null when every segment met them).
    pub first_miss_users: Option<f64>,
    /// How long the measured window's time-series buckets stayed outside the turn-latency
    /// and error-rate bounds (null when the SLO sets none of them).
    pub over_time: Option<SloOverTime>,
}

/// Time outside the SLO along the time series, after the warm-up. A bucket is outside when
/// the percentile of its turns (pooled over replications) exceeds a turn-latency bound, or
/// its failed share of the requests finished in it exceeds an error-rate bound.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SloOverTime {
    /// Bucket length, seconds.
    pub interval_s: f64,
    /// Measured time the buckets cover, seconds.
    pub measured_s: f64,
    /// Time in buckets outside the SLO, seconds.
    pub outside_s: f64,
    /// The longest run of consecutive buckets outside the SLO, seconds.
    pub longest_outside_s: f64,
    /// Start of that run, seconds from the start of the run (null when no bucket was outside).
    pub longest_outside_from_s: Option<f64>,
}

/// What limits the system first. Serialized as its `snake_case` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bottleneck {
    /// LLM calls are slow (or time out).
    LlmLatency,
    /// The vCPUs are shared by too many CPU bursts.
    Cpu,
    /// Requests wait for a free slot while the fleet could still grow.
    ConcurrencySlots,
    /// Requests wait for a slot with the fleet at its instance cap.
    MaxInstances,
    /// The provider's per-minute quota answers 429.
    LlmQuota,
    /// Instances run out of memory.
    Memory,
    /// The app's per-user limits reject requests.
    AppRateLimit,
    /// Datastore operations.
    Datastore,
}

impl Bottleneck {
    /// Label in reports (the `summary.json` name).
    pub fn label(self) -> &'static str {
        match self {
            Bottleneck::LlmLatency => "llm_latency",
            Bottleneck::Cpu => "cpu",
            Bottleneck::ConcurrencySlots => "concurrency_slots",
            Bottleneck::MaxInstances => "max_instances",
            Bottleneck::LlmQuota => "llm_quota",
            Bottleneck::Memory => "memory",
            Bottleneck::AppRateLimit => "app_rate_limit",
            Bottleneck::Datastore => "datastore",
        }
    }
}

/// One SLO bound.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SloCheck {
    /// e.g. `turn_p95`.
    pub name: String,
    /// Bound (seconds, or a fraction for error rates).
    pub target: f64,
    /// Estimate.
    pub value: Estimate,
    /// Met when the point estimate is within the bound.
    pub met: bool,
    /// True when the 95 % interval straddles the bound: more replications would settle it.
    pub uncertain: bool,
}

/// One time-series bucket, averaged over replications.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TimeSeriesRow {
    /// Bucket start, seconds.
    pub time_s: f64,
    /// Active virtual users (closed) or open sessions (open).
    pub users: f64,
    /// Sessions open (time average over the bucket).
    pub sessions: f64,
    /// Ready instances (time average over the bucket).
    pub instances_ready: f64,
    /// Starting instances (time average).
    pub instances_starting: f64,
    /// Instances that crashed (out of memory) in the bucket.
    pub instance_crashes: f64,
    /// CPU utilisation of ready instances.
    pub cpu_utilization: f64,
    /// In-flight requests (time average).
    pub in_flight: f64,
    /// Pending requests (time average).
    pub pending: f64,
    /// LLM calls in flight (time average).
    pub llm_in_flight: f64,
    /// LLM calls admitted per minute in the bucket (what the provider's RPM quota counts).
    pub llm_calls_per_min: f64,
    /// The app's LLM request quota per minute, summed over the models it calls (NaN when
    /// none has one).
    pub llm_rpm_quota: f64,
    /// LLM input tokens admitted per minute in the bucket (what the provider's TPM quota
    /// counts).
    pub llm_input_tokens_per_min: f64,
    /// The app's LLM input-token quota per minute, summed over the models it calls (NaN when
    /// none has one).
    pub llm_tpm_quota: f64,
    /// Requests of every kind finished per second in the bucket, ok or failed.
    pub requests_per_s: f64,
    /// Turns completed per second in the bucket.
    pub turns_per_s: f64,
    /// Mean latency of turns completed in the bucket (NaN when none).
    pub turn_latency_mean_s: f64,
    /// Median latency of the turns completed in the bucket (NaN when none); in a run's
    /// series, of the bucket's turns pooled over replications, as the next two.
    pub turn_p50_s: f64,
    /// 95th percentile of the bucket's turn latency (NaN when none).
    pub turn_p95_s: f64,
    /// 99th percentile of the bucket's turn latency (NaN when none).
    pub turn_p99_s: f64,
    /// Turns behind the bucket's percentiles (in a run's series, over all replications).
    pub turn_samples: f64,
    /// Failed requests per second in the bucket.
    pub errors_per_s: f64,
    /// Requests failed for want of a slot (429) per second.
    pub no_instance_errors_per_s: f64,
    /// Requests failed on the provider quota (429, after any retries) per second.
    pub llm_quota_errors_per_s: f64,
    /// Requests failed on their timeout per second.
    pub timeout_errors_per_s: f64,
    /// Requests failed by an instance crash per second.
    pub instance_crash_errors_per_s: f64,
    /// Requests refused by the app's per-user limits per second.
    pub rate_limited_errors_per_s: f64,
}

/// A kind of request whose latency is measured. Serialized as its `snake_case` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasuredRequest {
    /// A scene turn.
    Turn,
    /// A session start.
    SessionStart,
}

impl MeasuredRequest {
    /// Name in files (`summary.json`, CSV).
    pub fn name(self) -> &'static str {
        match self {
            MeasuredRequest::Turn => "turn",
            MeasuredRequest::SessionStart => "session_start",
        }
    }

    /// Label in charts and text.
    pub fn label(self) -> &'static str {
        match self {
            MeasuredRequest::Turn => "turn",
            MeasuredRequest::SessionStart => "session start",
        }
    }
}

/// Pooled latency distribution: one row per histogram bucket.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HistogramRow {
    /// The request kind measured.
    pub metric: MeasuredRequest,
    /// Bucket upper edge, seconds.
    pub upper_s: f64,
    /// Samples in the bucket (pooled over replications).
    pub count: u64,
    /// Cumulative share of samples at or below `upper_s`.
    pub cdf: f64,
}

/// Lines drawn on the instances/CPU chart to show the scaling rule.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ScalingLines {
    /// Policy name.
    pub policy: String,
    /// CPU utilisation lines, with labels (e.g. 0.7 "scale up > 70 %").
    pub cpu: Vec<(f64, String)>,
    /// The rule's in-flight target per instance as a fraction of max concurrency, when it
    /// scales on concurrency.
    pub concurrency_target: Option<f64>,
    /// Max instances.
    pub max_instances: u32,
}

/// Everything a finished run hands to the report writers.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// The summary.
    pub summary: Summary,
    /// Time series averaged over replications.
    pub timeseries: Vec<TimeSeriesRow>,
    /// Pooled latency histograms.
    pub histogram: Vec<HistogramRow>,
    /// Scaling rule lines for the charts.
    pub scaling: ScalingLines,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serialized_names() {
        for m in [MeasuredRequest::Turn, MeasuredRequest::SessionStart] {
            assert_eq!(serde_json::to_value(m).unwrap(), m.name());
        }
        for b in [
            Bottleneck::LlmLatency,
            Bottleneck::Cpu,
            Bottleneck::ConcurrencySlots,
            Bottleneck::MaxInstances,
            Bottleneck::LlmQuota,
            Bottleneck::Memory,
            Bottleneck::AppRateLimit,
            Bottleneck::Datastore,
        ] {
            assert_eq!(serde_json::to_value(b).unwrap(), b.label());
        }
    }

    #[test]
    fn error_counts_add_up_by_cause() {
        let mut e = ErrorCounts::default();
        for (k, c) in ErrorCause::ALL.iter().enumerate() {
            e.add(*c, k as u64 + 1);
        }
        assert_eq!(e.get(ErrorCause::InstanceCrash), 4);
        assert_eq!(e.rate_limited, 5);
        assert_eq!(e.total(), 15);
    }

    #[test]
    fn the_mean_of_a_staged_rate_integrates_its_ramps() {
        // 0 until 100 s, 1/s from 100 s, ramping to 3/s over 100..300 s, then 3/s to 400 s:
        // (0 × 100 + 200 × 2 + 100 × 3) / 400 = 700 / 400.
        let corners = [(100.0, 0.0), (100.0, 1.0), (100.0, 1.0), (300.0, 3.0)];
        assert!((corners_mean(&corners, 400.0) - 700.0 / 400.0).abs() < 1e-12);
        // Cut by the horizon inside the ramp: 0 × 100 + (1 + 2) / 2 × 100 = 150 over 200 s.
        assert!((corners_mean(&corners, 200.0) - 150.0 / 200.0).abs() < 1e-12);
    }
}
