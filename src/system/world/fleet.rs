//! The fleet: starting instances (cold starts), readiness, scale-in, crashes, and the
//! periodic autoscaler evaluation.

use super::{Event, RequestState, World};
use crate::metrics::ErrorCause;
use crate::system::autoscaler::{Integrals, ScalingMetrics};
use crate::system::ids::{InstanceId, RequestId};
use crate::system::instance::{Instance, InstanceState, ProcessorSharing};

impl World<'_> {
    /// Requests a new instance; a `warm` one (min instances at time 0) is ready at once, any
    /// other pays a cold start.
    pub(super) fn new_instance(&mut self, is_min: bool, warm: bool) -> InstanceId {
        let now = self.now();
        let slots = self.model.program.cache_keys.len() * 2;
        let i = self
            .fleet
            .instances
            .push(Instance::new(now, self.model.vcpu, slots, is_min));
        self.fleet.alive.push(i);
        self.gauges.advance(now);
        self.gauges.now.starting += 1.0;
        self.note_instance_count();
        if warm {
            self.instance_ready(i);
        } else {
            if self.rec.measures(now) {
                self.rec.counts.cold_starts += 1;
            }
            let delay = self.model.cold_start.sample(&mut self.rng.cold_start);
            self.events.schedule_in(delay, Event::Ready(i));
        }
        i
    }

    pub(super) fn note_instance_count(&mut self) {
        if self.rec.measures(self.now()) {
            self.fleet.max_instances_seen = self
                .fleet
                .max_instances_seen
                .max(self.fleet.alive.len() as u32);
        }
    }

    pub(super) fn instance_ready(&mut self, i: InstanceId) {
        let now = self.now();
        self.gauges.advance(now);
        self.gauges.now.starting -= 1.0;
        self.gauges.now.ready += 1.0;
        self.gauges.now.capacity_vcpus += self.model.vcpu;
        let inst = &mut self.fleet.instances[i];
        inst.state = InstanceState::Ready;
        inst.ready_at = now;
        inst.idle_since = now;
        self.fleet.free_slots += u64::from(self.model.max_concurrency);
    }

    pub(super) fn stop_instance(&mut self, i: InstanceId) {
        let now = self.now();
        self.gauges.advance(now);
        let inst = &mut self.fleet.instances[i];
        match inst.state {
            InstanceState::Starting => self.gauges.now.starting -= 1.0,
            InstanceState::Ready => {
                self.gauges.now.ready -= 1.0;
                self.gauges.now.capacity_vcpus -= self.model.vcpu;
                self.fleet.free_slots -= u64::from(self.model.max_concurrency - inst.in_flight);
                self.gauges.now.busy_vcpus -= inst.cpu.busy_vcpus();
            }
            InstanceState::Stopped => return,
        }
        inst.stop(now, self.model.rates.granularity);
        inst.cpu = ProcessorSharing::new(self.model.vcpu);
        self.fleet.alive.retain(|x| *x != i);
    }

    /// Out of memory: the instance dies with every request on it.
    pub(super) fn crash(&mut self, i: InstanceId) {
        let victims: Vec<RequestId> = self
            .requests
            .ids()
            .filter(|r| {
                let q = &self.requests[*r];
                q.state == RequestState::Running && q.instance == Some(i)
            })
            .collect();
        let was_min = self.fleet.instances[i].is_min;
        self.series.crash();
        if self.rec.measures(self.now()) {
            self.rec.counts.instance_crashes += 1;
        }
        // Stop first so that no pending request is routed onto the dying instance.
        self.stop_instance(i);
        for r in victims {
            self.fail(r, ErrorCause::InstanceCrash);
        }
        if was_min || self.fleet.alive.is_empty() {
            self.new_instance(was_min, false);
        }
        self.drain_pending();
    }

    pub(super) fn autoscale(&mut self) {
        let now = self.now();
        let Some(policy) = self.fleet.policy.as_mut() else {
            return;
        };
        let cadence = policy.cadence();
        self.gauges.advance(now);
        let g = &self.gauges;
        let (busy, util, in_flight) = self.fleet.window.push(
            Integrals {
                time: now,
                busy_vcpu_seconds: g.integral.busy_vcpus,
                capacity_vcpu_seconds: g.integral.capacity_vcpus,
                in_flight_seconds: g.integral.in_flight,
            },
            cadence.window,
        );
        let metrics = ScalingMetrics {
            now,
            ready: g.now.ready as u32,
            starting: g.now.starting as u32,
            busy_vcpus: busy,
            cpu_utilization: util,
            in_flight,
            pending: g.now.pending as u32,
            vcpu: self.model.vcpu,
            max_concurrency: self.model.max_concurrency,
        };
        let decision = policy.decide(&metrics);
        self.events.schedule_in(cadence.interval, Event::Autoscale);
        let desired = decision
            .desired
            .clamp(self.model.min_instances, self.model.max_instances);
        let current = self.fleet.alive.len() as u32;
        if desired > current {
            for _ in current..desired {
                self.new_instance(false, false);
            }
        } else if desired < current {
            self.scale_in(current - desired, decision.idle_retention);
        }
    }

    pub(super) fn scale_in(&mut self, mut excess: u32, retention: f64) {
        let now = self.now();
        let mut idle: Vec<(f64, InstanceId)> = self
            .fleet
            .alive
            .iter()
            .map(|i| (i, &self.fleet.instances[*i]))
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
