//! Progress display: an indicatif bar on a terminal, plain log lines otherwise.

use std::io::IsTerminal;

use bench_core::events::{EventSink, RunEvent};
use bench_core::result::Status;
use indicatif::{ProgressBar, ProgressStyle};

/// Shows suite progress on stderr.
pub struct Progress {
    bar: Option<ProgressBar>,
    total: usize,
    quiet: bool,
}

impl Progress {
    /// A bar when stderr is a terminal and not `quiet`; log lines otherwise.
    pub fn new(quiet: bool) -> Self {
        Self {
            bar: None,
            total: 0,
            quiet,
        }
    }

    fn line(&self, s: String) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(b) => b.println(s),
            None => eprintln!("{s}"),
        }
    }
}

impl EventSink for Progress {
    fn event(&mut self, e: &RunEvent<'_>) {
        match e {
            RunEvent::SuiteStarted {
                suite,
                total_runs,
                planned,
            } => {
                self.total = *total_runs;
                self.line(format!(
                    "skubench: suite `{suite}`: {total_runs} runs, about {}",
                    bench_core::units::fmt_duration(std::time::Duration::from_secs(
                        planned.as_secs()
                    ))
                ));
                if !self.quiet && std::io::stderr().is_terminal() {
                    let b = ProgressBar::new(*total_runs as u64);
                    b.set_style(
                        ProgressStyle::with_template(
                            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    b.enable_steady_tick(std::time::Duration::from_millis(200));
                    self.bar = Some(b);
                }
            }
            RunEvent::RunStarted { id, .. } => {
                if let Some(b) = &self.bar {
                    b.set_message(id.to_string());
                }
            }
            RunEvent::Interval { step, point, .. } => {
                if let Some(b) = &self.bar {
                    b.set_message(format!(
                        "{step} t={:.0}s {:.0} ops/s p99 {:.1} µs",
                        point.t_s,
                        point.ops_per_s,
                        point.p99_ns as f64 / 1e3
                    ));
                }
            }
            RunEvent::RunFinished { index, record } => {
                let mut s = format!(
                    "[{}/{}] {} {}",
                    index + 1,
                    self.total.max(index + 1),
                    record.id,
                    match record.status {
                        Status::Ok => "ok",
                        Status::Failed => "FAILED",
                        Status::Interrupted => "interrupted",
                        Status::Skipped => "skipped",
                    }
                );
                if let Some(m) = record.metrics.first() {
                    s.push_str(&format!(
                        " · {} = {}",
                        m.name,
                        reports::show::fmt_value(m.value, &m.unit)
                    ));
                }
                if record.disturbance.disturbed {
                    s.push_str(&format!(
                        " · DISTURBED (foreign CPU {:.2} vCPU)",
                        record.disturbance.foreign_cpu_vcpus
                    ));
                }
                if let Some(e) = &record.error {
                    s.push_str(&format!(" · {e}"));
                }
                self.line(s);
                if let Some(b) = &self.bar {
                    b.inc(1);
                }
            }
            RunEvent::SuiteFinished { .. } => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
            }
        }
    }
}
