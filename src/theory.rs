//! Closed-form queueing results that `sim validate` holds the simulator against, and the
//! `theory:` block of an experiment file that chooses one ([`TheorySpec`]).
//!
//! Offered load a = λ/μ (Erlangs), c servers, utilisation ρ = λ/(cμ).
//!
//! * Erlang B (M/M/c/c blocking): B(0) = 1, B(k) = a·B(k−1) / (k + a·B(k−1)).
//! * Erlang C (M/M/c probability of waiting): C = c·B / (c − a·(1 − B)), for a < c.
//! * M/M/c FIFO: W_q = C / (cμ − λ), T = W_q + 1/μ, L = λ·T (Little's law);
//!   P(W_q ≤ t) = 1 − C·e^{−(cμ−λ)t}; the response time is the wait (an atom 1 − C at zero
//!   plus, with probability C, an Exp(cμ − λ)) plus an independent Exp(μ) service, so
//!   P(T > t) = (1 − C)·e^{−μt} + C·P(Exp(cμ−λ) + Exp(μ) > t), where for rates α ≤ β,
//!   P(Exp(α) + Exp(β) > t) = e^{−αt}·(1 + αt·(1 − e^{−(β−α)t}) / ((β−α)t)), which tends to
//!   the Erlang-2 tail e^{−αt}(1 + αt) as the rates coincide.
//! * M/M/1 processor sharing: E\[T\] = 1/(μ − λ); a job of size x takes x/(1 − ρ) on average.
//! * M/G/1 FIFO (Pollaczek–Khinchine): W_q = λ·E\[S²\] / (2(1 − ρ)), ρ = λ·E\[S\].
//! * Fork–join over k independent Exp(μ) branches: E\[max\] = H_k / μ, H_k the k-th harmonic
//!   number.
//!
//! References: L. Kleinrock, *Queueing Systems, Volume 1: Theory*, Wiley 1975 (ch. 3 for
//! M/M/c and Erlang's formulas, ch. 5 for M/G/1); M. Harchol-Balter, *Performance Modeling
//! and Design of Computer Systems*, Cambridge University Press 2013 (ch. 14 for M/M/k,
//! ch. 22–23 for M/G/1 and the P-K formula, ch. 30 for processor sharing).
//!
//! No function panics. Invalid parameters (negative or NaN rates, zero servers, …) give NaN;
//! unstable systems (ρ ≥ 1) give infinite means and quantiles and NaN distribution functions,
//! since no stationary distribution exists.

mod spec;

pub use spec::*;

/// Erlang B blocking probability of an M/M/c/c loss system with offered load `a` Erlangs.
///
/// NaN for a negative or NaN load; 1 for an infinite load.
pub fn erlang_b(c: u32, offered_load_a: f64) -> f64 {
    let a = offered_load_a;
    if a.is_nan() || a < 0.0 {
        return f64::NAN;
    }
    if a.is_infinite() {
        return 1.0;
    }
    (1..=c).fold(1.0, |b, k| a * b / (k as f64 + a * b))
}

/// Erlang C: probability that an arrival waits in an M/M/c queue with offered load `a`.
///
/// 1 when `a >= c` (every arrival eventually waits); NaN for a negative or NaN load.
pub fn erlang_c(c: u32, offered_load_a: f64) -> f64 {
    let a = offered_load_a;
    if a.is_nan() || a < 0.0 {
        return f64::NAN;
    }
    if a >= c as f64 {
        return 1.0;
    }
    let b = erlang_b(c, a);
    let cf = c as f64;
    cf * b / (cf - a * (1.0 - b))
}

/// An M/M/c FIFO queue: Poisson arrivals at rate `lambda`, `c` servers with Exp(`mu`) service.
///
/// Parameters are valid when λ ≥ 0, μ > 0 (both finite) and c ≥ 1; otherwise every method but
/// [`MmcQueue::utilization`] returns NaN.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MmcQueue {
    /// Arrival rate λ.
    pub lambda: f64,
    /// Service rate μ of one server.
    pub mu: f64,
    /// Number of servers c.
    pub c: u32,
}

impl MmcQueue {
    fn is_valid(&self) -> bool {
        self.lambda >= 0.0
            && self.lambda.is_finite()
            && self.mu > 0.0
            && self.mu.is_finite()
            && self.c >= 1
    }

    fn is_stable(&self) -> bool {
        self.lambda < self.c as f64 * self.mu
    }

    /// Rate at which a waiting customer's wait decays, cμ − λ.
    fn drain_rate(&self) -> f64 {
        self.c as f64 * self.mu - self.lambda
    }

    /// Utilisation ρ = λ / (cμ) (may exceed 1: the queue is then unstable).
    pub fn utilization(&self) -> f64 {
        self.lambda / (self.c as f64 * self.mu)
    }

    /// Probability that an arrival waits (Erlang C); 1 when unstable.
    pub fn prob_wait(&self) -> f64 {
        if !self.is_valid() {
            return f64::NAN;
        }
        erlang_c(self.c, self.lambda / self.mu)
    }

    /// Mean waiting time in the queue, W_q = C / (cμ − λ); infinite when unstable.
    pub fn mean_wait(&self) -> f64 {
        if !self.is_valid() {
            return f64::NAN;
        }
        if !self.is_stable() {
            return f64::INFINITY;
        }
        self.prob_wait() / self.drain_rate()
    }

    /// Mean response (sojourn) time, W_q + 1/μ; infinite when unstable.
    pub fn mean_response(&self) -> f64 {
        self.mean_wait() + 1.0 / self.mu
    }

    /// Mean number in the system by Little's law, λ·T; infinite when unstable (and λ > 0).
    pub fn mean_in_system(&self) -> f64 {
        if self.lambda == 0.0 && self.is_valid() {
            return 0.0;
        }
        self.lambda * self.mean_response()
    }

    /// P(T > t) for the response time T = W_q + S, exact (see the module docs), including
    /// the limit when cμ − λ = μ; NaN when unstable. Computed as a tail, not as 1 − CDF, so
    /// that high quantiles keep their precision.
    fn response_tail(&self, t: f64) -> f64 {
        if !self.is_valid() || !self.is_stable() || t.is_nan() {
            return f64::NAN;
        }
        if t <= 0.0 {
            return 1.0;
        }
        let c_wait = self.prob_wait();
        let (alpha, beta) = {
            let (x, y) = (self.drain_rate(), self.mu);
            (x.min(y), x.max(y))
        };
        // (1 − e^{−x}) / x, continuous at 0 where it equals 1.
        let x = (beta - alpha) * t;
        let ratio = if x == 0.0 { 1.0 } else { -(-x).exp_m1() / x };
        let hypo_tail = (-alpha * t).exp() * (1.0 + alpha * t * ratio);
        (1.0 - c_wait) * (-self.mu * t).exp() + c_wait * hypo_tail
    }

    /// The p-quantile of the response time, inverting the response-time distribution by bisection
    /// to a relative precision of 1e-10.
    ///
    /// 0 for p ≤ 0, infinite for p ≥ 1 or an unstable queue, NaN for a NaN p or invalid
    /// parameters.
    pub fn response_quantile(&self, p: f64) -> f64 {
        if !self.is_valid() || p.is_nan() {
            return f64::NAN;
        }
        if p <= 0.0 {
            return 0.0;
        }
        if p >= 1.0 || !self.is_stable() {
            return f64::INFINITY;
        }
        let target = 1.0 - p;
        let mut lo = 0.0;
        let mut hi = 1.0 / self.mu.min(self.drain_rate());
        // The tail decays at least like e^{−min rate·t}·(1 + rate·t): doubling ends quickly.
        while self.response_tail(hi) > target {
            lo = hi;
            hi *= 2.0;
        }
        for _ in 0..200 {
            if hi - lo <= 1e-10 * hi {
                break;
            }
            let mid = 0.5 * (lo + hi);
            if self.response_tail(mid) > target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }
}

/// Mean response time of an M/M/1 processor-sharing queue, 1/(μ − λ).
///
/// Infinite when λ ≥ μ; NaN for negative, zero (μ) or NaN rates.
pub fn mm1_ps_mean_response(lambda: f64, mu: f64) -> f64 {
    if lambda.is_nan() || mu.is_nan() || lambda < 0.0 || mu <= 0.0 {
        return f64::NAN;
    }
    if lambda >= mu {
        return f64::INFINITY;
    }
    1.0 / (mu - lambda)
}

/// Mean response time of a job of size `x` in an M/G/1 processor-sharing queue at load
/// `rho`, x/(1 − ρ).
///
/// Infinite when ρ ≥ 1 (and x > 0); NaN for negative or NaN arguments.
pub fn mm1_ps_conditional_response(x: f64, rho: f64) -> f64 {
    if x.is_nan() || rho.is_nan() || x < 0.0 || rho < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return 0.0;
    }
    if rho >= 1.0 {
        return f64::INFINITY;
    }
    x / (1.0 - rho)
}

/// Pollaczek–Khinchine mean wait of an M/G/1 FIFO queue, λ·E\[S²\] / (2(1 − ρ)), ρ = λ·E\[S\].
///
/// Infinite when ρ ≥ 1; NaN for negative or NaN arguments.
pub fn pollaczek_khinchine_mean_wait(
    lambda: f64,
    mean_service: f64,
    second_moment_service: f64,
) -> f64 {
    let args = [lambda, mean_service, second_moment_service];
    if args.iter().any(|v| v.is_nan() || *v < 0.0) {
        return f64::NAN;
    }
    let rho = lambda * mean_service;
    if rho >= 1.0 {
        return f64::INFINITY;
    }
    lambda * second_moment_service / (2.0 * (1.0 - rho))
}

/// Expected maximum of `k` iid Exp(`mu`) variables (a fork–join over k exponential
/// branches), H_k / μ.
///
/// 0 for k = 0; NaN for μ ≤ 0 or NaN.
pub fn fork_join_exponential_mean(k: u32, mu: f64) -> f64 {
    if mu.is_nan() || mu <= 0.0 {
        return f64::NAN;
    }
    harmonic(k) / mu
}

/// k-th harmonic number: summed (smallest terms first) up to 1000, asymptotic series above,
/// where its error is below 1e-16 relative.
fn harmonic(k: u32) -> f64 {
    const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;
    if k <= 1000 {
        (1..=k).rev().map(|i| 1.0 / i as f64).sum()
    } else {
        let x = k as f64;
        let x2 = x * x;
        x.ln() + EULER_GAMMA + 0.5 / x - 1.0 / (12.0 * x2) + 1.0 / (120.0 * x2 * x2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Exp};
    use rand_pcg::Pcg64Mcg;

    /// P(T ≤ t) of an M/M/c queue's response time.
    fn response_cdf(q: &MmcQueue, t: f64) -> f64 {
        1.0 - q.response_tail(t)
    }

    /// a^k / k! for k = 0..=c, computed directly.
    fn poisson_terms(c: u32, a: f64) -> Vec<f64> {
        let mut terms = vec![1.0];
        for k in 1..=c {
            terms.push(terms[k as usize - 1] * a / k as f64);
        }
        terms
    }

    /// B = (a^c/c!) / Σ_{k≤c} a^k/k!.
    fn erlang_b_direct(c: u32, a: f64) -> f64 {
        let t = poisson_terms(c, a);
        t[c as usize] / t.iter().sum::<f64>()
    }

    /// C = (a^c/c! · c/(c−a)) / (Σ_{k<c} a^k/k! + a^c/c! · c/(c−a)).
    fn erlang_c_direct(c: u32, a: f64) -> f64 {
        let t = poisson_terms(c, a);
        let top = t[c as usize] * c as f64 / (c as f64 - a);
        top / (t[..c as usize].iter().sum::<f64>() + top)
    }

    #[test]
    fn erlang_b_values() {
        assert!((erlang_b(1, 1.0) - 0.5).abs() < 1e-15);
        let b = erlang_b(10, 8.0);
        assert!((b - erlang_b_direct(10, 8.0)).abs() < 1e-13);
        assert!((b - 0.1217).abs() < 1e-4, "B = {b}");
        assert_eq!(erlang_b(0, 3.0), 1.0);
        assert_eq!(erlang_b(5, 0.0), 0.0);
        assert!(erlang_b(5, -1.0).is_nan());
        // Large systems: the recursion stays finite where the direct sum would overflow.
        let big = erlang_b(2000, 1900.0);
        assert!(big > 0.0 && big < 0.05);
    }

    #[test]
    fn erlang_c_values() {
        let c = erlang_c(10, 8.0);
        assert!((c - erlang_c_direct(10, 8.0)).abs() < 1e-13);
        assert!((c - 0.4092).abs() < 1e-4, "C = {c}");
        // One server: C = ρ.
        assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-15);
        assert_eq!(erlang_c(4, 4.0), 1.0);
        assert_eq!(erlang_c(4, 9.0), 1.0);
        assert!(erlang_c(4, f64::NAN).is_nan());
    }

    #[test]
    fn mm1_response_is_exponential() {
        let q = MmcQueue {
            lambda: 0.7,
            mu: 1.0,
            c: 1,
        };
        let rate = q.mu - q.lambda;
        assert!((q.utilization() - 0.7).abs() < 1e-15);
        assert!((q.prob_wait() - 0.7).abs() < 1e-15);
        assert!((q.mean_wait() - 0.7 / rate).abs() < 1e-12);
        assert!((q.mean_response() - 1.0 / rate).abs() < 1e-12);
        assert!((q.mean_in_system() - 0.7 / rate).abs() < 1e-12);
        for t in [0.1, 1.0, 5.0, 20.0] {
            assert!((response_cdf(&q, t) - (1.0 - (-rate * t).exp())).abs() < 1e-12);
        }
        let p95 = q.response_quantile(0.95);
        assert!((p95 - 20f64.ln() / rate).abs() < 1e-9, "p95 {p95}");
        let p999 = q.response_quantile(0.999);
        assert!((p999 - 1000f64.ln() / rate).abs() < 1e-9);
    }

    #[test]
    fn response_cdf_is_continuous_at_rate_coincidence() {
        // c = 2, μ = 1, λ = 1: cμ − λ = μ, the wait and service rates coincide.
        let at = MmcQueue {
            lambda: 1.0,
            mu: 1.0,
            c: 2,
        };
        let near = MmcQueue {
            lambda: 1.0 + 1e-7,
            ..at
        };
        let c_wait = at.prob_wait();
        for t in [0.0f64, 0.5, 1.0, 3.0, 10.0] {
            let erlang2_tail = (-t).exp() * (1.0 + t);
            let expected = 1.0 - ((1.0 - c_wait) * (-t).exp() + c_wait * erlang2_tail);
            assert!((response_cdf(&at, t) - expected).abs() < 1e-14);
            assert!((response_cdf(&near, t) - expected).abs() < 1e-6);
        }
        let q = at.response_quantile(0.9);
        assert!((response_cdf(&at, q) - 0.9).abs() < 1e-10);
    }

    #[test]
    fn response_cdf_matches_numerical_convolution() {
        // c = 3, λ = 2.5, μ = 1: the wait's rate 0.5 is below μ (the other branch of the
        // hypoexponential); integrate P(S ≤ t − w) against the wait density.
        let q = MmcQueue {
            lambda: 2.5,
            mu: 1.0,
            c: 3,
        };
        let (c_wait, theta) = (q.prob_wait(), 0.5);
        let t = 4.0;
        let steps = 200_000;
        let h = t / steps as f64;
        let integral: f64 = (0..steps)
            .map(|i| {
                let w = (i as f64 + 0.5) * h;
                theta * (-theta * w).exp() * (1.0 - (-(t - w)).exp()) * h
            })
            .sum();
        let expected = (1.0 - c_wait) * (1.0 - (-t).exp()) + c_wait * integral;
        assert!((response_cdf(&q, t) - expected).abs() < 1e-9);
    }

    #[test]
    fn unstable_and_invalid_queues() {
        let q = MmcQueue {
            lambda: 4.0,
            mu: 1.0,
            c: 4,
        };
        assert_eq!(q.utilization(), 1.0);
        assert_eq!(q.prob_wait(), 1.0);
        assert_eq!(q.mean_wait(), f64::INFINITY);
        assert_eq!(q.mean_response(), f64::INFINITY);
        assert_eq!(q.mean_in_system(), f64::INFINITY);
        assert!(q.response_tail(1.0).is_nan());
        assert_eq!(q.response_quantile(0.5), f64::INFINITY);
        let bad = MmcQueue {
            lambda: 1.0,
            mu: 0.0,
            c: 1,
        };
        assert!(bad.mean_wait().is_nan() && bad.response_quantile(0.5).is_nan());
        let no_servers = MmcQueue { c: 0, ..q };
        assert!(no_servers.prob_wait().is_nan() && no_servers.mean_in_system().is_nan());
        assert_eq!(mm1_ps_mean_response(2.0, 1.0), f64::INFINITY);
        assert!(mm1_ps_mean_response(-1.0, 1.0).is_nan());
        assert_eq!(mm1_ps_conditional_response(1.0, 1.0), f64::INFINITY);
        assert_eq!(pollaczek_khinchine_mean_wait(1.0, 1.0, 2.0), f64::INFINITY);
        assert!(fork_join_exponential_mean(3, 0.0).is_nan());
    }

    #[test]
    fn mmc_matches_monte_carlo() {
        // M/M/4 at ρ = 0.8, FIFO, simulated by the Kiefer–Wolfowitz recursion: each arrival
        // goes to the server that frees up first. The sample mean wait is strongly
        // autocorrelated at this load: with 400k customers its relative error has an RMS of
        // about 2.2 % over seeds, so 4M customers (RMS ≈ 0.7 %) make the 3 % check robust.
        let q = MmcQueue {
            lambda: 3.2,
            mu: 1.0,
            c: 4,
        };
        let mut rng = Pcg64Mcg::seed_from_u64(42);
        let inter = Exp::new(q.lambda).unwrap();
        let service = Exp::new(q.mu).unwrap();
        let customers = 4_000_000;
        let mut free_at = [0.0f64; 4];
        let mut now = 0.0;
        let mut wait_sum = 0.0;
        let mut responses = Vec::with_capacity(customers);
        for _ in 0..customers {
            now += inter.sample(&mut rng);
            let (idx, _) = free_at
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .unwrap();
            let start = now.max(free_at[idx]);
            let s: f64 = service.sample(&mut rng);
            free_at[idx] = start + s;
            wait_sum += start - now;
            responses.push(start - now + s);
        }
        let mean_wait = wait_sum / customers as f64;
        let theory_wait = q.mean_wait();
        assert!(
            (mean_wait / theory_wait - 1.0).abs() < 0.03,
            "mean wait {mean_wait} vs {theory_wait}"
        );
        let rank = (0.95 * customers as f64) as usize;
        let (_, &mut p95, _) = responses.select_nth_unstable_by(rank, f64::total_cmp);
        let theory_p95 = q.response_quantile(0.95);
        assert!(
            (p95 / theory_p95 - 1.0).abs() < 0.03,
            "p95 {p95} vs {theory_p95}"
        );
    }

    #[test]
    fn processor_sharing_and_pk() {
        assert!((mm1_ps_mean_response(0.5, 1.0) - 2.0).abs() < 1e-15);
        assert!((mm1_ps_conditional_response(3.0, 0.75) - 12.0).abs() < 1e-12);
        assert_eq!(mm1_ps_conditional_response(0.0, 2.0), 0.0);
        // M/M/1 through P-K: E[S²] = 2/μ² gives ρ/(μ − λ).
        let (lambda, mu) = (0.8, 1.0);
        let mm1 = pollaczek_khinchine_mean_wait(lambda, 1.0 / mu, 2.0 / (mu * mu));
        let mmc = MmcQueue { lambda, mu, c: 1 };
        assert!((mm1 - mmc.mean_wait()).abs() < 1e-12);
        // M/D/1: E[S²] = 1/μ², half the M/M/1 wait.
        let md1 = pollaczek_khinchine_mean_wait(lambda, 1.0 / mu, 1.0 / (mu * mu));
        assert!((md1 - 0.5 * mm1).abs() < 1e-12);
        assert!((md1 - 2.0).abs() < 1e-12);
    }

    #[test]
    fn fork_join_harmonic() {
        assert!((fork_join_exponential_mean(3, 1.0) - 11.0 / 6.0).abs() < 1e-15);
        assert!((fork_join_exponential_mean(3, 1.0) - 1.8333).abs() < 1e-4);
        assert!((fork_join_exponential_mean(1, 2.0) - 0.5).abs() < 1e-15);
        assert_eq!(fork_join_exponential_mean(0, 1.0), 0.0);
        // The asymptotic branch continues the summed one.
        let summed: f64 = (1..=1001).rev().map(|i| 1.0 / i as f64).sum();
        assert!((harmonic(1001) - summed).abs() < 1e-14);
        assert!((harmonic(1000) + 1.0 / 1001.0 - harmonic(1001)).abs() < 1e-14);
    }
}
