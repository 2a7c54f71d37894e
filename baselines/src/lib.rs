//! baselines: the result store, named baselines, comparison statistics,
//! run history (Parquet via polars) and change-point detection.
//!
//! Analysis works only on result files, so everything here runs on data
//! measured elsewhere.

pub mod changepoint;
pub mod compare;
pub mod error;
pub mod explain;
pub mod history;
pub mod import;
pub mod matrix;
pub mod permutation;
pub mod policy;
mod remote;
pub mod simulate;
pub mod stats;
pub mod store;

pub use error::BaselineError;

use std::io::Read;
use std::path::Path;

/// Reads a text file of at most `limit` bytes (inputs are untrusted).
pub fn read_limited(path: &Path, limit: u64) -> Result<String, BaselineError> {
    let f = std::fs::File::open(path).map_err(|e| BaselineError::io(path, e))?;
    let mut s = String::new();
    f.take(limit + 1)
        .read_to_string(&mut s)
        .map_err(|e| BaselineError::io(path, e))?;
    if s.len() as u64 > limit {
        return Err(BaselineError::Input(format!(
            "{}: larger than {limit} bytes",
            path.display()
        )));
    }
    Ok(s)
}
