//! A serverless instance: concurrency slots, memory, and vCPUs shared by processor sharing.
//!
//! CPU sharing: n active bursts on v vCPUs each progress at rate min(1, v/n) (egalitarian
//! processor sharing, as a multi-threaded runtime on v cores approximates). The instance keeps a
//! virtual clock V that advances at that rate; a burst of demand d started at virtual time V0
//! finishes when V reaches V0 + d, so its finish is fixed in virtual time when it starts and an
//! arrival or departure reschedules one event, not n.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::ids::RequestId;

/// A CPU burst's owner: the request (with its generation) and the frame waiting on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct BurstOwner {
    /// Request slot.
    pub request: RequestId,
    /// Request generation when the burst started.
    pub generation: u32,
    /// Frame index within the request.
    pub frame: u16,
}

/// Processor sharing on `vcpu` vCPUs with a virtual clock.
#[derive(Debug)]
pub struct ProcessorSharing {
    vcpu: f64,
    active: u32,
    virtual_time: f64,
    last_update: f64,
    finishes: BinaryHeap<Reverse<(u64, u64, BurstOwner)>>,
    seq: u64,
}

impl ProcessorSharing {
    /// An idle CPU with `vcpu` vCPUs.
    pub fn new(vcpu: f64) -> Self {
        Self {
            vcpu,
            active: 0,
            virtual_time: 0.0,
            last_update: 0.0,
            finishes: BinaryHeap::new(),
            seq: 0,
        }
    }

    /// Speed of each active burst, in vCPU-seconds per second.
    #[inline]
    pub fn rate(&self) -> f64 {
        if self.active == 0 {
            0.0
        } else {
            (self.vcpu / f64::from(self.active)).min(1.0)
        }
    }

    /// vCPUs in use.
    #[inline]
    pub fn busy_vcpus(&self) -> f64 {
        f64::from(self.active).min(self.vcpu)
    }

    #[inline]
    fn advance(&mut self, now: f64) {
        self.virtual_time += self.rate() * (now - self.last_update);
        self.last_update = now;
    }

    /// Starts a burst of `demand` vCPU-seconds.
    pub fn start(&mut self, now: f64, demand: f64, owner: BurstOwner) {
        self.advance(now);
        let finish = self.virtual_time + demand.max(0.0);
        self.finishes
            .push(Reverse((finish.to_bits(), self.seq, owner)));
        self.seq += 1;
        self.active += 1;
    }

    /// Real time at which the earliest burst finishes, if any runs.
    pub fn next_finish(&self, now: f64) -> Option<f64> {
        let Reverse((bits, _, _)) = self.finishes.peek()?;
        let remaining = (f64::from_bits(*bits) - self.virtual_time).max(0.0);
        let pending_advance = self.rate() * (now - self.last_update);
        Some(now + (remaining - pending_advance).max(0.0) / self.rate())
    }

    /// Removes the earliest burst (call at the time [`next_finish`](Self::next_finish) gave).
    pub fn finish_next(&mut self, now: f64) -> Option<BurstOwner> {
        self.advance(now);
        let Reverse((_, _, owner)) = self.finishes.pop()?;
        self.active -= 1;
        Some(owner)
    }
}

/// Lifecycle state of an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceState {
    /// Cold-starting until the given time.
    Starting,
    /// Serving.
    Ready,
    /// Gone (scaled in or crashed).
    Stopped,
}

/// One instance of the service.
#[derive(Debug)]
pub struct Instance {
    /// Lifecycle state.
    pub state: InstanceState,
    /// Requests holding a slot.
    pub in_flight: u32,
    /// CPU.
    pub cpu: ProcessorSharing,
    /// Generation of the scheduled CPU-finish event (older events are stale).
    pub cpu_event_generation: u32,
    /// When the instance was requested.
    pub created_at: f64,
    /// When it became ready (NaN while starting).
    pub ready_at: f64,
    /// When it stopped (NaN while alive).
    pub stopped_at: f64,
    /// Start of the current busy interval (NaN when idle).
    pub busy_since: f64,
    /// When it last became idle.
    pub idle_since: f64,
    /// Closed busy time, each interval rounded up to the billing granularity.
    pub billed_busy: f64,
    /// Kept to satisfy min instances (billed at idle rates while idle).
    pub is_min: bool,
    /// Writes buffered by the batch writer.
    pub buffered_writes: u32,
    /// Agent cache: last use per (key, phase) slot, NaN when empty.
    pub cache_last_used: Vec<f64>,
}

impl Instance {
    /// A new instance requested at `now`.
    pub fn new(now: f64, vcpu: f64, cache_slots: usize, is_min: bool) -> Self {
        Self {
            state: InstanceState::Starting,
            in_flight: 0,
            cpu: ProcessorSharing::new(vcpu),
            cpu_event_generation: 0,
            created_at: now,
            ready_at: f64::NAN,
            stopped_at: f64::NAN,
            busy_since: f64::NAN,
            idle_since: now,
            billed_busy: 0.0,
            is_min,
            buffered_writes: 0,
            cache_last_used: vec![f64::NAN; cache_slots],
        }
    }

    /// Takes a slot; opens a busy interval on the first one.
    pub fn acquire(&mut self, now: f64) {
        if self.in_flight == 0 {
            self.busy_since = now;
        }
        self.in_flight += 1;
    }

    /// Frees a slot; closes the busy interval on the last one.
    pub fn release(&mut self, now: f64, granularity: f64) {
        self.in_flight -= 1;
        if self.in_flight == 0 {
            self.close_busy(now, granularity);
            self.idle_since = now;
        }
    }

    fn close_busy(&mut self, now: f64, granularity: f64) {
        if self.busy_since.is_nan() {
            return;
        }
        let span = now - self.busy_since;
        self.billed_busy += round_up(span, granularity);
        self.busy_since = f64::NAN;
    }

    /// Stops the instance, closing any busy interval.
    pub fn stop(&mut self, now: f64, granularity: f64) {
        self.close_busy(now, granularity);
        self.in_flight = 0;
        self.state = InstanceState::Stopped;
        self.stopped_at = now;
    }

    /// Busy time billed up to `now` (open interval unrounded).
    pub fn billed_busy_until(&self, now: f64) -> f64 {
        let open = if self.busy_since.is_nan() {
            0.0
        } else {
            now - self.busy_since
        };
        self.billed_busy + open
    }

    /// Seconds the instance existed (requested to stopped, or to `now`).
    pub fn lifetime_until(&self, now: f64) -> f64 {
        let end = if self.stopped_at.is_nan() {
            now
        } else {
            self.stopped_at.min(now)
        };
        (end - self.created_at).max(0.0)
    }

    /// Seconds spent starting, up to `now`.
    pub fn startup_until(&self, now: f64) -> f64 {
        let ready = if self.ready_at.is_nan() {
            now
        } else {
            self.ready_at.min(now)
        };
        let end = if self.stopped_at.is_nan() {
            ready
        } else {
            ready.min(self.stopped_at)
        };
        (end - self.created_at).max(0.0)
    }
}

/// Rounds `x` up to a multiple of `step` (no rounding when `step` is 0).
pub fn round_up(x: f64, step: f64) -> f64 {
    if step <= 0.0 {
        x
    } else {
        (x / step - 1e-9).ceil().max(0.0) * step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(i: u32) -> BurstOwner {
        BurstOwner {
            request: RequestId(i),
            generation: 0,
            frame: 0,
        }
    }

    #[test]
    fn single_burst_runs_at_full_speed() {
        let mut ps = ProcessorSharing::new(1.0);
        ps.start(0.0, 2.0, owner(1));
        assert_eq!(ps.next_finish(0.0), Some(2.0));
    }

    #[test]
    fn two_bursts_share_one_vcpu() {
        // Both start at 0 with demand 1: each runs at 1/2, both finish at 2.
        let mut ps = ProcessorSharing::new(1.0);
        ps.start(0.0, 1.0, owner(1));
        ps.start(0.0, 1.0, owner(2));
        let t = ps.next_finish(0.0).unwrap();
        assert!((t - 2.0).abs() < 1e-12);
        assert_eq!(ps.finish_next(t), Some(owner(1)));
        let t2 = ps.next_finish(t).unwrap();
        assert!((t2 - 2.0).abs() < 1e-12);
    }

    #[test]
    fn late_arrival_slows_the_first_burst() {
        // Burst A (demand 2) alone for 1 s, then B (demand 0.5) joins: both at 1/2 speed.
        // B finishes at 1 + 0.5/0.5 = 2; A has 1 - 0.5 = 0.5 left, alone again: done at 2.5.
        let mut ps = ProcessorSharing::new(1.0);
        ps.start(0.0, 2.0, owner(1));
        ps.start(1.0, 0.5, owner(2));
        let t = ps.next_finish(1.0).unwrap();
        assert!((t - 2.0).abs() < 1e-12);
        assert_eq!(ps.finish_next(t), Some(owner(2)));
        let t2 = ps.next_finish(t).unwrap();
        assert!((t2 - 2.5).abs() < 1e-12);
    }

    #[test]
    fn bursts_up_to_vcpu_count_do_not_slow_down() {
        let mut ps = ProcessorSharing::new(2.0);
        ps.start(0.0, 1.0, owner(1));
        ps.start(0.0, 1.0, owner(2));
        assert_eq!(ps.rate(), 1.0);
        assert_eq!(ps.busy_vcpus(), 2.0);
        ps.start(0.0, 1.0, owner(3));
        assert!((ps.rate() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(ps.busy_vcpus(), 2.0);
    }

    #[test]
    fn busy_intervals_are_rounded_for_billing() {
        let busy_interval = |granularity: f64| {
            let mut inst = Instance::new(0.0, 1.0, 0, false);
            inst.acquire(1.0);
            inst.acquire(1.05);
            inst.release(1.10, granularity);
            inst.release(1.26, granularity);
            inst.billed_busy
        };
        // One busy interval from the first acquire to the last release: 0.26 s unrounded.
        assert!((busy_interval(0.0) - 0.26).abs() < 1e-12);
        assert!((busy_interval(0.1) - 0.3).abs() < 1e-12);
        assert!((round_up(0.3, 0.1) - 0.3).abs() < 1e-12);
        assert!((round_up(0.31, 0.1) - 0.4).abs() < 1e-12);
    }
}
