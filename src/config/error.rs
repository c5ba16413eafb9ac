//! Errors from reading experiment files, each naming the file, the field and the line.

use std::path::PathBuf;

use crate::dist::DistError;

/// Why an experiment file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {message}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The file is not valid YAML.
    #[error("{}{}: YAML syntax error: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// Parser message.
        message: String,
    },
    /// A field is missing, unknown, mistyped or out of range.
    #[error("{}{}: field `{field}`: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Field {
        /// The file that set (or should have set) the field.
        file: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// Dotted path of the field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

/// A setting of a parsed experiment that breaks a rule serde cannot check: the dotted path
/// of the field and why. [`ConfigError::Field`] adds the file and line.
#[derive(Debug, thiserror::Error)]
#[error("field `{field}`: {reason}")]
pub struct FieldError {
    /// Dotted path of the field (`platform.cold_start`).
    pub field: String,
    /// What is wrong with it.
    pub reason: Reason,
}

/// Why a field was rejected.
#[derive(Debug, thiserror::Error)]
pub enum Reason {
    /// Its distribution cannot be compiled.
    #[error(transparent)]
    Dist(#[from] DistError),
    /// It breaks a range or consistency rule; the text states the rule.
    #[error("{0}")]
    Rule(String),
}
