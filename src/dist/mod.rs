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
//! draws values (never negative, never NaN) and reports means, quantiles and the CDF.
//!
//! One job per file: `value.rs` (how values are written), `spec.rs` (the serde
//! schema), `compile.rs` (validation, spec → sampler), `error.rs` (why a spec
//! cannot be compiled),
//! `sampler.rs` (drawing and means), `quantile.rs` (quantiles and the CDF).

mod compile;
mod error;
mod quantile;
mod sampler;
mod spec;
mod value;

pub use error::{Bound, DistError};
pub use sampler::Sampler;
pub use spec::{DistSpec, EmpiricalSpec, LognormalSpec, MixtureComponent};
pub use value::{Count, DistValue};

#[cfg(test)]
mod tests;
