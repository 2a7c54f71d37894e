//! reports: pure renderers. Every function takes data and returns text or
//! bytes; none does I/O, reads the clock or the environment. The CLI decides
//! where the output goes (and whether the terminal gets colour).
//!
//! Comparison formats: [`terminal`], [`markdown`], [`html`] (plots through
//! the [`plot::Plotter`] trait), [`json`] (schema
//! `schema/comparison.v1.schema.json`) and [`junit`]. Single runs without a
//! baseline: [`runs`].

mod common;
pub mod hgrm;
pub mod history;
pub mod html;
pub mod json;
pub mod junit;
pub mod latency;
pub mod markdown;
pub mod matrix;
pub mod numa;
pub mod plot;
pub mod runs;
#[cfg(feature = "test-support")]
pub mod sample;
pub mod show;
mod style;
pub mod terminal;
