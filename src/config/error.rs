//! Errors from reading experiment files, each naming the file, the field and the line.

use std::path::PathBuf;

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
