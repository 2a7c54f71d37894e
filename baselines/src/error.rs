//! Errors of the store and the analysis.

use std::path::{Path, PathBuf};

/// Errors of baselines, store and history.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// Bad user input (file, name, query, policy): exit 2.
    #[error("{0}")]
    Input(String),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A result file failed to load.
    #[error(transparent)]
    Result(#[from] bench_core::CoreError),
    /// An object-store operation failed (network, permissions, the
    /// service): a failed operation, not bad input.
    #[error("store {location}: {message}")]
    Remote {
        /// The object or prefix, as a URL without credentials.
        location: String,
        /// What failed.
        message: String,
    },
    /// Parquet / dataframe failure.
    #[error("history dataset {path}: {message}")]
    History {
        /// File or directory.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

impl BaselineError {
    /// Wraps an I/O error with its path.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A TOML error with `file:line:col`.
    pub fn toml(path: &Path, text: &str, e: &toml::de::Error) -> Self {
        let loc = e.span().map_or_else(String::new, |s| {
            let (l, c) = bench_core::suite::line_col(text, s.start);
            format!(":{l}:{c}")
        });
        Self::Input(format!("{}{loc}: {}", path.display(), e.message().trim()))
    }
}
