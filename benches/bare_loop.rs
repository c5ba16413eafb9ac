//! The baseline capsim is measured against: a minimal hand-written M/M/c event loop, a
//! `BinaryHeap` of (time, kind) and a FIFO of waiting customers' arrival times, drawing
//! exponential interarrival and service times with `rand_distr`. It simulates exactly
//! `customers` arrivals and runs until the last one leaves; it keeps only what checks it
//! (events, the mean response time).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use rand::SeedableRng;
use rand_distr::{Distribution, Exp};
use rand_pcg::Pcg64Mcg;

/// What one bare run measured.
pub struct BareRun {
    /// Events popped from the heap (two per customer).
    pub events: u64,
    /// Mean time from arrival to departure, seconds.
    pub mean_response: f64,
}

/// An event: the kind, ordered after the time (non-negative `f64` bits order like values).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Arrival,
    /// A departure of the customer who arrived at this time (`f64` bits).
    Departure(u64),
}

/// Simulates `customers` customers of an M/M/`servers` queue with arrival rate `lambda` and
/// service rate `mu` per server.
pub fn mmc(customers: u64, servers: u32, lambda: f64, mu: f64, seed: u64) -> BareRun {
    let interarrival = Exp::new(lambda).expect("positive arrival rate");
    let service = Exp::new(mu).expect("positive service rate");
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let mut heap = BinaryHeap::with_capacity(1024);
    let mut waiting: VecDeque<f64> = VecDeque::with_capacity(1024);
    let mut busy = 0u32;
    let mut arrived = 1u64;
    let (mut events, mut response_sum) = (0u64, 0.0);
    heap.push(Reverse((
        interarrival.sample(&mut rng).to_bits(),
        Kind::Arrival,
    )));
    while let Some(Reverse((bits, kind))) = heap.pop() {
        let now = f64::from_bits(bits);
        events += 1;
        let start = match kind {
            Kind::Arrival => {
                if arrived < customers {
                    let next = now + interarrival.sample(&mut rng);
                    heap.push(Reverse((next.to_bits(), Kind::Arrival)));
                    arrived += 1;
                }
                if busy < servers {
                    busy += 1;
                    Some(now)
                } else {
                    waiting.push_back(now);
                    None
                }
            }
            Kind::Departure(arrival) => {
                response_sum += now - f64::from_bits(arrival);
                let next = waiting.pop_front();
                if next.is_none() {
                    busy -= 1;
                }
                next
            }
        };
        if let Some(arrival) = start {
            let done = now + service.sample(&mut rng);
            heap.push(Reverse((
                done.to_bits(),
                Kind::Departure(arrival.to_bits()),
            )));
        }
    }
    BareRun {
        events,
        mean_response: response_sum / customers as f64,
    }
}
