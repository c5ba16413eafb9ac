//! Distribution fitting by maximum likelihood and selection by goodness of fit.
//!
//! Families (all on x > 0): lognormal (closed form: μ and σ are the mean and the standard
//! deviation, divided by n, of ln x); gamma (the shape k solves ln k − ψ(k) = ln x̄ − mean ln x,
//! by Newton's method kept inside a bracket; scale = x̄ / k); Weibull (the shape k solves the
//! profile-likelihood equation Σ xᵏ ln x / Σ xᵏ − 1/k − mean ln x = 0, the same way; scale =
//! (mean xᵏ)^(1/k)). The family with the smallest Kolmogorov-Smirnov statistic D is chosen.
//! When fewer than [`MIN_SAMPLES`] samples exist, a sample is ≤ 0, or the chosen family's KS
//! p-value is below [`MIN_P_VALUE`], the fit falls back to the empirical quantiles. The p-value
//! uses Kolmogorov's limiting distribution with parameters estimated from the same data, so it
//! is optimistic (Lilliefors): a family that fails it fits poorly indeed.

use statrs::distribution::{ContinuousCDF, Gamma, LogNormal, Weibull};
use statrs::function::gamma::digamma;

/// Fewer samples than this are described by their quantiles, not by a family.
pub const MIN_SAMPLES: usize = 20;
/// A chosen family whose KS p-value is below this gives way to the empirical quantiles.
pub const MIN_P_VALUE: f64 = 0.01;
/// The probabilities at which an empirical fallback keeps the measured quantiles.
pub const EMPIRICAL_POINTS: [f64; 14] = [
    0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0,
];

/// A parametric family with its maximum-likelihood parameters (in seconds or counts).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Family {
    /// ln x ~ Normal(mu, sigma).
    LogNormal {
        /// Mean of ln x.
        mu: f64,
        /// Standard deviation of ln x.
        sigma: f64,
    },
    /// Gamma with shape k and scale θ (mean kθ).
    Gamma {
        /// Shape k.
        shape: f64,
        /// Scale θ.
        scale: f64,
    },
    /// Weibull: P(X > x) = exp(−(x/scale)^shape).
    Weibull {
        /// Shape k.
        shape: f64,
        /// Scale λ.
        scale: f64,
    },
}

impl Family {
    fn distribution(&self) -> Box<dyn ContinuousCDF<f64, f64>> {
        // Parameters come from the fits below, which only return finite positive values.
        match *self {
            Family::LogNormal { mu, sigma } => {
                Box::new(LogNormal::new(mu, sigma).expect("fitted lognormal parameters"))
            }
            Family::Gamma { shape, scale } => {
                Box::new(Gamma::new(shape, 1.0 / scale).expect("fitted gamma parameters"))
            }
            Family::Weibull { shape, scale } => {
                Box::new(Weibull::new(shape, scale).expect("fitted Weibull parameters"))
            }
        }
    }

    /// P(X ≤ x).
    pub fn cdf(&self, x: f64) -> f64 {
        self.distribution().cdf(x)
    }

    /// The p-quantile.
    pub fn quantile(&self, p: f64) -> f64 {
        match *self {
            // Closed forms where they exist; statrs' generic inverse for the gamma.
            Family::LogNormal { .. } | Family::Gamma { .. } => self.distribution().inverse_cdf(p),
            Family::Weibull { shape, scale } => scale * (-(1.0 - p).ln()).powf(1.0 / shape),
        }
    }
}

/// A fitted description of one quantity.
#[derive(Clone, Debug, PartialEq)]
pub enum Fitted {
    /// A parametric family.
    Family(Family),
    /// Measured quantiles `[p, value]` of a piecewise-linear inverse CDF.
    Empirical(Vec<(f64, f64)>),
    /// Every sample had this value.
    Constant(f64),
    /// `[value, weight]` pairs of a small count (LLM calls per agent run).
    Discrete(Vec<(f64, f64)>),
}

/// A fit with its evidence.
#[derive(Clone, Debug, PartialEq)]
pub struct Fit {
    /// The description chosen.
    pub fitted: Fitted,
    /// Samples used.
    pub n: usize,
    /// KS statistic of the chosen family, or of the best family when it was rejected.
    pub ks: Option<f64>,
    /// Measured median and 95th percentile.
    pub measured: (f64, f64),
    /// The fitted description's median and 95th percentile.
    pub predicted: (f64, f64),
    /// Why the empirical fallback was taken, if it was.
    pub fallback: Option<String>,
}

/// The p-quantile of sorted samples by linear interpolation between order statistics.
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = p * (sorted.len() - 1) as f64;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Lognormal by maximum likelihood (closed form).
pub fn fit_lognormal(xs: &[f64]) -> Option<Family> {
    let logs: Vec<f64> = xs.iter().map(|x| x.ln()).collect();
    let mu = mean(&logs);
    let sigma = (logs.iter().map(|l| (l - mu).powi(2)).sum::<f64>() / xs.len() as f64).sqrt();
    (mu.is_finite() && sigma > 0.0 && sigma.is_finite()).then_some(Family::LogNormal { mu, sigma })
}

/// The root of a monotone `f` between `lo` and `hi` (f(lo), f(hi) of opposite signs), by
/// Newton's method with a numerical derivative, falling back to bisection whenever a step
/// would leave the bracket.
fn bracketed_root(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> Option<f64> {
    let rising = f(hi) > f(lo);
    let mut x = 0.5 * (lo + hi);
    for _ in 0..200 {
        let fx = f(x);
        if !fx.is_finite() {
            return None;
        }
        if (fx > 0.0) == rising {
            hi = x;
        } else {
            lo = x;
        }
        let h = 1e-6 * x;
        let slope = (f(x + h) - f(x - h)) / (2.0 * h);
        let newton = x - fx / slope;
        let next = if newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if (next - x).abs() <= 1e-12 * x || hi - lo <= 1e-12 * x {
            return Some(next);
        }
        x = next;
    }
    Some(x)
}

/// Widens `[lo, hi]` geometrically around 1 until `f` changes sign across it.
fn bracket(f: &impl Fn(f64) -> f64) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (0.5, 2.0);
    for _ in 0..60 {
        let (a, b) = (f(lo), f(hi));
        if a.is_finite() && b.is_finite() && (a > 0.0) != (b > 0.0) {
            return Some((lo, hi));
        }
        lo /= 2.0;
        hi *= 2.0;
    }
    None
}

/// Gamma by maximum likelihood: Newton on ln k − ψ(k) = ln x̄ − mean ln x.
pub fn fit_gamma(xs: &[f64]) -> Option<Family> {
    let m = mean(xs);
    let s = m.ln() - xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len() as f64;
    if !(s > 0.0 && s.is_finite()) {
        return None;
    }
    let f = |k: f64| k.ln() - digamma(k) - s;
    let (lo, hi) = bracket(&f)?;
    let shape = bracketed_root(f, lo, hi)?;
    (shape > 0.0 && shape.is_finite()).then_some(Family::Gamma {
        shape,
        scale: m / shape,
    })
}

/// Weibull by maximum likelihood: the shape from the profile-likelihood equation, samples
/// scaled by their maximum so that xᵏ cannot overflow.
pub fn fit_weibull(xs: &[f64]) -> Option<Family> {
    let top = xs.iter().copied().fold(f64::MIN, f64::max);
    let ys: Vec<(f64, f64)> = xs.iter().map(|x| (x / top, (x / top).ln())).collect();
    let mean_log = ys.iter().map(|(_, l)| l).sum::<f64>() / ys.len() as f64;
    let g = |k: f64| {
        let (mut sum, mut weighted) = (0.0, 0.0);
        for (y, l) in &ys {
            let p = y.powf(k);
            sum += p;
            weighted += p * l;
        }
        weighted / sum - 1.0 / k - mean_log
    };
    let (lo, hi) = bracket(&g)?;
    let shape = bracketed_root(g, lo, hi)?;
    let scale = top
        * (ys.iter().map(|(y, _)| y.powf(shape)).sum::<f64>() / ys.len() as f64).powf(1.0 / shape);
    (shape > 0.0 && scale > 0.0 && scale.is_finite()).then_some(Family::Weibull { shape, scale })
}

/// The Kolmogorov-Smirnov statistic of sorted samples against a CDF.
pub fn ks_statistic(sorted: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let n = sorted.len() as f64;
    sorted
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = cdf(x);
            (f - i as f64 / n).max((i + 1) as f64 / n - f)
        })
        .fold(0.0, f64::max)
}

/// P(D ≥ d) for n samples, from Kolmogorov's limiting distribution with Stephens' small-n
/// correction: Q(λ) = 2 Σ (−1)^(j−1) exp(−2 j² λ²), λ = (√n + 0.12 + 0.11/√n) d.
pub fn ks_p_value(d: f64, n: usize) -> f64 {
    let root = (n as f64).sqrt();
    let lambda = (root + 0.12 + 0.11 / root) * d;
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for j in 1..=100 {
        let term = (-2.0 * (j * j) as f64 * lambda * lambda).exp();
        sum += if j % 2 == 1 { term } else { -term };
        if term < 1e-12 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

fn empirical_points(sorted: &[f64]) -> Vec<(f64, f64)> {
    EMPIRICAL_POINTS
        .iter()
        .map(|&p| (p, quantile(sorted, p)))
        .collect()
}

/// Fits the three families to `samples` and keeps the best by KS, or falls back to the
/// empirical quantiles (see the module comment). `None` for no samples.
pub fn select(samples: &[f64]) -> Option<Fit> {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let measured = (quantile(&sorted, 0.5), quantile(&sorted, 0.95));
    let constant = sorted[0] == sorted[n - 1];
    let empirical = |fallback: String, ks: Option<f64>| Fit {
        fitted: Fitted::Empirical(empirical_points(&sorted)),
        n,
        ks,
        measured,
        predicted: measured,
        fallback: Some(fallback),
    };
    if constant {
        return Some(Fit {
            fitted: Fitted::Constant(sorted[0]),
            n,
            ks: Some(0.0),
            measured,
            predicted: measured,
            fallback: None,
        });
    }
    if n < MIN_SAMPLES {
        return Some(empirical(format!("fewer than {MIN_SAMPLES} samples"), None));
    }
    if sorted[0] <= 0.0 {
        return Some(empirical("samples ≤ 0".to_string(), None));
    }
    let best = [
        fit_lognormal(&sorted),
        fit_gamma(&sorted),
        fit_weibull(&sorted),
    ]
    .into_iter()
    .flatten()
    .map(|family| (family, ks_statistic(&sorted, |x| family.cdf(x))))
    .min_by(|a, b| a.1.total_cmp(&b.1));
    let Some((family, d)) = best else {
        return Some(empirical("no family could be fitted".to_string(), None));
    };
    let p = ks_p_value(d, n);
    if p < MIN_P_VALUE {
        return Some(empirical(
            format!("best family's KS p-value {p:.2e} < {MIN_P_VALUE}"),
            Some(d),
        ));
    }
    Some(Fit {
        fitted: Fitted::Family(family),
        n,
        ks: Some(d),
        measured,
        predicted: (family.quantile(0.5), family.quantile(0.95)),
        fallback: None,
    })
}

/// Relative frequencies of small counts, as `[value, weight]` pairs. `None` for no samples.
pub fn discrete(counts: &[u32]) -> Option<Fit> {
    let mut sorted: Vec<f64> = counts.iter().map(|&c| f64::from(c)).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let mut pairs: Vec<(f64, f64)> = Vec::new();
    for &v in &sorted {
        match pairs.last_mut() {
            Some((value, count)) if *value == v => *count += 1.0,
            _ => pairs.push((v, 1.0)),
        }
    }
    for pair in &mut pairs {
        pair.1 /= n as f64;
    }
    let measured = (quantile(&sorted, 0.5), quantile(&sorted, 0.95));
    Some(Fit {
        fitted: Fitted::Discrete(pairs),
        n,
        ks: None,
        measured,
        predicted: measured,
        fallback: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::Distribution;

    fn draw(dist: impl Distribution<f64>, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
        (0..n).map(|_| dist.sample(&mut rng)).collect()
    }

    fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
        ((actual - expected) / expected).abs() < tolerance
    }

    // Tolerances: with 5,000 samples the MLEs' relative standard errors are about 1-2 %, so
    // 5 % is more than 2.5 standard errors for every parameter below.
    const N: usize = 5000;
    const TOLERANCE: f64 = 0.05;

    #[test]
    fn lognormal_parameters_are_recovered() {
        let xs = draw(rand_distr::LogNormal::new(-0.7, 0.4).unwrap(), N, 1);
        let Some(Family::LogNormal { mu, sigma }) = fit_lognormal(&xs) else {
            panic!("no lognormal fit");
        };
        assert!(close(mu, -0.7, TOLERANCE), "mu {mu}");
        assert!(close(sigma, 0.4, TOLERANCE), "sigma {sigma}");
    }

    #[test]
    fn gamma_parameters_are_recovered() {
        let xs = draw(rand_distr::Gamma::new(3.0, 0.2).unwrap(), N, 2);
        let Some(Family::Gamma { shape, scale }) = fit_gamma(&xs) else {
            panic!("no gamma fit");
        };
        assert!(close(shape, 3.0, TOLERANCE), "shape {shape}");
        assert!(close(scale, 0.2, TOLERANCE), "scale {scale}");
    }

    #[test]
    fn weibull_parameters_are_recovered() {
        // rand_distr's Weibull takes (scale, shape).
        let xs = draw(rand_distr::Weibull::new(1.5, 2.5).unwrap(), N, 3);
        let Some(Family::Weibull { shape, scale }) = fit_weibull(&xs) else {
            panic!("no Weibull fit");
        };
        assert!(close(shape, 2.5, TOLERANCE), "shape {shape}");
        assert!(close(scale, 1.5, TOLERANCE), "scale {scale}");
    }

    #[test]
    fn ks_selection_picks_the_family_the_samples_came_from() {
        type IsFamily = fn(&Fitted) -> bool;
        let cases: [(Vec<f64>, IsFamily); 3] = [
            (
                draw(rand_distr::LogNormal::new(0.0, 1.0).unwrap(), N, 4),
                |f| matches!(f, Fitted::Family(Family::LogNormal { .. })),
            ),
            (draw(rand_distr::Gamma::new(0.5, 2.0).unwrap(), N, 5), |f| {
                matches!(f, Fitted::Family(Family::Gamma { .. }))
            }),
            (
                draw(rand_distr::Weibull::new(1.0, 4.0).unwrap(), N, 6),
                |f| matches!(f, Fitted::Family(Family::Weibull { .. })),
            ),
        ];
        for (xs, is_right) in cases {
            let fit = select(&xs).unwrap();
            assert!(is_right(&fit.fitted), "picked {:?}", fit.fitted);
            assert!(fit.fallback.is_none());
            assert!(close(fit.predicted.1, fit.measured.1, 0.05), "{fit:?}");
        }
    }

    #[test]
    fn bimodal_samples_fall_back_to_their_quantiles() {
        let mut xs = draw(rand_distr::LogNormal::new(-2.0, 0.1).unwrap(), N / 2, 7);
        xs.extend(draw(
            rand_distr::LogNormal::new(1.0, 0.1).unwrap(),
            N / 2,
            8,
        ));
        let fit = select(&xs).unwrap();
        let Fitted::Empirical(points) = &fit.fitted else {
            panic!("expected the empirical fallback, got {:?}", fit.fitted);
        };
        assert!(fit.fallback.as_deref().unwrap().contains("p-value"));
        assert_eq!(points.first().unwrap().0, 0.0);
        assert_eq!(points.last().unwrap().0, 1.0);
        assert_eq!(fit.predicted, fit.measured);
    }

    #[test]
    fn few_samples_or_zeros_fall_back_and_equal_samples_are_a_constant() {
        let few = select(&[1.0, 2.0, 3.0]).unwrap();
        assert!(matches!(few.fitted, Fitted::Empirical(_)));
        assert!(few.fallback.unwrap().contains("fewer than"));
        let mut zeros = draw(rand_distr::Exp::new(1.0).unwrap(), 100, 9);
        zeros[0] = 0.0;
        assert!(matches!(
            select(&zeros).unwrap().fitted,
            Fitted::Empirical(_)
        ));
        assert_eq!(select(&[2.0; 30]).unwrap().fitted, Fitted::Constant(2.0));
        assert!(select(&[]).is_none());
    }

    #[test]
    fn ks_p_value_matches_kolmogorovs_table() {
        // The 5 % critical value of Kolmogorov's distribution is λ = 1.3581.
        let n = 10_000;
        let root = (n as f64).sqrt();
        let d = 1.3581 / (root + 0.12 + 0.11 / root);
        assert!((ks_p_value(d, n) - 0.05).abs() < 1e-3);
        assert_eq!(ks_p_value(0.0, n), 1.0);
    }

    #[test]
    fn discrete_counts_become_frequencies() {
        let fit = discrete(&[1, 1, 2, 1]).unwrap();
        assert_eq!(fit.fitted, Fitted::Discrete(vec![(1.0, 0.75), (2.0, 0.25)]));
    }
}
