//! The event loop of one replication. The world's state is defined here; its handlers live
//! in one file per concern: [`actors`], [`requests`], [`execute`] (pipelines) and [`fleet`]
//! (instances and autoscaling).

mod actors;
mod execute;
mod fleet;
mod requests;

use std::collections::VecDeque;

use super::autoscaler::{MetricWindow, ScalingPolicy};
use super::cost::{CostTotals, add_compute};
use super::ids::{ActorId, Arena, InstanceId, RequestId, SessionId};
use super::instance::{Instance, InstanceState};
use super::llm::Quota;
use super::model::{Model, Traffic};
use super::pipeline::{Component, Frame, NodeKind, RequestKind};
use super::rate_limit::RateLimiter;
use super::session::History;
use super::workload::TaskPlan;
use crate::engine::{EventQueue, Lane};
use crate::metrics::{
    ErrorCause, GaugeSet, Gauges, LlmQuotas, Measured, Recorder, TimeSeries, WindowLatencies,
};
use crate::results::TimeSeriesRow;
use crate::rng::Streams;

/// The identity of a visitor no rate limit counts (an open workload without a population).
const ANONYMOUS: u32 = u32::MAX;

/// Rounds a non-negative draw to a whole count (cheaper than `f64::round` on the hot path).
#[inline]
fn whole(x: f64) -> u64 {
    (x + 0.5) as u64
}

#[derive(Clone, Copy, Debug)]
enum Event {
    /// An actor's think time is over.
    Wake(ActorId),
    /// Closed-workload user number n starts.
    Spawn(u32),
    /// A closed-workload stage asks one user above its target to stop.
    Stop,
    /// The next open-workload session arrives.
    Arrival,
    /// The head of the pending queue may have reached its deadline.
    Deadline,
    /// A running request's timeout (request, generation).
    Timeout(RequestId, u32),
    /// An instance finished its cold start.
    Ready(InstanceId),
    /// The earliest CPU burst on an instance finishes (instance, event generation).
    CpuDone(InstanceId, u32),
    /// An LLM call returned (request, generation, frame).
    LlmDone(RequestId, u32, u16),
    /// A retry backoff ended (request, generation, frame).
    BackoffDone(RequestId, u32, u16),
    /// Datastore operations finished (request, generation, frame).
    DatastoreDone(RequestId, u32, u16),
    /// Autoscaler evaluation.
    Autoscale,
    /// Close a time-series bucket.
    Sample,
    /// End of warm-up: snapshot the counters.
    WarmupEnd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RequestState {
    Free,
    Pending,
    Running,
}

#[derive(Debug)]
struct Request {
    generation: u32,
    state: RequestState,
    kind: RequestKind,
    actor: ActorId,
    session: Option<SessionId>,
    turn: u32,
    created: f64,
    pending_wait: f64,
    /// The instance holding the request's slot (None while it waits).
    instance: Option<InstanceId>,
    frames: Vec<Frame>,
    turn_tokens: u64,
    input_tokens: u64,
    output_tokens: u64,
    llm_calls: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NextRequest {
    None,
    Send(RequestKind),
}

#[derive(Debug)]
struct Actor {
    alive: bool,
    /// A request of the actor's is waiting or running.
    busy: bool,
    /// Asked to stop by a load shape: it leaves at its next stop point.
    stopping: bool,
    identity: u32,
    task: TaskPlan,
    tasks_done: u32,
    session: Option<SessionId>,
    next: NextRequest,
    welcome_done: u32,
    burst_left: u32,
}

#[derive(Debug, Default)]
struct Session {
    identity: u32,
    turns_done: u32,
    history: History,
}

/// Counters that cost is computed from.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    llm_input: f64,
    llm_output: f64,
    datastore: [f64; 3],
    requests: f64,
}

/// What one replication measured.
#[derive(Clone, Debug)]
pub struct ReplicationResult {
    /// Latencies, errors and counts of the measured window.
    pub measured: Measured,
    /// Time series over the whole horizon.
    pub timeseries: Vec<TimeSeriesRow>,
    /// Length of the measured window, seconds.
    pub window: f64,
    /// Gauge integrals over the measured window.
    pub integrals: GaugeSet,
    /// Most instances (ready plus starting) at once in the window.
    pub max_instances: u32,
    /// Cost of the measured window.
    pub cost: CostTotals,
    /// Events processed.
    pub events: u64,
    /// Hash of every open-workload session arrival time, in order: equal fingerprints mean
    /// the same arrivals (common random numbers across configurations).
    pub arrivals_fingerprint: u64,
}

/// The instances and what scales them.
struct Fleet {
    /// Every instance ever started (stopped ones keep their billing record).
    instances: Arena<InstanceId, Instance>,
    /// Instances starting or ready, in start order.
    alive: Vec<InstanceId>,
    /// Free slots over ready instances.
    free_slots: u64,
    /// The autoscaling policy (None: a fixed fleet).
    policy: Option<Box<dyn ScalingPolicy>>,
    /// The policy's windowed metrics.
    window: MetricWindow,
    /// Most instances alive at once in the measured window.
    max_instances_seen: u32,
}

/// Requests waiting for a free slot: FIFO, with one deadline timer for all.
#[derive(Default)]
struct Pending {
    /// Waiting requests with their generation (stale entries are skipped).
    queue: VecDeque<(RequestId, u32)>,
    /// Whether a `Deadline` event is scheduled.
    deadline_armed: bool,
}

/// What cost is computed from, and the counters at the end of warm-up.
#[derive(Default)]
struct Accounting {
    /// Running cost counters (instances are billed from their own records).
    usage: Usage,
    /// Gauge integrals at the end of warm-up.
    warmup_integrals: GaugeSet,
    /// Cost at the end of warm-up.
    warmup_cost: CostTotals,
}

/// One replication's state: the compiled model, the clock and its events, the random
/// streams, the recorders, the entity arenas, and one group per part of the system.
struct World<'m> {
    model: &'m Model,
    events: EventQueue<Event>,
    /// Per request kind: its timeout and the event lane its timeouts go to (they are all the
    /// same delay ahead, so they come in time order).
    timeouts: [Option<(f64, Lane)>; 4],
    rng: Streams,
    rec: Recorder,
    series: TimeSeries,
    gauges: Gauges,
    arrivals_fingerprint: u64,
    requests: Arena<RequestId, Request>,
    actors: Arena<ActorId, Actor>,
    /// Closed-workload users in start order; a stage's stop takes the newest still present.
    users: Vec<ActorId>,
    sessions: Arena<SessionId, Session>,
    fleet: Fleet,
    pending: Pending,
    /// LLM provider quotas, one per entry of [`Model::llms`].
    quotas: Vec<Quota>,
    /// The app's per-user limits.
    limiter: RateLimiter,
    accounting: Accounting,
}

/// Runs replication `replication` of `model` with `warmup` seconds discarded. Returns what it
/// measured and, apart, its window's latency histograms, which the caller pools over the
/// replications and drops.
pub fn run_replication(
    model: &Model,
    replication: u32,
    warmup: f64,
) -> Result<(ReplicationResult, WindowLatencies), Aborted> {
    let mut w = World::new(model, replication, warmup);
    w.start();
    let stall_budget = stall_budget(w.actors.slots());
    let mut instant = f64::NEG_INFINITY;
    let mut at_instant = 0u64;
    while let Some((t, event)) = w.events.pop_until(model.horizon) {
        if t == instant {
            at_instant += 1;
            if at_instant > stall_budget {
                return Err(Aborted::Stalled {
                    replication,
                    time: t,
                    events: at_instant,
                });
            }
        } else {
            instant = t;
            at_instant = 1;
        }
        w.handle(event);
        if w.requests.slots() > MAX_REQUESTS_IN_SYSTEM {
            return Err(Aborted::Overload {
                replication,
                time: t,
                in_system: w.requests.in_use(),
            });
        }
    }
    Ok(w.finish())
}

/// Request slots at which a replication gives up. Slots are reused, so their number is the
/// most requests ever in the system (waiting or running) at once: far past any capacity
/// question, and the point where memory would start to run out.
pub const MAX_REQUESTS_IN_SYSTEM: usize = 1_000_000;

/// Events that may fire at one simulated instant before a replication is declared stalled:
/// [`STALL_EVENTS_PER_ACTOR`] for each user started at time 0, and at least
/// [`MIN_STALL_EVENTS`]. A loop that takes no simulated time never lets the clock reach the
/// horizon, so without this bound it would run forever.
fn stall_budget(actors: usize) -> u64 {
    (actors as u64)
        .saturating_mul(STALL_EVENTS_PER_ACTOR)
        .max(MIN_STALL_EVENTS)
}

/// Least events allowed at one instant.
pub const MIN_STALL_EVENTS: u64 = 10_000_000;
/// Events allowed at one instant per user present at the start.
pub const STALL_EVENTS_PER_ACTOR: u64 = 1_000;

/// Why a replication stopped before its horizon.
#[derive(Clone, Copy, Debug, thiserror::Error)]
pub enum Aborted {
    /// Requests piled up without bound.
    #[error(
        "replication {replication}: {in_system} requests waiting or running at t = {time:.0} s; arrivals far exceed what the system can serve and no deadline sheds them. Add capacity, set a pending deadline, or shorten the horizon"
    )]
    Overload {
        /// Replication index.
        replication: u32,
        /// Simulated time, seconds.
        time: f64,
        /// Requests in the system.
        in_system: usize,
    },
    /// The clock stopped: events kept firing at one instant.
    #[error(
        "replication {replication}: the simulated clock stopped at t = {time:.3} s after {events} events at that one instant; something loops in zero simulated time, usually a request refused at once (429: rate limits, no instance, no slot) and sent again with no wait. Give workload.think_time (and turn_think_time) a positive minimum"
    )]
    Stalled {
        /// Replication index.
        replication: u32,
        /// The instant the clock stopped at, seconds.
        time: f64,
        /// Events fired at that instant.
        events: u64,
    },
}

/// The request and input-token quotas per minute of the LLM models the app's steps call,
/// each summed over the models that have one (NaN when none has).
fn llm_quotas(model: &Model) -> LlmQuotas {
    let mut called = vec![false; model.llms.len()];
    for node in &model.program.nodes {
        if let NodeKind::Llm(leaf) = &node.kind {
            called[leaf.llm] = true;
        }
    }
    let used = || model.llms.iter().zip(&called).filter(|(_, c)| **c);
    let total = |quotas: Vec<f64>| {
        if quotas.is_empty() {
            f64::NAN
        } else {
            quotas.iter().sum()
        }
    };
    LlmQuotas {
        rpm: total(used().filter_map(|(l, _)| l.rpm.map(f64::from)).collect()),
        tpm: total(
            used()
                .filter_map(|(l, _)| l.tpm.map(|t| t as f64))
                .collect(),
        ),
    }
}

impl<'m> World<'m> {
    fn new(model: &'m Model, replication: u32, warmup: f64) -> Self {
        let mut events = EventQueue::new();
        let timeouts = model
            .program
            .timeouts
            .map(|t| t.map(|t| (t, events.add_lane())));
        Self {
            model,
            events,
            timeouts,
            rng: Streams::new(model.seed, replication),
            rec: Recorder::new(warmup, model.horizon, model.program.agents.len()),
            series: TimeSeries::new(model.sample_interval, model.horizon, llm_quotas(model)),
            gauges: Gauges::default(),
            arrivals_fingerprint: 0,
            requests: Arena::default(),
            actors: Arena::default(),
            users: Vec::new(),
            sessions: Arena::default(),
            fleet: Fleet {
                instances: Arena::default(),
                alive: Vec::new(),
                free_slots: 0,
                policy: model.autoscaler.policy(),
                window: MetricWindow::default(),
                max_instances_seen: 0,
            },
            pending: Pending::default(),
            quotas: model.llms.iter().map(Quota::new).collect(),
            limiter: RateLimiter::new(
                model.sessions_per_day,
                model.concurrent_sessions,
                model.identities(),
            ),
            accounting: Accounting::default(),
        }
    }

    fn now(&self) -> f64 {
        self.events.now()
    }

    // ----- setup and teardown -------------------------------------------------------------

    fn start(&mut self) {
        for _ in 0..self.model.min_instances {
            // Min instances are warm at time 0.
            self.new_instance(true, true);
        }
        match &self.model.traffic {
            Traffic::Closed { schedule, .. } => {
                for (i, t) in schedule.starts.iter().enumerate() {
                    self.events.schedule(*t, Event::Spawn(i as u32));
                }
                for t in &schedule.stops {
                    self.events.schedule(*t, Event::Stop);
                }
            }
            Traffic::Open { profile, .. } => {
                let t = profile.next_arrival(0.0, self.model.horizon, &mut self.rng.arrivals);
                if t.is_finite() {
                    self.events.schedule(t, Event::Arrival);
                }
            }
        }
        if let Some(p) = &self.fleet.policy {
            self.events.schedule(p.cadence().interval, Event::Autoscale);
        }
        self.events
            .schedule(self.model.sample_interval, Event::Sample);
        if self.rec.warmup > 0.0 {
            self.events.schedule(self.rec.warmup, Event::WarmupEnd);
        } else {
            self.fleet.max_instances_seen = self.fleet.alive.len() as u32;
        }
    }

    fn cost_until(&self, now: f64) -> CostTotals {
        let mut c = CostTotals {
            cloud_run_requests: self.accounting.usage.requests * self.model.rates.request,
            llm_input: self.accounting.usage.llm_input,
            llm_output: self.accounting.usage.llm_output,
            datastore_reads: self.accounting.usage.datastore[0],
            datastore_writes: self.accounting.usage.datastore[1],
            datastore_deletes: self.accounting.usage.datastore[2],
            ..CostTotals::default()
        };
        add_compute(self.model, self.fleet.instances.as_slice(), now, &mut c);
        c
    }

    fn finish(mut self) -> (ReplicationResult, WindowLatencies) {
        let end = self.model.horizon;
        self.gauges.advance(end);
        let cost = self.cost_until(end).since(&self.accounting.warmup_cost);
        let window = end - self.rec.warmup;
        let (measured, mut latencies) = self.rec.finish();
        latencies.intervals = self.series.latencies;
        let result = ReplicationResult {
            window,
            integrals: self
                .gauges
                .integral
                .since(&self.accounting.warmup_integrals),
            max_instances: self.fleet.max_instances_seen,
            cost,
            events: self.events.fired(),
            arrivals_fingerprint: self.arrivals_fingerprint,
            timeseries: self.series.rows,
            measured,
        };
        (result, latencies)
    }

    // ----- event dispatch -----------------------------------------------------------------

    fn handle(&mut self, e: Event) {
        match e {
            Event::Wake(a) => self.wake(a),
            Event::Spawn(i) => self.spawn_user(i),
            Event::Stop => self.stop_user(),
            Event::Arrival => self.arrival(),
            Event::Deadline => self.expire_pending(),
            Event::Timeout(r, g) => {
                if self.is_live(r, g) && self.requests[r].state == RequestState::Running {
                    self.fail(r, ErrorCause::Timeout);
                }
            }
            Event::Ready(i) => {
                if self.fleet.instances[i].state == InstanceState::Starting {
                    self.instance_ready(i);
                    self.drain_pending();
                }
            }
            Event::CpuDone(i, g) => self.cpu_done(i, g),
            Event::LlmDone(r, g, f) => {
                self.gauges.advance(self.now());
                self.gauges.now.llm_in_flight -= 1.0;
                if self.is_live(r, g) {
                    self.llm_done(r, f);
                }
            }
            Event::BackoffDone(r, g, f) => {
                if self.is_live(r, g) {
                    self.charge_elapsed(r, f, Component::RetryBackoff);
                    self.issue_llm_call(r, f);
                }
            }
            Event::DatastoreDone(r, g, f) => {
                if self.is_live(r, g) {
                    self.charge_elapsed(r, f, Component::Datastore);
                    self.complete_frame(r, f);
                }
            }
            Event::Autoscale => self.autoscale(),
            Event::Sample => {
                let now = self.now();
                self.gauges.advance(now);
                self.series.close_bucket(now, &self.gauges.integral);
                self.events
                    .schedule_in(self.series.interval(), Event::Sample);
            }
            Event::WarmupEnd => {
                let now = self.now();
                self.gauges.advance(now);
                self.accounting.warmup_integrals = self.gauges.integral;
                self.accounting.warmup_cost = self.cost_until(now);
                self.fleet.max_instances_seen = self.fleet.alive.len() as u32;
            }
        }
    }

    #[inline]
    fn is_live(&self, r: RequestId, g: u32) -> bool {
        self.requests[r].generation == g
    }
}
