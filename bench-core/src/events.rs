//! Run events. The runner emits them; the progress display, the log and
//! the result writer consume them.

use crate::result::{IntervalPoint, RunRecord, Status};
use std::time::Duration;

/// Something that happened during a suite run.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// The suite began.
    SuiteStarted {
        /// Suite name.
        suite: &'a str,
        /// Runs planned (workloads × repetitions).
        total_runs: usize,
        /// Expected wall time (warm-up + measured phases).
        planned: Duration,
    },
    /// One workload × repetition began.
    RunStarted {
        /// Position in the run order, from 0.
        index: usize,
        /// Run id.
        id: &'a str,
        /// Expected wall time of this run.
        planned: Duration,
    },
    /// An interval of the per-interval series completed.
    Interval {
        /// Run position.
        index: usize,
        /// Step label.
        step: &'a str,
        /// The merged point.
        point: &'a IntervalPoint,
    },
    /// A run ended (ok, failed or interrupted); the record is final.
    RunFinished {
        /// Run position.
        index: usize,
        /// The record as it will be stored.
        record: &'a RunRecord,
    },
    /// The suite ended.
    SuiteFinished {
        /// Overall status.
        status: Status,
    },
}

/// A consumer of run events.
pub trait EventSink {
    /// Handles one event. Sinks must not block for long: they run on the
    /// runner's collecting thread.
    fn event(&mut self, e: &RunEvent<'_>);
}

/// A sink that keeps every finished record (used by tests and the CLI).
#[derive(Default)]
pub struct Collect {
    /// Records in the order they finished.
    pub records: Vec<RunRecord>,
    /// Interval points seen, with their run index.
    pub intervals: Vec<(usize, IntervalPoint)>,
}

impl EventSink for Collect {
    fn event(&mut self, e: &RunEvent<'_>) {
        match e {
            RunEvent::RunFinished { record, .. } => self.records.push((*record).clone()),
            RunEvent::Interval { index, point, .. } => {
                self.intervals.push((*index, (*point).clone()))
            }
            _ => {}
        }
    }
}
