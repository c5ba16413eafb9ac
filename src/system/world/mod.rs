//! The event loop of one replication. The world's state is defined here; its handlers live
//! in one file per concern: [`actors`], [`requests`], [`execute`] (pipelines) and [`fleet`]
//! (instances and autoscaling).

mod actors;
mod execute;
mod fleet;
mod requests;

use std::collections::VecDeque;

use super::autoscaler::{MetricWindow, ScalingPolicy};
use super::cost::{CostTotals, PlatformRates};
use super::instance::{Instance, InstanceState};
use super::llm::Quota;
use super::model::{Model, Traffic};
use super::pipeline::{Component, Frame, RequestKind};
use super::rate_limit::RateLimiter;
use super::session::History;
use super::workload::TaskPlan;
use crate::engine::EventQueue;
use crate::metrics::{ErrorCause, GaugeSet, Gauges, Recorder, TimeSeries};
use crate::results::TimeSeriesRow;
use crate::rng::Streams;

const NONE: u32 = u32::MAX;

/// Rounds a non-negative draw to a whole count (cheaper than `f64::round` on the hot path).
#[inline]
fn whole(x: f64) -> u64 {
    (x + 0.5) as u64
}

#[derive(Clone, Copy, Debug)]
enum Event {
    /// An actor's think time is over.
    Wake(u32),
    /// A closed-workload user starts.
    Spawn(u32),
    /// The next open-workload session arrives.
    Arrival,
    /// The head of the pending queue may have reached its deadline.
    Deadline,
    /// A running request's timeout (request, generation).
    Timeout(u32, u32),
    /// An instance finished its cold start.
    Ready(u32),
    /// The earliest CPU burst on an instance finishes (instance, event generation).
    CpuDone(u32, u32),
    /// An LLM call returned (request, generation, frame).
    LlmDone(u32, u32, u16),
    /// A retry backoff ended (request, generation, frame).
    BackoffDone(u32, u32, u16),
    /// Datastore operations finished (request, generation, frame).
    DatastoreDone(u32, u32, u16),
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
    actor: u32,
    session: u32,
    turn: u32,
    created: f64,
    pending_wait: f64,
    instance: u32,
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
    identity: u32,
    task: TaskPlan,
    tasks_done: u32,
    session: u32,
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
    pub recorder: Recorder,
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

struct World<'m> {
    arrivals_fingerprint: u64,
    m: &'m Model,
    q: EventQueue<Event>,
    rng: Streams,
    rec: Recorder,
    series: TimeSeries,
    gauges: Gauges,
    requests: Vec<Request>,
    free_requests: Vec<u32>,
    actors: Vec<Actor>,
    free_actors: Vec<u32>,
    sessions: Vec<Session>,
    free_sessions: Vec<u32>,
    instances: Vec<Instance>,
    alive: Vec<u32>,
    free_slots: u64,
    pending: VecDeque<(u32, u32)>,
    deadline_armed: bool,
    policy: Option<Box<dyn ScalingPolicy>>,
    window: MetricWindow,
    quotas: Vec<Quota>,
    limiter: RateLimiter,
    rates: PlatformRates,
    usage: Usage,
    warmup_integrals: GaugeSet,
    warmup_cost: CostTotals,
    max_instances_seen: u32,
}

/// Runs replication `replication` of `model` with `warmup` seconds discarded.
pub fn run_replication(
    model: &Model,
    prices: &crate::config::PlatformPrices,
    replication: u32,
    warmup: f64,
) -> Result<ReplicationResult, Aborted> {
    let mut w = World::new(model, prices, replication, warmup);
    w.start();
    let stall_budget = stall_budget(w.actors.len());
    let mut instant = f64::NEG_INFINITY;
    let mut at_instant = 0u64;
    while let Some(t) = w.q.peek_time() {
        if t > model.horizon {
            break;
        }
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
        let (_, event) = w.q.pop().expect("peeked");
        w.handle(event);
        if w.requests.len() > MAX_REQUESTS_IN_SYSTEM {
            return Err(Aborted::Overload {
                replication,
                time: t,
                in_system: w.requests.len() - w.free_requests.len(),
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

impl<'m> World<'m> {
    fn new(
        m: &'m Model,
        prices: &crate::config::PlatformPrices,
        replication: u32,
        warmup: f64,
    ) -> Self {
        Self {
            arrivals_fingerprint: 0,
            m,
            q: EventQueue::new(),
            rng: Streams::new(m.seed, replication),
            rec: Recorder::new(warmup, m.horizon, m.program.agents.len()),
            series: TimeSeries::new(m.sample_interval, m.horizon),
            gauges: Gauges::default(),
            requests: Vec::new(),
            free_requests: Vec::new(),
            actors: Vec::new(),
            free_actors: Vec::new(),
            sessions: Vec::new(),
            free_sessions: Vec::new(),
            instances: Vec::new(),
            alive: Vec::new(),
            free_slots: 0,
            pending: VecDeque::new(),
            deadline_armed: false,
            policy: m.autoscaler.policy(),
            window: MetricWindow::default(),
            quotas: m.models.iter().map(Quota::new).collect(),
            limiter: RateLimiter::new(m.sessions_per_day, m.concurrent_sessions, m.identities()),
            rates: PlatformRates::from_prices(m.billing, prices),
            usage: Usage::default(),
            warmup_integrals: GaugeSet::default(),
            warmup_cost: CostTotals::default(),
            max_instances_seen: 0,
        }
    }

    fn now(&self) -> f64 {
        self.q.now()
    }

    // ----- setup and teardown -------------------------------------------------------------

    fn start(&mut self) {
        for _ in 0..self.m.min_instances {
            // Min instances are warm at time 0.
            self.new_instance(true, true);
        }
        match &self.m.traffic {
            Traffic::Closed { starts, .. } => {
                for (i, t) in starts.iter().enumerate() {
                    self.q.schedule(*t, Event::Spawn(i as u32));
                }
            }
            Traffic::Open { profile, .. } => {
                let t = profile.next_arrival(0.0, self.m.horizon, &mut self.rng.arrivals);
                if t.is_finite() {
                    self.q.schedule(t, Event::Arrival);
                }
            }
        }
        if let Some(p) = &self.policy {
            self.q.schedule(p.cadence().interval, Event::Autoscale);
        }
        self.q.schedule(self.m.sample_interval, Event::Sample);
        if self.rec.warmup > 0.0 {
            self.q.schedule(self.rec.warmup, Event::WarmupEnd);
        } else {
            self.max_instances_seen = self.alive.len() as u32;
        }
    }

    fn cost_until(&self, now: f64) -> CostTotals {
        let mut c = CostTotals {
            cloud_run_requests: self.usage.requests * self.rates.request,
            llm_input: self.usage.llm_input,
            llm_output: self.usage.llm_output,
            datastore_reads: self.usage.datastore[0],
            datastore_writes: self.usage.datastore[1],
            datastore_deletes: self.usage.datastore[2],
            ..CostTotals::default()
        };
        self.rates.add_compute(self.m, &self.instances, now, &mut c);
        c
    }

    fn finish(mut self) -> ReplicationResult {
        let end = self.m.horizon;
        self.gauges.advance(end);
        let cost = self.cost_until(end).since(&self.warmup_cost);
        ReplicationResult {
            window: end - self.rec.warmup,
            integrals: self.gauges.integral.since(&self.warmup_integrals),
            max_instances: self.max_instances_seen,
            cost,
            events: self.q.fired(),
            arrivals_fingerprint: self.arrivals_fingerprint,
            timeseries: self.series.rows,
            recorder: self.rec,
        }
    }

    // ----- event dispatch -----------------------------------------------------------------

    fn handle(&mut self, e: Event) {
        match e {
            Event::Wake(a) => self.wake(a),
            Event::Spawn(i) => self.spawn_user(i),
            Event::Arrival => self.arrival(),
            Event::Deadline => self.expire_pending(),
            Event::Timeout(r, g) => {
                if self.is_live(r, g) && self.requests[r as usize].state == RequestState::Running {
                    self.fail(r, ErrorCause::Timeout);
                }
            }
            Event::Ready(i) => {
                if self.instances[i as usize].state == InstanceState::Starting {
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
                self.q.schedule_in(self.series.interval(), Event::Sample);
            }
            Event::WarmupEnd => {
                let now = self.now();
                self.gauges.advance(now);
                self.warmup_integrals = self.gauges.integral;
                self.warmup_cost = self.cost_until(now);
                self.max_instances_seen = self.alive.len() as u32;
            }
        }
    }

    #[inline]
    fn is_live(&self, r: u32, g: u32) -> bool {
        self.requests[r as usize].generation == g
    }
}
