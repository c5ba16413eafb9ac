//! Why a distribution spec cannot be compiled. Every error names the family and, where there
//! is one, the parameter, in the words the model files use.

use std::fmt;

/// The range a parameter must lie in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// Finite and above 0.
    Positive,
    /// Finite and at least 0.
    NonNegative,
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Bound::Positive => "> 0",
            Bound::NonNegative => ">= 0",
        })
    }
}

/// A distribution spec that parsed but cannot be turned into a sampler.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DistError {
    /// A parameter is not finite or lies outside its range.
    #[error("{family}: {param} must be {bound} (got {got})")]
    OutOfRange {
        /// The family, as written in files (`lognormal`).
        family: &'static str,
        /// The parameter (`sd`, `weight 2`).
        param: String,
        /// The range it must lie in.
        bound: Bound,
        /// The value as written.
        got: String,
    },
    /// A weighted list with no entries.
    #[error("{family}: needs at least one entry")]
    Empty {
        /// The family.
        family: &'static str,
    },
    /// Weights that sum to 0 (or overflow).
    #[error("{family}: weights must sum to more than 0")]
    ZeroWeights {
        /// The family.
        family: &'static str,
    },
    /// Parameters that are each in range but do not fit together (a p95 below the median,
    /// a quantile table out of order); the message says which.
    #[error("{family}: {message}")]
    Inconsistent {
        /// The family.
        family: &'static str,
        /// What does not fit.
        message: String,
    },
    /// A component of a mixture cannot be compiled.
    #[error("mixture component {index}: {source}")]
    MixtureComponent {
        /// 1-based position of the component.
        index: usize,
        /// Why it cannot.
        source: Box<DistError>,
    },
    /// The inner distribution of a `shifted` spec cannot be compiled.
    #[error("shifted: {source}")]
    Shifted {
        /// Why it cannot.
        source: Box<DistError>,
    },
}

impl DistError {
    /// An [`DistError::Inconsistent`] error.
    pub(super) fn inconsistent(family: &'static str, message: impl Into<String>) -> Self {
        DistError::Inconsistent {
            family,
            message: message.into(),
        }
    }
}
