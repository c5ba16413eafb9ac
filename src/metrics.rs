//! Per-replication recorders: latency histograms (HDR, microsecond resolution, 3 significant
//! digits, so memory does not grow with the horizon), the time breakdown of turns, error
//! counts, and time-integrated gauges sampled into pre-sized time-series buckets.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::interval_latencies::{self, SparseLatencies};
use crate::results::{ErrorCounts, TimeSeriesRow};

/// Largest recordable latency: one day, in microseconds.
const MAX_MICROS: u64 = 86_400_000_000;

/// A latency histogram in microseconds.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("static histogram bounds are valid")
}

/// Largest latency a recorder's histogram covers before it first grows: ten seconds.
const INITIAL_MICROS: u64 = 10_000_000;

/// A recorder's latency histogram: the buckets of [`latency_histogram`], allocated only up to
/// [`INITIAL_MICROS`] and grown when a larger value arrives (never past `MAX_MICROS`, where
/// values are clamped). Growing appends buckets without moving any, so every value lands in
/// the bucket it would have in the full histogram; a replication allocates and zeroes only
/// the range its latencies reach (histograms that stay empty stay small).
fn recording_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, INITIAL_MICROS, 3)
        .expect("static histogram bounds are valid");
    h.auto(true);
    h
}

/// Records `seconds` into `h` (clamped to the histogram's range).
#[inline]
pub fn record_seconds(h: &mut Histogram<u64>, seconds: f64) {
    let v = micros(seconds);
    // `record` lets a growing histogram grow (`saturating_record` would clamp it at its
    // current top); it cannot fail below `MAX_MICROS`, but if it did the value is kept.
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

/// `seconds` in whole microseconds, clamped to `[1, MAX_MICROS]`: the same as
/// `(seconds * 1e6).round().clamp(..)`, without the libm call. On the clamped range adding one
/// half and truncating rounds half away from zero exactly (`x + 0.5` is exact there, or
/// crosses a power of two onto the integer it rounds to).
#[inline]
fn micros(seconds: f64) -> u64 {
    ((seconds * 1e6).clamp(1.0, MAX_MICROS as f64) + 0.5) as u64
}

/// A component of a turn's time along its critical path, in breakdown order (pending first).
/// Serialized as its `snake_case` name, the `component` of `summary.json`'s breakdown rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnComponent {
    /// Waiting in the pending queue for a slot.
    Pending,
    /// CPU demand at full speed.
    Cpu,
    /// Extra wall time from sharing the vCPUs.
    CpuContention,
    /// Waiting for LLM calls.
    Llm,
    /// Backoff before retrying a provider 429.
    RetryBackoff,
    /// Datastore operations.
    Datastore,
}

impl TurnComponent {
    /// Number of components.
    pub const COUNT: usize = 6;

    /// Every component, in breakdown order (its index in a breakdown array).
    pub const ALL: [TurnComponent; Self::COUNT] = [
        TurnComponent::Pending,
        TurnComponent::Cpu,
        TurnComponent::CpuContention,
        TurnComponent::Llm,
        TurnComponent::RetryBackoff,
        TurnComponent::Datastore,
    ];

    /// Label in reports (the `summary.json` name).
    pub fn label(self) -> &'static str {
        match self {
            TurnComponent::Pending => "pending",
            TurnComponent::Cpu => "cpu",
            TurnComponent::CpuContention => "cpu_contention",
            TurnComponent::Llm => "llm",
            TurnComponent::RetryBackoff => "retry_backoff",
            TurnComponent::Datastore => "datastore",
        }
    }

    /// Position in breakdown arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Why a request failed. Serialized as its `snake_case` name, the key of `summary.json`'s
/// `errors`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCause {
    /// No slot before the pending deadline.
    NoInstance,
    /// Provider 429, after the app's retries if it has any.
    LlmQuota,
    /// Request timeout.
    Timeout,
    /// Instance out of memory.
    InstanceCrash,
    /// App per-user limit.
    RateLimited,
}

impl ErrorCause {
    /// Every cause, in the order reports list them.
    pub const ALL: [ErrorCause; 5] = [
        ErrorCause::NoInstance,
        ErrorCause::LlmQuota,
        ErrorCause::Timeout,
        ErrorCause::InstanceCrash,
        ErrorCause::RateLimited,
    ];

    /// Label in reports (the `summary.json` key).
    pub fn label(self) -> &'static str {
        match self {
            ErrorCause::NoInstance => "no_instance",
            ErrorCause::LlmQuota => "llm_quota",
            ErrorCause::Timeout => "timeout",
            ErrorCause::InstanceCrash => "instance_crash",
            ErrorCause::RateLimited => "rate_limited",
        }
    }
}

/// Counts by cause.
pub fn count_error(e: &mut ErrorCounts, cause: ErrorCause) {
    e.add(cause, 1);
}

/// Equal time segments of the measured window, for the load curve.
pub const SEGMENTS: usize = 10;

/// LLM use of one agent in the measured window.
#[derive(Clone, Copy, Debug, Default)]
pub struct AgentUsage {
    /// Calls answered (not counting 429s).
    pub calls: u64,
    /// Sum of call latencies, seconds.
    pub latency_sum: f64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output and thinking tokens.
    pub output_tokens: u64,
    /// Dollars.
    pub cost: f64,
}

/// Percentiles reported of every latency histogram, in [`LatencyStats::quantiles`] order.
pub const QUANTILES: [f64; 4] = [0.5, 0.9, 0.95, 0.99];

/// What the summary reads of one latency histogram, seconds: the histogram itself is
/// dropped once a replication ends, so a run's memory does not grow with its replications.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencyStats {
    /// Samples.
    pub n: u64,
    /// Mean.
    pub mean: f64,
    /// The [`QUANTILES`], in order.
    pub quantiles: [f64; QUANTILES.len()],
    /// Largest sample.
    pub max: f64,
}

impl LatencyStats {
    /// The statistics of `h` (all 0 when it is empty).
    pub fn of(h: &Histogram<u64>) -> Self {
        Self {
            n: h.len(),
            mean: h.mean() / 1e6,
            quantiles: QUANTILES.map(|q| h.value_at_quantile(q) as f64 / 1e6),
            max: h.max() as f64 / 1e6,
        }
    }

    /// Quantile `q`, which must be one of [`QUANTILES`].
    pub fn quantile(&self, q: f64) -> f64 {
        let i = QUANTILES
            .iter()
            .position(|p| *p == q)
            .expect("only reported quantiles are asked for");
        self.quantiles[i]
    }
}

/// Every count and sum a replication keeps of its measured window.
#[derive(Clone, Debug)]
pub struct Counts {
    /// Failed requests per load-curve segment.
    pub segment_errors: [u64; SEGMENTS],
    /// Finished requests per segment.
    pub segment_finished: [u64; SEGMENTS],
    /// Turns in which each component took no time.
    pub breakdown_zeros: [u64; TurnComponent::COUNT],
    /// Sum over turns with CPU work of (CPU wall time / CPU demand).
    pub cpu_slowdown_sum: f64,
    /// Turns with CPU work.
    pub cpu_slowdown_turns: u64,
    /// Sum of turn time per component.
    pub breakdown_sum: [f64; TurnComponent::COUNT],
    /// Failures by cause.
    pub errors: ErrorCounts,
    /// Requests finished, ok or failed.
    pub finished: u64,
    /// Turns completed.
    pub turns_ok: u64,
    /// Sessions started successfully.
    pub sessions_started: u64,
    /// Session tasks given up after a failed request (see `workload.on_error`).
    pub abandoned_sessions: u64,
    /// LLM calls in completed turns.
    pub turn_llm_calls: u64,
    /// Input tokens in completed turns.
    pub turn_input_tokens: u64,
    /// Output tokens in completed turns.
    pub turn_output_tokens: u64,
    /// Provider 429 answers.
    pub quota_rejections: u64,
    /// Instances started.
    pub cold_starts: u64,
    /// Instances that crashed (out of memory) in the window.
    pub instance_crashes: u64,
    /// Sessions that ended in the window (closed, left or abandoned), whenever they began.
    pub sessions_ended: u64,
    /// Turns completed in the window, by completion time, whenever they were sent.
    pub turns_completed: u64,
    /// Requests finished in the window (ok or failed), by completion time.
    pub completed: u64,
    /// Their summed time in the system, seconds.
    pub completed_time_in_system: f64,
    /// LLM use per agent, indexed like `Program::agents`.
    pub agents: Vec<AgentUsage>,
}

/// Measurements of one replication's window after warm-up, while it runs.
#[derive(Clone, Debug)]
pub struct Recorder {
    /// Requests created before this time are not measured.
    pub warmup: f64,
    /// Length of one load-curve segment, seconds.
    pub segment_length: f64,
    /// Counts and sums.
    pub counts: Counts,
    /// Turn latency per segment (by request creation time).
    segment_turns: Vec<Histogram<u64>>,
    /// Session-start latency per segment.
    segment_starts: Vec<Histogram<u64>>,
    /// Turn time per component (indexed by [`TurnComponent::index`]), non-zero values only.
    breakdown: Vec<Histogram<u64>>,
}

/// One replication's measured window as the summary reads it: the counts, and every
/// histogram reduced to its [`LatencyStats`].
#[derive(Clone, Debug)]
pub struct Measured {
    /// Length of one load-curve segment, seconds.
    pub segment_length: f64,
    /// Counts and sums.
    pub counts: Counts,
    /// Turn latency over the window.
    pub turn: LatencyStats,
    /// Session-start latency over the window.
    pub start: LatencyStats,
    /// Turn latency per load-curve segment.
    pub segment_turns: Vec<LatencyStats>,
    /// Session-start latency per segment.
    pub segment_starts: Vec<LatencyStats>,
    /// 95th percentile of each component of turn time, counting the turns where it was 0.
    pub component_p95: [f64; TurnComponent::COUNT],
    /// Share of turns in which each component took time (NaN without turns).
    pub component_share_nonzero: [f64; TurnComponent::COUNT],
}

/// The whole window's turn and session-start latency histograms, which a run pools over its
/// replications for its latency distribution.
#[derive(Clone, Debug)]
pub struct WindowLatencies {
    /// Turn latency.
    pub turn: Histogram<u64>,
    /// Session-start latency.
    pub start: Histogram<u64>,
    /// Each time-series bucket's latencies (the whole horizon, not only the window).
    pub intervals: Vec<SparseLatencies>,
}

impl WindowLatencies {
    /// Empty histograms, small until values arrive.
    pub fn new() -> Self {
        Self {
            turn: recording_histogram(),
            start: recording_histogram(),
            intervals: Vec::new(),
        }
    }

    /// Adds `other`'s samples (exact: the histograms share their buckets, and adding counts
    /// does not depend on the order of the additions).
    pub fn add(&mut self, other: &WindowLatencies) {
        self.turn.add(&other.turn).expect("histograms share bounds");
        self.start
            .add(&other.start)
            .expect("histograms share bounds");
        interval_latencies::pool(&mut self.intervals, &other.intervals);
    }
}

impl Default for WindowLatencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty recorder measuring from `warmup` to `horizon`, for `agents` LLM agents.
    pub fn new(warmup: f64, horizon: f64, agents: usize) -> Self {
        Self {
            warmup,
            segment_length: (horizon - warmup) / SEGMENTS as f64,
            counts: Counts {
                segment_errors: [0; SEGMENTS],
                segment_finished: [0; SEGMENTS],
                breakdown_zeros: [0; TurnComponent::COUNT],
                cpu_slowdown_sum: 0.0,
                cpu_slowdown_turns: 0,
                breakdown_sum: [0.0; TurnComponent::COUNT],
                errors: ErrorCounts::default(),
                finished: 0,
                turns_ok: 0,
                sessions_started: 0,
                abandoned_sessions: 0,
                turn_llm_calls: 0,
                turn_input_tokens: 0,
                turn_output_tokens: 0,
                quota_rejections: 0,
                cold_starts: 0,
                instance_crashes: 0,
                sessions_ended: 0,
                turns_completed: 0,
                completed: 0,
                completed_time_in_system: 0.0,
                agents: vec![AgentUsage::default(); agents],
            },
            segment_turns: (0..SEGMENTS).map(|_| recording_histogram()).collect(),
            segment_starts: (0..SEGMENTS).map(|_| recording_histogram()).collect(),
            breakdown: TurnComponent::ALL
                .iter()
                .map(|_| recording_histogram())
                .collect(),
        }
    }

    /// Whether an event at `t` is in the measured window.
    #[inline]
    pub fn measures(&self, t: f64) -> bool {
        t >= self.warmup
    }

    /// Load-curve segment of a request created at `created` (must be measured).
    #[inline]
    pub fn segment(&self, created: f64) -> usize {
        (((created - self.warmup) / self.segment_length) as usize).min(SEGMENTS - 1)
    }

    /// Records one finished request (ok or not) created at `created`.
    pub fn record_finished(&mut self, created: f64, failed: bool) {
        let seg = self.segment(created);
        let c = &mut self.counts;
        c.finished += 1;
        c.segment_finished[seg] += 1;
        if failed {
            c.segment_errors[seg] += 1;
        }
    }

    /// Records one request (ok or failed) finished now, at `now`, after `time_in_system`:
    /// counted by completion time, for throughput and Little's law.
    pub fn record_completion(&mut self, now: f64, time_in_system: f64) {
        if self.measures(now) {
            self.counts.completed += 1;
            self.counts.completed_time_in_system += time_in_system;
        }
    }

    /// Records one successful session start created at `created`.
    pub fn record_start(&mut self, created: f64, latency: f64) {
        let seg = self.segment(created);
        record_seconds(&mut self.segment_starts[seg], latency);
        self.counts.sessions_started += 1;
    }

    /// Records one completed turn's latency and its breakdown (indexed by
    /// [`TurnComponent::index`]).
    pub fn record_turn(
        &mut self,
        created: f64,
        latency: f64,
        breakdown: &[f64; TurnComponent::COUNT],
    ) {
        let seg = self.segment(created);
        record_seconds(&mut self.segment_turns[seg], latency);
        let c = &mut self.counts;
        for (i, b) in breakdown.iter().enumerate() {
            c.breakdown_sum[i] += b;
            if *b > 0.0 {
                record_seconds(&mut self.breakdown[i], *b);
            } else {
                c.breakdown_zeros[i] += 1;
            }
        }
        let demand = breakdown[TurnComponent::Cpu.index()];
        if demand > 0.0 {
            let contention = breakdown[TurnComponent::CpuContention.index()];
            c.cpu_slowdown_sum += (demand + contention) / demand;
            c.cpu_slowdown_turns += 1;
        }
        c.turns_ok += 1;
    }

    /// Ends the replication: every measured turn and start was recorded once, into its
    /// load-curve segment, so the whole window's histograms are the segments' sums (exact:
    /// same buckets), built here once instead of recording every value twice. Every histogram
    /// is reduced to its statistics; only the window's two are kept, for pooling.
    pub fn finish(self) -> (Measured, WindowLatencies) {
        let mut window = WindowLatencies::new();
        for h in &self.segment_turns {
            window
                .turn
                .add(h)
                .expect("segments share the window's bounds");
        }
        for h in &self.segment_starts {
            window
                .start
                .add(h)
                .expect("segments share the window's bounds");
        }
        let stats = |hs: &[Histogram<u64>]| hs.iter().map(LatencyStats::of).collect();
        let measured = Measured {
            segment_length: self.segment_length,
            turn: LatencyStats::of(&window.turn),
            start: LatencyStats::of(&window.start),
            segment_turns: stats(&self.segment_turns),
            segment_starts: stats(&self.segment_starts),
            component_p95: TurnComponent::ALL.map(|c| self.component_quantile(c, 0.95)),
            component_share_nonzero: TurnComponent::ALL.map(|c| self.component_share_nonzero(c)),
            counts: self.counts,
        };
        (measured, window)
    }

    /// Quantile `q` of component `c` of turn time, seconds, counting the turns where it was 0.
    fn component_quantile(&self, c: TurnComponent, q: f64) -> f64 {
        let i = c.index();
        let zeros = self.counts.breakdown_zeros[i] as f64;
        let nonzero = self.breakdown[i].len() as f64;
        let rank = q * (zeros + nonzero);
        if nonzero == 0.0 || rank <= zeros {
            return 0.0;
        }
        let q_nonzero = ((rank - zeros) / nonzero).clamp(0.0, 1.0);
        self.breakdown[i].value_at_quantile(q_nonzero) as f64 / 1e6
    }

    /// Share of turns in which component `c` took time.
    fn component_share_nonzero(&self, c: TurnComponent) -> f64 {
        let i = c.index();
        let nonzero = self.breakdown[i].len() as f64;
        let total = nonzero + self.counts.breakdown_zeros[i] as f64;
        if total > 0.0 {
            nonzero / total
        } else {
            f64::NAN
        }
    }
}

/// One value per gauge of the system.
#[derive(Clone, Copy, Debug, Default)]
pub struct GaugeSet {
    /// Active users (closed) or sessions in progress (open).
    pub users: f64,
    /// Ready instances.
    pub ready: f64,
    /// Starting instances.
    pub starting: f64,
    /// Busy vCPUs over all instances.
    pub busy_vcpus: f64,
    /// vCPUs of ready instances.
    pub capacity_vcpus: f64,
    /// Requests holding a slot.
    pub in_flight: f64,
    /// Requests waiting for a slot.
    pub pending: f64,
    /// LLM calls in flight.
    pub llm_in_flight: f64,
    /// Sessions open (started and not yet closed or left).
    pub sessions: f64,
}

impl GaugeSet {
    fn fields(&mut self) -> [&mut f64; 9] {
        [
            &mut self.users,
            &mut self.ready,
            &mut self.starting,
            &mut self.busy_vcpus,
            &mut self.capacity_vcpus,
            &mut self.in_flight,
            &mut self.pending,
            &mut self.llm_in_flight,
            &mut self.sessions,
        ]
    }

    /// Component-wise `self - earlier`.
    pub fn since(&self, earlier: &GaugeSet) -> GaugeSet {
        let mut d = *self;
        let mut e = *earlier;
        for (a, b) in d.fields().into_iter().zip(e.fields()) {
            *a -= *b;
        }
        d
    }
}

/// The system's gauges now, and their running integrals (value x time).
#[derive(Clone, Copy, Debug, Default)]
pub struct Gauges {
    last: f64,
    /// Current values.
    pub now: GaugeSet,
    /// ∫ value dt for each gauge, from time 0.
    pub integral: GaugeSet,
}

impl Gauges {
    /// Integrates every gauge up to `now`; call before changing any gauge.
    #[inline]
    pub fn advance(&mut self, now: f64) {
        let dt = now - self.last;
        if dt > 0.0 {
            let mut current = self.now;
            for (i, v) in self.integral.fields().into_iter().zip(current.fields()) {
                *i += *v * dt;
            }
            self.last = now;
        }
    }
}

/// The quotas per minute of the LLM models an app calls, each summed over the models that
/// have one (NaN when none has).
#[derive(Clone, Copy, Debug)]
pub struct LlmQuotas {
    /// Requests per minute.
    pub rpm: f64,
    /// Input tokens per minute.
    pub tpm: f64,
}

/// Builds time-series buckets from gauge integrals and per-bucket counters and histograms.
#[derive(Clone, Debug)]
pub struct TimeSeries {
    interval: f64,
    previous: GaugeSet,
    turns: u64,
    turn_latency_sum: f64,
    /// Failed requests in the current bucket, indexed like [`ErrorCause::ALL`].
    errors: [u64; ErrorCause::ALL.len()],
    /// LLM calls and their input tokens admitted in the current bucket.
    llm_calls: u64,
    llm_input_tokens: u64,
    /// Instance crashes in the current bucket.
    crashes: u64,
    /// The app's LLM quotas.
    quotas: LlmQuotas,
    /// Latencies of the current bucket's turns and requests.
    live_turn: Histogram<u64>,
    /// Requests of every kind finished in the current bucket.
    requests: u64,
    /// Finished buckets.
    pub rows: Vec<TimeSeriesRow>,
    /// Finished buckets' latencies, one per row.
    pub latencies: Vec<SparseLatencies>,
}

impl TimeSeries {
    /// Buckets of `interval` seconds over `horizon`, for an app with LLM quotas `quotas`.
    pub fn new(interval: f64, horizon: f64, quotas: LlmQuotas) -> Self {
        let buckets = (horizon / interval).ceil() as usize + 1;
        Self {
            interval,
            previous: GaugeSet::default(),
            turns: 0,
            turn_latency_sum: 0.0,
            errors: [0; ErrorCause::ALL.len()],
            llm_calls: 0,
            llm_input_tokens: 0,
            crashes: 0,
            quotas,
            live_turn: interval_latencies::live_histogram(),
            requests: 0,
            rows: Vec::with_capacity(buckets),
            latencies: Vec::with_capacity(buckets),
        }
    }

    /// Seconds per bucket.
    pub fn interval(&self) -> f64 {
        self.interval
    }

    /// Counts a completed turn in the current bucket.
    #[inline]
    pub fn turn(&mut self, latency: f64) {
        self.turns += 1;
        self.turn_latency_sum += latency;
        record_seconds(&mut self.live_turn, latency);
    }

    /// Counts a finished request (any kind, ok or failed) in the current bucket.
    #[inline]
    pub fn request(&mut self) {
        self.requests += 1;
    }

    /// Counts a request failed for `cause` in the current bucket.
    #[inline]
    pub fn error(&mut self, cause: ErrorCause) {
        self.errors[cause as usize] += 1;
    }

    /// Counts an LLM call of `input_tokens` admitted by the quota in the current bucket.
    #[inline]
    pub fn llm_call(&mut self, input_tokens: u64) {
        self.llm_calls += 1;
        self.llm_input_tokens += input_tokens;
    }

    /// Counts an instance crash in the current bucket.
    pub fn crash(&mut self) {
        self.crashes += 1;
    }

    /// Closes the bucket ending at `now` (gauges must be advanced to `now`).
    pub fn close_bucket(&mut self, now: f64, integrals: &GaugeSet) {
        let d = integrals.since(&self.previous);
        let dt = self.interval;
        let start = now - dt;
        let errors = self.errors;
        let per_s = |cause: ErrorCause| errors[cause as usize] as f64 / dt;
        let latencies = SparseLatencies::of(&self.live_turn);
        self.rows.push(TimeSeriesRow {
            time_s: start,
            users: d.users / dt,
            sessions: d.sessions / dt,
            instances_ready: d.ready / dt,
            instances_starting: d.starting / dt,
            instance_crashes: self.crashes as f64,
            cpu_utilization: if d.capacity_vcpus > 0.0 {
                d.busy_vcpus / d.capacity_vcpus
            } else {
                0.0
            },
            in_flight: d.in_flight / dt,
            pending: d.pending / dt,
            llm_in_flight: d.llm_in_flight / dt,
            llm_calls_per_min: self.llm_calls as f64 * 60.0 / dt,
            llm_rpm_quota: self.quotas.rpm,
            llm_input_tokens_per_min: self.llm_input_tokens as f64 * 60.0 / dt,
            llm_tpm_quota: self.quotas.tpm,
            requests_per_s: self.requests as f64 / dt,
            turns_per_s: self.turns as f64 / dt,
            turn_latency_mean_s: if self.turns > 0 {
                self.turn_latency_sum / self.turns as f64
            } else {
                f64::NAN
            },
            turn_p50_s: latencies.quantile(0.50),
            turn_p95_s: latencies.quantile(0.95),
            turn_p99_s: latencies.quantile(0.99),
            turn_samples: latencies.count() as f64,
            errors_per_s: self.errors.iter().sum::<u64>() as f64 / dt,
            no_instance_errors_per_s: per_s(ErrorCause::NoInstance),
            llm_quota_errors_per_s: per_s(ErrorCause::LlmQuota),
            timeout_errors_per_s: per_s(ErrorCause::Timeout),
            instance_crash_errors_per_s: per_s(ErrorCause::InstanceCrash),
            rate_limited_errors_per_s: per_s(ErrorCause::RateLimited),
        });
        self.latencies.push(latencies);
        self.previous = *integrals;
        self.turns = 0;
        self.turn_latency_sum = 0.0;
        self.errors = [0; ErrorCause::ALL.len()];
        self.llm_calls = 0;
        self.llm_input_tokens = 0;
        self.crashes = 0;
        self.live_turn.reset();
        self.requests = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_the_summary_json_names() {
        for c in TurnComponent::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.label());
            assert_eq!(TurnComponent::ALL[c.index()], c);
        }
        for c in ErrorCause::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.label());
        }
    }

    #[test]
    fn gauges_integrate_piecewise_constant_values() {
        let mut g = Gauges::default();
        g.now.in_flight = 2.0;
        g.advance(3.0);
        g.now.in_flight = 5.0;
        g.advance(4.0);
        assert!((g.integral.in_flight - 11.0).abs() < 1e-12);
    }

    #[test]
    fn histogram_keeps_three_significant_digits() {
        let mut h = latency_histogram();
        for ms in 1..=1000 {
            record_seconds(&mut h, f64::from(ms) / 1000.0);
        }
        let p95 = h.value_at_quantile(0.95) as f64 / 1e6;
        assert!((p95 - 0.95).abs() < 0.95 * 0.002, "p95 = {p95}");
    }

    #[test]
    fn micros_rounds_like_f64_round() {
        let round = |s: f64| (s * 1e6).round().clamp(1.0, MAX_MICROS as f64) as u64;
        let mut x = 99u64;
        let edges = [
            0.0, 2e-7, 5e-7, 1e-6, 1.5e-6, 2.5e-6, 0.9999995, 1.2345675, 86_400.0, 1e9,
        ];
        let random = (0..100_000).map(|_| {
            x = crate::rng::mix(x);
            // Log-uniform over 1 us .. 1 day, plus values just below a half microsecond.
            let s = 1e-6 * 8.64e10_f64.powf((x >> 11) as f64 / (1u64 << 53) as f64);
            if x.is_multiple_of(2) {
                s
            } else {
                ((s * 1e6).floor() + 0.5 - 1e-9) / 1e6
            }
        });
        for s in edges.into_iter().chain(random) {
            assert_eq!(micros(s), round(s), "{s} s");
        }
        assert_eq!(micros(f64::NAN), round(f64::NAN));
    }

    #[test]
    fn finish_sums_the_segments_into_the_window_histograms() {
        let mut rec = Recorder::new(0.0, 100.0, 0);
        let mut direct = latency_histogram();
        for i in 0..1000 {
            let (created, latency) = (f64::from(i) / 10.0, 0.1 + f64::from(i % 37) / 7.0);
            rec.record_turn(created, latency, &[0.0; TurnComponent::COUNT]);
            rec.record_start(created, latency * 2.0);
            record_seconds(&mut direct, latency);
        }
        let (measured, window) = rec.finish();
        assert_eq!(window.turn, direct);
        assert_eq!(window.start.len(), 1000);
        for q in [0.5, 0.95, 0.99, 1.0] {
            assert_eq!(
                window.turn.value_at_quantile(q),
                direct.value_at_quantile(q)
            );
        }
        assert_eq!(window.turn.max(), direct.max());
        assert_eq!(window.turn.min(), direct.min());
        assert_eq!(measured.turn, LatencyStats::of(&direct));
        assert_eq!(
            measured.turn.quantile(0.95),
            direct.value_at_quantile(0.95) as f64 / 1e6
        );
        let per_segment: u64 = measured.segment_turns.iter().map(|s| s.n).sum();
        assert_eq!(per_segment, 1000);
    }

    #[test]
    fn a_growing_histogram_matches_the_full_one() {
        let mut grown = recording_histogram();
        let mut full = latency_histogram();
        let mut x = 5u64;
        for _ in 0..20_000 {
            x = crate::rng::mix(x);
            // Log-uniform over 1 us .. 2 days: past the initial range and past the clamp.
            let s = 1e-6 * 1.728e11_f64.powf((x >> 11) as f64 / (1u64 << 53) as f64);
            record_seconds(&mut grown, s);
            record_seconds(&mut full, s);
        }
        assert!(grown.max() > INITIAL_MICROS);
        let recorded = |h: &Histogram<u64>| -> Vec<(u64, u64)> {
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect()
        };
        assert_eq!(recorded(&grown), recorded(&full));
        assert_eq!(grown.len(), full.len());
        for q in [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(grown.value_at_quantile(q), full.value_at_quantile(q));
        }
        assert_eq!((grown.min(), grown.max()), (full.min(), full.max()));
        let mut sum = latency_histogram();
        sum.add(&grown).unwrap();
        assert_eq!(recorded(&sum), recorded(&full));
        assert_eq!((sum.min(), sum.max()), (full.min(), full.max()));
    }

    #[test]
    fn time_series_bucket_averages() {
        let mut g = Gauges::default();
        let quotas = LlmQuotas {
            rpm: 60.0,
            tpm: f64::NAN,
        };
        let mut ts = TimeSeries::new(10.0, 20.0, quotas);
        g.now.ready = 2.0;
        g.now.busy_vcpus = 1.0;
        g.now.capacity_vcpus = 4.0;
        ts.turn(2.0);
        ts.turn(4.0);
        for _ in 0..3 {
            ts.request();
        }
        ts.llm_call(1_000);
        ts.llm_call(500);
        ts.crash();
        g.advance(10.0);
        ts.close_bucket(10.0, &g.integral);
        let r = &ts.rows[0];
        assert_eq!(r.instances_ready, 2.0);
        assert_eq!(r.cpu_utilization, 0.25);
        assert_eq!(r.turns_per_s, 0.2);
        assert_eq!(r.turn_latency_mean_s, 3.0);
        assert_eq!((r.turn_samples, r.requests_per_s), (2.0, 0.3));
        assert!((2.0..2.02).contains(&r.turn_p50_s), "{}", r.turn_p50_s);
        assert!((4.0..4.04).contains(&r.turn_p95_s), "{}", r.turn_p95_s);
        assert_eq!(
            (r.llm_calls_per_min, r.llm_input_tokens_per_min),
            (12.0, 9_000.0)
        );
        assert_eq!(r.llm_rpm_quota, 60.0);
        assert!(r.llm_tpm_quota.is_nan());
        assert_eq!(r.instance_crashes, 1.0);
        assert_eq!(ts.latencies[0].count(), 2);
        // The next bucket starts empty.
        g.advance(20.0);
        ts.close_bucket(20.0, &g.integral);
        let next = &ts.rows[1];
        assert_eq!((next.turn_samples, next.instance_crashes), (0.0, 0.0));
        assert!(next.turn_p95_s.is_nan());
    }
}
