//! The experiment schema: serde types for experiment and model files.
//!
//! Every field a model needs is spelled out in a file under `models/` (with its source);
//! code holds no default prices, latencies or limits. Optional features (rate limits,
//! compaction, agent cache, quotas) are simply absent when a file does not mention them.
//! Unknown fields are rejected everywhere.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dist::{Count, DistSpec};
use crate::units::{Bytes, Fraction, PerSecond, Price, Seconds};

/// A fully resolved experiment: what `sim run` simulates.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Short name (letters, digits, `-`, `_`, `.`); the default output folder is `plots/<name>/`.
    pub name: String,
    /// One or two sentences on what the experiment asks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The serverless platform (Cloud Run) and its autoscaler.
    pub platform: Platform,
    /// LLM models, quotas and the app's retry policy.
    pub llm: Llm,
    /// Datastore (Firestore) operations.
    pub datastore: Datastore,
    /// The application: sessions, request pipelines, tokens, limits.
    pub app: App,
    /// Who sends traffic.
    pub workload: Workload,
    /// Simulated time per replication.
    pub horizon: Seconds,
    /// Time discarded at the start of each replication: a duration or `auto` (MSER-5).
    pub warmup: Warmup,
    /// Independent replications, each with its own derived seed.
    pub replications: u32,
    /// Master seed.
    pub seed: u64,
    /// Width of one time-series bucket in the outputs.
    pub sample_interval: Seconds,
    /// Service-level objectives checked by the verdict.
    #[serde(default)]
    pub slo: Slo,
    /// Sequential stopping: add replications until a metric is known precisely enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<Precision>,
    /// The closed form `sim validate` checks this experiment against; `sim run` ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theory: Option<crate::theory::TheorySpec>,
    /// Where the experiment sits among its file's variants and sweep points (not a setting).
    #[serde(skip)]
    pub point: Point,
}

/// Where an experiment sits in its file: its variant or scenario, and its swept values.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The suffix of the experiment's name after its file's `name` (a variant's name, or a
    /// sweep point's `<scenario>-<values>`); absent for a file without variants.
    #[serde(skip)]
    pub suffix: Option<String>,
    /// The variant (or sweep scenario) the experiment is, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// Each swept path with its value at this point, in the sweep's order (empty: no sweep).
    pub swept: Vec<SweptValue>,
}

/// One swept setting at one point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweptValue {
    /// Dotted path, e.g. `platform.max_concurrency`.
    pub path: String,
    /// Its value, as written in the sweep.
    pub value: serde_json::Value,
}

/// Sequential stopping rule: `precision: 3%`, or the long form with metric and cap.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(
    untagged,
    expecting = "expected a target share (e.g. 3%), or {target: 3%, metric: turn_p95, max_replications: 50}"
)]
pub enum Precision {
    /// Relative half-width target for turn p95, with the default cap.
    Target(Fraction),
    /// Full form.
    Rule {
        /// Stop once the 95 % half-width is within this share of the estimate.
        target: Fraction,
        /// Which estimate.
        metric: PrecisionMetric,
        /// Never run more replications than this.
        max_replications: u32,
    },
}

/// Replications at most when `precision` gives only a target.
pub const DEFAULT_MAX_REPLICATIONS: u32 = 100;

impl Precision {
    /// (target, metric, cap).
    pub fn rule(&self) -> (f64, PrecisionMetric, u32) {
        match self {
            Precision::Target(t) => (t.0, PrecisionMetric::TurnP95, DEFAULT_MAX_REPLICATIONS),
            Precision::Rule {
                target,
                metric,
                max_replications,
            } => (target.0, *metric, *max_replications),
        }
    }
}

/// Estimates a precision rule can target.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PrecisionMetric {
    /// Mean turn latency.
    TurnMean,
    /// Turn p50.
    TurnP50,
    /// Turn p95.
    TurnP95,
    /// Turn p99.
    TurnP99,
    /// Session-start p95.
    SessionStartP95,
    /// Cost per day.
    CostPerDay,
}

impl PrecisionMetric {
    /// Label in reports (the name in files).
    pub fn label(self) -> &'static str {
        match self {
            PrecisionMetric::TurnMean => "turn_mean",
            PrecisionMetric::TurnP50 => "turn_p50",
            PrecisionMetric::TurnP95 => "turn_p95",
            PrecisionMetric::TurnP99 => "turn_p99",
            PrecisionMetric::SessionStartP95 => "session_start_p95",
            PrecisionMetric::CostPerDay => "cost_per_day",
        }
    }
}

/// Warm-up handling: a duration, or `auto`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Warmup {
    /// Discard everything that starts before this time.
    Fixed(Seconds),
    /// `auto`: pick the cut-off by MSER-5 on the turn-latency series.
    Auto,
}

impl Serialize for Warmup {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Warmup::Fixed(d) => d.serialize(s),
            Warmup::Auto => s.serialize_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for Warmup {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        if value.as_str() == Some("auto") {
            return Ok(Warmup::Auto);
        }
        Seconds::deserialize(value)
            .map(Warmup::Fixed)
            .map_err(|e| serde::de::Error::custom(format!("`auto` or a duration: {e}")))
    }
}

/// Instance shape, limits, pricing and scaling of the serverless platform.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    /// vCPUs per instance; CPU bursts share them by processor sharing.
    pub vcpu: f64,
    /// Memory limit per instance; exceeding it crashes the instance.
    pub memory: Bytes,
    /// Max concurrent requests per instance (Cloud Run `--concurrency`).
    pub max_concurrency: u32,
    /// Instances kept warm at all times.
    pub min_instances: u32,
    /// Upper bound on instances (ready plus starting).
    pub max_instances: u32,
    /// Time from the scale-out decision until a new instance serves requests.
    pub cold_start: DistSpec<Seconds>,
    /// Memory used by an idle instance (runtime, libraries, agent objects).
    pub base_memory: Bytes,
    /// Memory added by each in-flight request.
    pub memory_per_request: Bytes,
    /// How long a request may wait for a free slot before it fails with 429.
    pub pending_deadline: PendingDeadline,
    /// How the router picks among instances with a free slot.
    pub routing: Routing,
    /// Billing mode.
    pub billing: Billing,
    /// Platform prices.
    pub prices: PlatformPrices,
    /// Scaling policy.
    pub autoscaler: AutoscalerSpec,
}

/// Pending-queue deadline rule.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PendingDeadline {
    /// A fixed deadline (older Cloud Run revisions: 10 s or 60 s; 0 s makes a loss system).
    Fixed(Seconds),
    /// Current Cloud Run rule: max(multiplier x mean startup time, floor).
    StartupMultiple {
        /// Multiplier on the mean cold-start time (3.5 in the docs).
        multiplier: f64,
        /// Lower bound (10 s in the docs).
        floor: Seconds,
    },
}

/// Routing rule among instances that have a free slot.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Routing {
    /// The instance with the fewest in-flight requests (ties: lowest id).
    LeastLoaded,
    /// The oldest instance with a free slot (packs load onto few instances).
    FirstFit,
}

/// Cloud Run billing mode.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Billing {
    /// Billed while an instance serves at least one request (plus startup); idle min instances at idle rates.
    Request,
    /// Billed for each instance's whole lifetime.
    Instance,
}

/// Platform price list (one region), for both billing modes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformPrices {
    /// Prices under request-based billing.
    pub request_based: RequestBasedPrices,
    /// Prices under instance-based billing.
    pub instance_based: InstanceBasedPrices,
    /// Billing granularity: each billed interval is rounded up to this.
    pub granularity: Seconds,
}

/// Request-based billing: active time, idle min instances, and a fee per request.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestBasedPrices {
    /// Active vCPU-second.
    pub vcpu_second: Price,
    /// Active GiB-second.
    pub gib_second: Price,
    /// Idle min-instance vCPU-second.
    pub idle_vcpu_second: Price,
    /// Idle min-instance GiB-second.
    pub idle_gib_second: Price,
    /// Per request.
    pub request: Price,
}

/// Instance-based billing: every second of every instance's life.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceBasedPrices {
    /// vCPU-second.
    pub vcpu_second: Price,
    /// GiB-second.
    pub gib_second: Price,
}

/// Autoscaling policy, chosen by name.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AutoscalerSpec {
    /// Never scale: the platform keeps `min_instances`.
    Fixed,
    /// Step rule on windowed mean CPU (the seed plan's 70 % / 40 % for 5 minutes).
    Threshold(ThresholdSpec),
    /// Cloud Run's documented rule: max over CPU and concurrency drivers.
    CloudRun(CloudRunSpec),
}

/// Parameters of the threshold policy.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdSpec {
    /// Evaluation period.
    pub interval: Seconds,
    /// Averaging window for CPU utilisation.
    pub window: Seconds,
    /// Add instances when mean CPU over the window exceeds this.
    pub scale_up_cpu: Fraction,
    /// Remove instances when CPU stays below this ...
    pub scale_down_cpu: Fraction,
    /// ... for this long.
    pub scale_down_after: Seconds,
    /// Instances added per scale-up.
    pub step_up: u32,
    /// Instances removed per scale-down.
    pub step_down: u32,
    /// Minimum time between two scale-ups.
    pub cooldown: Seconds,
}

/// Parameters of the Cloud Run policy.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudRunSpec {
    /// Evaluation period.
    pub interval: Seconds,
    /// Averaging window of both drivers.
    pub window: Seconds,
    /// CPU utilisation target (0 turns the driver off).
    pub cpu_target: Fraction,
    /// Concurrency target as a share of max concurrency (0 turns the driver off).
    pub concurrency_target: Fraction,
    /// Idle instances above the recommendation are kept this long before removal.
    pub idle_retention: Seconds,
}

/// LLM provider models, quotas and the app's retry policy.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Llm {
    /// Models by name.
    pub models: BTreeMap<String, LlmModel>,
    /// The model of every `llm` step that names none: the one place that says which model the
    /// app runs on, so one `--set llm.default_model=NAME` switches the whole app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_model: Option<String>,
    /// What the app does on a 429 from the provider.
    pub retry: RetrySpec,
    /// Multiplies every LLM latency draw ("what if Gemini slows down by 2x").
    pub latency_scale: f64,
}

impl Llm {
    /// The model `step` runs on: its own `model`, else `default_model`.
    pub fn model_of<'a>(&'a self, step: &'a LlmStep) -> Option<&'a str> {
        step.model.as_deref().or(self.default_model.as_deref())
    }
}

/// One LLM model: latency, price and quota.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmModel {
    /// Latency of one call.
    pub latency: LlmLatency,
    /// Price of input tokens.
    pub input_price: Price,
    /// Price of output (and thinking) tokens.
    pub output_price: Price,
    /// Requests per minute quota (absent: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Input tokens per minute quota (absent: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Hidden thinking tokens per call, billed as output and decoded before the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_tokens: Option<DistSpec<Count>>,
}

/// How long one LLM call takes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LlmLatency {
    /// Time to first token plus (thinking + output tokens) / decode rate.
    Tokens {
        /// Time to first token.
        ttft: DistSpec<Seconds>,
        /// Decode speed in tokens per second.
        decode_rate: DistSpec<Count>,
    },
    /// One end-to-end distribution, independent of tokens.
    EndToEnd(DistSpec<Seconds>),
}

/// Retry with exponential backoff and jitter on provider 429s.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Retries after the first attempt (0: fail at once).
    pub max_retries: u32,
    /// Backoff before the first retry.
    pub initial_backoff: Seconds,
    /// Backoff growth per retry.
    pub multiplier: f64,
    /// Cap on one backoff.
    pub max_backoff: Seconds,
    /// Full jitter draws the wait uniformly in [0, backoff].
    pub full_jitter: bool,
}

/// Datastore operation kinds and the optional batch writer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Datastore {
    /// Document reads.
    pub read: DatastoreOp,
    /// Document writes.
    pub write: DatastoreOp,
    /// Document deletes.
    pub delete: DatastoreOp,
    /// Buffer writes on each instance and commit every k of them (absent: every write commits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_writes: Option<u32>,
}

/// Latency and price of one datastore operation kind.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatastoreOp {
    /// Latency of one operation.
    pub latency: DistSpec<Seconds>,
    /// Price per document.
    pub price: Price,
}

/// The application being simulated.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// Turns per full session.
    pub turns: u32,
    /// Welcome (MC) calls between session start and turn 1.
    pub welcome_calls: u32,
    /// Tokens carried in the conversation.
    pub context: ContextSpec,
    /// Request pipelines by request kind.
    pub requests: Requests,
    /// Per-user limits enforced at session start (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<RateLimits>,
    /// Agent-object cache on each instance (absent: no cache, `cached_cpu` always pays).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_cache: Option<AgentCache>,
}

/// Conversation tokens and their compaction.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextSpec {
    /// Tokens of the user's message each turn (added to history).
    pub user_tokens: DistSpec<Count>,
    /// History compaction (absent: history grows without bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compaction: Option<Compaction>,
}

/// Keep the first turns and the most recent turns, then cap.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compaction {
    /// Oldest turns always kept.
    pub keep_first: u32,
    /// Most recent turns kept.
    pub keep_last: u32,
    /// Cap on history tokens after compaction.
    pub max_tokens: u32,
}

/// Per-user application limits (answered with 429).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Session starts per user per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_per_day: Option<u32>,
    /// Open sessions per user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_sessions: Option<u32>,
}

/// Cache of initialised agents per instance.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentCache {
    /// An entry unused for this long is evicted.
    pub ttl: Seconds,
}

/// The pipeline of each request kind.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requests {
    /// `POST /session/start`.
    pub start: RequestSpec,
    /// One MC welcome call.
    pub welcome: RequestSpec,
    /// One scene turn.
    pub turn: RequestSpec,
    /// `POST /session/close`.
    pub close: RequestSpec,
}

/// What one request does on its instance.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// The request fails (504) if its steps take longer than this after it reaches an instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Seconds>,
    /// Steps, run in sequence.
    pub steps: Vec<Step>,
}

/// One pipeline step: exactly one of the kinds below, optionally conditional.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// CPU burst on the instance (processor-shared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<DistSpec<Seconds>>,
    /// CPU burst skipped when the instance's agent cache holds `key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_cpu: Option<CachedCpuStep>,
    /// One agent run: one or more sequential LLM calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmStep>,
    /// Datastore operations, run one after another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datastore: Option<DatastoreStep>,
    /// Sub-steps run concurrently; the step ends when all have ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<Vec<Step>>,
    /// Sub-steps run one after another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<Vec<Step>>,
    /// Run the step only on some turns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

/// A CPU burst that an agent cache can save.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CachedCpuStep {
    /// Cache key (e.g. `stage_manager`); the phase is appended when `per_phase` is set.
    pub key: String,
    /// CPU demand on a miss.
    pub demand: DistSpec<Seconds>,
    /// Turn from which phase 2 starts (keys differ per phase).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_two_from: Option<u32>,
}

/// One agent run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmStep {
    /// Agent name, for reports.
    pub agent: String,
    /// Key into `llm.models` (absent: `llm.default_model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Sequential LLM calls in this run (1 + tool or transfer rounds).
    pub calls: DistSpec<Count>,
    /// Instructions and per-turn prompt tokens of each call.
    pub prompt_tokens: DistSpec<Count>,
    /// Whether each call also carries the session's conversation history.
    pub include_history: bool,
    /// Output tokens of each call.
    pub output_tokens: DistSpec<Count>,
}

/// Datastore operations in one step.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatastoreStep {
    /// Operation kind.
    pub op: DatastoreOpKind,
    /// Operations, one after another.
    pub count: u32,
}

/// Kind of datastore operation.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DatastoreOpKind {
    /// Document read.
    Read,
    /// Document write (may be batched).
    Write,
    /// Document delete.
    Delete,
}

/// Condition on the turn number (welcome calls count 1..; start and close see the turns done so far).
/// All given conditions must hold.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// Turn is one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_in: Option<Vec<u32>>,
    /// Turn is at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_from: Option<u32>,
    /// Turn is at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_to: Option<u32>,
    /// Turn is a multiple of this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_every: Option<u32>,
}

/// Who sends traffic: closed (virtual users, like Locust) or open (Poisson session arrivals).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// `closed` or `open`.
    pub kind: WorkloadKind,
    /// Closed: virtual users, fixed or ramped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Users>,
    /// Closed: a load shape, stages of target user counts (instead of `users`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<UserStage>>,
    /// Closed: when a user above a stage's target stops (absent: after its session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<StopPoint>,
    /// Closed: users started per second while ramping up (absent: all at once / as the ramp says).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_rate"
    )]
    pub spawn_rate: Option<f64>,
    /// Closed: wait between tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_time: Option<DistSpec<Seconds>>,
    /// Wait between requests inside a session (absent: back to back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_think_time: Option<DistSpec<Seconds>>,
    /// Closed: task mix with weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<Task>>,
    /// Closed: tasks each user runs before it stops (absent: loop until the horizon).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u32>,
    /// Open: session arrival rate profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrivals: Option<Arrivals>,
    /// Open: distinct users the sessions belong to (absent: every session a new user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub population: Option<u32>,
    /// What a user does after a failed request (absent: abandon the session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<OnError>,
    /// What an open-workload session does (default: a full session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<TaskKind>,
}

/// What a user does after one of its requests failed.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Send the failed request again after the in-session think time.
    Retry,
    /// Go on as if it had succeeded: a failed turn is played (the next one comes), a failed
    /// welcome is done; a failed start has no session to go on with and ends the task.
    Skip,
    /// Give up the session: a failed start ends the task, a failed welcome or turn sends the
    /// close, as the seed's load script does on the first failure.
    #[default]
    Abandon,
}

/// Workload kind.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadKind {
    /// N virtual users looping over tasks.
    Closed,
    /// Poisson session arrivals.
    Open,
}

/// A user count: fixed, or ramped linearly.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Users {
    /// Fixed number of users, all started at time 0 (or at `spawn_rate`).
    Fixed(u32),
    /// Linear ramp.
    Ramp {
        /// Users at the start of the ramp.
        from: u32,
        /// Users at the end of the ramp.
        to: u32,
        /// Duration of the ramp.
        over: Seconds,
        /// When the first users start (absent: at 0 s).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start: Option<Seconds>,
    },
}

/// The ramp form of [`Users`], read strictly so that no misspelt field is ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RampFields {
    from: u32,
    to: u32,
    over: Seconds,
    #[serde(default)]
    start: Option<Seconds>,
}

/// What `workload.users` takes, for its errors.
const USERS_FORMS: &str =
    "a number of users (e.g. 50), or a ramp {from, to, over} (e.g. {from: 10, to: 50, over: 40m})";

impl<'de> Deserialize<'de> for Users {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(d)?;
        let got = match &value {
            serde_json::Value::Object(_) => None,
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::String(s) => Some(format!("\"{s}\"")),
            serde_json::Value::Array(_) => Some("a list".into()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            serde_json::Value::Null => Some("nothing".into()),
        };
        if let Some(got) = got {
            return u32::deserialize(&value)
                .map(Users::Fixed)
                .map_err(|_| D::Error::custom(format!("expected {USERS_FORMS}, got {got}")));
        }
        // The ramp's own errors (a misspelt or missing field) name the field.
        let r = RampFields::deserialize(value).map_err(D::Error::custom)?;
        Ok(Users::Ramp {
            from: r.from,
            to: r.to,
            over: r.over,
            start: r.start,
        })
    }
}

/// One stage of a closed load shape: from `at`, the target is `users`, reached by starting
/// (or stopping) `rate` users per second (absent: at once). A stage ends where the next one
/// begins, wherever its ramp has got to.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserStage {
    /// When the stage begins.
    pub at: Seconds,
    /// Target number of users.
    pub users: u32,
    /// Users started or stopped per second on the way to the target (absent: all at once).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_rate"
    )]
    pub rate: Option<f64>,
}

/// When a user above a stage's target leaves.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StopPoint {
    /// After its current request ends; an open session is left without a close.
    AfterRequest,
    /// After its current task (session) ends, close included, as k6's graceful ramp-down.
    #[default]
    AfterSession,
}

impl Workload {
    /// The most users a closed workload has at once (0 for an open workload).
    pub fn peak_users(&self) -> u32 {
        let stages = self.stages.iter().flatten().map(|s| s.users).max();
        match self.users {
            Some(Users::Fixed(n)) => n,
            Some(Users::Ramp { from, to, .. }) => from.max(to),
            None => stages.unwrap_or(0),
        }
    }
}

/// One weighted task of a closed workload.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// What the task does.
    pub kind: TaskKind,
    /// Relative weight.
    pub weight: f64,
    /// Turns of a session task (absent: `app.turns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turns: Option<u32>,
    /// Starts in a `start_burst` (absent: 5, as the seed's locustfile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts: Option<u32>,
}

/// What a task (or an open-workload session) does.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Start, welcome calls, all turns, close.
    FullSession,
    /// Start, all turns, close (no welcome calls), as the seed's load tests do.
    SessionNoWelcome,
    /// One turn on the user's current session (starting one when needed; never closed).
    SingleTurn,
    /// Rapid session starts, never closed (rate-limit stress).
    StartBurst,
    /// A single turn request with no session around it (for queueing validation).
    BareTurn,
}

/// Session arrival rate of an open workload.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Arrivals {
    /// Constant rate, sessions per second.
    #[serde(deserialize_with = "rate")]
    PerSecond(f64),
    /// Sessions per day shaped by 24 hourly weights (absent: flat).
    PerDay {
        /// Total sessions per 24 hours.
        sessions: f64,
        /// Relative weight of each hour 0..23.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        diurnal: Option<Vec<f64>>,
    },
    /// Piecewise-constant rate: `[start time, sessions per second]` pairs.
    #[serde(deserialize_with = "piecewise_rates")]
    Piecewise(Vec<(Seconds, f64)>),
    /// A load shape over the rate: from each stage's `at`, the rate moves linearly to its
    /// target over `over` (absent: at once), from 0 before the first stage.
    Stages(Vec<RateStage>),
}

/// One stage of an open load shape.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateStage {
    /// When the stage begins.
    pub at: Seconds,
    /// Target rate, sessions per second.
    #[serde(deserialize_with = "rate")]
    pub per_second: f64,
    /// Time to move linearly from the previous rate to the target (absent: at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over: Option<Seconds>,
}

/// Reads a rate per second written bare (`2`) or with its unit of time (`"120/min"`).
fn rate<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    PerSecond::deserialize(d).map(|r| r.0)
}

/// [`rate`] for an optional field.
fn optional_rate<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Option::<PerSecond>::deserialize(d).map(|r| r.map(|r| r.0))
}

/// `[start time, rate]` pairs, each rate read by [`rate`].
fn piecewise_rates<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<(Seconds, f64)>, D::Error> {
    Vec::<(Seconds, PerSecond)>::deserialize(d)
        .map(|v| v.into_iter().map(|(t, r)| (t, r.0)).collect())
}

/// The corners of a staged rate: `(time, sessions per second)`, joined by straight lines,
/// the rate 0 before the first and the last one's after it.
pub fn stage_corners(stages: &[RateStage]) -> Vec<(f64, f64)> {
    let mut corners = Vec::with_capacity(2 * stages.len());
    let mut rate = 0.0;
    for s in stages {
        corners.push((s.at.0, rate));
        let reached = s.at.0 + s.over.map_or(0.0, |o| o.0);
        corners.push((reached, s.per_second));
        rate = s.per_second;
    }
    corners
}

/// Service-level objectives.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    /// Turn latency p50 bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_p50: Option<Seconds>,
    /// Turn latency p95 bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_p95: Option<Seconds>,
    /// Turn latency p99 bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_p99: Option<Seconds>,
    /// Session-start latency mean bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_start_mean: Option<Seconds>,
    /// Session-start latency p95 bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_start_p95: Option<Seconds>,
    /// Session-start latency max bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_start_max: Option<Seconds>,
    /// Bound on failed requests / all requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<Fraction>,
    /// Bound on failed requests other than app rate limits (for rate-limit tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate_excluding_rate_limits: Option<Fraction>,
    /// The app's per-user limits must answer at least this many starts with 429 per replication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limited_at_least: Option<u64>,
}

impl Slo {
    /// Whether any bound on latency or errors is set (`rate_limited_at_least` is a check on
    /// the app's limits, not a bound on service).
    pub fn bounds_service(&self) -> bool {
        [
            self.turn_p50,
            self.turn_p95,
            self.turn_p99,
            self.session_start_mean,
            self.session_start_p95,
            self.session_start_max,
        ]
        .iter()
        .any(Option::is_some)
            || self.error_rate.is_some()
            || self.error_rate_excluding_rate_limits.is_some()
    }

    /// Whether any bound at all is set.
    pub fn bounds_anything(&self) -> bool {
        self.bounds_service() || self.rate_limited_at_least.is_some()
    }
}
