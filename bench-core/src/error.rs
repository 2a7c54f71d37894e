//! Error types of the run model.

use std::path::PathBuf;

/// A problem with a user-supplied specification (suite file, flags, job file).
///
/// `location` names where the problem is: `file:line:column`, or `--flag`.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct SpecError {
    /// Where the bad input is, e.g. `suites/quick.toml:12:1` or `--iodepth`.
    pub location: String,
    /// What is wrong, naming the key.
    pub message: String,
}

impl SpecError {
    /// Builds a spec error at `location`.
    pub fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            message: message.into(),
        }
    }
}

/// A failure while a workload prepares, runs or tears down.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// An operating-system call failed; `what` says which and on what.
    #[error("{what}: {source}")]
    Io {
        /// The operation that failed, with its object (e.g. "open /tmp/x").
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Any other failure, described in words.
    #[error("{0}")]
    Other(String),
}

impl WorkloadError {
    /// Wraps an I/O error with a description of what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}

/// Errors of the core library outside a single workload.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Bad specification.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A workload failed.
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    File {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A result file that does not parse or does not match the schema.
    #[error("{path}: not a valid skubench result file: {message}")]
    BadResult {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}
