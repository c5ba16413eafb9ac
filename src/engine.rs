//! The event queue and clock. Knows nothing of Cloud Run or LLMs.
//!
//! Events are ordered by (time, sequence number): two events at the same instant fire in the
//! order they were scheduled, so a run is a pure function of its inputs and seeds. Times are
//! non-negative `f64` seconds; their IEEE bit patterns order the same way as the values, which
//! keeps the heap key a plain integer.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A time-ordered queue of events of type `E`.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    next_seq: u64,
    now: f64,
    fired: u64,
}

struct Entry<E> {
    time_bits: u64,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.time_bits == other.time_bits && self.seq == other.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the earliest (time, seq) pops first.
        (other.time_bits, other.seq).cmp(&(self.time_bits, self.seq))
    }
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue at time 0.
    pub fn new() -> Self {
        Self {
            heap: BinaryHeap::with_capacity(1024),
            next_seq: 0,
            now: 0.0,
            fired: 0,
        }
    }

    /// Current simulated time, seconds.
    #[inline]
    pub fn now(&self) -> f64 {
        self.now
    }

    /// Events popped so far.
    pub fn fired(&self) -> u64 {
        self.fired
    }

    /// Schedules `event` at absolute time `at` (clamped to now: the past cannot be scheduled).
    #[inline]
    pub fn schedule(&mut self, at: f64, event: E) {
        let at = if at.is_nan() || at < self.now {
            self.now
        } else {
            at
        };
        self.heap.push(Entry {
            time_bits: at.to_bits(),
            seq: self.next_seq,
            event,
        });
        self.next_seq += 1;
    }

    /// Schedules `event` after `delay` seconds.
    #[inline]
    pub fn schedule_in(&mut self, delay: f64, event: E) {
        self.schedule(self.now + delay, event);
    }

    /// Pops the next event and advances the clock to it.
    #[inline]
    pub fn pop(&mut self) -> Option<(f64, E)> {
        let entry = self.heap.pop()?;
        self.now = f64::from_bits(entry.time_bits);
        self.fired += 1;
        Some((self.now, entry.event))
    }

    /// Time of the next event, if any.
    pub fn peek_time(&self) -> Option<f64> {
        self.heap.peek().map(|e| f64::from_bits(e.time_bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_then_insertion_order() {
        let mut q = EventQueue::new();
        q.schedule(2.0, "c");
        q.schedule(1.0, "a");
        q.schedule(1.0, "b");
        q.schedule(0.5, "first");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["first", "a", "b", "c"]);
        assert_eq!(q.now(), 2.0);
        assert_eq!(q.fired(), 4);
    }

    #[test]
    fn past_is_clamped_to_now() {
        let mut q = EventQueue::new();
        q.schedule(5.0, 1);
        q.pop();
        q.schedule(1.0, 2);
        assert_eq!(q.pop(), Some((5.0, 2)));
    }
}
