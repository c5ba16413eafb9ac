//! The serde schema of a distribution spec: a bare value (a constant) or a one-key
//! map naming the family.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::DistValue;

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
#[serde(
    deny_unknown_fields,
    bound = "V: DistValue",
    expecting = "{weight: …, dist: …}, e.g. {weight: 0.97, dist: {exponential: {mean: 1s}}}"
)]
pub struct MixtureComponent<V> {
    /// Relative weight (weights need not sum to 1).
    pub weight: f64,
    /// The component distribution.
    pub dist: DistSpec<V>,
}

// Field sets of the struct-like families, used for both directions of serde.

#[derive(Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "{mean: …}, e.g. {exponential: {mean: 1s}}"
)]
struct MeanFields<M> {
    mean: M,
}

#[derive(Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "{mean: …, sd: …}, e.g. {normal: {mean: 1s, sd: 200ms}}"
)]
struct NormalFields<M> {
    mean: M,
    sd: M,
}

#[derive(Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "{shape: …, scale: …}, e.g. {gamma: {shape: 2, scale: 500ms}}"
)]
struct ShapeScale<A, B> {
    shape: A,
    scale: B,
}

#[derive(Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "{scale: …, shape: …}, e.g. {pareto: {scale: 100ms, shape: 2.5}}"
)]
struct ScaleShape<A, B> {
    scale: A,
    shape: B,
}

#[derive(Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "{shift: …, dist: …}, e.g. {shifted: {shift: 100ms, dist: {exponential: {mean: 1s}}}}"
)]
struct ShiftedFields<A, B> {
    shift: A,
    dist: B,
}

#[derive(Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "{median: …, p95: …}, {mu: …, sigma: …} or {mean: …, cv: …}"
)]
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
#[serde(
    deny_unknown_fields,
    expecting = "{samples: [...]} or {quantiles: [[p, value], ...]}"
)]
struct EmpiricalFields<S, Q> {
    #[serde(skip_serializing_if = "Option::is_none")]
    samples: Option<S>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quantiles: Option<Q>,
}

/// The families, in the form serde lists known names (`config` suggests the closest).
const FAMILIES: &str = "`constant`, `uniform`, `exponential`, `normal`, `lognormal`, `gamma`, \
                        `weibull`, `pareto`, `empirical`, `discrete`, `mixture`, `shifted`";

/// The error for a key that names no family.
fn unknown_family<E: de::Error>(name: &str) -> E {
    E::custom(format!(
        "unknown distribution family `{name}`, expected one of {FAMILIES}"
    ))
}

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
            other => return Err(unknown_family(other)),
        };
        if let Some(extra) = map.next_key::<String>()? {
            // Most often a misspelt family in a file over one that names the real one.
            if !FAMILIES.contains(&format!("`{extra}`")) {
                return Err(unknown_family(&extra));
            }
            return Err(de::Error::custom(format!(
                "a distribution names one family; found `{extra}` beside `{family}`"
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
