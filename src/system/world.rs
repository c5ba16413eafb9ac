//! The event loop of one replication and the handlers that move requests through the system.

use std::collections::VecDeque;

use rand::RngExt;

use super::autoscaler::{self, Integrals, MetricWindow, ScalingMetrics, ScalingPolicy};
use super::cost::{CostTotals, PlatformRates};
use super::instance::{BurstOwner, Instance, InstanceState};
use super::llm::{Quota, backoff};
use super::model::{DatastoreRuntime, Model, Traffic};
use super::pipeline::{Component, Frame, NO_PARENT, NodeKind, RequestKind, when_allows};
use super::rate_limit::{Admission, RateLimiter};
use super::session::History;
use super::workload::TaskPlan;
use crate::config::{DatastoreOpKind, Routing, TaskKind};
use crate::engine::EventQueue;
use crate::metrics::{ErrorCause, GaugeIntegrals, Gauges, Recorder, TimeSeries, count_error};
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
    pub integrals: GaugeIntegrals,
    /// Most instances (ready plus starting) at once in the window.
    pub max_instances: u32,
    /// Cost of the measured window.
    pub cost: CostTotals,
    /// Events processed.
    pub events: u64,
}

struct World<'m> {
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
    warmup_integrals: GaugeIntegrals,
    warmup_cost: CostTotals,
    max_instances_seen: u32,
}

/// Runs replication `replication` of `model` with `warmup` seconds discarded.
pub fn run_replication(
    model: &Model,
    prices: &crate::config::PlatformPrices,
    replication: u32,
    warmup: f64,
) -> ReplicationResult {
    let mut w = World::new(model, prices, replication, warmup);
    w.start();
    while let Some(t) = w.q.peek_time() {
        if t > model.horizon {
            break;
        }
        let (_, event) = w.q.pop().expect("peeked");
        w.handle(event);
    }
    w.finish()
}

impl<'m> World<'m> {
    fn new(
        m: &'m Model,
        prices: &crate::config::PlatformPrices,
        replication: u32,
        warmup: f64,
    ) -> Self {
        Self {
            m,
            q: EventQueue::new(),
            rng: Streams::new(m.seed, replication),
            rec: Recorder::new(warmup, m.horizon),
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
            policy: autoscaler::build(&m.autoscaler),
            window: MetricWindow::default(),
            quotas: m.models.iter().map(Quota::new).collect(),
            limiter: RateLimiter::new(m.sessions_per_day, m.concurrent_sessions, m.identities()),
            rates: PlatformRates::from_prices(m.billing, prices),
            usage: Usage::default(),
            warmup_integrals: GaugeIntegrals::default(),
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
            let id = self.new_instance(true);
            // Min instances are warm at time 0.
            self.instance_ready(id);
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
            self.q.schedule(p.interval(), Event::Autoscale);
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
                self.gauges.llm_in_flight -= 1.0;
                if self.is_live(r, g) {
                    self.llm_done(r, f);
                }
            }
            Event::BackoffDone(r, g, f) => {
                if self.is_live(r, g) {
                    let now = self.now();
                    let fr = &mut self.requests[r as usize].frames[f as usize];
                    fr.breakdown[Component::RetryBackoff as usize] += now - fr.started;
                    self.issue_llm_call(r, f);
                }
            }
            Event::DatastoreDone(r, g, f) => {
                if self.is_live(r, g) {
                    let now = self.now();
                    let fr = &mut self.requests[r as usize].frames[f as usize];
                    fr.breakdown[Component::Datastore as usize] += now - fr.started;
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

    // ----- actors: users and sessions -----------------------------------------------------

    fn new_actor(&mut self, identity: u32, task: TaskPlan) -> u32 {
        let actor = Actor {
            alive: true,
            identity,
            task,
            tasks_done: 0,
            session: NONE,
            next: NextRequest::None,
            welcome_done: 0,
            burst_left: 0,
        };
        self.gauges.advance(self.now());
        self.gauges.users += 1.0;
        match self.free_actors.pop() {
            Some(i) => {
                self.actors[i as usize] = actor;
                i
            }
            None => {
                self.actors.push(actor);
                self.actors.len() as u32 - 1
            }
        }
    }

    fn spawn_user(&mut self, i: u32) {
        let placeholder = TaskPlan {
            kind: TaskKind::FullSession,
            turns: self.m.turns,
            starts: 0,
        };
        let a = self.new_actor(i, placeholder);
        debug_assert_eq!(a, i);
        self.begin_task(a);
    }

    fn arrival(&mut self) {
        let Traffic::Open {
            profile,
            session,
            population,
        } = &self.m.traffic
        else {
            return;
        };
        let identity = match population {
            Some(p) => self.rng.tasks.random_range(0..*p),
            None => NONE,
        };
        let kind = *session;
        let next = profile.next_arrival(self.now(), self.m.horizon, &mut self.rng.arrivals);
        if next.is_finite() {
            self.q.schedule(next, Event::Arrival);
        }
        let a = self.new_actor(identity, kind);
        self.begin_task(a);
    }

    fn begin_task(&mut self, a: u32) {
        let task = match &self.m.traffic {
            Traffic::Closed { mix, .. } => mix.pick(&mut self.rng.tasks),
            Traffic::Open { .. } => self.actors[a as usize].task,
        };
        let actor = &mut self.actors[a as usize];
        actor.task = task;
        actor.welcome_done = 0;
        let first = match task.kind {
            TaskKind::FullSession | TaskKind::SessionNoWelcome => RequestKind::Start,
            TaskKind::SingleTurn => {
                let usable = actor.session != NONE
                    && self.sessions[actor.session as usize].turns_done < task.turns;
                if usable {
                    RequestKind::Turn
                } else {
                    RequestKind::Start
                }
            }
            TaskKind::StartBurst => {
                actor.burst_left = task.starts.max(1);
                RequestKind::Start
            }
            TaskKind::BareTurn => RequestKind::Turn,
        };
        // The first request of a task goes out at once; think time sits between tasks.
        self.send(a, first);
    }

    fn end_task(&mut self, a: u32) {
        let actor = &mut self.actors[a as usize];
        actor.tasks_done += 1;
        actor.next = NextRequest::None;
        match &self.m.traffic {
            Traffic::Closed {
                think, iterations, ..
            } => {
                if iterations.is_some_and(|n| actor.tasks_done >= n) {
                    self.retire(a, false);
                } else {
                    let wait = think.sample(&mut self.rng.think);
                    self.q.schedule_in(wait, Event::Wake(a));
                }
            }
            Traffic::Open { .. } => self.retire(a, true),
        }
    }

    /// An actor leaves for good; open-workload slots are reused.
    fn retire(&mut self, a: u32, reuse: bool) {
        let actor = &mut self.actors[a as usize];
        actor.alive = false;
        if actor.session != NONE {
            let s = actor.session;
            actor.session = NONE;
            self.free_sessions.push(s);
        }
        self.gauges.advance(self.now());
        self.gauges.users -= 1.0;
        if reuse {
            self.free_actors.push(a);
        }
    }

    /// Sends the next request of a task, after the in-session think time if there is one.
    fn then_send(&mut self, a: u32, kind: RequestKind) {
        match &self.m.turn_think {
            Some(t) => {
                let wait = t.sample(&mut self.rng.think);
                self.actors[a as usize].next = NextRequest::Send(kind);
                self.q.schedule_in(wait, Event::Wake(a));
            }
            None => self.send(a, kind),
        }
    }

    fn wake(&mut self, a: u32) {
        if !self.actors[a as usize].alive {
            return;
        }
        match self.actors[a as usize].next {
            NextRequest::Send(kind) => {
                self.actors[a as usize].next = NextRequest::None;
                self.send(a, kind);
            }
            NextRequest::None => self.begin_task(a),
        }
    }

    fn new_session(&mut self, identity: u32) -> u32 {
        match self.free_sessions.pop() {
            Some(s) => {
                let sess = &mut self.sessions[s as usize];
                sess.identity = identity;
                sess.turns_done = 0;
                sess.history.reset();
                s
            }
            None => {
                self.sessions.push(Session {
                    identity,
                    turns_done: 0,
                    history: History::default(),
                });
                self.sessions.len() as u32 - 1
            }
        }
    }

    /// Moves an actor on after its request finished.
    fn after_request(&mut self, a: u32, kind: RequestKind, ok: bool) {
        let actor = &self.actors[a as usize];
        let task = actor.task;
        let session = actor.session;
        let has_session = session != NONE;
        match (task.kind, kind) {
            (TaskKind::StartBurst, RequestKind::Start) => {
                if ok {
                    // Burst sessions are never closed: only their rate-limit count remains.
                    let s = self.actors[a as usize].session;
                    self.actors[a as usize].session = NONE;
                    self.free_sessions.push(s);
                }
                let actor = &mut self.actors[a as usize];
                actor.burst_left -= 1;
                if actor.burst_left > 0 {
                    self.send(a, RequestKind::Start);
                } else {
                    self.end_task(a);
                }
            }
            (TaskKind::BareTurn, _) => self.end_task(a),
            (TaskKind::SingleTurn, RequestKind::Start) => {
                if ok {
                    self.then_send(a, RequestKind::Turn);
                } else {
                    self.end_task(a);
                }
            }
            (TaskKind::SingleTurn, _) => self.end_task(a),
            (_, RequestKind::Start) => {
                if !ok {
                    self.end_task(a);
                } else if task.kind == TaskKind::FullSession && self.m.welcome_calls > 0 {
                    self.then_send(a, RequestKind::Welcome);
                } else {
                    self.then_send(a, RequestKind::Turn);
                }
            }
            (_, RequestKind::Welcome) => {
                let actor = &mut self.actors[a as usize];
                actor.welcome_done += 1;
                if !ok {
                    self.then_send(a, RequestKind::Close);
                } else if actor.welcome_done < self.m.welcome_calls {
                    self.then_send(a, RequestKind::Welcome);
                } else {
                    self.then_send(a, RequestKind::Turn);
                }
            }
            (_, RequestKind::Turn) => {
                let more = has_session && self.sessions[session as usize].turns_done < task.turns;
                if ok && more {
                    self.then_send(a, RequestKind::Turn);
                } else {
                    self.then_send(a, RequestKind::Close);
                }
            }
            (_, RequestKind::Close) => {
                if has_session {
                    self.actors[a as usize].session = NONE;
                    self.free_sessions.push(session);
                }
                self.end_task(a);
            }
        }
    }

    // ----- requests and routing -----------------------------------------------------------

    fn send(&mut self, a: u32, kind: RequestKind) {
        let now = self.now();
        let actor = &self.actors[a as usize];
        let (session, turn) = match kind {
            RequestKind::Start => (NONE, 0),
            RequestKind::Welcome => (actor.session, actor.welcome_done + 1),
            RequestKind::Turn if actor.task.kind == TaskKind::BareTurn => (NONE, 1),
            RequestKind::Turn => (
                actor.session,
                self.sessions[actor.session as usize].turns_done + 1,
            ),
            RequestKind::Close => (
                actor.session,
                self.sessions[actor.session as usize].turns_done,
            ),
        };
        let r = match self.free_requests.pop() {
            Some(r) => r,
            None => {
                self.requests.push(Request {
                    generation: 0,
                    state: RequestState::Free,
                    kind,
                    actor: a,
                    session: NONE,
                    turn: 0,
                    created: now,
                    pending_wait: 0.0,
                    instance: NONE,
                    frames: Vec::with_capacity(8),
                    turn_tokens: 0,
                    input_tokens: 0,
                    output_tokens: 0,
                    llm_calls: 0,
                });
                self.requests.len() as u32 - 1
            }
        };
        let user_tokens = if kind == RequestKind::Turn {
            whole(self.m.user_tokens.sample(&mut self.rng.tokens))
        } else {
            0
        };
        let req = &mut self.requests[r as usize];
        req.kind = kind;
        req.actor = a;
        req.session = session;
        req.turn = turn;
        req.created = now;
        req.pending_wait = 0.0;
        req.instance = NONE;
        req.frames.clear();
        req.turn_tokens = user_tokens;
        req.input_tokens = 0;
        req.output_tokens = 0;
        req.llm_calls = 0;
        self.route(r);
    }

    fn route(&mut self, r: u32) {
        if let Some(i) = self.pick_instance() {
            self.assign(r, i);
            return;
        }
        let now = self.now();
        self.gauges.advance(now);
        self.gauges.pending += 1.0;
        let req = &mut self.requests[r as usize];
        req.state = RequestState::Pending;
        let g = req.generation;
        self.pending.push_back((r, g));
        if !self.deadline_armed {
            self.deadline_armed = true;
            self.q
                .schedule(now + self.m.pending_deadline, Event::Deadline);
        }
        // A request can always trigger scale-out from zero.
        if self.alive.is_empty() && self.m.max_instances > 0 {
            self.new_instance(false);
        }
    }

    fn pick_instance(&self) -> Option<u32> {
        if self.free_slots == 0 {
            return None;
        }
        let max = self.m.max_concurrency;
        let candidates = self.alive.iter().copied().filter(|i| {
            let inst = &self.instances[*i as usize];
            inst.state == InstanceState::Ready && inst.in_flight < max
        });
        match self.m.routing {
            Routing::FirstFit => candidates.into_iter().next(),
            Routing::LeastLoaded => {
                candidates.min_by_key(|i| (self.instances[*i as usize].in_flight, *i))
            }
        }
    }

    /// Fails pending requests whose deadline has passed. Every request waits the same
    /// deadline and the queue is FIFO, so deadlines expire in queue order and one timer, armed
    /// for the oldest waiting request, replaces a timer per request.
    fn expire_pending(&mut self) {
        self.deadline_armed = false;
        let now = self.now();
        while let Some(&(r, g)) = self.pending.front() {
            let req = &self.requests[r as usize];
            if !self.is_live(r, g) || req.state != RequestState::Pending {
                self.pending.pop_front();
                continue;
            }
            let due = req.created + self.m.pending_deadline;
            if due > now {
                self.deadline_armed = true;
                self.q.schedule(due, Event::Deadline);
                return;
            }
            self.pending.pop_front();
            self.fail(r, ErrorCause::NoInstance);
        }
    }

    fn drain_pending(&mut self) {
        while self.free_slots > 0 {
            let Some((r, g)) = self.pending.pop_front() else {
                return;
            };
            if !self.is_live(r, g) || self.requests[r as usize].state != RequestState::Pending {
                continue;
            }
            let Some(i) = self.pick_instance() else {
                self.pending.push_front((r, g));
                return;
            };
            self.gauges.advance(self.now());
            self.gauges.pending -= 1.0;
            self.assign(r, i);
        }
    }

    fn assign(&mut self, r: u32, i: u32) {
        let now = self.now();
        self.gauges.advance(now);
        self.gauges.in_flight += 1.0;
        self.free_slots -= 1;
        self.usage.requests += 1.0;
        let inst = &mut self.instances[i as usize];
        inst.acquire(now);
        let memory =
            self.m.base_memory_mib + f64::from(inst.in_flight) * self.m.memory_per_request_mib;
        let req = &mut self.requests[r as usize];
        req.state = RequestState::Running;
        req.instance = i;
        req.pending_wait = now - req.created;
        let (kind, g) = (req.kind, req.generation);
        if memory > self.m.memory_mib {
            self.crash(i);
            return;
        }
        if kind == RequestKind::Start {
            let identity = self.actors[req.actor as usize].identity;
            if self.limiter.admit_start(identity as usize, now) != Admission::Allowed {
                self.fail(r, ErrorCause::RateLimited);
                return;
            }
        }
        if let Some(t) = self.m.program.timeouts[kind as usize] {
            self.q.schedule(now + t, Event::Timeout(r, g));
        }
        let root = self.m.program.roots[kind as usize];
        self.start_frame(r, root, NO_PARENT);
    }

    /// Ends a request: frees its slot or queue place, records it, and moves its actor on.
    fn finish_request(&mut self, r: u32, error: Option<ErrorCause>) {
        let now = self.now();
        let req = &mut self.requests[r as usize];
        let (state, kind, actor, session, created, inst) = (
            req.state,
            req.kind,
            req.actor,
            req.session,
            req.created,
            req.instance,
        );
        req.generation = req.generation.wrapping_add(1);
        req.state = RequestState::Free;
        self.gauges.advance(now);
        match state {
            RequestState::Pending => self.gauges.pending -= 1.0,
            RequestState::Running => {
                self.gauges.in_flight -= 1.0;
                let instance = &mut self.instances[inst as usize];
                if instance.state != InstanceState::Stopped {
                    instance.release(now, self.rates.granularity);
                    self.free_slots += 1;
                }
            }
            RequestState::Free => return,
        }
        let latency = now - created;
        let measured = self.rec.measures(created);
        let ok = error.is_none();
        if ok {
            self.request_succeeded(r, kind, session, created, measured);
        } else if let Some(cause) = error {
            self.series.error();
            if measured {
                count_error(&mut self.rec.errors, cause);
            }
        }
        if measured {
            self.rec.record_finished(created, latency, !ok);
        }
        self.free_requests.push(r);
        if state == RequestState::Running {
            self.drain_pending();
        }
        self.after_request(actor, kind, ok);
    }

    fn request_succeeded(
        &mut self,
        r: u32,
        kind: RequestKind,
        session: u32,
        created: f64,
        measured: bool,
    ) {
        let latency = self.now() - created;
        let req = &self.requests[r as usize];
        match kind {
            RequestKind::Turn => {
                self.series.turn(latency);
                if session != NONE {
                    let tokens = req.turn_tokens.min(u64::from(u32::MAX)) as u32;
                    let s = &mut self.sessions[session as usize];
                    s.history.push(tokens, self.m.compaction.as_ref());
                    s.turns_done += 1;
                }
                if measured {
                    let root = &req.frames[0].breakdown;
                    let breakdown = [
                        req.pending_wait,
                        root[Component::Cpu as usize],
                        root[Component::CpuContention as usize],
                        root[Component::Llm as usize],
                        root[Component::RetryBackoff as usize],
                        root[Component::Datastore as usize],
                    ];
                    self.rec.turn_llm_calls += u64::from(req.llm_calls);
                    self.rec.turn_input_tokens += req.input_tokens;
                    self.rec.turn_output_tokens += req.output_tokens;
                    self.rec.record_turn(created, latency, &breakdown);
                }
            }
            RequestKind::Start => {
                let a = req.actor;
                let identity = self.actors[a as usize].identity;
                // A single-turn user abandons its previous session (never closed).
                let old = self.actors[a as usize].session;
                if old != NONE {
                    self.free_sessions.push(old);
                }
                let s = self.new_session(identity);
                self.actors[a as usize].session = s;
                if measured {
                    crate::metrics::record_seconds(&mut self.rec.start, latency);
                    self.rec.sessions_started += 1;
                }
            }
            RequestKind::Close => {
                if session != NONE {
                    let identity = self.sessions[session as usize].identity;
                    self.limiter.close(identity as usize);
                }
            }
            RequestKind::Welcome => {}
        }
    }

    fn fail(&mut self, r: u32, cause: ErrorCause) {
        self.finish_request(r, Some(cause));
    }

    // ----- pipeline execution -------------------------------------------------------------

    fn start_frame(&mut self, r: u32, node: u32, parent: u16) {
        let now = self.now();
        let req = &mut self.requests[r as usize];
        let f = req.frames.len() as u16;
        req.frames.push(Frame::new(node, parent, now));
        let turn = req.turn;
        let allowed = self.m.program.nodes[node as usize]
            .when
            .as_ref()
            .is_none_or(|w| when_allows(w, turn));
        if !allowed {
            self.complete_frame(r, f);
            return;
        }
        match &self.m.program.nodes[node as usize].kind {
            NodeKind::Sequence { .. } => self.step_sequence(r, f),
            NodeKind::Parallel { first, len } => {
                let (first, len) = (*first, *len);
                if len == 0 {
                    self.complete_frame(r, f);
                    return;
                }
                self.requests[r as usize].frames[f as usize].counter = len;
                let g = self.requests[r as usize].generation;
                for i in 0..len {
                    let child = self.m.program.child(first, i);
                    self.start_frame(r, child, f);
                    if !self.is_live(r, g) {
                        return;
                    }
                }
            }
            NodeKind::Cpu(demand) => {
                let d = demand.sample(&mut self.rng.cpu);
                self.start_burst(r, f, d);
            }
            NodeKind::CachedCpu {
                key,
                phase_two_from,
                demand,
            } => {
                let phase = usize::from(phase_two_from.is_some_and(|p| turn >= p));
                let slot = *key as usize * 2 + phase;
                let inst = &mut self.instances[self.requests[r as usize].instance as usize];
                if inst.cache_last_used.len() <= slot {
                    inst.cache_last_used.resize(slot + 1, f64::NAN);
                }
                let last = inst.cache_last_used[slot];
                inst.cache_last_used[slot] = now;
                let hit = self.m.cache_ttl.is_some_and(|ttl| now - last <= ttl);
                if hit {
                    self.complete_frame(r, f);
                } else {
                    let d = demand.sample(&mut self.rng.cpu);
                    self.start_burst(r, f, d);
                }
            }
            NodeKind::Llm(leaf) => {
                let calls = whole(leaf.calls.sample(&mut self.rng.tokens)).max(1) as u32;
                self.requests[r as usize].frames[f as usize].counter = calls;
                self.issue_llm_call(r, f);
            }
            NodeKind::Datastore { op, count } => {
                let (op, count) = (*op, *count);
                self.datastore_ops(r, f, op, count);
            }
        }
    }

    fn step_sequence(&mut self, r: u32, f: u16) {
        let node = self.requests[r as usize].frames[f as usize].node;
        let NodeKind::Sequence { first, len } = self.m.program.nodes[node as usize].kind else {
            return;
        };
        let fr = &mut self.requests[r as usize].frames[f as usize];
        if fr.counter >= len {
            self.complete_frame(r, f);
            return;
        }
        let i = fr.counter;
        fr.counter += 1;
        let child = self.m.program.child(first, i);
        self.start_frame(r, child, f);
    }

    fn complete_frame(&mut self, r: u32, f: u16) {
        let req = &self.requests[r as usize];
        let frame = req.frames[f as usize];
        if frame.parent == NO_PARENT {
            self.finish_request(r, None);
            return;
        }
        let p = frame.parent;
        let parent_node = req.frames[p as usize].node;
        match self.m.program.nodes[parent_node as usize].kind {
            NodeKind::Parallel { .. } => {
                let pf = &mut self.requests[r as usize].frames[p as usize];
                pf.counter -= 1;
                if pf.counter == 0 {
                    // The last branch to finish is the critical path.
                    for (a, b) in pf.breakdown.iter_mut().zip(frame.breakdown) {
                        *a += b;
                    }
                    self.complete_frame(r, p);
                }
            }
            _ => {
                let pf = &mut self.requests[r as usize].frames[p as usize];
                for (a, b) in pf.breakdown.iter_mut().zip(frame.breakdown) {
                    *a += b;
                }
                self.step_sequence(r, p);
            }
        }
    }

    fn start_burst(&mut self, r: u32, f: u16, demand: f64) {
        let now = self.now();
        let req = &mut self.requests[r as usize];
        let i = req.instance;
        let fr = &mut req.frames[f as usize];
        fr.started = now;
        fr.demand = demand;
        let owner = BurstOwner {
            request: r,
            generation: req.generation,
            frame: f,
        };
        self.gauges.advance(now);
        let inst = &mut self.instances[i as usize];
        let before = inst.cpu.busy_vcpus();
        inst.cpu.start(now, demand, owner);
        self.gauges.busy_vcpus += inst.cpu.busy_vcpus() - before;
        self.reschedule_cpu(i);
    }

    fn reschedule_cpu(&mut self, i: u32) {
        let now = self.now();
        let inst = &mut self.instances[i as usize];
        inst.cpu_event_generation = inst.cpu_event_generation.wrapping_add(1);
        if let Some(t) = inst.cpu.next_finish(now) {
            self.q
                .schedule(t, Event::CpuDone(i, inst.cpu_event_generation));
        }
    }

    fn cpu_done(&mut self, i: u32, g: u32) {
        let now = self.now();
        let inst = &mut self.instances[i as usize];
        if inst.cpu_event_generation != g || inst.state == InstanceState::Stopped {
            return;
        }
        self.gauges.advance(now);
        let before = inst.cpu.busy_vcpus();
        let Some(owner) = inst.cpu.finish_next(now) else {
            return;
        };
        self.gauges.busy_vcpus += inst.cpu.busy_vcpus() - before;
        self.reschedule_cpu(i);
        if self.is_live(owner.request, owner.generation) {
            let fr = &mut self.requests[owner.request as usize].frames[owner.frame as usize];
            let wall = now - fr.started;
            fr.breakdown[Component::Cpu as usize] += fr.demand;
            fr.breakdown[Component::CpuContention as usize] += (wall - fr.demand).max(0.0);
            self.complete_frame(owner.request, owner.frame);
        }
    }

    fn issue_llm_call(&mut self, r: u32, f: u16) {
        let now = self.now();
        let req = &self.requests[r as usize];
        let fr = req.frames[f as usize];
        let NodeKind::Llm(leaf) = &self.m.program.nodes[fr.node as usize].kind else {
            return;
        };
        let history = if leaf.include_history && req.session != NONE {
            self.sessions[req.session as usize]
                .history
                .tokens(self.m.compaction.as_ref())
        } else {
            0
        };
        let prompt = whole(leaf.prompt_tokens.sample(&mut self.rng.tokens));
        let input = prompt + history + u64::from(fr.run_output_tokens);
        let model = &self.m.models[leaf.model];
        if !self.quotas[leaf.model].admit(now, input as f64) {
            self.rec.quota_rejections += u64::from(self.rec.measures(now));
            if fr.attempt < self.m.retry.max_retries {
                let wait = backoff(&self.m.retry, fr.attempt, &mut self.rng.retry);
                let g = req.generation;
                let fr = &mut self.requests[r as usize].frames[f as usize];
                fr.attempt += 1;
                fr.started = now;
                self.q.schedule_in(wait, Event::BackoffDone(r, g, f));
            } else {
                self.fail(r, ErrorCause::LlmQuota);
            }
            return;
        }
        let output = whole(leaf.output_tokens.sample(&mut self.rng.tokens)) as f64;
        let thinking = model
            .thinking
            .as_ref()
            .map_or(0.0, |t| whole(t.sample(&mut self.rng.tokens)) as f64);
        let latency = model.draw_latency(&mut self.rng.llm, output, thinking, self.m.latency_scale);
        self.usage.llm_input += input as f64 * model.input_price;
        self.usage.llm_output += (output + thinking) * model.output_price;
        let g = req.generation;
        let req = &mut self.requests[r as usize];
        req.input_tokens += input;
        req.output_tokens += output as u64;
        req.turn_tokens += output as u64;
        req.llm_calls += 1;
        let fr = &mut req.frames[f as usize];
        fr.started = now;
        fr.attempt = 0;
        fr.run_output_tokens += output as u32;
        self.gauges.advance(now);
        self.gauges.llm_in_flight += 1.0;
        self.q.schedule_in(latency, Event::LlmDone(r, g, f));
    }

    fn llm_done(&mut self, r: u32, f: u16) {
        let now = self.now();
        let fr = &mut self.requests[r as usize].frames[f as usize];
        fr.breakdown[Component::Llm as usize] += now - fr.started;
        fr.counter -= 1;
        if fr.counter > 0 {
            self.issue_llm_call(r, f);
        } else {
            self.complete_frame(r, f);
        }
    }

    fn datastore_ops(&mut self, r: u32, f: u16, op: DatastoreOpKind, count: u32) {
        let now = self.now();
        let k = DatastoreRuntime::index(op);
        let ds = &self.m.datastore;
        let inst = self.requests[r as usize].instance as usize;
        let mut total = 0.0;
        for _ in 0..count {
            let commits = match (op, ds.batch_writes) {
                (DatastoreOpKind::Write, Some(batch)) => {
                    let buffered = &mut self.instances[inst].buffered_writes;
                    *buffered += 1;
                    if *buffered >= batch {
                        *buffered = 0;
                        true
                    } else {
                        false
                    }
                }
                _ => true,
            };
            if commits {
                total += ds.latency[k].sample(&mut self.rng.datastore);
            }
        }
        self.usage.datastore[k] += f64::from(count) * ds.price[k];
        let g = self.requests[r as usize].generation;
        self.requests[r as usize].frames[f as usize].started = now;
        self.q.schedule_in(total, Event::DatastoreDone(r, g, f));
    }

    // ----- instances and scaling ----------------------------------------------------------

    fn new_instance(&mut self, is_min: bool) -> u32 {
        let now = self.now();
        let slots = self.m.program.cache_keys.len() * 2;
        self.instances
            .push(Instance::new(now, self.m.vcpu, slots, is_min));
        let i = self.instances.len() as u32 - 1;
        self.alive.push(i);
        self.gauges.advance(now);
        self.gauges.starting += 1.0;
        if self.rec.measures(now) {
            self.rec.cold_starts += 1;
        }
        self.note_instance_count();
        if now > 0.0 || !is_min {
            let delay = self.m.cold_start.sample(&mut self.rng.cold_start);
            self.q.schedule_in(delay, Event::Ready(i));
        }
        i
    }

    fn note_instance_count(&mut self) {
        if self.rec.measures(self.now()) {
            self.max_instances_seen = self.max_instances_seen.max(self.alive.len() as u32);
        }
    }

    fn instance_ready(&mut self, i: u32) {
        let now = self.now();
        self.gauges.advance(now);
        self.gauges.starting -= 1.0;
        self.gauges.ready += 1.0;
        self.gauges.capacity_vcpus += self.m.vcpu;
        let inst = &mut self.instances[i as usize];
        inst.state = InstanceState::Ready;
        inst.ready_at = now;
        inst.idle_since = now;
        self.free_slots += u64::from(self.m.max_concurrency);
    }

    fn stop_instance(&mut self, i: u32) {
        let now = self.now();
        self.gauges.advance(now);
        let inst = &mut self.instances[i as usize];
        match inst.state {
            InstanceState::Starting => self.gauges.starting -= 1.0,
            InstanceState::Ready => {
                self.gauges.ready -= 1.0;
                self.gauges.capacity_vcpus -= self.m.vcpu;
                self.free_slots -= u64::from(self.m.max_concurrency - inst.in_flight);
                self.gauges.busy_vcpus -= inst.cpu.busy_vcpus();
            }
            InstanceState::Stopped => return,
        }
        inst.stop(now, self.rates.granularity);
        inst.cpu = super::instance::ProcessorSharing::new(self.m.vcpu);
        self.alive.retain(|x| *x != i);
    }

    /// Out of memory: the instance dies with every request on it.
    fn crash(&mut self, i: u32) {
        let victims: Vec<u32> = (0..self.requests.len() as u32)
            .filter(|r| {
                let q = &self.requests[*r as usize];
                q.state == RequestState::Running && q.instance == i
            })
            .collect();
        let was_min = self.instances[i as usize].is_min;
        // Stop first so that no pending request is routed onto the dying instance.
        self.stop_instance(i);
        for r in victims {
            self.fail(r, ErrorCause::InstanceCrash);
        }
        if was_min || self.alive.is_empty() {
            self.new_instance(was_min);
        }
        self.drain_pending();
    }

    fn autoscale(&mut self) {
        let now = self.now();
        let Some(policy) = self.policy.as_mut() else {
            return;
        };
        self.gauges.advance(now);
        let g = &self.gauges;
        let (busy, util, in_flight) = self.window.push(
            Integrals {
                time: now,
                busy_vcpu_seconds: g.integral.busy_vcpus,
                capacity_vcpu_seconds: g.integral.capacity_vcpus,
                in_flight_seconds: g.integral.in_flight,
            },
            policy.window(),
        );
        let metrics = ScalingMetrics {
            now,
            ready: g.ready as u32,
            starting: g.starting as u32,
            busy_vcpus: busy,
            cpu_utilization: util,
            in_flight,
            pending: g.pending as u32,
            vcpu: self.m.vcpu,
            max_concurrency: self.m.max_concurrency,
        };
        let decision = policy.decide(&metrics);
        let interval = policy.interval();
        self.q.schedule_in(interval, Event::Autoscale);
        let desired = decision
            .desired
            .clamp(self.m.min_instances, self.m.max_instances);
        let current = self.alive.len() as u32;
        if desired > current {
            for _ in current..desired {
                self.new_instance(false);
            }
        } else if desired < current {
            self.scale_in(current - desired, decision.idle_retention);
        }
    }

    fn scale_in(&mut self, mut excess: u32, retention: f64) {
        let now = self.now();
        let mut idle: Vec<(f64, u32)> = self
            .alive
            .iter()
            .map(|i| (i, &self.instances[*i as usize]))
            .filter(|(_, inst)| {
                inst.state == InstanceState::Ready
                    && inst.in_flight == 0
                    && !inst.is_min
                    && now - inst.idle_since >= retention
            })
            .map(|(i, inst)| (inst.idle_since, *i))
            .collect();
        idle.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (_, i) in idle {
            if excess == 0 {
                break;
            }
            self.stop_instance(i);
            excess -= 1;
        }
    }
}
