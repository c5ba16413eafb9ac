//! Actors: closed-workload users and open-workload sessions, and what they send next.
//!
//! A task (full session, single turn, start burst, bare turn) is a short script of requests;
//! after each request the actor moves on (or to `close` after a failure, as the seed's
//! locustfile does), waiting the in-session think time between requests and the think time
//! between tasks.
//!
//! After a failed request the workload's `on_error` decides: `retry` sends it again after
//! the in-session think time (`think_time` when there is none); `skip` goes on as if it had
//! succeeded, except a failed start, which has no session to go on with; `abandon` (the
//! default) ends a task whose start failed and closes a session whose welcome or turn
//! failed. Session tasks given up this way count as abandoned sessions.
//!
//! A load shape's stop asks the newest closed user still present to leave: at once if no
//! request of its is in flight and it stands at its stop point (between tasks, or between
//! any two requests under `stop: after_request`), else when it reaches one.

use rand::RngExt;

use super::{ANONYMOUS, Actor, Event, NextRequest, Session, World};
use crate::config::{OnError, StopPoint, TaskKind};
use crate::system::ids::{ActorId, SessionId};
use crate::system::model::Traffic;
use crate::system::pipeline::RequestKind;
use crate::system::session::History;
use crate::system::workload::TaskPlan;

/// What an actor does after `on_error` handled a failed request.
enum AfterFailure {
    /// The request goes out again after a wait.
    Resent,
    /// The task goes on as if the request had succeeded.
    GoOn,
    /// The task takes its failure path.
    GiveUp,
}

impl World<'_> {
    pub(super) fn new_actor(&mut self, identity: u32, task: TaskPlan) -> ActorId {
        let actor = Actor {
            alive: true,
            busy: false,
            stopping: false,
            identity,
            task,
            tasks_done: 0,
            session: None,
            next: NextRequest::None,
            welcome_done: 0,
            burst_left: 0,
        };
        self.gauges.advance(self.now());
        self.gauges.now.users += 1.0;
        match self.actors.reuse() {
            Some(a) => {
                self.actors[a] = actor;
                a
            }
            None => self.actors.push(actor),
        }
    }

    /// Closed-workload user number `i` starts (its actor id is `i` too: closed users are
    /// never released).
    pub(super) fn spawn_user(&mut self, i: u32) {
        let placeholder = TaskPlan {
            kind: TaskKind::FullSession,
            turns: self.model.turns,
            starts: 0,
        };
        let a = self.new_actor(i, placeholder);
        debug_assert_eq!(a, ActorId(i));
        self.users.push(a);
        self.begin_task(a);
    }

    /// A stage asks the newest closed user still present (and not already leaving) to stop.
    pub(super) fn stop_user(&mut self) {
        while let Some(a) = self.users.pop() {
            let actor = &mut self.actors[a];
            if actor.alive && !actor.stopping {
                actor.stopping = true;
                if !actor.busy && self.at_stop_point(a) {
                    self.retire(a, false);
                }
                return;
            }
        }
    }

    /// Whether a user with no request in flight may leave now: between tasks always, inside
    /// a task only under `stop: after_request`.
    fn at_stop_point(&self, a: ActorId) -> bool {
        self.actors[a].next == NextRequest::None || self.stops_after_request()
    }

    /// Whether users asked to stop leave after their current request (else after their task).
    fn stops_after_request(&self) -> bool {
        matches!(
            self.model.traffic,
            Traffic::Closed {
                stop: StopPoint::AfterRequest,
                ..
            }
        )
    }

    pub(super) fn arrival(&mut self) {
        let Traffic::Open {
            profile,
            session,
            population,
        } = &self.model.traffic
        else {
            return;
        };
        let identity = match population {
            Some(p) => self.rng.tasks.random_range(0..*p),
            None => ANONYMOUS,
        };
        let kind = *session;
        self.arrivals_fingerprint =
            crate::rng::mix(self.arrivals_fingerprint ^ self.now().to_bits());
        let next = profile.next_arrival(self.now(), self.model.horizon, &mut self.rng.arrivals);
        if next.is_finite() {
            self.events.schedule(next, Event::Arrival);
        }
        let a = self.new_actor(identity, kind);
        self.begin_task(a);
    }

    pub(super) fn begin_task(&mut self, a: ActorId) {
        let task = match &self.model.traffic {
            Traffic::Closed { mix, .. } => mix.pick(&mut self.rng.tasks),
            Traffic::Open { .. } => self.actors[a].task,
        };
        let actor = &mut self.actors[a];
        actor.task = task;
        actor.welcome_done = 0;
        let first = match task.kind {
            TaskKind::FullSession | TaskKind::SessionNoWelcome => RequestKind::Start,
            TaskKind::SingleTurn => {
                let usable = actor
                    .session
                    .is_some_and(|s| self.sessions[s].turns_done < task.turns);
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

    pub(super) fn end_task(&mut self, a: ActorId) {
        let actor = &mut self.actors[a];
        actor.tasks_done += 1;
        actor.next = NextRequest::None;
        match &self.model.traffic {
            Traffic::Closed {
                think, iterations, ..
            } => {
                if actor.stopping || iterations.is_some_and(|n| actor.tasks_done >= n) {
                    self.retire(a, false);
                } else {
                    let wait = think.sample(&mut self.rng.think);
                    self.events.schedule_in(wait, Event::Wake(a));
                }
            }
            Traffic::Open { .. } => self.retire(a, true),
        }
    }

    /// An actor leaves for good; open-workload slots are reused.
    pub(super) fn retire(&mut self, a: ActorId, reuse: bool) {
        let actor = &mut self.actors[a];
        actor.alive = false;
        if let Some(s) = actor.session.take() {
            self.end_session(s);
        }
        self.gauges.advance(self.now());
        self.gauges.now.users -= 1.0;
        if reuse {
            self.actors.release(a);
        }
    }

    /// Sends the next request of a task, after the in-session think time if there is one.
    pub(super) fn then_send(&mut self, a: ActorId, kind: RequestKind) {
        match &self.model.turn_think {
            Some(t) => {
                let wait = t.sample(&mut self.rng.think);
                self.actors[a].next = NextRequest::Send(kind);
                self.events.schedule_in(wait, Event::Wake(a));
            }
            None => self.send(a, kind),
        }
    }

    pub(super) fn wake(&mut self, a: ActorId) {
        if !self.actors[a].alive {
            return;
        }
        match self.actors[a].next {
            NextRequest::Send(kind) => {
                self.actors[a].next = NextRequest::None;
                self.send(a, kind);
            }
            NextRequest::None => self.begin_task(a),
        }
    }

    /// Applies `on_error` to a failed request: schedules the retry, or counts a session task
    /// given up as abandoned.
    fn after_failure(&mut self, a: ActorId, kind: RequestKind) -> AfterFailure {
        let task = self.actors[a].task.kind;
        let in_session = matches!(task, TaskKind::FullSession | TaskKind::SessionNoWelcome);
        match self.model.on_error.on_error {
            OnError::Retry if task != TaskKind::StartBurst => {
                let wait = self
                    .model
                    .on_error
                    .retry_wait
                    .as_ref()
                    .map_or(0.0, |t| t.sample(&mut self.rng.think));
                self.actors[a].next = NextRequest::Send(kind);
                self.events.schedule_in(wait, Event::Wake(a));
                return AfterFailure::Resent;
            }
            OnError::Skip if in_session && kind == RequestKind::Turn => {
                if let Some(s) = self.actors[a].session {
                    self.sessions[s].turns_done += 1;
                }
                return AfterFailure::GoOn;
            }
            OnError::Skip if in_session && kind == RequestKind::Welcome => {
                return AfterFailure::GoOn;
            }
            _ => {}
        }
        let gives_up_session = match kind {
            RequestKind::Start => in_session || task == TaskKind::SingleTurn,
            RequestKind::Welcome | RequestKind::Turn => in_session,
            RequestKind::Close => false,
        };
        if gives_up_session && self.rec.measures(self.now()) {
            self.rec.counts.abandoned_sessions += 1;
        }
        AfterFailure::GiveUp
    }

    /// A session ends (closed, left or abandoned): its slot is released.
    pub(super) fn end_session(&mut self, s: SessionId) {
        self.gauges.advance(self.now());
        if self.rec.measures(self.now()) {
            self.rec.counts.sessions_ended += 1;
        }
        self.gauges.now.sessions -= 1.0;
        self.sessions.release(s);
    }

    pub(super) fn new_session(&mut self, identity: u32) -> SessionId {
        self.gauges.advance(self.now());
        self.gauges.now.sessions += 1.0;
        match self.sessions.reuse() {
            Some(s) => {
                let sess = &mut self.sessions[s];
                sess.identity = identity;
                sess.turns_done = 0;
                sess.history.reset();
                s
            }
            None => self.sessions.push(Session {
                identity,
                turns_done: 0,
                history: History::default(),
            }),
        }
    }

    /// Moves an actor on after its request finished.
    pub(super) fn after_request(&mut self, a: ActorId, kind: RequestKind, ok: bool) {
        self.actors[a].busy = false;
        if self.actors[a].stopping && self.stops_after_request() {
            self.retire(a, false);
            return;
        }
        let ok = ok
            || match self.after_failure(a, kind) {
                AfterFailure::Resent => return,
                AfterFailure::GoOn => true,
                AfterFailure::GiveUp => false,
            };
        let actor = &self.actors[a];
        let task = actor.task;
        let session = actor.session;
        match (task.kind, kind) {
            (TaskKind::StartBurst, RequestKind::Start) => {
                if ok {
                    // Burst sessions are never closed: only their rate-limit count remains.
                    if let Some(s) = self.actors[a].session.take() {
                        self.end_session(s);
                    }
                }
                let actor = &mut self.actors[a];
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
                } else if task.kind == TaskKind::FullSession && self.model.welcome_calls > 0 {
                    self.then_send(a, RequestKind::Welcome);
                } else {
                    self.then_send(a, RequestKind::Turn);
                }
            }
            (_, RequestKind::Welcome) => {
                let actor = &mut self.actors[a];
                actor.welcome_done += 1;
                if !ok {
                    self.then_send(a, RequestKind::Close);
                } else if actor.welcome_done < self.model.welcome_calls {
                    self.then_send(a, RequestKind::Welcome);
                } else {
                    self.then_send(a, RequestKind::Turn);
                }
            }
            (_, RequestKind::Turn) => {
                let more = session.is_some_and(|s| self.sessions[s].turns_done < task.turns);
                if ok && more {
                    self.then_send(a, RequestKind::Turn);
                } else {
                    self.then_send(a, RequestKind::Close);
                }
            }
            (_, RequestKind::Close) => {
                if let Some(s) = session {
                    self.actors[a].session = None;
                    self.end_session(s);
                }
                self.end_task(a);
            }
        }
    }
}
