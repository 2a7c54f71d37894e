//! The result writer: an event sink that keeps the result file on disk up to
//! date. After every finished run it rewrites the file atomically with
//! status `interrupted`, so a crash or kill still leaves what was measured;
//! at the end it writes the final status.

use std::path::PathBuf;

use crate::error::CoreError;
use crate::events::{EventSink, RunEvent};
use crate::host::HostInfo;
use crate::result::{now_rfc3339, Invocation, ResultFile, RunRecord, Status, ToolInfo};

/// Writes the result file as runs finish.
pub struct ResultWriter {
    path: PathBuf,
    file: ResultFile,
    /// The last write error, if any (the run goes on; the CLI reports it).
    pub error: Option<CoreError>,
    /// Run position of each record in `file.runs`, ascending.
    order: Vec<usize>,
}

impl ResultWriter {
    /// A writer for `path`. Nothing is written until the first run ends.
    pub fn new(path: PathBuf, tool: ToolInfo, host: HostInfo, invocation: Invocation) -> Self {
        let now = now_rfc3339();
        Self {
            path,
            file: ResultFile {
                schema: crate::RESULT_SCHEMA.to_string(),
                tool,
                status: Status::Interrupted,
                error: None,
                started_at: now.clone(),
                finished_at: now,
                host,
                invocation,
                runs: Vec::new(),
            },
            error: None,
            order: Vec::new(),
        }
    }

    /// The file as it stands.
    pub fn file(&self) -> &ResultFile {
        &self.file
    }

    /// Where it is written.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Writes the file now with `status`.
    pub fn write(&mut self, status: Status) -> Result<(), CoreError> {
        self.file.status = status;
        self.file.finished_at = now_rfc3339();
        self.file.write_atomic(&self.path)
    }

    fn push(&mut self, index: usize, r: &RunRecord) {
        // Runs of a group finish in any order; the file keeps the run order.
        let at = self.order.partition_point(|&i| i <= index);
        self.order.insert(at, index);
        self.file.runs.insert(at, r.clone());
        if let Err(e) = self.write(Status::Interrupted) {
            self.error = Some(e);
        }
    }
}

impl EventSink for ResultWriter {
    fn event(&mut self, e: &RunEvent<'_>) {
        match e {
            RunEvent::RunFinished { index, record } => self.push(*index, record),
            RunEvent::SuiteFinished { status } => {
                if self.file.error.is_none() {
                    self.file.error = match status {
                        Status::Interrupted => {
                            Some("interrupted by signal before the suite completed".into())
                        }
                        Status::Failed => Some("one or more runs failed".into()),
                        _ => None,
                    };
                }
                if let Err(e) = self.write(*status) {
                    self.error = Some(e);
                }
            }
            _ => {}
        }
    }
}
