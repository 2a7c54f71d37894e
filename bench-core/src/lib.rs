//! bench-core: the skubench run model.
//!
//! This crate owns everything between "a validated suite" and "a result file":
//! the [`Workload`](workload::Workload) trait, the [`Runner`](runner::Runner)
//! (warm-up, measured phase, per-thread HDR histograms merged at the end,
//! per-interval series, interleaved repetitions), run [`events`], the result
//! file schema ([`result`]), the host fingerprint ([`host`]) and the
//! disturbance monitor ([`disturb`]). It knows nothing of clap, formatting or
//! statistics.

pub mod affinity;
pub mod attrib;
pub mod btf;
pub mod clock;
pub mod disturb;
pub mod ebpf;
pub mod error;
pub mod events;
pub mod hist;
pub mod host;
pub mod null;
pub mod params;
pub mod result;
pub mod runner;
pub mod stats;
pub mod suite;
pub mod units;
pub mod workload;
pub mod writer;

pub use error::{CoreError, SpecError, WorkloadError};
pub use params::{ParamDef, ParamKind, Params, Value};
pub use result::IntervalPoint;
pub use units::Unit;
pub use workload::{
    Merge, Registry, Resources, RunOutput, Step, StepResult, Worker, WorkerCtx, WorkerOutput,
    Workload, WorkloadFactory,
};

/// The schema identifier written into every result file.
pub const RESULT_SCHEMA: &str = "skubench.result.v1";
