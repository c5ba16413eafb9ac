//! Validation and compilation: a [`DistSpec`] checked parameter by parameter and
//! turned into a [`Sampler`]. Errors name the family and the bad parameter.

use std::fmt;
use std::sync::Arc;

use super::{DistSpec, DistValue, EmpiricalSpec, LognormalSpec, Sampler};

/// z such that Φ(z) = 0.95.
const Z95: f64 = 1.6448536269514722;

/// Checks that `x` (shown as `shown`) is finite and `> 0`, or `>= 0` if `allow_zero`.
fn check(
    family: &str,
    name: &str,
    x: f64,
    shown: &dyn fmt::Display,
    allow_zero: bool,
) -> Result<f64, String> {
    let ok = x.is_finite() && (x > 0.0 || (allow_zero && x == 0.0));
    if ok {
        Ok(x)
    } else {
        let bound = if allow_zero { ">= 0" } else { "> 0" };
        Err(format!("{family}: {name} must be {bound} (got {shown})"))
    }
}

fn positive<V: DistValue>(family: &str, name: &str, v: V) -> Result<f64, String> {
    check(family, name, v.value(), &v, false)
}

fn non_negative<V: DistValue>(family: &str, name: &str, v: V) -> Result<f64, String> {
    check(family, name, v.value(), &v, true)
}

fn positive_param(family: &str, name: &str, x: f64) -> Result<f64, String> {
    check(family, name, x, &x, false)
}

/// Normalised cumulative weights (last exactly 1), after checking each weight.
fn cumulative(family: &str, weights: impl Iterator<Item = f64>) -> Result<Arc<[f64]>, String> {
    let mut cum = Vec::new();
    let mut total = 0.0;
    for (i, w) in weights.enumerate() {
        check(family, &format!("weight {}", i + 1), w, &w, true)?;
        total += w;
        cum.push(total);
    }
    if cum.is_empty() {
        return Err(format!("{family}: needs at least one entry"));
    }
    if total <= 0.0 || !total.is_finite() {
        return Err(format!("{family}: weights must sum to more than 0"));
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
    pub fn sampler(&self) -> Result<Sampler, String> {
        match self {
            DistSpec::Constant(v) => Ok(Sampler::Constant(non_negative("constant", "value", *v)?)),
            DistSpec::Uniform([a, b]) => {
                let low = non_negative("uniform", "lower bound", *a)?;
                let high = non_negative("uniform", "upper bound", *b)?;
                if high < low {
                    return Err(format!(
                        "uniform: upper bound ({b}) must not be below lower bound ({a})"
                    ));
                }
                Ok(Sampler::Uniform {
                    low,
                    width: high - low,
                })
            }
            DistSpec::Exponential { mean } => {
                let mean = positive("exponential", "mean", *mean)?;
                let dist =
                    rand_distr::Exp::new(1.0 / mean).map_err(|e| format!("exponential: {e}"))?;
                Ok(Sampler::Exponential { mean, dist })
            }
            DistSpec::Normal { mean, sd } => {
                let mean = non_negative("normal", "mean", *mean)?;
                let sd = positive("normal", "sd", *sd)?;
                let dist = rand_distr::Normal::new(mean, sd).map_err(|e| format!("normal: {e}"))?;
                Ok(Sampler::Normal { mean, sd, dist })
            }
            DistSpec::Lognormal(spec) => {
                let (mu, sigma) = match *spec {
                    LognormalSpec::MedianP95 { median, p95 } => {
                        let m = positive("lognormal", "median", median)?;
                        let q = positive("lognormal", "p95", p95)?;
                        if q <= m {
                            return Err(format!(
                                "lognormal: p95 ({p95}) must be greater than median ({median})"
                            ));
                        }
                        (m.ln(), (q.ln() - m.ln()) / Z95)
                    }
                    LognormalSpec::MuSigma { mu, sigma } => {
                        if !mu.is_finite() {
                            return Err(format!(
                                "lognormal: mu must be a finite number (got {mu})"
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
                let dist =
                    rand_distr::LogNormal::new(mu, sigma).map_err(|e| format!("lognormal: {e}"))?;
                Ok(Sampler::Lognormal { mu, sigma, dist })
            }
            DistSpec::Gamma { shape, scale } => {
                let shape = positive_param("gamma", "shape", *shape)?;
                let scale = positive("gamma", "scale", *scale)?;
                let dist =
                    rand_distr::Gamma::new(shape, scale).map_err(|e| format!("gamma: {e}"))?;
                Ok(Sampler::Gamma { shape, scale, dist })
            }
            DistSpec::Weibull { shape, scale } => {
                let shape = positive_param("weibull", "shape", *shape)?;
                let scale = positive("weibull", "scale", *scale)?;
                let dist =
                    rand_distr::Weibull::new(scale, shape).map_err(|e| format!("weibull: {e}"))?;
                Ok(Sampler::Weibull { shape, scale, dist })
            }
            DistSpec::Pareto { scale, shape } => {
                let scale = positive("pareto", "scale", *scale)?;
                let shape = positive_param("pareto", "shape", *shape)?;
                let dist =
                    rand_distr::Pareto::new(scale, shape).map_err(|e| format!("pareto: {e}"))?;
                Ok(Sampler::Pareto { scale, shape, dist })
            }
            DistSpec::Empirical(EmpiricalSpec::Samples(samples)) => {
                if samples.is_empty() {
                    return Err("empirical: samples must not be empty".to_string());
                }
                let mut sorted = samples
                    .iter()
                    .enumerate()
                    .map(|(i, v)| non_negative("empirical", &format!("sample {}", i + 1), *v))
                    .collect::<Result<Vec<f64>, String>>()?;
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
                    .collect::<Result<Vec<(f64, f64)>, String>>()?;
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
                        c.dist
                            .sampler()
                            .map_err(|e| format!("mixture component {}: {e}", i + 1))
                    })
                    .collect::<Result<Vec<Sampler>, String>>()?;
                Ok(Sampler::Mixture {
                    cum,
                    parts: parts.into(),
                })
            }
            DistSpec::Shifted { shift, dist } => {
                let shift = non_negative("shifted", "shift", *shift)?;
                let inner = dist.sampler().map_err(|e| format!("shifted: {e}"))?;
                Ok(Sampler::Shifted {
                    shift,
                    inner: Arc::new(inner),
                })
            }
        }
    }
}

fn quantile_table<V: DistValue>(table: &[(f64, V)]) -> Result<Sampler, String> {
    const F: &str = "empirical";
    if table.len() < 2 {
        return Err(format!(
            "{F}: a quantile table needs at least two [p, value] points, from p = 0 to p = 1"
        ));
    }
    let (first, last) = (table[0].0, table[table.len() - 1].0);
    if first != 0.0 {
        return Err(format!(
            "{F}: the quantile table must start at p = 0 (starts at {first})"
        ));
    }
    if last != 1.0 {
        return Err(format!(
            "{F}: the quantile table must end at p = 1 (ends at {last})"
        ));
    }
    let mut ps = Vec::with_capacity(table.len());
    let mut values = Vec::with_capacity(table.len());
    for (i, (p, v)) in table.iter().enumerate() {
        let x = non_negative(F, &format!("value at p = {p}"), *v)?;
        if let (Some(&prev_p), Some(&prev_x)) = (ps.last(), values.last()) {
            if p.partial_cmp(&prev_p) != Some(std::cmp::Ordering::Greater) {
                return Err(format!(
                    "{F}: quantile probabilities must increase (entry {}: p = {p} after p = {prev_p})",
                    i + 1
                ));
            }
            if x < prev_x {
                return Err(format!(
                    "{F}: quantile values must not decrease (entry {}: {v} at p = {p} is below the previous value)",
                    i + 1
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
