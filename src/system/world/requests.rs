//! Requests: creation, routing to an instance with a free slot, the FIFO pending queue and
//! its deadline, admission (memory, app rate limits), and the end of a request.

use super::{Event, NONE, Request, RequestState, World, whole};
use crate::config::{Routing, TaskKind};
use crate::metrics::{ErrorCause, count_error};
use crate::system::instance::InstanceState;
use crate::system::pipeline::{Component, NO_PARENT, RequestKind};
use crate::system::rate_limit::Admission;

impl World<'_> {
    pub(super) fn send(&mut self, a: u32, kind: RequestKind) {
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

    pub(super) fn route(&mut self, r: u32) {
        if let Some(i) = self.pick_instance() {
            self.assign(r, i);
            return;
        }
        let now = self.now();
        self.gauges.advance(now);
        self.gauges.now.pending += 1.0;
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
            self.new_instance(false, false);
        }
    }

    pub(super) fn pick_instance(&self) -> Option<u32> {
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
    pub(super) fn expire_pending(&mut self) {
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

    pub(super) fn drain_pending(&mut self) {
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
            self.gauges.now.pending -= 1.0;
            self.assign(r, i);
        }
    }

    pub(super) fn assign(&mut self, r: u32, i: u32) {
        let now = self.now();
        self.gauges.advance(now);
        self.gauges.now.in_flight += 1.0;
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
    pub(super) fn finish_request(&mut self, r: u32, error: Option<ErrorCause>) {
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
            RequestState::Pending => self.gauges.now.pending -= 1.0,
            RequestState::Running => {
                self.gauges.now.in_flight -= 1.0;
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

    pub(super) fn request_succeeded(
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
                    self.rec.record_start(created, latency);
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

    pub(super) fn fail(&mut self, r: u32, cause: ErrorCause) {
        self.finish_request(r, Some(cause));
    }
}
