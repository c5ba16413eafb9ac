//! Actors: closed-workload users and open-workload sessions, and what they send next.
//!
//! A task (full session, single turn, start burst, bare turn) is a short script of requests;
//! after each request the actor moves on (or to `close` after a failure, as the seed's
//! locustfile does), waiting the in-session think time between requests and the think time
//! between tasks.

use rand::RngExt;

use super::{Actor, Event, NONE, NextRequest, Session, World};
use crate::config::TaskKind;
use crate::system::model::Traffic;
use crate::system::pipeline::RequestKind;
use crate::system::session::History;
use crate::system::workload::TaskPlan;

impl World<'_> {
    pub(super) fn new_actor(&mut self, identity: u32, task: TaskPlan) -> u32 {
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
        self.gauges.now.users += 1.0;
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

    pub(super) fn spawn_user(&mut self, i: u32) {
        let placeholder = TaskPlan {
            kind: TaskKind::FullSession,
            turns: self.m.turns,
            starts: 0,
        };
        let a = self.new_actor(i, placeholder);
        debug_assert_eq!(a, i);
        self.begin_task(a);
    }

    pub(super) fn arrival(&mut self) {
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
        self.arrivals_fingerprint =
            crate::rng::mix(self.arrivals_fingerprint ^ self.now().to_bits());
        let next = profile.next_arrival(self.now(), self.m.horizon, &mut self.rng.arrivals);
        if next.is_finite() {
            self.q.schedule(next, Event::Arrival);
        }
        let a = self.new_actor(identity, kind);
        self.begin_task(a);
    }

    pub(super) fn begin_task(&mut self, a: u32) {
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

    pub(super) fn end_task(&mut self, a: u32) {
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
    pub(super) fn retire(&mut self, a: u32, reuse: bool) {
        let actor = &mut self.actors[a as usize];
        actor.alive = false;
        if actor.session != NONE {
            let s = actor.session;
            actor.session = NONE;
            self.free_sessions.push(s);
        }
        self.gauges.advance(self.now());
        self.gauges.now.users -= 1.0;
        if reuse {
            self.free_actors.push(a);
        }
    }

    /// Sends the next request of a task, after the in-session think time if there is one.
    pub(super) fn then_send(&mut self, a: u32, kind: RequestKind) {
        match &self.m.turn_think {
            Some(t) => {
                let wait = t.sample(&mut self.rng.think);
                self.actors[a as usize].next = NextRequest::Send(kind);
                self.q.schedule_in(wait, Event::Wake(a));
            }
            None => self.send(a, kind),
        }
    }

    pub(super) fn wake(&mut self, a: u32) {
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

    pub(super) fn new_session(&mut self, identity: u32) -> u32 {
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
    pub(super) fn after_request(&mut self, a: u32, kind: RequestKind, ok: bool) {
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
}
