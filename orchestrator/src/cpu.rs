//! CPU time a request's handling really used: the calling thread's CPU clock is read around every
//! poll of the handler's future, so the sum is the CPU spent on this request whichever worker
//! thread polled it (and nothing spent on other requests in between).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

/// The calling thread's CPU time in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Burns `ns` nanoseconds of this thread's CPU time (a busy loop), standing in for SDK work.
pub fn burn_cpu(ns: u64) {
    let start = thread_cpu_ns();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while thread_cpu_ns().saturating_sub(start) < ns {
        for _ in 0..256 {
            x = std::hint::black_box(x.rotate_left(5) ^ x.wrapping_mul(0x2545_F491_4F6C_DD1D));
        }
    }
}

/// A future that adds the CPU time of each of its polls to a shared counter.
pub struct CpuMetered<F> {
    inner: Pin<Box<F>>,
    total_ns: Arc<AtomicU64>,
}

impl<F> CpuMetered<F> {
    /// Meters `inner` into `total_ns`.
    pub fn new(inner: F, total_ns: Arc<AtomicU64>) -> Self {
        Self {
            inner: Box::pin(inner),
            total_ns,
        }
    }
}

impl<F: Future> Future for CpuMetered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let start = thread_cpu_ns();
        let out = self.inner.as_mut().poll(cx);
        self.total_ns
            .fetch_add(thread_cpu_ns().saturating_sub(start), Ordering::Relaxed);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burned_cpu_is_counted_by_the_meter() {
        let total = Arc::new(AtomicU64::new(0));
        let metered = CpuMetered::new(async { burn_cpu(5_000_000) }, total.clone());
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(metered);
        assert!(total.load(Ordering::Relaxed) >= 5_000_000);
    }
}
