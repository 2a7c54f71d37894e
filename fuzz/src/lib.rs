//! The checks of the fuzz targets: each function takes one input, runs it
//! through the parser the program uses and panics when an invariant fails.
//! The targets (`fuzz_targets/`) are one call each; the main workspace's
//! `tests/fuzz_regressions.rs` includes these same files and replays every
//! committed crash and seed through them on stable, in the normal tests.

pub mod parsers;

#[cfg(feature = "analyse")]
pub mod analysis;
