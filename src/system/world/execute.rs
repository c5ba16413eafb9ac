//! Running a request's pipeline on its instance: sequences, parallel joins, CPU bursts on the
//! processor-shared vCPUs, agent runs of sequential LLM calls with quota checks and retries,
//! and datastore operations.

use super::{Event, World, whole};
use crate::config::DatastoreOpKind;
use crate::metrics::ErrorCause;
use crate::system::ids::{InstanceId, RequestId};
use crate::system::instance::{BurstOwner, InstanceState};
use crate::system::llm::backoff;
use crate::system::model::DatastoreRuntime;
use crate::system::pipeline::{Component, Frame, NO_PARENT, NodeKind, when_allows};

impl World<'_> {
    /// The instance a running request holds a slot on.
    #[inline]
    fn instance_of(&self, r: RequestId) -> InstanceId {
        self.requests[r]
            .instance
            .expect("only a running request executes its pipeline")
    }

    /// Adds the time since the frame's current activity started to `component`.
    pub(super) fn charge_elapsed(&mut self, r: RequestId, f: u16, component: Component) {
        let now = self.now();
        let fr = &mut self.requests[r].frames[f as usize];
        fr.breakdown[component as usize] += now - fr.started;
    }

    pub(super) fn start_frame(&mut self, r: RequestId, node: u32, parent: u16) {
        let now = self.now();
        let req = &mut self.requests[r];
        let f = req.frames.len() as u16;
        req.frames.push(Frame::new(node, parent, now));
        let turn = req.turn;
        let allowed = self.model.program.nodes[node as usize]
            .when
            .as_ref()
            .is_none_or(|w| when_allows(w, turn));
        if !allowed {
            self.complete_frame(r, f);
            return;
        }
        match &self.model.program.nodes[node as usize].kind {
            NodeKind::Sequence { .. } => self.step_sequence(r, f),
            NodeKind::Parallel { first, len } => {
                let (first, len) = (*first, *len);
                if len == 0 {
                    self.complete_frame(r, f);
                    return;
                }
                self.requests[r].frames[f as usize].counter = len;
                let g = self.requests[r].generation;
                for i in 0..len {
                    let child = self.model.program.child(first, i);
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
                let i = self.instance_of(r);
                let inst = &mut self.fleet.instances[i];
                if inst.cache_last_used.len() <= slot {
                    inst.cache_last_used.resize(slot + 1, f64::NAN);
                }
                let last = inst.cache_last_used[slot];
                inst.cache_last_used[slot] = now;
                let hit = self.model.cache_ttl.is_some_and(|ttl| now - last <= ttl);
                if hit {
                    self.complete_frame(r, f);
                } else {
                    let d = demand.sample(&mut self.rng.cpu);
                    self.start_burst(r, f, d);
                }
            }
            NodeKind::Llm(leaf) => {
                let calls = whole(leaf.calls.sample(&mut self.rng.tokens)).max(1) as u32;
                self.requests[r].frames[f as usize].counter = calls;
                self.issue_llm_call(r, f);
            }
            NodeKind::Datastore { op, count } => {
                let (op, count) = (*op, *count);
                self.datastore_ops(r, f, op, count);
            }
        }
    }

    pub(super) fn step_sequence(&mut self, r: RequestId, f: u16) {
        let node = self.requests[r].frames[f as usize].node;
        let NodeKind::Sequence { first, len } = self.model.program.nodes[node as usize].kind else {
            return;
        };
        let fr = &mut self.requests[r].frames[f as usize];
        if fr.counter >= len {
            self.complete_frame(r, f);
            return;
        }
        let i = fr.counter;
        fr.counter += 1;
        let child = self.model.program.child(first, i);
        self.start_frame(r, child, f);
    }

    pub(super) fn complete_frame(&mut self, r: RequestId, f: u16) {
        let req = &self.requests[r];
        let frame = req.frames[f as usize];
        if frame.parent == NO_PARENT {
            self.finish_request(r, None);
            return;
        }
        let p = frame.parent;
        let parent_node = req.frames[p as usize].node;
        match self.model.program.nodes[parent_node as usize].kind {
            NodeKind::Parallel { .. } => {
                let pf = &mut self.requests[r].frames[p as usize];
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
                let pf = &mut self.requests[r].frames[p as usize];
                for (a, b) in pf.breakdown.iter_mut().zip(frame.breakdown) {
                    *a += b;
                }
                self.step_sequence(r, p);
            }
        }
    }

    pub(super) fn start_burst(&mut self, r: RequestId, f: u16, demand: f64) {
        let now = self.now();
        let i = self.instance_of(r);
        let req = &mut self.requests[r];
        let fr = &mut req.frames[f as usize];
        fr.started = now;
        fr.demand = demand;
        let owner = BurstOwner {
            request: r,
            generation: req.generation,
            frame: f,
        };
        self.gauges.advance(now);
        let inst = &mut self.fleet.instances[i];
        let before = inst.cpu.busy_vcpus();
        inst.cpu.start(now, demand, owner);
        self.gauges.now.busy_vcpus += inst.cpu.busy_vcpus() - before;
        self.reschedule_cpu(i);
    }

    pub(super) fn reschedule_cpu(&mut self, i: InstanceId) {
        let now = self.now();
        let inst = &mut self.fleet.instances[i];
        inst.cpu_event_generation = inst.cpu_event_generation.wrapping_add(1);
        if let Some(t) = inst.cpu.next_finish(now) {
            self.events
                .schedule(t, Event::CpuDone(i, inst.cpu_event_generation));
        }
    }

    pub(super) fn cpu_done(&mut self, i: InstanceId, g: u32) {
        let now = self.now();
        let inst = &mut self.fleet.instances[i];
        if inst.cpu_event_generation != g || inst.state == InstanceState::Stopped {
            return;
        }
        self.gauges.advance(now);
        let before = inst.cpu.busy_vcpus();
        let Some(owner) = inst.cpu.finish_next(now) else {
            return;
        };
        self.gauges.now.busy_vcpus += inst.cpu.busy_vcpus() - before;
        self.reschedule_cpu(i);
        if self.is_live(owner.request, owner.generation) {
            let fr = &mut self.requests[owner.request].frames[owner.frame as usize];
            let wall = now - fr.started;
            fr.breakdown[Component::Cpu as usize] += fr.demand;
            fr.breakdown[Component::CpuContention as usize] += (wall - fr.demand).max(0.0);
            self.complete_frame(owner.request, owner.frame);
        }
    }

    pub(super) fn issue_llm_call(&mut self, r: RequestId, f: u16) {
        let now = self.now();
        let req = &self.requests[r];
        let fr = req.frames[f as usize];
        let NodeKind::Llm(leaf) = &self.model.program.nodes[fr.node as usize].kind else {
            return;
        };
        let history = match req.session {
            Some(s) if leaf.include_history => self.sessions[s]
                .history
                .tokens(self.model.compaction.as_ref()),
            _ => 0,
        };
        let prompt = whole(leaf.prompt_tokens.sample(&mut self.rng.tokens));
        let input = prompt + history + u64::from(fr.run_output_tokens);
        let llm = &self.model.llms[leaf.llm];
        if !self.quotas[leaf.llm].admit(now, input as f64) {
            self.rec.counts.quota_rejections += u64::from(self.rec.measures(now));
            if fr.attempt < self.model.retry.max_retries {
                let wait = backoff(&self.model.retry, fr.attempt, &mut self.rng.retry);
                let g = req.generation;
                let fr = &mut self.requests[r].frames[f as usize];
                fr.attempt += 1;
                fr.started = now;
                self.events.schedule_in(wait, Event::BackoffDone(r, g, f));
            } else {
                self.fail(r, ErrorCause::LlmQuota);
            }
            return;
        }
        self.series.llm_call(input);
        let output = whole(leaf.output_tokens.sample(&mut self.rng.tokens)) as f64;
        let thinking = llm
            .thinking
            .as_ref()
            .map_or(0.0, |t| whole(t.sample(&mut self.rng.tokens)) as f64);
        let latency = llm.draw_latency(
            &mut self.rng.llm,
            output,
            thinking,
            self.model.latency_scale,
        );
        let cost = input as f64 * llm.input_price + (output + thinking) * llm.output_price;
        self.accounting.usage.llm_input += input as f64 * llm.input_price;
        self.accounting.usage.llm_output += (output + thinking) * llm.output_price;
        if self.rec.measures(req.created) {
            let usage = &mut self.rec.counts.agents[leaf.agent];
            usage.calls += 1;
            usage.latency_sum += latency;
            usage.input_tokens += input;
            usage.output_tokens += (output + thinking) as u64;
            usage.cost += cost;
        }
        let g = req.generation;
        let req = &mut self.requests[r];
        req.input_tokens += input;
        req.output_tokens += output as u64;
        req.turn_tokens += output as u64;
        req.llm_calls += 1;
        let fr = &mut req.frames[f as usize];
        fr.started = now;
        fr.attempt = 0;
        fr.run_output_tokens += output as u32;
        self.gauges.advance(now);
        self.gauges.now.llm_in_flight += 1.0;
        self.events.schedule_in(latency, Event::LlmDone(r, g, f));
    }

    pub(super) fn llm_done(&mut self, r: RequestId, f: u16) {
        self.charge_elapsed(r, f, Component::Llm);
        let fr = &mut self.requests[r].frames[f as usize];
        fr.counter -= 1;
        if fr.counter > 0 {
            self.issue_llm_call(r, f);
        } else {
            self.complete_frame(r, f);
        }
    }

    pub(super) fn datastore_ops(&mut self, r: RequestId, f: u16, op: DatastoreOpKind, count: u32) {
        let now = self.now();
        let k = DatastoreRuntime::index(op);
        let ds = &self.model.datastore;
        let inst = self.instance_of(r);
        let mut total = 0.0;
        for _ in 0..count {
            let commits = match (op, ds.batch_writes) {
                (DatastoreOpKind::Write, Some(batch)) => {
                    let buffered = &mut self.fleet.instances[inst].buffered_writes;
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
        self.accounting.usage.datastore[k] += f64::from(count) * ds.price[k];
        let g = self.requests[r].generation;
        self.requests[r].frames[f as usize].started = now;
        self.events
            .schedule_in(total, Event::DatastoreDone(r, g, f));
    }
}
