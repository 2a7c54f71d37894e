//! The workload plug-in interface, shaped like fio's engines.
//!
//! A [`WorkloadFactory`] declares a kind's parameters and validates them into
//! a configured [`Workload`] (config kept apart from the running instance).
//! The runner then drives: `prepare` → for each [`Step`], one [`Worker`] per
//! thread running its loop against a [`WorkerCtx`] → `metrics` → `teardown`.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::attrib::{StepAttribution, ThreadDelta, ThreadSample};
use crate::clock::Clock;
use crate::error::{SpecError, WorkloadError};
use crate::hist::{new_hist, Hist, REPORTED_PERCENTILES};
use crate::params::{ParamDef, Params};
// Re-exported where it used to live, so `workload::IntervalPoint` keeps working.
pub use crate::result::IntervalPoint;
use crate::result::{Better, Curve, Metric, Series};
use crate::units::Unit;

/// What a workload needs and does. The runner records it in every run's
/// notes (`resources`) and, when a group runs an `exclusive` workload beside
/// others, warns in that run's notes (`resources.warning`) before its
/// figures are taken at face value.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Resources {
    /// Worker threads of the largest step.
    pub threads: usize,
    /// Writes to storage.
    pub writes_storage: bool,
    /// Opens network connections.
    pub uses_network: bool,
    /// Needs root (e.g. network namespaces).
    pub needs_root: bool,
    /// Sensitive to other load: run it alone, not next to other workloads.
    pub exclusive: bool,
}

/// Environment handed to `prepare`.
#[derive(Clone, Debug)]
pub struct PrepareEnv {
    /// Number of online vCPUs.
    pub vcpus: usize,
    /// The stop flag (Ctrl-C); long preparations should poll it.
    pub stop: std::sync::Arc<AtomicBool>,
}

/// One measured phase of a run: a thread count, an optional placement, and
/// the metric-name prefix its results are reported under. Most workloads
/// have one step; a scaling curve has one per thread count.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// Metric-name prefix, e.g. `cpu.int` or `cpu.int.scaling.t2`.
    pub label: String,
    /// Worker threads.
    pub threads: usize,
    /// vCPU of each worker (`pin[i % len]`), or none.
    pub pin: Option<Vec<usize>>,
    /// Overrides the measured duration of this step.
    pub duration: Option<Duration>,
}

impl Step {
    /// A step of `threads` workers under `label`.
    pub fn new(label: impl Into<String>, threads: usize, pin: Option<Vec<usize>>) -> Self {
        Self {
            label: label.into(),
            threads: threads.max(1),
            pin,
            duration: None,
        }
    }

    /// The vCPU worker `i` is pinned to, if any.
    pub fn cpu_of(&self, i: usize) -> Option<usize> {
        self.pin
            .as_ref()
            .filter(|p| !p.is_empty())
            .map(|p| p[i % p.len()])
    }
}

/// What one worker measured in one step.
#[derive(Clone, Debug)]
pub struct WorkerResult {
    /// Worker index.
    pub index: usize,
    /// The vCPU it was pinned to.
    pub cpu: Option<usize>,
    /// Measured operations.
    pub ops: u64,
    /// Measured bytes.
    pub bytes: u64,
    /// Latency of every measured operation, ns.
    pub hist: Hist,
    /// What the worker returned beside the context's counts (its own
    /// counters); read it back typed with [`StepResult::outputs`] or
    /// [`StepResult::merged_output`].
    pub output: Arc<dyn WorkerOutput>,
    /// Auxiliary histograms (see [`WorkerCtx::aux_hist`]), measured phase only.
    pub aux: Vec<(String, Hist)>,
    /// This worker thread's run-queue wait and context switches in the
    /// measured phase (attribution).
    pub sched: ThreadDelta,
}

/// Everything one step measured.
#[derive(Clone, Debug)]
pub struct StepResult {
    /// The step as run.
    pub step: Step,
    /// Per-worker results, in worker order.
    pub workers: Vec<WorkerResult>,
    /// All workers' histograms merged.
    pub merged: Hist,
    /// Total measured operations.
    pub ops: u64,
    /// Total measured bytes.
    pub bytes: u64,
    /// Length of the measured phase (first start to last worker's end), s.
    pub elapsed_s: f64,
    /// Per-interval series.
    pub series: Vec<IntervalPoint>,
    /// Per-interval series of each operation class (see
    /// [`WorkerCtx::record_in`]), by class name, in the order the classes
    /// were registered with [`WorkerCtx::aux_hist`].
    pub class_series: Vec<(String, Vec<IntervalPoint>)>,
    /// Where the step's time went (scheduler, pressure, interrupts, stack
    /// counters, eBPF histograms); the runner adds it to the run's metrics.
    pub attribution: StepAttribution,
}

impl StepResult {
    /// Operations per second over the measured phase.
    pub fn ops_per_s(&self) -> f64 {
        if self.elapsed_s > 0.0 {
            self.ops as f64 / self.elapsed_s
        } else {
            0.0
        }
    }
    /// Bytes per second over the measured phase.
    pub fn bytes_per_s(&self) -> f64 {
        if self.elapsed_s > 0.0 {
            self.bytes as f64 / self.elapsed_s
        } else {
            0.0
        }
    }
    /// An auxiliary histogram merged over all workers, if any worker kept one.
    pub fn merged_aux(&self, name: &str) -> Option<Hist> {
        let mut out: Option<Hist> = None;
        for (n, h) in self.workers.iter().flat_map(|w| w.aux.iter()) {
            if n == name {
                match out.as_mut() {
                    None => out = Some(h.clone()),
                    Some(m) => {
                        let _ = m.add(h);
                    }
                }
            }
        }
        out
    }

    /// Each worker's own output as the `T` the workload's workers return,
    /// in worker order. Fails, naming both types, when a worker returned
    /// something else: a workload reading the wrong type is a bug that must
    /// not pass as a figure of zero.
    pub fn outputs<T: WorkerOutput>(&self) -> Result<Vec<&T>, WorkloadError> {
        self.workers
            .iter()
            .map(|w| {
                let out: &dyn WorkerOutput = &*w.output;
                (out as &dyn Any).downcast_ref::<T>().ok_or_else(|| {
                    WorkloadError::Other(format!(
                        "step `{}`: worker {} returned `{}`, not the `{}` its workload reads",
                        self.step.label,
                        w.index,
                        out.type_name(),
                        std::any::type_name::<T>()
                    ))
                })
            })
            .collect()
    }

    /// The workers' outputs merged into one `T` (see [`Merge`]); fails like
    /// [`StepResult::outputs`] when a worker returned another type.
    pub fn merged_output<T: WorkerOutput + Merge + Default>(&self) -> Result<T, WorkloadError> {
        let mut total = T::default();
        for o in self.outputs::<T>()? {
            total.merge(o);
        }
        Ok(total)
    }
}

/// A worker's own figures (counters, socket statistics …) beside the
/// operations and bytes its context counted. Any plain `Send + Sync` type
/// is one; the workload that made the worker reads it back typed.
pub trait WorkerOutput: Any + Send + Sync + fmt::Debug {
    /// The concrete type's name, for the error when a workload reads another.
    fn type_name(&self) -> &'static str;
}

impl<T: Any + Send + Sync + fmt::Debug> WorkerOutput for T {
    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
}

/// How one worker's output folds into the total of a step.
pub trait Merge {
    /// Adds `other` (another worker's output) into `self`.
    fn merge(&mut self, other: &Self);
}

/// The output of workers that have nothing to add.
impl Merge for () {
    fn merge(&mut self, _: &Self) {}
}

/// What a workload reports for one run: metrics, histograms, series, notes.
#[derive(Clone, Debug, Default)]
pub struct RunOutput {
    /// Named figures.
    pub metrics: Vec<Metric>,
    /// Named latency histograms (names end in `.lat_ns` or similar).
    pub histograms: Vec<(String, Hist)>,
    /// Per-interval series.
    pub series: Vec<Series>,
    /// Curves over the run's steps.
    pub curves: Vec<Curve>,
    /// Free-form facts worth keeping (conventions, engine used …).
    pub notes: BTreeMap<String, serde_json::Value>,
}

impl RunOutput {
    /// Adds a metric.
    pub fn metric(
        &mut self,
        name: impl Into<String>,
        value: f64,
        unit: impl Into<Unit>,
        better: Better,
    ) {
        self.metrics.push(Metric::new(name, value, unit, better));
    }

    /// Adds latency percentile metrics (`<name>.p50` … `.max`, at
    /// [`REPORTED_PERCENTILES`]) and the histogram itself.
    pub fn latency(&mut self, name: &str, h: &Hist) {
        self.latency_at(name, h, REPORTED_PERCENTILES);
    }

    /// Like [`RunOutput::latency`], at the percentiles of `table` (e.g.
    /// [`FIO_PERCENTILES`](crate::hist::FIO_PERCENTILES)).
    pub fn latency_at(&mut self, name: &str, h: &Hist, table: &[(f64, &str)]) {
        if h.is_empty() {
            return;
        }
        for (p, suffix) in table {
            self.metric(
                format!("{name}.{suffix}"),
                h.value_at_quantile(p / 100.0) as f64,
                Unit::Ns,
                Better::Lower,
            );
        }
        self.metric(
            format!("{name}.max"),
            h.max() as f64,
            Unit::Ns,
            Better::Lower,
        );
        self.histograms.push((name.to_string(), h.clone()));
    }

    /// The standard figures of a step: `<prefix>.ops_per_s`, `.bytes_per_s`
    /// when bytes moved, latency percentiles under `<prefix>.lat_ns`, and
    /// the series.
    pub fn standard(&mut self, prefix: &str, s: &StepResult) {
        self.metric(
            format!("{prefix}.ops_per_s"),
            s.ops_per_s(),
            Unit::OpsPerS,
            Better::Higher,
        );
        if s.bytes > 0 {
            self.metric(
                format!("{prefix}.bytes_per_s"),
                s.bytes_per_s(),
                Unit::BytesPerS,
                Better::Higher,
            );
        }
        self.latency(&format!("{prefix}.lat_ns"), &s.merged);
        self.series.push(Series {
            name: prefix.to_string(),
            points: s.series.clone(),
        });
    }
}

/// Validates parameters into a configured workload; one per kind.
pub trait WorkloadFactory: Send + Sync {
    /// The kind name used in suites and on the command line (`cpu`, `disk` …).
    fn kind(&self) -> &'static str;
    /// One line describing the workload.
    fn about(&self) -> &'static str;
    /// The parameters this kind accepts.
    fn params(&self) -> &'static [ParamDef];
    /// Checks cross-parameter constraints and builds the workload. Nothing
    /// may touch the system here: validation happens before anything runs.
    fn build(&self, params: &Params, vcpus: usize) -> Result<Box<dyn Workload>, SpecError>;
}

/// A configured workload: the hooks the runner calls.
pub trait Workload: Send {
    /// What the workload needs and does.
    fn resources(&self) -> Resources;
    /// The measured steps of one run.
    fn steps(&self) -> Vec<Step>;
    /// One-time set-up before the first repetition (create files, fill buffers).
    fn prepare(&mut self, _env: &PrepareEnv) -> Result<(), WorkloadError> {
        Ok(())
    }
    /// Creates the worker for thread `index` of `step`. Called on the
    /// runner's thread; the worker then moves to its own thread.
    fn worker(&self, step: &Step, index: usize) -> Result<Box<dyn Worker>, WorkloadError>;
    /// Turns the steps' measurements into named metrics and histograms.
    /// The default reports throughput and latency percentiles per step.
    /// An error (e.g. a worker output of the wrong type) fails the run.
    fn metrics(&self, steps: &[StepResult]) -> Result<RunOutput, WorkloadError> {
        let mut out = RunOutput::default();
        for s in steps {
            out.standard(&s.step.label, s);
        }
        Ok(out)
    }
    /// Clean-up after the last repetition, also after failure or Ctrl-C.
    fn teardown(&mut self) -> Result<(), WorkloadError> {
        Ok(())
    }
}

/// One thread's work loop.
pub trait Worker: Send {
    /// Runs operations until `ctx.running()` is false, reporting each with
    /// [`WorkerCtx::op_done`] or [`WorkerCtx::record`]. Returns the
    /// worker's own figures for `Workload::metrics` (`Box::new(())` when
    /// it has none).
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError>;
}

/// A worker's report at an interval boundary, sent to the runner.
#[derive(Debug)]
pub struct IntervalReport {
    /// Worker index.
    pub worker: usize,
    /// Interval number (0 = first second of the measured phase).
    pub index: u64,
    /// Length of the interval, ns (shorter for the last one).
    pub len_ns: u64,
    /// Operations in the interval.
    pub ops: u64,
    /// Bytes in the interval.
    pub bytes: u64,
    /// Latencies in the interval.
    pub hist: Hist,
    /// The same figures per operation class recorded with
    /// [`WorkerCtx::record_in`] (classes with no operation are left out).
    pub classes: Vec<ClassInterval>,
}

/// One operation class's share of an interval (e.g. the reads of a mixed
/// read/write job).
#[derive(Debug)]
pub struct ClassInterval {
    /// Class name, as given to [`WorkerCtx::aux_hist`].
    pub name: String,
    /// Operations of the class in the interval.
    pub ops: u64,
    /// Bytes of the class in the interval.
    pub bytes: u64,
    /// Latencies of the class in the interval.
    pub hist: Hist,
}

/// An auxiliary histogram and, once it is used as an operation class, its
/// per-interval accumulators.
struct Aux {
    name: String,
    hist: Hist,
    ival: Option<(u64, u64, Hist)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Warmup,
    Measure,
    Done,
}

/// The per-thread measurement context: clock, phase control, histograms.
///
/// The hot path ([`WorkerCtx::op_done`]) is one clock read, two scaled
/// subtractions, one comparison with the next phase/interval boundary, a
/// histogram record and a relaxed load of the stop flag.
pub struct WorkerCtx<'a> {
    clock: &'a Clock,
    stop: &'a AtomicBool,
    tx: Option<Sender<IntervalReport>>,
    index: usize,
    t0: u64,
    last: u64,
    warmup_ns: u64,
    end_ns: Option<u64>,
    interval_ns: u64,
    next_boundary_ns: u64,
    interval_index: u64,
    interval_start_ns: u64,
    ops_left: Option<u64>,
    /// This thread's scheduler figures at the start of the measured phase,
    /// and what they became by its end (attribution, read twice per step).
    sched0: Option<ThreadSample>,
    sched: ThreadDelta,
    phase: Phase,
    hist: Hist,
    ival_hist: Hist,
    ival_ops: u64,
    ival_bytes: u64,
    ops: u64,
    bytes: u64,
    last_op_ns: u64,
    aux: Vec<Aux>,
}

/// Timing of a step as the runner hands it to each worker.
#[derive(Clone, Copy, Debug)]
pub struct PhasePlan {
    /// Warm-up length (not recorded).
    pub warmup: Duration,
    /// Measured length; `None` when bounded by an operation count only.
    pub duration: Option<Duration>,
    /// Operation budget of this worker in the measured phase.
    pub ops: Option<u64>,
    /// Series interval.
    pub interval: Duration,
}

impl<'a> WorkerCtx<'a> {
    /// A context whose time origin is `t0` (a raw reading shared by all workers).
    pub fn new(
        clock: &'a Clock,
        stop: &'a AtomicBool,
        tx: Option<Sender<IntervalReport>>,
        index: usize,
        t0: u64,
        plan: PhasePlan,
    ) -> Self {
        let warmup_ns = plan.warmup.as_nanos() as u64;
        let interval_ns = (plan.interval.as_nanos() as u64).max(1_000_000);
        let end_ns = plan.duration.map(|d| warmup_ns + d.as_nanos() as u64);
        let phase = if plan.ops == Some(0) {
            Phase::Done
        } else if warmup_ns == 0 {
            Phase::Measure
        } else {
            Phase::Warmup
        };
        let mut ctx = Self {
            clock,
            stop,
            tx,
            index,
            t0,
            last: t0,
            warmup_ns,
            end_ns,
            interval_ns,
            next_boundary_ns: 0,
            interval_index: 0,
            interval_start_ns: warmup_ns,
            ops_left: plan.ops,
            sched0: (phase == Phase::Measure).then(ThreadSample::read),
            sched: ThreadDelta::default(),
            phase,
            hist: new_hist(),
            ival_hist: new_hist(),
            ival_ops: 0,
            ival_bytes: 0,
            ops: 0,
            bytes: 0,
            last_op_ns: warmup_ns,
            aux: Vec::new(),
        };
        ctx.next_boundary_ns = ctx.compute_next_boundary();
        ctx
    }

    fn compute_next_boundary(&self) -> u64 {
        match self.phase {
            Phase::Warmup => self.warmup_ns,
            Phase::Measure => {
                let ival_end = self.interval_start_ns + self.interval_ns;
                match self.end_ns {
                    Some(e) => ival_end.min(e),
                    None => ival_end,
                }
            }
            Phase::Done => u64::MAX,
        }
    }

    /// False once the measured phase is over or a stop was requested.
    #[inline(always)]
    pub fn running(&mut self) -> bool {
        if self.phase == Phase::Done {
            return false;
        }
        if self.stop.load(Ordering::Relaxed) {
            self.finish_phase();
            return false;
        }
        // Sleeping or blocked workers may not report for a while; check time
        // here too so they stop on schedule.
        true
    }

    /// Whether the measured phase (not warm-up) is under way.
    pub fn measuring(&self) -> bool {
        self.phase == Phase::Measure
    }

    /// The planned length of the measured phase (`None` when it is bounded
    /// by an operation count only), for workloads that explain a run too
    /// short for one of their operations.
    pub fn planned_measure(&self) -> Option<Duration> {
        self.end_ns
            .map(|e| Duration::from_nanos(e.saturating_sub(self.warmup_ns)))
    }

    /// Whether a stop (Ctrl-C, SIGTERM, a failed peer) was requested.
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Worker index within the step.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The clock, for workloads that time things themselves.
    pub fn clock(&self) -> &Clock {
        self.clock
    }

    /// A raw clock reading.
    #[inline(always)]
    pub fn now(&self) -> u64 {
        self.clock.raw()
    }

    /// Nanoseconds since the step's time origin.
    #[inline(always)]
    pub fn elapsed_ns(&self, raw: u64) -> u64 {
        self.clock.delta_ns(self.t0, raw)
    }

    /// Restarts operation timing now: call after idling so the idle time is
    /// not counted as the next operation's latency.
    #[inline(always)]
    pub fn restart(&mut self) {
        self.last = self.clock.raw();
    }

    /// Marks one operation done now; its latency is the time since the
    /// previous operation ended (or since [`WorkerCtx::restart`]).
    #[inline(always)]
    pub fn op_done(&mut self, bytes: u64) {
        let now = self.clock.raw();
        let lat = self.clock.delta_ns(self.last, now);
        self.last = now;
        self.account(now, lat, 1, bytes);
    }

    /// Records one operation with a latency the workload measured itself
    /// (e.g. wake-up lateness, or service time from an intended start).
    #[inline(always)]
    pub fn record(&mut self, latency_ns: u64, bytes: u64) {
        let now = self.clock.raw();
        self.last = now;
        self.account(now, latency_ns, 1, bytes);
    }

    /// Records `count` operations of equal latency at once (batched work).
    #[inline(always)]
    pub fn record_n(&mut self, latency_ns: u64, count: u64, bytes: u64) {
        let now = self.clock.raw();
        self.last = now;
        self.account(now, latency_ns, count, bytes);
    }

    #[inline(always)]
    fn account(&mut self, now: u64, lat: u64, count: u64, bytes: u64) {
        let el = self.clock.delta_ns(self.t0, now);
        if el >= self.next_boundary_ns {
            self.cross_boundary(el);
        }
        if self.phase == Phase::Measure {
            self.hist.saturating_record_n(lat, count);
            self.ival_hist.saturating_record_n(lat, count);
            self.ival_ops += count;
            self.ival_bytes += bytes;
            self.ops += count;
            self.bytes += bytes;
            self.last_op_ns = el;
            if let Some(left) = self.ops_left.as_mut() {
                *left = left.saturating_sub(count);
                if *left == 0 {
                    self.finish_phase();
                }
            }
        }
    }

    /// Registers an auxiliary histogram (e.g. per direction, or response
    /// time from the intended start) and returns its slot for
    /// [`WorkerCtx::record_aux`]. Registering the same name twice returns
    /// the same slot.
    pub fn aux_hist(&mut self, name: &str) -> usize {
        if let Some(i) = self.aux.iter().position(|a| a.name == name) {
            return i;
        }
        self.aux.push(Aux {
            name: name.to_string(),
            hist: new_hist(),
            ival: None,
        });
        self.aux.len() - 1
    }

    /// Records into an auxiliary histogram, during the measured phase only.
    /// Call it before the operation's `op_done`/`record`, which may end the phase.
    #[inline(always)]
    pub fn record_aux(&mut self, slot: usize, value_ns: u64) {
        if self.phase == Phase::Measure {
            if let Some(a) = self.aux.get_mut(slot) {
                a.hist.saturating_record(value_ns);
            }
        }
    }

    /// Records one operation, like [`WorkerCtx::record`], and also into the
    /// operation class `slot` (from [`WorkerCtx::aux_hist`]): the class's
    /// histogram and its own per-interval series, which land in
    /// [`StepResult::class_series`]. For mixed workloads whose directions
    /// each need a series (reads and writes of `randrw`). The interval
    /// boundary is checked first, so an operation counts in the same
    /// interval for its class as for the total.
    #[inline]
    pub fn record_in(&mut self, slot: usize, latency_ns: u64, bytes: u64) {
        let now = self.clock.raw();
        let el = self.clock.delta_ns(self.t0, now);
        if el >= self.next_boundary_ns {
            self.cross_boundary(el);
        }
        if self.phase == Phase::Measure {
            if let Some(a) = self.aux.get_mut(slot) {
                a.hist.saturating_record(latency_ns);
                let iv = a.ival.get_or_insert_with(|| (0, 0, new_hist()));
                iv.0 += 1;
                iv.1 += bytes;
                iv.2.saturating_record(latency_ns);
            }
        }
        self.last = now;
        self.account(now, latency_ns, 1, bytes);
    }

    /// Polls the clock for phase changes without recording an operation;
    /// for workers that wait (sleep, poll) between operations.
    pub fn tick(&mut self) {
        let now = self.clock.raw();
        let el = self.clock.delta_ns(self.t0, now);
        if el >= self.next_boundary_ns {
            self.cross_boundary(el);
        }
    }

    #[cold]
    fn cross_boundary(&mut self, el: u64) {
        loop {
            match self.phase {
                Phase::Warmup => {
                    if el < self.warmup_ns {
                        break;
                    }
                    self.phase = Phase::Measure;
                    self.interval_start_ns = self.warmup_ns;
                    self.last_op_ns = self.warmup_ns;
                    self.sched0 = Some(ThreadSample::read());
                }
                Phase::Measure => {
                    let ival_end = self.interval_start_ns + self.interval_ns;
                    let end = self.end_ns.unwrap_or(u64::MAX);
                    if end <= ival_end && el >= end {
                        self.last_op_ns = end;
                        self.finish_phase();
                        break;
                    }
                    if el < ival_end {
                        break;
                    }
                    self.flush_interval(ival_end);
                }
                Phase::Done => break,
            }
        }
        self.next_boundary_ns = self.compute_next_boundary();
    }

    fn flush_interval(&mut self, end_ns: u64) {
        let len_ns = end_ns.saturating_sub(self.interval_start_ns);
        if let Some(tx) = &self.tx {
            let mut h = new_hist();
            std::mem::swap(&mut h, &mut self.ival_hist);
            let classes = self
                .aux
                .iter_mut()
                .filter_map(|a| {
                    let (ops, bytes, hist) = a.ival.take()?;
                    Some(ClassInterval {
                        name: a.name.clone(),
                        ops,
                        bytes,
                        hist,
                    })
                })
                .collect();
            // The runner may have gone (a failed step); nothing to do then.
            let _ = tx.send(IntervalReport {
                worker: self.index,
                index: self.interval_index,
                len_ns,
                ops: self.ival_ops,
                bytes: self.ival_bytes,
                hist: h,
                classes,
            });
        } else {
            self.ival_hist.reset();
            for a in &mut self.aux {
                a.ival = None;
            }
        }
        self.ival_ops = 0;
        self.ival_bytes = 0;
        self.interval_index += 1;
        self.interval_start_ns = end_ns;
    }

    fn finish_phase(&mut self) {
        if let Some(a) = self.sched0.take() {
            self.sched = a.delta(&ThreadSample::read());
        }
        if self.phase == Phase::Measure {
            let end = self.last_op_ns.max(self.interval_start_ns);
            if end > self.interval_start_ns || self.ival_ops > 0 {
                self.flush_interval(end);
            }
        }
        self.phase = Phase::Done;
        self.next_boundary_ns = u64::MAX;
    }

    /// Consumes the context into this worker's result.
    pub fn into_result(
        mut self,
        cpu: Option<usize>,
        output: Box<dyn WorkerOutput>,
    ) -> (WorkerResult, u64) {
        if self.phase != Phase::Done {
            // The worker returned early (error or its own end): close the
            // series at its last operation.
            self.finish_phase();
        }
        let measured_ns = self.last_op_ns.saturating_sub(self.warmup_ns);
        (
            WorkerResult {
                index: self.index,
                cpu,
                ops: self.ops,
                bytes: self.bytes,
                hist: self.hist,
                output: Arc::from(output),
                aux: self.aux.into_iter().map(|a| (a.name, a.hist)).collect(),
                sched: self.sched,
            },
            measured_ns,
        )
    }
}

/// The set of workload kinds the binary knows.
#[derive(Default)]
pub struct Registry {
    factories: Vec<Box<dyn WorkloadFactory>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a kind; a later kind of the same name replaces the earlier one.
    pub fn add(&mut self, f: Box<dyn WorkloadFactory>) {
        self.factories.retain(|x| x.kind() != f.kind());
        self.factories.push(f);
    }

    /// Looks up a kind.
    pub fn get(&self, kind: &str) -> Option<&dyn WorkloadFactory> {
        self.factories
            .iter()
            .find(|f| f.kind() == kind)
            .map(|b| b.as_ref())
    }

    /// All kinds, in registration order.
    pub fn kinds(&self) -> impl Iterator<Item = &dyn WorkloadFactory> {
        self.factories.iter().map(|b| b.as_ref())
    }
}
