//! Why a validated experiment could not be compiled into a [`Model`](super::model::Model).
//! Validation rejects all of these first, so they point at a check missing from `config`.

use super::autoscaler::SpecError;
use crate::dist::DistError;

/// An experiment that passed validation but cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A distribution cannot be compiled.
    #[error(transparent)]
    Dist(#[from] DistError),
    /// The autoscaling policy's parameters are out of range.
    #[error("platform.autoscaler.{0}")]
    Autoscaler(#[from] SpecError),
    /// A step's `model:` names no entry of `llm.models`.
    #[error("unknown model {0}")]
    UnknownLlm(String),
    /// A step sets no kind (or more than one).
    #[error("a step needs exactly one kind")]
    StepKind,
    /// A workload lacks a setting its kind needs (`think_time`, `arrivals`).
    #[error("a {kind} workload needs {field}")]
    MissingWorkload {
        /// `closed` or `open`.
        kind: &'static str,
        /// The missing field.
        field: &'static str,
    },
}
