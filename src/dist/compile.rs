//! Validation and compilation: a [`DistSpec`] checked parameter by parameter and
//! turned into a [`Sampler`]. Errors name the family and the bad parameter.

use std::fmt;
use std::sync::Arc;

use super::error::{Bound, DistError};
use super::{DistSpec, DistValue, EmpiricalSpec, LognormalSpec, Sampler};

/// z such that Φ(z) = 0.95.
const Z95: f64 = 1.6448536269514722;

/// Checks that `x` (shown as `shown`) is finite and within `bound`.
fn check(
    family: &'static str,
    name: &str,
    x: f64,
    shown: &dyn fmt::Display,
    bound: Bound,
) -> Result<f64, DistError> {
    let ok = x.is_finite() && (x > 0.0 || (bound == Bound::NonNegative && x == 0.0));
    if ok {
        Ok(x)
    } else {
        Err(DistError::OutOfRange {
            family,
            param: name.to_string(),
            bound,
            got: shown.to_string(),
        })
    }
}

fn positive<V: DistValue>(family: &'static str, name: &str, v: V) -> Result<f64, DistError> {
    check(family, name, v.value(), &v, Bound::Positive)
}

fn non_negative<V: DistValue>(family: &'static str, name: &str, v: V) -> Result<f64, DistError> {
    check(family, name, v.value(), &v, Bound::NonNegative)
}

fn positive_param(family: &'static str, name: &str, x: f64) -> Result<f64, DistError> {
    check(family, name, x, &x, Bound::Positive)
}

/// Normalised cumulative weights (last exactly 1), after checking each weight.
fn cumulative(
    family: &'static str,
    weights: impl Iterator<Item = f64>,
) -> Result<Arc<[f64]>, DistError> {
    let mut cum = Vec::new();
    let mut total = 0.0;
    for (i, w) in weights.enumerate() {
        check(
            family,
            &format!("weight {}", i + 1),
            w,
            &w,
            Bound::NonNegative,
        )?;
        total += w;
        cum.push(total);
    }
    if cum.is_empty() {
        return Err(DistError::Empty { family });
    }
    if total <= 0.0 || !total.is_finite() {
        return Err(DistError::ZeroWeights { family });
    }
    for c in &mut cum {
        *c /= total;
    }
    if let Some(last) = cum.last_mut() {
        *last = 1.0;
    }
    Ok(cum.into())
}

impl<V: DistValue> DistSpec<V> {
    /// Validates the parameters and builds a sampler. The error names the family
    /// and the bad parameter.
    pub fn sampler(&self) -> Result<Sampler, DistError> {
        match self {
            DistSpec::Constant(v) => Ok(Sampler::Constant(non_negative("constant", "value", *v)?)),
            DistSpec::Uniform([a, b]) => {
                let low = non_negative("uniform", "lower bound", *a)?;
                let high = non_negative("uniform", "upper bound", *b)?;
                if high < low {
                    return Err(DistError::inconsistent(
                        "uniform",
                        format!("upper bound ({b}) must not be below lower bound ({a})"),
                    ));
                }
                Ok(Sampler::Uniform {
                    low,
                    width: high - low,
                })
            }
            DistSpec::Exponential { mean } => {
                let mean = positive("exponential", "mean", *mean)?;
                let dist = rand_distr::Exp::new(1.0 / mean)
                    .map_err(|e| DistError::inconsistent("exponential", e.to_string()))?;
                Ok(Sampler::Exponential { mean, dist })
            }
            DistSpec::Normal { mean, sd } => {
                let mean = non_negative("normal", "mean", *mean)?;
                let sd = positive("normal", "sd", *sd)?;
                let dist = rand_distr::Normal::new(mean, sd)
                    .map_err(|e| DistError::inconsistent("normal", e.to_string()))?;
                Ok(Sampler::Normal { mean, sd, dist })
            }
            DistSpec::Lognormal(spec) => {
                let (mu, sigma) = match *spec {
                    LognormalSpec::MedianP95 { median, p95 } => {
                        let m = positive("lognormal", "median", median)?;
                        let q = positive("lognormal", "p95", p95)?;
                        if q <= m {
                            return Err(DistError::inconsistent(
                                "lognormal",
                                format!("p95 ({p95}) must be greater than median ({median})"),
                            ));
                        }
                        (m.ln(), (q.ln() - m.ln()) / Z95)
                    }
                    LognormalSpec::MuSigma { mu, sigma } => {
                        if !mu.is_finite() {
                            return Err(DistError::inconsistent(
                                "lognormal",
                                format!("mu must be a finite number (got {mu})"),
                            ));
                        }
                        (mu, positive_param("lognormal", "sigma", sigma)?)
                    }
                    LognormalSpec::MeanCv { mean, cv } => {
                        let m = positive("lognormal", "mean", mean)?;
                        let cv = positive_param("lognormal", "cv", cv)?;
                        let s2 = cv.mul_add(cv, 1.0).ln();
                        (m.ln() - s2 / 2.0, s2.sqrt())
                    }
                };
                let dist = rand_distr::LogNormal::new(mu, sigma)
                    .map_err(|e| DistError::inconsistent("lognormal", e.to_string()))?;
                Ok(Sampler::Lognormal { mu, sigma, dist })
            }
            DistSpec::Gamma { shape, scale } => {
                let shape = positive_param("gamma", "shape", *shape)?;
                let scale = positive("gamma", "scale", *scale)?;
                let dist = rand_distr::Gamma::new(shape, scale)
                    .map_err(|e| DistError::inconsistent("gamma", e.to_string()))?;
                Ok(Sampler::Gamma { shape, scale, dist })
            }
            DistSpec::Weibull { shape, scale } => {
                let shape = positive_param("weibull", "shape", *shape)?;
                let scale = positive("weibull", "scale", *scale)?;
                let dist = rand_distr::Weibull::new(scale, shape)
                    .map_err(|e| DistError::inconsistent("weibull", e.to_string()))?;
                Ok(Sampler::Weibull { shape, scale, dist })
            }
            DistSpec::Pareto { scale, shape } => {
                let scale = positive("pareto", "scale", *scale)?;
                let shape = positive_param("pareto", "shape", *shape)?;
                let dist = rand_distr::Pareto::new(scale, shape)
                    .map_err(|e| DistError::inconsistent("pareto", e.to_string()))?;
                Ok(Sampler::Pareto { scale, shape, dist })
            }
            DistSpec::Empirical(EmpiricalSpec::Samples(samples)) => {
                if samples.is_empty() {
                    return Err(DistError::inconsistent(
                        "empirical",
                        "samples must not be empty",
                    ));
                }
                let mut sorted = samples
                    .iter()
                    .enumerate()
                    .map(|(i, v)| non_negative("empirical", &format!("sample {}", i + 1), *v))
                    .collect::<Result<Vec<f64>, DistError>>()?;
                sorted.sort_by(f64::total_cmp);
                Ok(Sampler::Samples(sorted.into()))
            }
            DistSpec::Empirical(EmpiricalSpec::Quantiles(table)) => quantile_table(table),
            DistSpec::Discrete(pairs) => {
                let mut sorted = pairs
                    .iter()
                    .enumerate()
                    .map(|(i, (v, w))| {
                        Ok((
                            non_negative("discrete", &format!("value {}", i + 1), *v)?,
                            *w,
                        ))
                    })
                    .collect::<Result<Vec<(f64, f64)>, DistError>>()?;
                sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
                let cum = cumulative("discrete", sorted.iter().map(|p| p.1))?;
                let values = sorted.iter().map(|p| p.0).collect();
                Ok(Sampler::Discrete { values, cum })
            }
            DistSpec::Mixture(components) => {
                let cum = cumulative("mixture", components.iter().map(|c| c.weight))?;
                let parts = components
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        c.dist.sampler().map_err(|e| DistError::MixtureComponent {
                            index: i + 1,
                            source: Box::new(e),
                        })
                    })
                    .collect::<Result<Vec<Sampler>, DistError>>()?;
                Ok(Sampler::Mixture {
                    cum,
                    parts: parts.into(),
                })
            }
            DistSpec::Shifted { shift, dist } => {
                let shift = non_negative("shifted", "shift", *shift)?;
                let inner = dist.sampler().map_err(|e| DistError::Shifted {
                    source: Box::new(e),
                })?;
                Ok(Sampler::Shifted {
                    shift,
                    inner: Arc::new(inner),
                })
            }
        }
    }
}

fn quantile_table<V: DistValue>(table: &[(f64, V)]) -> Result<Sampler, DistError> {
    const F: &str = "empirical";
    if table.len() < 2 {
        return Err(DistError::inconsistent(
            F,
            "a quantile table needs at least two [p, value] points, from p = 0 to p = 1",
        ));
    }
    let (first, last) = (table[0].0, table[table.len() - 1].0);
    if first != 0.0 {
        return Err(DistError::inconsistent(
            F,
            format!("the quantile table must start at p = 0 (starts at {first})"),
        ));
    }
    if last != 1.0 {
        return Err(DistError::inconsistent(
            F,
            format!("the quantile table must end at p = 1 (ends at {last})"),
        ));
    }
    let mut ps = Vec::with_capacity(table.len());
    let mut values = Vec::with_capacity(table.len());
    for (i, (p, v)) in table.iter().enumerate() {
        let x = non_negative(F, &format!("value at p = {p}"), *v)?;
        if let (Some(&prev_p), Some(&prev_x)) = (ps.last(), values.last()) {
            if p.partial_cmp(&prev_p) != Some(std::cmp::Ordering::Greater) {
                return Err(DistError::inconsistent(
                    F,
                    format!(
                        "quantile probabilities must increase (entry {}: p = {p} after p = {prev_p})",
                        i + 1
                    ),
                ));
            }
            if x < prev_x {
                return Err(DistError::inconsistent(
                    F,
                    format!(
                        "quantile values must not decrease (entry {}: {v} at p = {p} is below the previous value)",
                        i + 1
                    ),
                ));
            }
        }
        ps.push(*p);
        values.push(x);
    }
    Ok(Sampler::Quantiles {
        ps: ps.into(),
        values: values.into(),
    })
}
