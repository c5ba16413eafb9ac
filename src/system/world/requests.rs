//! Requests: creation, routing to an instance with a free slot, the FIFO pending queue and
//! its deadline, admission (memory, app rate limits), and the end of a request.

use super::{Event, Request, RequestState, World, whole};
use crate::config::{Routing, TaskKind};
use crate::metrics::{ErrorCause, count_error};
use crate::system::ids::{ActorId, InstanceId, RequestId, SessionId};
use crate::system::instance::InstanceState;
use crate::system::pipeline::{Component, NO_PARENT, RequestKind};
use crate::system::rate_limit::Admission;

impl World<'_> {
    pub(super) fn send(&mut self, a: ActorId, kind: RequestKind) {
        let now = self.now();
        self.actors[a].busy = true;
        let actor = &self.actors[a];
        let (session, turn) = match kind {
            RequestKind::Start => (None, 0),
            RequestKind::Welcome => (actor.session, actor.welcome_done + 1),
            RequestKind::Turn if actor.task.kind == TaskKind::BareTurn => (None, 1),
            RequestKind::Turn | RequestKind::Close => {
                let s = actor
                    .session
                    .expect("a session's turns and close follow its successful start");
                let done = self.sessions[s].turns_done;
                let turn = if kind == RequestKind::Turn {
                    done + 1
                } else {
                    done
                };
                (Some(s), turn)
            }
        };
        let r = match self.requests.reuse() {
            Some(r) => r,
            None => self.requests.push(Request {
                generation: 0,
                state: RequestState::Free,
                kind,
                actor: a,
                session: None,
                turn: 0,
                created: now,
                pending_wait: 0.0,
                instance: None,
                frames: Vec::with_capacity(8),
                turn_tokens: 0,
                input_tokens: 0,
                output_tokens: 0,
                llm_calls: 0,
            }),
        };
        let user_tokens = if kind == RequestKind::Turn {
            whole(self.model.user_tokens.sample(&mut self.rng.tokens))
        } else {
            0
        };
        let req = &mut self.requests[r];
        req.kind = kind;
        req.actor = a;
        req.session = session;
        req.turn = turn;
        req.created = now;
        req.pending_wait = 0.0;
        req.instance = None;
        req.frames.clear();
        req.turn_tokens = user_tokens;
        req.input_tokens = 0;
        req.output_tokens = 0;
        req.llm_calls = 0;
        self.route(r);
    }

    pub(super) fn route(&mut self, r: RequestId) {
        if let Some(i) = self.pick_instance() {
            self.assign(r, i);
            return;
        }
        let now = self.now();
        self.gauges.advance(now);
        self.gauges.now.pending += 1.0;
        let req = &mut self.requests[r];
        req.state = RequestState::Pending;
        let g = req.generation;
        self.pending.queue.push_back((r, g));
        if !self.pending.deadline_armed {
            self.pending.deadline_armed = true;
            self.events
                .schedule(now + self.model.pending_deadline, Event::Deadline);
        }
        // A request can always trigger scale-out from zero.
        if self.fleet.alive.is_empty() && self.model.max_instances > 0 {
            self.new_instance(false, false);
        }
    }

    pub(super) fn pick_instance(&self) -> Option<InstanceId> {
        if self.fleet.free_slots == 0 {
            return None;
        }
        let max = self.model.max_concurrency;
        let candidates = self.fleet.alive.iter().copied().filter(|i| {
            let inst = &self.fleet.instances[*i];
            inst.state == InstanceState::Ready && inst.in_flight < max
        });
        match self.model.routing {
            Routing::FirstFit => candidates.into_iter().next(),
            Routing::LeastLoaded => {
                candidates.min_by_key(|i| (self.fleet.instances[*i].in_flight, *i))
            }
        }
    }

    /// Fails pending requests whose deadline has passed. Every request waits the same
    /// deadline and the queue is FIFO, so deadlines expire in queue order and one timer, armed
    /// for the oldest waiting request, replaces a timer per request.
    pub(super) fn expire_pending(&mut self) {
        self.pending.deadline_armed = false;
        let now = self.now();
        while let Some(&(r, g)) = self.pending.queue.front() {
            let req = &self.requests[r];
            if !self.is_live(r, g) || req.state != RequestState::Pending {
                self.pending.queue.pop_front();
                continue;
            }
            let due = req.created + self.model.pending_deadline;
            if due > now {
                self.pending.deadline_armed = true;
                self.events.schedule(due, Event::Deadline);
                return;
            }
            self.pending.queue.pop_front();
            self.fail(r, ErrorCause::NoInstance);
        }
    }

    pub(super) fn drain_pending(&mut self) {
        while self.fleet.free_slots > 0 {
            let Some((r, g)) = self.pending.queue.pop_front() else {
                return;
            };
            if !self.is_live(r, g) || self.requests[r].state != RequestState::Pending {
                continue;
            }
            let Some(i) = self.pick_instance() else {
                self.pending.queue.push_front((r, g));
                return;
            };
            self.gauges.advance(self.now());
            self.gauges.now.pending -= 1.0;
            self.assign(r, i);
        }
    }

    pub(super) fn assign(&mut self, r: RequestId, i: InstanceId) {
        let now = self.now();
        self.gauges.advance(now);
        self.gauges.now.in_flight += 1.0;
        self.fleet.free_slots -= 1;
        self.accounting.usage.requests += 1.0;
        let inst = &mut self.fleet.instances[i];
        inst.acquire(now);
        let memory = self.model.base_memory_mib
            + f64::from(inst.in_flight) * self.model.memory_per_request_mib;
        let req = &mut self.requests[r];
        req.state = RequestState::Running;
        req.instance = Some(i);
        req.pending_wait = now - req.created;
        let (kind, g) = (req.kind, req.generation);
        if memory > self.model.memory_mib {
            self.crash(i);
            return;
        }
        if kind == RequestKind::Start {
            let identity = self.actors[req.actor].identity;
            if self.limiter.admit_start(identity as usize, now) != Admission::Allowed {
                self.fail(r, ErrorCause::RateLimited);
                return;
            }
        }
        if let Some((t, lane)) = self.timeouts[kind as usize] {
            self.events
                .schedule_in_lane(lane, now + t, Event::Timeout(r, g));
        }
        let root = self.model.program.roots[kind as usize];
        self.start_frame(r, root, NO_PARENT);
    }

    /// Ends a request: frees its slot or queue place, records it, and moves its actor on.
    pub(super) fn finish_request(&mut self, r: RequestId, error: Option<ErrorCause>) {
        let now = self.now();
        let req = &mut self.requests[r];
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
                let instance =
                    &mut self.fleet.instances[inst.expect("a running request holds a slot")];
                if instance.state != InstanceState::Stopped {
                    instance.release(now, self.model.rates.granularity);
                    self.fleet.free_slots += 1;
                }
            }
            RequestState::Free => return,
        }
        let latency = now - created;
        let measured = self.rec.measures(created);
        let ok = error.is_none();
        self.series.request();
        self.rec.record_completion(now, latency);
        if ok {
            self.request_succeeded(r, kind, session, created, measured);
        } else if let Some(cause) = error {
            self.series.error(cause);
            if measured {
                count_error(&mut self.rec.counts.errors, cause);
            }
        }
        if measured {
            self.rec.record_finished(created, !ok);
        }
        self.requests.release(r);
        if state == RequestState::Running {
            self.drain_pending();
        }
        self.after_request(actor, kind, ok);
    }

    pub(super) fn request_succeeded(
        &mut self,
        r: RequestId,
        kind: RequestKind,
        session: Option<SessionId>,
        created: f64,
        measured: bool,
    ) {
        let latency = self.now() - created;
        let req = &self.requests[r];
        match kind {
            RequestKind::Turn => {
                self.series.turn(latency);
                if self.rec.measures(self.now()) {
                    self.rec.counts.turns_completed += 1;
                }
                if let Some(s) = session {
                    let tokens = req.turn_tokens.min(u64::from(u32::MAX)) as u32;
                    let s = &mut self.sessions[s];
                    s.history.push(tokens, self.model.compaction.as_ref());
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
                    self.rec.counts.turn_llm_calls += u64::from(req.llm_calls);
                    self.rec.counts.turn_input_tokens += req.input_tokens;
                    self.rec.counts.turn_output_tokens += req.output_tokens;
                    self.rec.record_turn(created, latency, &breakdown);
                }
            }
            RequestKind::Start => {
                let a = req.actor;
                let identity = self.actors[a].identity;
                // A single-turn user abandons its previous session (never closed).
                if let Some(old) = self.actors[a].session {
                    self.end_session(old);
                }
                let s = self.new_session(identity);
                self.actors[a].session = Some(s);
                if measured {
                    self.rec.record_start(created, latency);
                }
            }
            RequestKind::Close => {
                if let Some(s) = session {
                    let identity = self.sessions[s].identity;
                    self.limiter.close(identity as usize);
                }
            }
            RequestKind::Welcome => {}
        }
    }

    pub(super) fn fail(&mut self, r: RequestId, cause: ErrorCause) {
        self.finish_request(r, Some(cause));
    }
}
