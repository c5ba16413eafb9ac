//! Distribution specs as written in model files, and validated samplers.
//!
//! A [`DistSpec`] is generic over how its values are written: [`Seconds`]
//! (durations with units, `250ms`) or [`Count`] (plain numbers, `400`). In YAML a
//! distribution is either a bare value (a constant) or a one-key map naming the
//! family. Families and their parameterisations:
//!
//! | YAML                                              | Meaning                                                      |
//! |---------------------------------------------------|--------------------------------------------------------------|
//! | `250ms` or `constant: 250ms`                      | always the same value                                        |
//! | `uniform: [1s, 3s]`                               | uniform between the two bounds                               |
//! | `exponential: {mean: 1s}`                         | exponential with the given mean                              |
//! | `normal: {mean: 1s, sd: 200ms}`                   | normal truncated at 0 (negative draws are redrawn)           |
//! | `lognormal: {median: 0.45s, p95: 0.8s}`           | `mu = ln(median)`, `sigma = (ln(p95) - mu) / 1.6449`         |
//! | `lognormal: {mu: -0.8, sigma: 0.3}`               | `ln(value)` is normal(mu, sigma), value in seconds or counts |
//! | `lognormal: {mean: 1s, cv: 0.5}`                  | `sigma² = ln(1 + cv²)`, `mu = ln(mean) - sigma²/2`           |
//! | `gamma: {shape: 2, scale: 500ms}`                 | gamma, mean `shape * scale`                                  |
//! | `weibull: {shape: 1.5, scale: 1s}`                | Weibull, `P(X > x) = exp(-(x/scale)^shape)`                  |
//! | `pareto: {scale: 100ms, shape: 2.5}`              | Pareto with minimum `scale` and tail index `shape`           |
//! | `empirical: {samples: [1s, 2s]}`                  | resample the listed values uniformly                         |
//! | `empirical: {quantiles: [[0, 0.2s], [1, 6s]]}`    | piecewise-linear inverse CDF through `[p, value]` points     |
//! | `discrete: [[1, 0.6], [2, 0.4]]`                  | `[value, weight]` pairs, weights need not sum to 1           |
//! | `mixture: [{weight: 0.97, dist: ...}, ...]`       | pick a component by weight, then draw from it                |
//! | `shifted: {shift: 100ms, dist: ...}`              | `shift` plus a draw from `dist`                              |
//!
//! [`DistSpec::sampler`] validates a spec and turns it into a [`Sampler`], which
//! draws values (never negative, never NaN) and reports means and quantiles.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use rand::RngExt;
use rand_distr::Distribution;
use serde::de::{self, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use statrs::distribution::ContinuousCDF;

use crate::units::Seconds;

/// z such that Φ(z) = 0.95.
const Z95: f64 = 1.6448536269514722;

/// How a value in a distribution spec is written: seconds (durations with units) or plain counts.
pub trait DistValue:
    for<'de> Deserialize<'de> + Serialize + Clone + Copy + fmt::Debug + fmt::Display
{
    /// The value as a plain number (seconds for durations).
    fn value(self) -> f64;
    /// Wraps a plain number (seconds for durations).
    fn from_value(v: f64) -> Self;
}

impl DistValue for Seconds {
    fn value(self) -> f64 {
        self.0
    }
    fn from_value(v: f64) -> Self {
        Seconds(v)
    }
}

/// A plain number (tokens, calls, tokens per second).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Count(pub f64);

impl DistValue for Count {
    fn value(self) -> f64 {
        self.0
    }
    fn from_value(v: f64) -> Self {
        Count(v)
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Count {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            serializer.serialize_i64(v as i64)
        } else {
            serializer.serialize_f64(v)
        }
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl Visitor<'_> for CountVisitor {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a plain number, e.g. 400")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                Ok(Count(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Count, E> {
                Ok(Count(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Count, E> {
                Err(E::custom(format!(
                    "expected a plain number without a unit here, e.g. 400 (got \"{v}\")"
                )))
            }
        }
        deserializer.deserialize_any(CountVisitor)
    }
}

/// A distribution as written in a model file.
///
/// Written as a one-key map naming the family (`exponential: {mean: 1s}`), or as
/// a bare value meaning [`DistSpec::Constant`].
#[derive(Clone, Debug, PartialEq)]
pub enum DistSpec<V> {
    /// Always `V`: `constant: 250ms`, or just `250ms`.
    Constant(V),
    /// Uniform between two bounds: `uniform: [1s, 3s]`.
    Uniform([V; 2]),
    /// Exponential: `exponential: {mean: 1s}`.
    Exponential {
        /// The mean.
        mean: V,
    },
    /// Normal truncated at 0 by resampling: `normal: {mean: 1s, sd: 200ms}`.
    Normal {
        /// The mean before truncation.
        mean: V,
        /// The standard deviation before truncation.
        sd: V,
    },
    /// Lognormal, in one of three parameterisations.
    Lognormal(LognormalSpec<V>),
    /// Gamma: `gamma: {shape: 2, scale: 500ms}`.
    Gamma {
        /// Shape k.
        shape: f64,
        /// Scale θ (mean is k θ).
        scale: V,
    },
    /// Weibull: `weibull: {shape: 1.5, scale: 1s}`.
    Weibull {
        /// Shape k.
        shape: f64,
        /// Scale λ.
        scale: V,
    },
    /// Pareto: `pareto: {scale: 100ms, shape: 2.5}`.
    Pareto {
        /// Minimum value x_m.
        scale: V,
        /// Tail index α.
        shape: f64,
    },
    /// Empirical: resampled values or a quantile table.
    Empirical(EmpiricalSpec<V>),
    /// `[value, weight]` pairs: `discrete: [[1, 0.6], [2, 0.4]]`.
    Discrete(Vec<(V, f64)>),
    /// Weighted components: `mixture: [{weight: 0.97, dist: ...}, ...]`.
    Mixture(Vec<MixtureComponent<V>>),
    /// `shift` plus a draw from `dist`: `shifted: {shift: 100ms, dist: ...}`.
    Shifted {
        /// Added to every draw.
        shift: V,
        /// The shifted distribution.
        dist: Box<DistSpec<V>>,
    },
}

/// The parameters of a lognormal distribution.
#[derive(Clone, Debug, PartialEq)]
pub enum LognormalSpec<V> {
    /// `{median: 0.45s, p95: 0.8s}`.
    MedianP95 {
        /// The median.
        median: V,
        /// The 95th percentile.
        p95: V,
    },
    /// `{mu: -0.8, sigma: 0.3}`: mean and sd of ln(value in seconds or counts).
    MuSigma {
        /// Mean of the log.
        mu: f64,
        /// Standard deviation of the log.
        sigma: f64,
    },
    /// `{mean: 1s, cv: 0.5}`: mean and coefficient of variation.
    MeanCv {
        /// The mean.
        mean: V,
        /// Standard deviation divided by mean.
        cv: f64,
    },
}

/// An empirical distribution.
#[derive(Clone, Debug, PartialEq)]
pub enum EmpiricalSpec<V> {
    /// `{samples: [1s, 2s, ...]}`: draw one of the values uniformly.
    Samples(Vec<V>),
    /// `{quantiles: [[0.0, 0.2s], ..., [1.0, 6s]]}`: `[p, value]` points of a
    /// piecewise-linear inverse CDF, from p = 0 to p = 1.
    Quantiles(Vec<(f64, V)>),
}

/// One weighted component of a mixture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, bound = "V: DistValue")]
pub struct MixtureComponent<V> {
    /// Relative weight (weights need not sum to 1).
    pub weight: f64,
    /// The component distribution.
    pub dist: DistSpec<V>,
}

// Field sets of the struct-like families, used for both directions of serde.

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MeanFields<M> {
    mean: M,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NormalFields<M> {
    mean: M,
    sd: M,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShapeScale<A, B> {
    shape: A,
    scale: B,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScaleShape<A, B> {
    scale: A,
    shape: B,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShiftedFields<A, B> {
    shift: A,
    dist: B,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LognormalFields<V> {
    #[serde(skip_serializing_if = "Option::is_none")]
    median: Option<V>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p95: Option<V>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mu: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sigma: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mean: Option<V>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cv: Option<f64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmpiricalFields<S, Q> {
    #[serde(skip_serializing_if = "Option::is_none")]
    samples: Option<S>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quantiles: Option<Q>,
}

const FAMILIES: &str = "constant, uniform, exponential, normal, lognormal, gamma, weibull, \
                        pareto, empirical, discrete, mixture, shifted";

impl<V: DistValue> Serialize for LognormalSpec<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut f = LognormalFields {
            median: None,
            p95: None,
            mu: None,
            sigma: None,
            mean: None,
            cv: None,
        };
        match *self {
            LognormalSpec::MedianP95 { median, p95 } => {
                f.median = Some(median);
                f.p95 = Some(p95);
            }
            LognormalSpec::MuSigma { mu, sigma } => {
                f.mu = Some(mu);
                f.sigma = Some(sigma);
            }
            LognormalSpec::MeanCv { mean, cv } => {
                f.mean = Some(mean);
                f.cv = Some(cv);
            }
        }
        f.serialize(serializer)
    }
}

impl<'de, V: DistValue> Deserialize<'de> for LognormalSpec<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let f = LognormalFields::<V>::deserialize(deserializer)?;
        match f {
            LognormalFields {
                median: Some(median),
                p95: Some(p95),
                mu: None,
                sigma: None,
                mean: None,
                cv: None,
            } => Ok(LognormalSpec::MedianP95 { median, p95 }),
            LognormalFields {
                median: None,
                p95: None,
                mu: Some(mu),
                sigma: Some(sigma),
                mean: None,
                cv: None,
            } => Ok(LognormalSpec::MuSigma { mu, sigma }),
            LognormalFields {
                median: None,
                p95: None,
                mu: None,
                sigma: None,
                mean: Some(mean),
                cv: Some(cv),
            } => Ok(LognormalSpec::MeanCv { mean, cv }),
            f => {
                let given: Vec<&str> = [
                    ("median", f.median.is_some()),
                    ("p95", f.p95.is_some()),
                    ("mu", f.mu.is_some()),
                    ("sigma", f.sigma.is_some()),
                    ("mean", f.mean.is_some()),
                    ("cv", f.cv.is_some()),
                ]
                .iter()
                .filter(|(_, present)| *present)
                .map(|(name, _)| *name)
                .collect();
                Err(de::Error::custom(format!(
                    "lognormal needs exactly one pair of parameters: {{median, p95}}, {{mu, sigma}} \
                     or {{mean, cv}} (got {{{}}})",
                    given.join(", ")
                )))
            }
        }
    }
}

impl<V: DistValue> Serialize for EmpiricalSpec<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            EmpiricalSpec::Samples(s) => EmpiricalFields::<_, &Vec<(f64, V)>> {
                samples: Some(s),
                quantiles: None,
            }
            .serialize(serializer),
            EmpiricalSpec::Quantiles(q) => EmpiricalFields::<&Vec<V>, _> {
                samples: None,
                quantiles: Some(q),
            }
            .serialize(serializer),
        }
    }
}

impl<'de, V: DistValue> Deserialize<'de> for EmpiricalSpec<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match EmpiricalFields::<Vec<V>, Vec<(f64, V)>>::deserialize(deserializer)? {
            EmpiricalFields {
                samples: Some(s),
                quantiles: None,
            } => Ok(EmpiricalSpec::Samples(s)),
            EmpiricalFields {
                samples: None,
                quantiles: Some(q),
            } => Ok(EmpiricalSpec::Quantiles(q)),
            _ => Err(de::Error::custom(
                "empirical needs exactly one of `samples: [...]` or `quantiles: [[p, value], ...]`",
            )),
        }
    }
}

impl<V: DistValue> Serialize for DistSpec<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn one<S: Serializer, T: Serialize + ?Sized>(
            serializer: S,
            family: &str,
            params: &T,
        ) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry(family, params)?;
            map.end()
        }
        let s = serializer;
        match self {
            DistSpec::Constant(v) => v.serialize(s),
            DistSpec::Uniform(bounds) => one(s, "uniform", bounds),
            DistSpec::Exponential { mean } => one(s, "exponential", &MeanFields { mean }),
            DistSpec::Normal { mean, sd } => one(s, "normal", &NormalFields { mean, sd }),
            DistSpec::Lognormal(spec) => one(s, "lognormal", spec),
            DistSpec::Gamma { shape, scale } => one(s, "gamma", &ShapeScale { shape, scale }),
            DistSpec::Weibull { shape, scale } => one(s, "weibull", &ShapeScale { shape, scale }),
            DistSpec::Pareto { scale, shape } => one(s, "pareto", &ScaleShape { scale, shape }),
            DistSpec::Empirical(spec) => one(s, "empirical", spec),
            DistSpec::Discrete(pairs) => one(s, "discrete", pairs),
            DistSpec::Mixture(parts) => one(s, "mixture", parts),
            DistSpec::Shifted { shift, dist } => one(s, "shifted", &ShiftedFields { shift, dist }),
        }
    }
}

struct SpecVisitor<V>(PhantomData<V>);

impl<V: DistValue> SpecVisitor<V> {
    fn constant<'a, E: de::Error, D: Deserializer<'a, Error = E>>(d: D) -> Result<DistSpec<V>, E> {
        V::deserialize(d).map(DistSpec::Constant)
    }
}

impl<'de, V: DistValue> Visitor<'de> for SpecVisitor<V> {
    type Value = DistSpec<V>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a distribution: a single value (a constant), or a one-key map naming the family, \
             e.g. {exponential: {mean: 1s}}",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<DistSpec<V>, E> {
        Self::constant(v.into_deserializer())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<DistSpec<V>, E> {
        Self::constant(v.into_deserializer())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<DistSpec<V>, E> {
        Self::constant(v.into_deserializer())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<DistSpec<V>, E> {
        Self::constant(v.into_deserializer())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DistSpec<V>, A::Error> {
        let Some(family) = map.next_key::<String>()? else {
            return Err(de::Error::custom(
                "empty distribution map; name a family, e.g. {exponential: {mean: 1s}}",
            ));
        };
        let spec = match family.as_str() {
            "constant" => DistSpec::Constant(map.next_value()?),
            "uniform" => DistSpec::Uniform(map.next_value()?),
            "exponential" => {
                let MeanFields { mean } = map.next_value()?;
                DistSpec::Exponential { mean }
            }
            "normal" => {
                let NormalFields { mean, sd } = map.next_value()?;
                DistSpec::Normal { mean, sd }
            }
            "lognormal" => DistSpec::Lognormal(map.next_value()?),
            "gamma" => {
                let ShapeScale { shape, scale } = map.next_value()?;
                DistSpec::Gamma { shape, scale }
            }
            "weibull" => {
                let ShapeScale { shape, scale } = map.next_value()?;
                DistSpec::Weibull { shape, scale }
            }
            "pareto" => {
                let ScaleShape { scale, shape } = map.next_value()?;
                DistSpec::Pareto { scale, shape }
            }
            "empirical" => DistSpec::Empirical(map.next_value()?),
            "discrete" => DistSpec::Discrete(map.next_value()?),
            "mixture" => DistSpec::Mixture(map.next_value()?),
            "shifted" => {
                let ShiftedFields { shift, dist } = map.next_value()?;
                DistSpec::Shifted { shift, dist }
            }
            other => {
                return Err(de::Error::custom(format!(
                    "unknown distribution family \"{other}\"; expected one of {FAMILIES}"
                )));
            }
        };
        if let Some(extra) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!(
                "a distribution map has exactly one key naming the family; \
                 found \"{extra}\" after \"{family}\""
            )));
        }
        Ok(spec)
    }
}

impl<'de, V: DistValue> Deserialize<'de> for DistSpec<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SpecVisitor(PhantomData))
    }
}

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

fn percent(p: f64) -> f64 {
    (p * 1e8).round() / 1e6
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

    /// A one-line description, e.g. `lognormal(median 450ms, p95 800ms)`.
    pub fn describe(&self) -> String {
        match self {
            DistSpec::Constant(v) => format!("constant({v})"),
            DistSpec::Uniform([a, b]) => format!("uniform({a}, {b})"),
            DistSpec::Exponential { mean } => format!("exponential(mean {mean})"),
            DistSpec::Normal { mean, sd } => format!("normal(mean {mean}, sd {sd})"),
            DistSpec::Lognormal(LognormalSpec::MedianP95 { median, p95 }) => {
                format!("lognormal(median {median}, p95 {p95})")
            }
            DistSpec::Lognormal(LognormalSpec::MuSigma { mu, sigma }) => {
                format!("lognormal(mu {mu}, sigma {sigma})")
            }
            DistSpec::Lognormal(LognormalSpec::MeanCv { mean, cv }) => {
                format!("lognormal(mean {mean}, cv {cv})")
            }
            DistSpec::Gamma { shape, scale } => format!("gamma(shape {shape}, scale {scale})"),
            DistSpec::Weibull { shape, scale } => format!("weibull(shape {shape}, scale {scale})"),
            DistSpec::Pareto { scale, shape } => format!("pareto(scale {scale}, shape {shape})"),
            DistSpec::Empirical(EmpiricalSpec::Samples(s)) => {
                format!("empirical({} samples)", s.len())
            }
            DistSpec::Empirical(EmpiricalSpec::Quantiles(table)) => {
                let points: Vec<String> = table
                    .iter()
                    .map(|(p, v)| format!("p{} {v}", percent(*p)))
                    .collect();
                format!("empirical({})", points.join(", "))
            }
            DistSpec::Discrete(pairs) => {
                let items: Vec<String> = pairs.iter().map(|(v, w)| format!("{v}: {w}")).collect();
                format!("discrete({})", items.join(", "))
            }
            DistSpec::Mixture(components) => {
                let items: Vec<String> = components
                    .iter()
                    .map(|c| format!("{} × {}", c.weight, c.dist.describe()))
                    .collect();
                format!("mixture({})", items.join(", "))
            }
            DistSpec::Shifted { shift, dist } => format!("{shift} + {}", dist.describe()),
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

/// A validated, ready-to-draw distribution. Cheap to clone; drawing does not allocate.
///
/// Build one with [`DistSpec::sampler`] or [`Sampler::constant`]. All values are
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

/// Standard normal CDF.
fn phi_cdf(z: f64) -> f64 {
    0.5 * statrs::function::erf::erfc(-z / std::f64::consts::SQRT_2)
}

/// Standard normal quantile.
fn phi_inv(p: f64) -> f64 {
    -std::f64::consts::SQRT_2 * statrs::function::erf::erfc_inv(2.0 * p)
}

/// Index of the first cumulative weight above `u` (the last index if none).
fn pick(cum: &[f64], u: f64) -> usize {
    cum.iter().position(|&c| u < c).unwrap_or(cum.len() - 1)
}

/// Iterates over `(weight, item)` given cumulative weights.
fn weighted<'a, T>(cum: &'a [f64], items: &'a [T]) -> impl Iterator<Item = (f64, &'a T)> + 'a {
    cum.iter()
        .scan(0.0, |prev, &c| {
            let w = c - *prev;
            *prev = c;
            Some(w)
        })
        .zip(items)
}

impl Sampler {
    /// A sampler that always returns `v`.
    pub fn constant(v: f64) -> Sampler {
        Sampler::Constant(v)
    }

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
    fn cdf(&self, x: f64) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    const N: usize = 200_000;

    fn secs(yaml: &str) -> DistSpec<Seconds> {
        serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
    }

    fn counts(yaml: &str) -> DistSpec<Count> {
        serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
    }

    fn secs_err(yaml: &str) -> String {
        serde_yaml::from_str::<DistSpec<Seconds>>(yaml)
            .expect_err(yaml)
            .to_string()
    }

    fn counts_err(yaml: &str) -> String {
        serde_yaml::from_str::<DistSpec<Count>>(yaml)
            .expect_err(yaml)
            .to_string()
    }

    fn sampler_err<V: DistValue>(spec: &DistSpec<V>) -> String {
        spec.sampler().expect_err(&spec.describe())
    }

    fn draws(s: &Sampler, seed: u64) -> Vec<f64> {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        (0..N).map(|_| s.sample(&mut rng)).collect()
    }

    fn sorted(mut xs: Vec<f64>) -> Vec<f64> {
        xs.sort_by(f64::total_cmp);
        xs
    }

    /// Empirical quantile of sorted draws.
    fn emp_q(sorted: &[f64], p: f64) -> f64 {
        sorted[((p * sorted.len() as f64) as usize).min(sorted.len() - 1)]
    }

    fn assert_mean(s: &Sampler, seed: u64) {
        let xs = draws(s, seed);
        assert!(xs.iter().all(|x| *x >= 0.0 && x.is_finite()), "{s:?}");
        let n = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
        let se = (var / n).sqrt();
        let want = s.mean();
        let tol = (0.01 * want.abs()).max(3.0 * se);
        assert!(
            (m - want).abs() <= tol,
            "{s:?}: sample mean {m} vs mean() {want} (tol {tol})"
        );
    }

    fn assert_round_trip<V: DistValue + PartialEq>(yaml: &str) {
        let spec: DistSpec<V> =
            serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
        let out = serde_yaml::to_string(&spec).unwrap();
        let back: DistSpec<V> = serde_yaml::from_str(&out).unwrap_or_else(|e| panic!("{out}: {e}"));
        assert_eq!(spec, back, "{yaml} -> {out}");
        spec.sampler().unwrap_or_else(|e| panic!("{yaml}: {e}"));
    }

    #[test]
    fn round_trips_seconds() {
        for yaml in [
            "250ms",
            "0",
            "constant: 250ms",
            "uniform: [1s, 3s]",
            "exponential: {mean: 1s}",
            "normal: {mean: 1s, sd: 200ms}",
            "lognormal: {median: 0.45s, p95: 0.8s}",
            "lognormal: {mu: -0.8, sigma: 0.3}",
            "lognormal: {mean: 1s, cv: 0.5}",
            "gamma: {shape: 2, scale: 500ms}",
            "weibull: {shape: 1.5, scale: 1s}",
            "pareto: {scale: 100ms, shape: 2.5}",
            "empirical: {samples: [1s, 2s, 500ms]}",
            "empirical: {quantiles: [[0.0, 0.2s], [0.5, 1s], [0.95, 3s], [1.0, 6s]]}",
            "discrete: [[1s, 0.6], [2s, 0.3], [3s, 0.1]]",
            "mixture: [{weight: 0.97, dist: {lognormal: {median: 0.45s, p95: 0.8s}}}, \
             {weight: 0.03, dist: {pareto: {scale: 2s, shape: 1.5}}}]",
            "mixture: [{weight: 1, dist: 100ms}, {weight: 1, dist: {mixture: \
             [{weight: 2, dist: {uniform: [1s, 2s]}}, {weight: 1, dist: 3s}]}}]",
            "shifted: {shift: 100ms, dist: {exponential: {mean: 1s}}}",
            "shifted: {shift: 1m, dist: {shifted: {shift: 2m 30s, dist: 1h}}}",
        ] {
            assert_round_trip::<Seconds>(yaml);
        }
    }

    #[test]
    fn round_trips_counts() {
        for yaml in [
            "400",
            "2.5",
            "constant: 400",
            "uniform: [1, 5]",
            "exponential: {mean: 300}",
            "normal: {mean: 400, sd: 100}",
            "lognormal: {median: 400, p95: 1200}",
            "lognormal: {mu: 6, sigma: 0.7}",
            "lognormal: {mean: 500, cv: 1.2}",
            "gamma: {shape: 3, scale: 100}",
            "weibull: {shape: 0.8, scale: 50}",
            "pareto: {scale: 10, shape: 1.2}",
            "empirical: {samples: [1, 2, 3, 10]}",
            "empirical: {quantiles: [[0, 10], [0.5, 100], [1, 4000]]}",
            "discrete: [[1, 0.6], [2, 0.3], [3, 0.1]]",
            "mixture: [{weight: 3, dist: 1}, {weight: 1, dist: {exponential: {mean: 4}}}]",
            "shifted: {shift: 50, dist: {lognormal: {mean: 300, cv: 0.5}}}",
        ] {
            assert_round_trip::<Count>(yaml);
        }
    }

    #[test]
    fn parses_to_expected_values() {
        assert_eq!(secs("250ms"), DistSpec::Constant(Seconds(0.25)));
        assert_eq!(secs("constant: 250ms"), DistSpec::Constant(Seconds(0.25)));
        assert_eq!(counts("400"), DistSpec::Constant(Count(400.0)));
        assert_eq!(
            secs("lognormal: {median: 0.45s, p95: 0.8s}"),
            DistSpec::Lognormal(LognormalSpec::MedianP95 {
                median: Seconds(0.45),
                p95: Seconds(0.8)
            })
        );
        assert_eq!(
            secs("shifted: {shift: 100ms, dist: {exponential: {mean: 1s}}}"),
            DistSpec::Shifted {
                shift: Seconds(0.1),
                dist: Box::new(DistSpec::Exponential { mean: Seconds(1.0) })
            }
        );
        assert_eq!(
            counts("discrete: [[1, 0.6], [2, 0.4]]"),
            DistSpec::Discrete(vec![(Count(1.0), 0.6), (Count(2.0), 0.4)])
        );
        // Serialized form is the readable one-key map, with units kept.
        let out = serde_yaml::to_string(&secs("exponential: {mean: 1s}")).unwrap();
        assert_eq!(out.trim(), "exponential:\n  mean: 1s");
        let out = serde_yaml::to_string(&secs("250ms")).unwrap();
        assert_eq!(out.trim(), "250ms");
        let out = serde_yaml::to_string(&counts("lognormal: {median: 400, p95: 1200}")).unwrap();
        assert_eq!(out.trim(), "lognormal:\n  median: 400\n  p95: 1200");
        // Works inside a struct field, the way model files use it.
        #[derive(Deserialize)]
        struct Step {
            latency: DistSpec<Seconds>,
            tokens: DistSpec<Count>,
        }
        let step: Step = serde_yaml::from_str("latency: 250ms\ntokens: 400\n").unwrap();
        assert_eq!(step.latency, DistSpec::Constant(Seconds(0.25)));
        assert_eq!(step.tokens, DistSpec::Constant(Count(400.0)));
        // And through serde's buffered (untagged) path.
        #[derive(Deserialize, Debug, PartialEq)]
        #[serde(untagged)]
        enum Either {
            Dist(DistSpec<Seconds>),
            Other(Vec<u8>),
        }
        let e: Either = serde_yaml::from_str("lognormal: {mean: 1s, cv: 0.5}").unwrap();
        assert_eq!(
            e,
            Either::Dist(DistSpec::Lognormal(LognormalSpec::MeanCv {
                mean: Seconds(1.0),
                cv: 0.5
            }))
        );
    }

    #[test]
    fn describes() {
        assert_eq!(
            secs("lognormal: {median: 0.45s, p95: 0.8s}").describe(),
            "lognormal(median 450ms, p95 800ms)"
        );
        assert_eq!(secs("250ms").describe(), "constant(250ms)");
        assert_eq!(
            counts("discrete: [[1, 0.6], [2, 0.4]]").describe(),
            "discrete(1: 0.6, 2: 0.4)"
        );
        assert_eq!(
            secs("empirical: {quantiles: [[0, 0.2s], [0.95, 3s], [1, 6s]]}").describe(),
            "empirical(p0 200ms, p95 3s, p100 6s)"
        );
        assert_eq!(
            secs("shifted: {shift: 100ms, dist: {exponential: {mean: 1s}}}").describe(),
            "100ms + exponential(mean 1s)"
        );
        assert_eq!(
            secs("mixture: [{weight: 0.9, dist: 1s}, {weight: 0.1, dist: {uniform: [2s, 3s]}}]")
                .describe(),
            "mixture(0.9 × constant(1s), 0.1 × uniform(2s, 3s))"
        );
    }

    #[test]
    fn rejects_bad_yaml() {
        let e = secs_err("3");
        assert!(e.contains("a duration needs a unit"), "{e}");
        let e = secs_err("exponential: {mean: 3}");
        assert!(
            e.contains("a duration needs a unit") && e.contains("(got 3)"),
            "{e}"
        );
        let e = secs_err("uniform: [1s, 3]");
        assert!(e.contains("a duration needs a unit"), "{e}");
        let e = counts_err("\"3s\"");
        assert!(e.contains("plain number") && e.contains("\"3s\""), "{e}");
        let e = counts_err("exponential: {mean: 3s}");
        assert!(e.contains("plain number") && e.contains("\"3s\""), "{e}");
        let e = secs_err("expo: {mean: 1s}");
        assert!(e.contains("unknown distribution family \"expo\""), "{e}");
        let e = secs_err("{exponential: {mean: 1s}, normal: {mean: 1s, sd: 1s}}");
        assert!(e.contains("exactly one key"), "{e}");
        let e = secs_err("{}");
        assert!(e.contains("empty distribution map"), "{e}");
        let e = secs_err("exponential: {meen: 1s}");
        assert!(e.contains("unknown field `meen`"), "{e}");
        let e = secs_err("normal: {mean: 1s}");
        assert!(e.contains("missing field `sd`"), "{e}");
        let e = secs_err("lognormal: {median: 1s, sigma: 0.3}");
        assert!(
            e.contains("exactly one pair") && e.contains("{median, sigma}"),
            "{e}"
        );
        let e = secs_err("empirical: {}");
        assert!(e.contains("exactly one of"), "{e}");
        let e = secs_err("uniform: [1s, 2s, 3s]");
        assert!(e.contains("invalid length"), "{e}");
        let e = secs_err("[1s]");
        assert!(e.contains("a distribution"), "{e}");
        let e = secs_err("mixture: [{weight: 1, dist: 1s, extra: 2}]");
        assert!(e.contains("unknown field `extra`"), "{e}");
    }

    #[test]
    fn rejects_bad_parameters() {
        let e = sampler_err(&secs("lognormal: {median: 0.8s, p95: 0.45s}"));
        assert_eq!(
            e,
            "lognormal: p95 (450ms) must be greater than median (800ms)"
        );
        let e = sampler_err(&counts("exponential: {mean: -1}"));
        assert_eq!(e, "exponential: mean must be > 0 (got -1)");
        let e = sampler_err(&counts("normal: {mean: 1, sd: 0}"));
        assert_eq!(e, "normal: sd must be > 0 (got 0)");
        let e = sampler_err(&counts("lognormal: {mean: 10, cv: -1}"));
        assert_eq!(e, "lognormal: cv must be > 0 (got -1)");
        let e = sampler_err(&counts("lognormal: {mu: 1, sigma: 0}"));
        assert_eq!(e, "lognormal: sigma must be > 0 (got 0)");
        let e = sampler_err(&secs("gamma: {shape: 0, scale: 1s}"));
        assert_eq!(e, "gamma: shape must be > 0 (got 0)");
        let e = sampler_err(&secs("weibull: {shape: 1, scale: 0s}"));
        assert_eq!(e, "weibull: scale must be > 0 (got 0s)");
        let e = sampler_err(&secs("pareto: {scale: 1s, shape: -2}"));
        assert_eq!(e, "pareto: shape must be > 0 (got -2)");
        let e = sampler_err(&secs("uniform: [3s, 1s]"));
        assert_eq!(
            e,
            "uniform: upper bound (1s) must not be below lower bound (3s)"
        );
        let e = sampler_err(&counts("constant: -2"));
        assert_eq!(e, "constant: value must be >= 0 (got -2)");
        let e = sampler_err(&secs(
            "mixture: [{weight: 0, dist: 1s}, {weight: 0, dist: 2s}]",
        ));
        assert_eq!(e, "mixture: weights must sum to more than 0");
        let e = sampler_err(&secs("mixture: [{weight: -1, dist: 1s}]"));
        assert_eq!(e, "mixture: weight 1 must be >= 0 (got -1)");
        let e = sampler_err(&secs("mixture: []"));
        assert_eq!(e, "mixture: needs at least one entry");
        let e = sampler_err(&secs(
            "mixture: [{weight: 1, dist: {exponential: {mean: 0s}}}]",
        ));
        assert_eq!(
            e,
            "mixture component 1: exponential: mean must be > 0 (got 0s)"
        );
        let e = sampler_err(&counts("discrete: [[1, 0], [2, 0]]"));
        assert_eq!(e, "discrete: weights must sum to more than 0");
        let e = sampler_err(&counts("discrete: [[-1, 1]]"));
        assert_eq!(e, "discrete: value 1 must be >= 0 (got -1)");
        let e = sampler_err(&secs("empirical: {quantiles: [[0.1, 1s], [1, 2s]]}"));
        assert_eq!(
            e,
            "empirical: the quantile table must start at p = 0 (starts at 0.1)"
        );
        let e = sampler_err(&secs("empirical: {quantiles: [[0, 1s], [0.9, 2s]]}"));
        assert_eq!(
            e,
            "empirical: the quantile table must end at p = 1 (ends at 0.9)"
        );
        let e = sampler_err(&secs(
            "empirical: {quantiles: [[0, 1s], [0.5, 2s], [0.5, 3s], [1, 4s]]}",
        ));
        assert!(
            e.starts_with("empirical: quantile probabilities must increase (entry 3"),
            "{e}"
        );
        let e = sampler_err(&secs(
            "empirical: {quantiles: [[0, 1s], [0.5, 3s], [1, 2s]]}",
        ));
        assert!(
            e.starts_with("empirical: quantile values must not decrease (entry 3"),
            "{e}"
        );
        let e = sampler_err(&secs("empirical: {quantiles: [[0, 1s]]}"));
        assert!(e.contains("at least two"), "{e}");
        let e = sampler_err(&secs("empirical: {samples: []}"));
        assert_eq!(e, "empirical: samples must not be empty");
        let e = sampler_err(&counts("shifted: {shift: -1, dist: 3}"));
        assert_eq!(e, "shifted: shift must be >= 0 (got -1)");
        let e = sampler_err(&counts(
            "shifted: {shift: 1, dist: {exponential: {mean: 0}}}",
        ));
        assert_eq!(e, "shifted: exponential: mean must be > 0 (got 0)");
    }

    #[test]
    fn sample_means_match_mean() {
        let specs_s = [
            "250ms",
            "uniform: [1s, 3s]",
            "exponential: {mean: 1s}",
            "normal: {mean: 1s, sd: 200ms}",
            "normal: {mean: 0.5s, sd: 1s}",
            "lognormal: {median: 0.45s, p95: 0.8s}",
            "lognormal: {mu: -0.8, sigma: 0.3}",
            "lognormal: {mean: 1s, cv: 0.5}",
            "gamma: {shape: 2, scale: 500ms}",
            "gamma: {shape: 0.4, scale: 2s}",
            "weibull: {shape: 1.5, scale: 1s}",
            "weibull: {shape: 0.7, scale: 1s}",
            "pareto: {scale: 100ms, shape: 3.5}",
            "empirical: {samples: [1s, 2s, 500ms, 7s]}",
            "empirical: {quantiles: [[0.0, 0.2s], [0.5, 1s], [0.95, 3s], [1.0, 6s]]}",
            "discrete: [[1s, 0.6], [2s, 0.3], [3s, 0.1]]",
            "mixture: [{weight: 0.97, dist: {lognormal: {median: 0.45s, p95: 0.8s}}}, \
             {weight: 0.03, dist: {exponential: {mean: 5s}}}]",
            "shifted: {shift: 100ms, dist: {exponential: {mean: 1s}}}",
        ];
        for (i, yaml) in specs_s.iter().enumerate() {
            assert_mean(&secs(yaml).sampler().unwrap(), 1000 + i as u64);
        }
        for (i, yaml) in ["lognormal: {median: 400, p95: 1200}", "uniform: [10, 20]"]
            .iter()
            .enumerate()
        {
            assert_mean(&counts(yaml).sampler().unwrap(), 2000 + i as u64);
        }
        let heavy = secs("pareto: {scale: 1s, shape: 1}").sampler().unwrap();
        assert_eq!(heavy.mean(), f64::INFINITY);
    }

    #[test]
    fn analytic_means() {
        let m = |y: &str| secs(y).sampler().unwrap().mean();
        assert!((m("lognormal: {mean: 1s, cv: 0.5}") - 1.0).abs() < 1e-12);
        assert!((m("weibull: {shape: 1, scale: 2s}") - 2.0).abs() < 1e-9);
        assert!((m("pareto: {scale: 1s, shape: 2}") - 2.0).abs() < 1e-12);
        assert!((m("empirical: {quantiles: [[0, 0s], [1, 2s]]}") - 1.0).abs() < 1e-12);
        assert!((m("discrete: [[1s, 1], [3s, 1]]") - 2.0).abs() < 1e-12);
        assert!(
            (m("normal: {mean: 0s, sd: 1s}") - (2.0 / std::f64::consts::PI).sqrt()).abs() < 1e-9
        );
    }

    #[test]
    fn lognormal_p95() {
        let s = secs("lognormal: {median: 0.45s, p95: 0.8s}")
            .sampler()
            .unwrap();
        assert!((s.quantile(0.95).unwrap() - 0.8).abs() < 1e-9);
        assert!((s.quantile(0.5).unwrap() - 0.45).abs() < 1e-9);
        let xs = sorted(draws(&s, 7));
        let p95 = emp_q(&xs, 0.95);
        assert!((p95 / 0.8 - 1.0).abs() < 0.02, "empirical p95 {p95}");
        let p50 = emp_q(&xs, 0.5);
        assert!((p50 / 0.45 - 1.0).abs() < 0.02, "empirical p50 {p50}");
    }

    #[test]
    fn quantiles_match_draws() {
        for (i, yaml) in [
            "uniform: [1s, 3s]",
            "exponential: {mean: 1s}",
            "normal: {mean: 0.5s, sd: 1s}",
            "gamma: {shape: 2, scale: 500ms}",
            "weibull: {shape: 1.5, scale: 1s}",
            "pareto: {scale: 100ms, shape: 2.5}",
            "empirical: {quantiles: [[0.0, 0.2s], [0.5, 1s], [0.95, 3s], [1.0, 6s]]}",
            "mixture: [{weight: 0.9, dist: {exponential: {mean: 1s}}}, \
             {weight: 0.1, dist: {uniform: [5s, 10s]}}]",
            "shifted: {shift: 1s, dist: {lognormal: {mean: 1s, cv: 1}}}",
        ]
        .iter()
        .enumerate()
        {
            let s = secs(yaml).sampler().unwrap();
            let xs = sorted(draws(&s, 3000 + i as u64));
            for p in [0.1, 0.5, 0.9, 0.99] {
                let want = s.quantile(p).unwrap();
                let got = emp_q(&xs, p);
                // The empirical quantile's CDF level is within 4 standard errors of p.
                let level = s.cdf(got);
                let se = (p * (1.0 - p) / N as f64).sqrt();
                assert!(
                    (level - p).abs() < 4.0 * se + 1.0 / N as f64,
                    "{yaml} p{p}: analytic {want} vs empirical {got} (cdf {level})"
                );
                assert!(
                    (s.cdf(want) - p).abs() < 1e-6,
                    "{yaml}: cdf(q({p})) = {}",
                    s.cdf(want)
                );
            }
        }
    }

    #[test]
    fn quantile_edges() {
        let s = secs("uniform: [1s, 3s]").sampler().unwrap();
        assert_eq!(s.quantile(-0.1), None);
        assert_eq!(s.quantile(1.1), None);
        assert_eq!(s.quantile(0.0), Some(1.0));
        assert_eq!(s.quantile(1.0), Some(3.0));
        let d = counts("discrete: [[3, 0.1], [1, 0.6], [2, 0.3]]")
            .sampler()
            .unwrap();
        assert_eq!(d.quantile(0.0), Some(1.0));
        assert_eq!(d.quantile(0.5), Some(1.0));
        assert_eq!(d.quantile(0.8), Some(2.0));
        assert_eq!(d.quantile(0.95), Some(3.0));
        let e = counts("empirical: {samples: [4, 1, 3, 2]}")
            .sampler()
            .unwrap();
        assert_eq!(e.quantile(0.0), Some(1.0));
        assert_eq!(e.quantile(0.5), Some(2.0));
        assert_eq!(e.quantile(0.75), Some(3.0));
        assert_eq!(e.quantile(1.0), Some(4.0));
        let m = counts("mixture: [{weight: 1, dist: 1}, {weight: 3, dist: 5}]")
            .sampler()
            .unwrap();
        assert!((m.quantile(0.2).unwrap() - 1.0).abs() < 1e-9);
        assert!((m.quantile(0.3).unwrap() - 5.0).abs() < 1e-9);
        assert_eq!(m.quantile(1.0), Some(5.0));
        assert_eq!(Sampler::constant(2.5).quantile(0.3), Some(2.5));
        assert_eq!(Sampler::constant(2.5).mean(), 2.5);
    }

    #[test]
    fn mixture_weight_fractions() {
        let s = counts(
            "mixture: [{weight: 0.97, dist: 1}, {weight: 0.02, dist: 10}, {weight: 0.01, dist: 100}]",
        )
        .sampler()
        .unwrap();
        let xs = draws(&s, 11);
        for (value, w) in [(1.0, 0.97), (10.0, 0.02), (100.0, 0.01)] {
            let frac = xs.iter().filter(|x| **x == value).count() as f64 / N as f64;
            let se = (w * (1.0 - w) / N as f64).sqrt();
            assert!((frac - w).abs() < 4.0 * se, "value {value}: {frac} vs {w}");
        }
    }

    #[test]
    fn discrete_frequencies() {
        // Unnormalised weights, listed out of order, with a zero-weight value.
        let s = counts("discrete: [[3, 1], [1, 6], [7, 0], [2, 3]]")
            .sampler()
            .unwrap();
        let xs = draws(&s, 12);
        assert!(!xs.contains(&7.0));
        for (value, w) in [(1.0, 0.6), (2.0, 0.3), (3.0, 0.1)] {
            let frac = xs.iter().filter(|x| **x == value).count() as f64 / N as f64;
            let se = (w * (1.0 - w) / N as f64).sqrt();
            assert!((frac - w).abs() < 4.0 * se, "value {value}: {frac} vs {w}");
        }
    }

    #[test]
    fn empirical_quantile_table_median() {
        let s = secs("empirical: {quantiles: [[0.0, 0.2s], [0.5, 1s], [0.95, 3s], [1.0, 6s]]}")
            .sampler()
            .unwrap();
        let xs = sorted(draws(&s, 13));
        let median = emp_q(&xs, 0.5);
        assert!((median - 1.0).abs() < 0.02, "median {median}");
        let p95 = emp_q(&xs, 0.95);
        assert!((p95 - 3.0).abs() < 0.06, "p95 {p95}");
        assert!(xs[0] >= 0.2 && xs[N - 1] <= 6.0);
    }

    #[test]
    fn empirical_samples_resampled_uniformly() {
        let s = secs("empirical: {samples: [1s, 2s, 2s, 5s]}")
            .sampler()
            .unwrap();
        let xs = draws(&s, 14);
        let frac2 = xs.iter().filter(|x| **x == 2.0).count() as f64 / N as f64;
        let se = (0.25 / N as f64).sqrt();
        assert!((frac2 - 0.5).abs() < 4.0 * se, "{frac2}");
        assert!(xs.iter().all(|x| [1.0, 2.0, 5.0].contains(x)));
    }

    #[test]
    fn samples_never_negative() {
        let s = counts("normal: {mean: 0, sd: 5}").sampler().unwrap();
        let xs = draws(&s, 15);
        assert!(xs.iter().all(|x| *x >= 0.0));
        // Resampling (not clamping): essentially no mass exactly at 0.
        assert!(xs.iter().filter(|x| **x == 0.0).count() < 5);
    }
}
