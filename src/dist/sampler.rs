//! The compiled distribution: drawing values and exact means.

use std::sync::Arc;

use rand::RngExt;
use rand_distr::Distribution;

use super::quantile::phi_cdf;

/// A validated, ready-to-draw distribution. Cheap to clone; drawing does not allocate.
///
/// Build one with [`DistSpec::sampler`] (or write a [`Sampler::Constant`]). All values are
/// in seconds (for durations) or plain counts.
#[derive(Clone, Debug)]
pub enum Sampler {
    /// Always the same value.
    Constant(f64),
    /// Uniform on `[low, low + width)`.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound minus lower bound.
        width: f64,
    },
    /// Exponential.
    Exponential {
        /// The mean.
        mean: f64,
        /// The drawing distribution.
        dist: rand_distr::Exp<f64>,
    },
    /// Normal truncated at 0 by resampling.
    Normal {
        /// Mean before truncation.
        mean: f64,
        /// Standard deviation before truncation.
        sd: f64,
        /// The drawing distribution.
        dist: rand_distr::Normal<f64>,
    },
    /// Lognormal: ln(X) is normal(mu, sigma).
    Lognormal {
        /// Mean of ln(X).
        mu: f64,
        /// Standard deviation of ln(X).
        sigma: f64,
        /// The drawing distribution.
        dist: rand_distr::LogNormal<f64>,
    },
    /// Gamma.
    Gamma {
        /// Shape k.
        shape: f64,
        /// Scale θ.
        scale: f64,
        /// The drawing distribution.
        dist: rand_distr::Gamma<f64>,
    },
    /// Weibull.
    Weibull {
        /// Shape k.
        shape: f64,
        /// Scale λ.
        scale: f64,
        /// The drawing distribution.
        dist: rand_distr::Weibull<f64>,
    },
    /// Pareto.
    Pareto {
        /// Minimum x_m.
        scale: f64,
        /// Tail index α.
        shape: f64,
        /// The drawing distribution.
        dist: rand_distr::Pareto<f64>,
    },
    /// Uniform resampling of these values (sorted ascending).
    Samples(Arc<[f64]>),
    /// Piecewise-linear inverse CDF through `(ps[i], values[i])`, `ps` from 0 to 1.
    Quantiles {
        /// Probabilities, strictly increasing from 0 to 1.
        ps: Arc<[f64]>,
        /// Values at those probabilities, non-decreasing.
        values: Arc<[f64]>,
    },
    /// Values (ascending) with cumulative probabilities (last is 1).
    Discrete {
        /// The values, ascending.
        values: Arc<[f64]>,
        /// Cumulative probabilities, ending at 1.
        cum: Arc<[f64]>,
    },
    /// Components with cumulative weights (last is 1).
    Mixture {
        /// Cumulative weights, ending at 1.
        cum: Arc<[f64]>,
        /// The component samplers.
        parts: Arc<[Sampler]>,
    },
    /// `shift` plus a draw from `inner`.
    Shifted {
        /// Added to every draw.
        shift: f64,
        /// The shifted sampler.
        inner: Arc<Sampler>,
    },
}

/// Index of the first cumulative weight above `u` (the last index if none).
fn pick(cum: &[f64], u: f64) -> usize {
    cum.iter().position(|&c| u < c).unwrap_or(cum.len() - 1)
}

/// Iterates over `(weight, item)` given cumulative weights.
pub(super) fn weighted<'a, T>(
    cum: &'a [f64],
    items: &'a [T],
) -> impl Iterator<Item = (f64, &'a T)> + 'a {
    cum.iter()
        .scan(0.0, |prev, &c| {
            let w = c - *prev;
            *prev = c;
            Some(w)
        })
        .zip(items)
}

impl Sampler {
    /// Draws one value; never negative, never NaN.
    #[inline]
    pub fn sample<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let x = match self {
            Sampler::Constant(v) => *v,
            Sampler::Uniform { low, width } => low + width * rng.random::<f64>(),
            Sampler::Exponential { dist, .. } => dist.sample(rng),
            Sampler::Normal { dist, .. } => (0..100)
                .map(|_| dist.sample(rng))
                .find(|x| *x >= 0.0)
                .unwrap_or(0.0),
            Sampler::Lognormal { dist, .. } => dist.sample(rng),
            Sampler::Gamma { dist, .. } => dist.sample(rng),
            Sampler::Weibull { dist, .. } => dist.sample(rng),
            Sampler::Pareto { dist, .. } => dist.sample(rng),
            Sampler::Samples(values) => values[rng.random_range(0..values.len())],
            Sampler::Quantiles { ps, values } => {
                let u = rng.random::<f64>();
                let i = ps[1..].iter().position(|&p| u < p).unwrap_or(ps.len() - 2);
                let t = (u - ps[i]) / (ps[i + 1] - ps[i]);
                values[i] + t * (values[i + 1] - values[i])
            }
            Sampler::Discrete { values, cum } => values[pick(cum, rng.random::<f64>())],
            Sampler::Mixture { cum, parts } => parts[pick(cum, rng.random::<f64>())].sample(rng),
            Sampler::Shifted { shift, inner } => shift + inner.sample(rng),
        };
        // `max` also maps NaN to 0.
        x.max(0.0)
    }

    /// The mean (exact); `f64::INFINITY` for a Pareto with shape <= 1.
    pub fn mean(&self) -> f64 {
        match self {
            Sampler::Constant(v) => *v,
            Sampler::Uniform { low, width } => low + width / 2.0,
            Sampler::Exponential { mean, .. } => *mean,
            Sampler::Normal { mean, sd, .. } => {
                let a = -mean / sd;
                let pdf = (-0.5 * a * a).exp() / (2.0 * std::f64::consts::PI).sqrt();
                mean + sd * pdf / (1.0 - phi_cdf(a))
            }
            Sampler::Lognormal { mu, sigma, .. } => (mu + sigma * sigma / 2.0).exp(),
            Sampler::Gamma { shape, scale, .. } => shape * scale,
            Sampler::Weibull { shape, scale, .. } => {
                scale * statrs::function::gamma::gamma(1.0 + 1.0 / shape)
            }
            Sampler::Pareto { scale, shape, .. } => {
                if *shape <= 1.0 {
                    f64::INFINITY
                } else {
                    shape * scale / (shape - 1.0)
                }
            }
            Sampler::Samples(values) => values.iter().sum::<f64>() / values.len() as f64,
            Sampler::Quantiles { ps, values } => ps
                .windows(2)
                .zip(values.windows(2))
                .map(|(p, v)| (p[1] - p[0]) * (v[0] + v[1]) / 2.0)
                .sum(),
            Sampler::Discrete { values, cum } => weighted(cum, values).map(|(w, v)| w * v).sum(),
            Sampler::Mixture { cum, parts } => weighted(cum, parts)
                .filter(|(w, _)| *w > 0.0)
                .map(|(w, s)| w * s.mean())
                .sum(),
            Sampler::Shifted { shift, inner } => shift + inner.mean(),
        }
    }
}
