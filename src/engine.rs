//! The event queue and clock. Knows nothing of Cloud Run or LLMs.
//!
//! Events are ordered by (time, sequence number): two events at the same instant fire in the
//! order they were scheduled, so a run is a pure function of its inputs and seeds. Times are
//! non-negative `f64` seconds; their IEEE bit patterns order the same way as the values, which
//! keeps the heap key a plain integer.
//!
//! The queue is a 4-ary min-heap on the key (time bits, sequence) packed into one `u128`: half
//! the depth of a binary heap, the four children of a node compared within one or two cache
//! lines, and one integer comparison per step. Keys and events live in parallel vectors so the
//! sift loops touch only keys.
//!
//! Lanes keep events that are always scheduled a fixed delay ahead (request timeouts) out of
//! the heap: their times never decrease, so a FIFO holds them in order and `pop` compares the
//! heads of the lanes with the top of the heap. Each lane entry keeps its (time, sequence) key,
//! so the order is exactly the heap's; an entry earlier than its lane's tail goes to the heap.
//! A timeout that outlives its request stays queued until it fires, and with a lane that costs
//! a FIFO slot instead of heap depth.

use std::collections::VecDeque;

/// Children per heap node.
const ARITY: usize = 4;

/// A FIFO lane of an [`EventQueue`], for events scheduled a fixed delay ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lane(usize);

/// A time-ordered queue of events of type `E`.
pub struct EventQueue<E> {
    /// Heap-ordered keys: time bits in the high half, sequence number in the low half.
    keys: Vec<u128>,
    /// The event of each key, at the same index.
    events: Vec<E>,
    /// FIFO lanes of (key, event), each in non-decreasing key order.
    lanes: Vec<VecDeque<(u128, E)>>,
    next_seq: u64,
    now: f64,
    fired: u64,
}

impl<E: Copy> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Copy> EventQueue<E> {
    /// An empty queue at time 0.
    pub fn new() -> Self {
        Self {
            keys: Vec::with_capacity(1024),
            events: Vec::with_capacity(1024),
            lanes: Vec::new(),
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

    /// A new, empty lane.
    pub fn add_lane(&mut self) -> Lane {
        self.lanes.push(VecDeque::with_capacity(1024));
        Lane(self.lanes.len() - 1)
    }

    /// The key of an event at `at` (clamped to now: the past cannot be scheduled), taking the
    /// next sequence number.
    #[inline]
    fn key(&mut self, at: f64) -> u128 {
        let at = if at.is_nan() || at < self.now {
            self.now
        } else {
            at
        };
        let key = (u128::from(at.to_bits()) << 64) | u128::from(self.next_seq);
        self.next_seq += 1;
        key
    }

    /// Schedules `event` at absolute time `at` (clamped to now: the past cannot be scheduled).
    #[inline]
    pub fn schedule(&mut self, at: f64, event: E) {
        let key = self.key(at);
        self.push_heap(key, event);
    }

    /// Schedules `event` at `at` in `lane`: the same order as [`schedule`](Self::schedule),
    /// cheaper when the lane's events come in time order (else it goes to the heap).
    #[inline]
    pub fn schedule_in_lane(&mut self, lane: Lane, at: f64, event: E) {
        let key = self.key(at);
        let fifo = &mut self.lanes[lane.0];
        if fifo.back().is_none_or(|&(tail, _)| tail <= key) {
            fifo.push_back((key, event));
        } else {
            self.push_heap(key, event);
        }
    }

    /// Schedules `event` after `delay` seconds.
    #[inline]
    pub fn schedule_in(&mut self, delay: f64, event: E) {
        self.schedule(self.now + delay, event);
    }

    /// Pops the next event and advances the clock to it.
    #[inline]
    pub fn pop(&mut self) -> Option<(f64, E)> {
        let (key, lane) = self.next_key()?;
        Some(self.take(key, lane))
    }

    /// Removes the entry with the smallest key, `key`, from `lane` (None: the heap), and
    /// advances the clock to it.
    #[inline]
    fn take(&mut self, key: u128, lane: Option<usize>) -> (f64, E) {
        let event = match lane {
            Some(l) => self.lanes[l].pop_front().expect("a lane head").1,
            None => self.pop_heap(),
        };
        self.now = time_of(key);
        self.fired += 1;
        (self.now, event)
    }

    /// Pops the next event if it is due no later than `until`.
    #[inline]
    pub fn pop_until(&mut self, until: f64) -> Option<(f64, E)> {
        let (key, lane) = self.next_key()?;
        if time_of(key) > until {
            return None;
        }
        Some(self.take(key, lane))
    }

    /// The smallest key, and the lane holding it (None: the heap).
    #[inline]
    fn next_key(&self) -> Option<(u128, Option<usize>)> {
        let mut best = self.keys.first().map(|&k| (k, None));
        for (i, lane) in self.lanes.iter().enumerate() {
            if let Some(&(k, _)) = lane.front()
                && best.is_none_or(|(b, _)| k < b)
            {
                best = Some((k, Some(i)));
            }
        }
        best
    }

    #[inline]
    fn push_heap(&mut self, key: u128, event: E) {
        self.keys.push(key);
        self.events.push(event);
        self.sift_up(self.keys.len() - 1, key, event);
    }

    /// Removes the heap's top (the heap must not be empty) and returns its event.
    #[inline]
    fn pop_heap(&mut self) -> E {
        let top = self.events[0];
        let last_key = self.keys.pop().expect("non-empty heap");
        let last_event = self.events.pop().expect("non-empty heap");
        if !self.keys.is_empty() {
            self.sift_down(last_key, last_event);
        }
        top
    }

    /// Moves the entry at `hole` up until its parent's key is smaller, then writes it there.
    #[inline]
    fn sift_up(&mut self, mut hole: usize, key: u128, event: E) {
        while hole > 0 {
            let parent = (hole - 1) / ARITY;
            if self.keys[parent] <= key {
                break;
            }
            self.keys[hole] = self.keys[parent];
            self.events[hole] = self.events[parent];
            hole = parent;
        }
        self.keys[hole] = key;
        self.events[hole] = event;
    }

    /// Fills the root's hole with (`key`, `event`), the heap's former last entry: the smaller
    /// child moves up until the hole reaches the bottom, then the entry sifts up from there.
    /// The last entry usually belongs near the bottom, so this skips comparing it on the way
    /// down (Floyd's trick, as `std`'s `BinaryHeap::pop` does).
    #[inline]
    fn sift_down(&mut self, key: u128, event: E) {
        let len = self.keys.len();
        let mut hole = 0;
        loop {
            let first = hole * ARITY + 1;
            if first >= len {
                break;
            }
            let child = self.min_child(first, len);
            self.keys[hole] = self.keys[child];
            self.events[hole] = self.events[child];
            hole = child;
        }
        self.sift_up(hole, key, event);
    }
}

impl<E> EventQueue<E> {
    /// The child with the smallest key among those from `first` (a node's first child,
    /// `< len`). With four children it plays a tournament of independent comparisons that
    /// compile to conditional moves: the outcomes are unpredictable, so branches would
    /// mispredict about once per level.
    #[inline]
    fn min_child(&self, first: usize, len: usize) -> usize {
        if first + ARITY <= len {
            let k = &self.keys[first..first + ARITY];
            let left = first + usize::from(k[1] < k[0]);
            let right = first + 2 + usize::from(k[3] < k[2]);
            if self.keys[right] < self.keys[left] {
                right
            } else {
                left
            }
        } else {
            (first + 1..len).fold(first, |best, c| {
                if self.keys[c] < self.keys[best] {
                    c
                } else {
                    best
                }
            })
        }
    }
}

/// The time half of a heap key.
#[inline]
fn time_of(key: u128) -> f64 {
    f64::from_bits((key >> 64) as u64)
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
    fn pops_like_a_sort_by_time_then_insertion() {
        // Interleaved pushes and pops with many ties, against a stable sort of what is left.
        let mut q = EventQueue::new();
        let mut model: Vec<(f64, u32)> = Vec::new();
        let mut x = 12345u64;
        for i in 0..5000u32 {
            x = crate::rng::mix(x);
            let t = q.now() + (x % 7) as f64;
            q.schedule(t, i);
            model.push((t, i));
            if x.is_multiple_of(3) {
                model.sort_by(|a, b| a.0.total_cmp(&b.0));
                let expected = model.remove(0);
                assert_eq!(q.pop(), Some(expected));
            }
        }
        model.sort_by(|a, b| a.0.total_cmp(&b.0));
        let rest: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(rest, model);
    }

    #[test]
    fn lanes_keep_the_heap_order() {
        // The same schedule twice, once with every third event in a lane (fixed delay 3 s,
        // plus some out-of-order entries the lane must hand to the heap): same pops.
        let run = |use_lane: bool| {
            let mut q = EventQueue::new();
            let lane = q.add_lane();
            let mut x = 777u64;
            let mut popped = Vec::new();
            for i in 0..3000u32 {
                x = crate::rng::mix(x);
                if x.is_multiple_of(3) {
                    let late = if x.is_multiple_of(5) { 0.0 } else { 3.0 };
                    let at = q.now() + late;
                    if use_lane {
                        q.schedule_in_lane(lane, at, i);
                    } else {
                        q.schedule(at, i);
                    }
                } else {
                    q.schedule(q.now() + (x % 4) as f64, i);
                }
                if x.is_multiple_of(2) {
                    popped.push(q.pop());
                }
            }
            popped.extend(std::iter::from_fn(|| q.pop().map(Some)));
            popped
        };
        assert_eq!(run(true), run(false));
    }

    #[test]
    fn past_is_clamped_to_now() {
        let mut q = EventQueue::new();
        q.schedule(5.0, 1);
        q.pop();
        q.schedule(1.0, 2);
        assert_eq!(q.pop(), Some((5.0, 2)));
    }

    #[test]
    fn pop_until_leaves_later_events_queued() {
        let mut q = EventQueue::new();
        q.schedule(1.0, 'a');
        q.schedule(2.0, 'b');
        assert_eq!(q.pop_until(1.5), Some((1.0, 'a')));
        assert_eq!(q.pop_until(1.5), None);
        assert_eq!((q.now(), q.fired()), (1.0, 1));
        assert_eq!(q.pop(), Some((2.0, 'b')));
    }
}
