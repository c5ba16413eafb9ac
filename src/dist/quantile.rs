//! Quantiles and the CDF of a compiled [`Sampler`]: analytic for every family but
//! mixtures, which are solved by bisection on the CDF.

use statrs::distribution::ContinuousCDF;

use super::Sampler;
use super::sampler::weighted;

/// Standard normal CDF.
pub(super) fn phi_cdf(z: f64) -> f64 {
    0.5 * statrs::function::erf::erfc(-z / std::f64::consts::SQRT_2)
}

/// Standard normal quantile.
fn phi_inv(p: f64) -> f64 {
    -std::f64::consts::SQRT_2 * statrs::function::erf::erfc_inv(2.0 * p)
}

impl Sampler {
    /// The `p`-quantile (smallest x with P(X <= x) >= p); `None` if `p` is not in `[0, 1]`.
    ///
    /// Analytic for all families except mixtures, which are solved numerically.
    pub fn quantile(&self, p: f64) -> Option<f64> {
        if !(0.0..=1.0).contains(&p) {
            return None;
        }
        let q = match self {
            Sampler::Constant(v) => *v,
            Sampler::Uniform { low, width } => low + width * p,
            Sampler::Exponential { mean, .. } => -mean * (-p).ln_1p(),
            Sampler::Normal { mean, sd, .. } => {
                let base = phi_cdf(-mean / sd);
                mean + sd * phi_inv(base + p * (1.0 - base))
            }
            Sampler::Lognormal { mu, sigma, .. } => (mu + sigma * phi_inv(p)).exp(),
            Sampler::Gamma { shape, scale, .. } => statrs::distribution::Gamma::new(*shape, 1.0)
                .map(|g| scale * g.inverse_cdf(p))
                .ok()?,
            Sampler::Weibull { shape, scale, .. } => scale * (-(-p).ln_1p()).powf(1.0 / shape),
            Sampler::Pareto { scale, shape, .. } => scale * (1.0 - p).powf(-1.0 / shape),
            Sampler::Samples(values) => {
                let n = values.len();
                let rank = (p * n as f64 - 1e-9).ceil().max(1.0) as usize;
                values[rank.min(n) - 1]
            }
            Sampler::Quantiles { ps, values } => {
                let i = ps[1..].iter().position(|&x| p < x).unwrap_or(ps.len() - 2);
                let t = (p - ps[i]) / (ps[i + 1] - ps[i]);
                values[i] + t * (values[i + 1] - values[i])
            }
            Sampler::Discrete { values, cum } => {
                let i = cum
                    .iter()
                    .position(|&c| c >= p && c > 0.0)
                    .unwrap_or(cum.len() - 1);
                values[i]
            }
            Sampler::Mixture { cum, parts } => return mixture_quantile(self, cum, parts, p),
            Sampler::Shifted { shift, inner } => shift + inner.quantile(p)?,
        };
        Some(q.max(0.0))
    }

    /// P(X <= x).
    pub fn cdf(&self, x: f64) -> f64 {
        match self {
            Sampler::Constant(v) => f64::from(x >= *v),
            Sampler::Uniform { low, width } => {
                if *width == 0.0 {
                    f64::from(x >= *low)
                } else {
                    ((x - low) / width).clamp(0.0, 1.0)
                }
            }
            Sampler::Exponential { mean, .. } => {
                if x <= 0.0 {
                    0.0
                } else {
                    -(-x / mean).exp_m1()
                }
            }
            Sampler::Normal { mean, sd, .. } => {
                if x < 0.0 {
                    0.0
                } else {
                    let base = phi_cdf(-mean / sd);
                    (phi_cdf((x - mean) / sd) - base) / (1.0 - base)
                }
            }
            Sampler::Lognormal { mu, sigma, .. } => {
                if x <= 0.0 {
                    0.0
                } else {
                    phi_cdf((x.ln() - mu) / sigma)
                }
            }
            Sampler::Gamma { shape, scale, .. } => {
                if x <= 0.0 {
                    0.0
                } else {
                    statrs::function::gamma::gamma_lr(*shape, x / scale)
                }
            }
            Sampler::Weibull { shape, scale, .. } => {
                if x <= 0.0 {
                    0.0
                } else {
                    -(-(x / scale).powf(*shape)).exp_m1()
                }
            }
            Sampler::Pareto { scale, shape, .. } => {
                if x < *scale {
                    0.0
                } else {
                    1.0 - (scale / x).powf(*shape)
                }
            }
            Sampler::Samples(values) => {
                values.partition_point(|v| *v <= x) as f64 / values.len() as f64
            }
            Sampler::Quantiles { ps, values } => {
                if x < values[0] {
                    return 0.0;
                }
                for i in 0..values.len() - 1 {
                    let (v0, v1) = (values[i], values[i + 1]);
                    if x < v1 {
                        return ps[i] + (ps[i + 1] - ps[i]) * (x - v0) / (v1 - v0);
                    }
                }
                1.0
            }
            Sampler::Discrete { values, cum } => match values.partition_point(|v| *v <= x) {
                0 => 0.0,
                n => cum[n - 1],
            },
            Sampler::Mixture { cum, parts } => {
                weighted(cum, parts).map(|(w, s)| w * s.cdf(x)).sum()
            }
            Sampler::Shifted { shift, inner } => inner.cdf(x - shift),
        }
    }
}

/// Quantile of a mixture by bisection on its CDF, bracketed by the components' quantiles.
fn mixture_quantile(mix: &Sampler, cum: &[f64], parts: &[Sampler], p: f64) -> Option<f64> {
    let mut lo = f64::INFINITY;
    let mut hi = 0.0f64;
    for (w, part) in weighted(cum, parts) {
        if w > 0.0 {
            let q = part.quantile(p)?;
            lo = lo.min(q);
            hi = hi.max(q);
        }
    }
    if p == 0.0 || mix.cdf(lo) >= p {
        return Some(lo);
    }
    if p == 1.0 || !hi.is_finite() {
        return Some(hi);
    }
    // Invariant: cdf(lo) < p <= cdf(hi).
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if mix.cdf(mid) >= p {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}
