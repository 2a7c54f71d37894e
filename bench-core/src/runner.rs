//! The runner: warm-up, measured phase, worker threads, interval series,
//! interleaved repetitions, events.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use crate::attrib::{Scope, StepAttribution, SystemSnapshot, ThreadDelta};
use crate::clock::Clock;
use crate::disturb::{Disturbance, Monitor, MonitorConfig};
use crate::ebpf::{EbpfSlot, Probes};
use crate::error::WorkloadError;
use crate::events::{EventSink, RunEvent};
use crate::hist::{encode, new_hist, Hist};
use crate::result::{now_rfc3339, IntervalPoint, RunRecord, Status};
use crate::suite::{Suite, Timing};
use crate::workload::{
    IntervalReport, PhasePlan, PrepareEnv, RunOutput, Step, StepResult, WorkerCtx, Workload,
};

/// Runner settings.
#[derive(Clone)]
pub struct Runner {
    /// The measurement clock.
    pub clock: Clock,
    /// Set by Ctrl-C / SIGTERM: stop as soon as possible and keep what was measured.
    pub stop: Arc<AtomicBool>,
    /// Disturbance monitoring; `None` turns it off (tests with fake clocks).
    pub monitor: Option<MonitorConfig>,
    /// Online vCPUs.
    pub vcpus: usize,
    /// eBPF attribution ([`EbpfSlot::on`] where it may run, off by default).
    pub ebpf: Arc<EbpfSlot>,
}

impl Runner {
    /// A runner with the real clock and monitoring on.
    pub fn new(stop: Arc<AtomicBool>) -> Self {
        Self {
            clock: Clock::new(),
            stop,
            monitor: Some(MonitorConfig::default()),
            vcpus: crate::affinity::online_vcpus(),
            ebpf: Arc::new(EbpfSlot::on()),
        }
    }

    /// Runs one step of `workload`: spawns its workers, collects the
    /// per-interval reports as they come, merges the histograms.
    pub fn run_step(
        &self,
        workload: &dyn Workload,
        step: &Step,
        timing: &Timing,
        on_interval: &mut dyn FnMut(&IntervalPoint),
    ) -> Result<StepResult, WorkloadError> {
        let threads = step.threads.max(1);
        let mut workers = Vec::with_capacity(threads);
        for i in 0..threads {
            workers.push(workload.worker(step, i)?);
        }
        let duration = step.duration.or(timing.duration);
        let step_stop = AtomicBool::new(false);
        let ready = Barrier::new(threads + 1);
        let go = Barrier::new(threads + 1);
        let t0 = AtomicU64::new(0);
        let (tx, rx) = mpsc::channel::<IntervalReport>();
        let clock = &self.clock;

        let results = std::thread::scope(|s| {
            let mut handles = Vec::with_capacity(threads);
            for (i, mut w) in workers.into_iter().enumerate() {
                let tx = tx.clone();
                let (ready, go, t0, step_stop) = (&ready, &go, &t0, &step_stop);
                let cpu = step.cpu_of(i);
                let ops = timing
                    .ops
                    .map(|n| n / threads as u64 + u64::from((i as u64) < n % threads as u64));
                let plan = PhasePlan {
                    warmup: timing.warmup,
                    duration,
                    ops,
                    interval: timing.interval,
                };
                let h = std::thread::Builder::new()
                    .name(format!("skubench-w{i}"))
                    .spawn_scoped(s, move || {
                        let pinned = cpu.map(crate::affinity::pin_current_thread);
                        ready.wait();
                        go.wait();
                        if let Some(Err(e)) = pinned {
                            step_stop.store(true, Ordering::Relaxed);
                            return Err(WorkloadError::Other(format!(
                                "cannot pin worker {i} to vCPU {}: {e}",
                                cpu.unwrap_or_default()
                            )));
                        }
                        let mut ctx = WorkerCtx::new(
                            clock,
                            step_stop,
                            Some(tx),
                            i,
                            t0.load(Ordering::Acquire),
                            plan,
                        );
                        let r = w.run(&mut ctx);
                        let output = match r {
                            Ok(x) => x,
                            Err(e) => {
                                step_stop.store(true, Ordering::Relaxed);
                                return Err(e);
                            }
                        };
                        Ok(ctx.into_result(cpu, output))
                    });
                match h {
                    Ok(h) => handles.push(h),
                    Err(e) => {
                        // Release the threads already waiting, then report.
                        step_stop.store(true, Ordering::Relaxed);
                        return Err(WorkloadError::io("spawn worker thread", e));
                    }
                }
            }
            drop(tx);
            // The tracer attaches before the clock starts (clearing and
            // attaching take tens of ms) and marks its counts when the
            // measured phase starts.
            let (scope, probes) = attribution_scope(&step.label);
            let attached = self.ebpf.begin(probes);
            ready.wait();
            // The workers' time origin, for the mark below.
            let started = std::time::Instant::now();
            t0.store(clock.raw(), Ordering::Release);
            let mut attr_start: Option<(SystemSnapshot, Result<(), crate::ebpf::EbpfError>)> = None;
            let start_attr = || {
                let traced = attached.clone().and_then(|()| self.ebpf.mark());
                (SystemSnapshot::take(scope), traced)
            };
            if timing.warmup.is_zero() {
                attr_start = Some(start_attr());
            }
            go.wait();

            let mut pending: BTreeMap<u64, IntervalAcc> = BTreeMap::new();
            let mut series = Vec::new();
            let mut class_points = ClassPoints::default();
            let interval_ns = timing.interval.as_nanos() as u64;
            let mut emit = |idx: u64,
                            acc: IntervalAcc,
                            series: &mut Vec<IntervalPoint>,
                            classes: &mut ClassPoints| {
                let p = point(idx, interval_ns, acc.len_ns, acc.ops, acc.bytes, &acc.hist);
                on_interval(&p);
                series.push(p);
                classes.push(
                    acc.classes
                        .into_iter()
                        .map(|(name, (ops, bytes, h))| {
                            (name, point(idx, interval_ns, acc.len_ns, ops, bytes, &h))
                        })
                        .collect(),
                );
            };
            loop {
                let mut wait = Duration::from_millis(50);
                if attr_start.is_none() {
                    let left = timing.warmup.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        attr_start = Some(start_attr());
                    } else {
                        wait = wait.min(left);
                    }
                }
                match rx.recv_timeout(wait) {
                    Ok(r) => {
                        let e = pending.entry(r.index).or_insert_with(IntervalAcc::new);
                        e.reports += 1;
                        e.len_ns = e.len_ns.max(r.len_ns);
                        e.ops += r.ops;
                        e.bytes += r.bytes;
                        let _ = e.hist.add(&r.hist);
                        for c in r.classes {
                            if !e.classes.iter().any(|(n, _)| *n == c.name) {
                                e.classes.push((c.name.clone(), (0, 0, new_hist())));
                            }
                            if let Some((_, (ops, bytes, h))) =
                                e.classes.iter_mut().find(|(n, _)| *n == c.name)
                            {
                                *ops += c.ops;
                                *bytes += c.bytes;
                                let _ = h.add(&c.hist);
                            }
                        }
                        if e.reports == threads {
                            if let Some(v) = pending.remove(&r.index) {
                                emit(r.index, v, &mut series, &mut class_points);
                            }
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                if self.stop.load(Ordering::Relaxed) {
                    step_stop.store(true, Ordering::Relaxed);
                }
            }
            // Intervals some worker never reached (it stopped early).
            for (idx, v) in std::mem::take(&mut pending) {
                emit(idx, v, &mut series, &mut class_points);
            }
            let mut out = Vec::with_capacity(handles.len());
            for h in handles {
                out.push(h.join().unwrap_or_else(|_| {
                    Err(WorkloadError::Other("a worker thread panicked".into()))
                }));
            }
            let class_series = class_points.finish(&series);
            let attribution = match attr_start {
                Some((snap0, traced)) => {
                    let system = Some(snap0.delta(&SystemSnapshot::take(scope)));
                    // Always end what began, so the tracer is free again.
                    let collected = attached.is_ok().then(|| self.ebpf.end(probes));
                    let (ebpf, ebpf_absent) = match (traced, collected) {
                        (Ok(()), Some(Ok(h))) => (Some(h), None),
                        (Err(e), _) | (_, Some(Err(e))) => (None, Some(e.to_string())),
                        (Ok(()), None) => {
                            (None, Some(crate::ebpf::EbpfError::NotAttached.to_string()))
                        }
                    };
                    StepAttribution {
                        system,
                        ebpf,
                        ebpf_absent,
                        ..StepAttribution::default()
                    }
                }
                // The step ended within its warm-up: nothing measured.
                None => {
                    if attached.is_ok() {
                        let _ = self.ebpf.end(probes);
                    }
                    StepAttribution::default()
                }
            };
            Ok((out, series, class_series, attribution))
        })?;

        let (results, series, class_series, mut attribution) = results;
        let mut workers = Vec::with_capacity(threads);
        let mut elapsed_ns = 0u64;
        for r in results {
            let (w, ns) = r?;
            elapsed_ns = elapsed_ns.max(ns);
            workers.push(w);
        }
        let mut merged = new_hist();
        for w in &workers {
            // Both have the same bounds, so adding cannot fail; saturate if it did.
            if merged.add(&w.hist).is_err() {
                for v in w.hist.iter_recorded() {
                    merged.saturating_record_n(v.value_iterated_to(), v.count_at_value());
                }
            }
        }
        let mut threads = ThreadDelta::default();
        for w in &workers {
            threads.add(&w.sched);
        }
        attribution.threads = threads;
        Ok(StepResult {
            attribution,
            step: step.clone(),
            ops: workers.iter().map(|w| w.ops).sum(),
            bytes: workers.iter().map(|w| w.bytes).sum(),
            elapsed_s: elapsed_ns as f64 / 1e9,
            workers,
            merged,
            series,
            class_series,
        })
    }

    /// Runs the workloads `members` (index into `all`, run position) at the
    /// same time, one thread each; their events reach `sinks` as they
    /// happen. Each run is recorded as usual, with the labels of the others
    /// in `notes.concurrent_with`.
    fn run_together(
        &self,
        all: &mut [crate::suite::PlannedWorkload],
        members: &[(usize, usize)],
        rep: u32,
        threshold: f64,
        sinks: &mut [&mut dyn EventSink],
    ) -> Vec<(usize, RunRecord)> {
        let labels: Vec<String> = members.iter().map(|&(j, _)| all[j].label.clone()).collect();
        // Disjoint `&mut` borrows: a workload is `Send`, not `Sync`.
        let runs: Vec<(usize, &mut crate::suite::PlannedWorkload)> = all
            .iter_mut()
            .enumerate()
            .filter_map(|(j, w)| members.iter().find(|m| m.0 == j).map(|m| (m.1, w)))
            .collect();
        let (tx, rx) = mpsc::channel::<Owned>();
        let out = std::thread::scope(|sc| {
            let handles: Vec<_> = runs
                .into_iter()
                .map(|(at, w)| {
                    let notes = group_notes(w, &labels);
                    let tx = tx.clone();
                    let failed = failed_record(w, rep, "the run's thread panicked".into());
                    let fwd_notes = notes.clone();
                    (
                        at,
                        failed,
                        notes,
                        sc.spawn(move || {
                            let mut fwd = Forward(tx, fwd_notes);
                            self.run_once(at, w, rep, threshold, &mut [&mut fwd])
                        }),
                    )
                })
                .collect();
            drop(tx);
            // Events go on to the real sinks live; the channel closes when
            // the last run has finished.
            for ev in rx {
                for s in sinks.iter_mut() {
                    match &ev {
                        Owned::Started(index, id, planned) => s.event(&RunEvent::RunStarted {
                            index: *index,
                            id,
                            planned: *planned,
                        }),
                        Owned::Interval(index, step, point) => s.event(&RunEvent::Interval {
                            index: *index,
                            step,
                            point,
                        }),
                        Owned::Finished(index, record) => s.event(&RunEvent::RunFinished {
                            index: *index,
                            record,
                        }),
                    }
                }
            }
            handles
                .into_iter()
                .map(|(at, failed, notes, h)| (at, h.join().unwrap_or(failed), notes))
                .collect::<Vec<_>>()
        });
        out.into_iter()
            .map(|(at, mut r, mut notes)| {
                r.notes.append(&mut notes);
                (at, r)
            })
            .collect()
    }

    /// Runs one repetition of a planned workload (all its steps) into a record.
    pub fn run_once(
        &self,
        index: usize,
        w: &crate::suite::PlannedWorkload,
        repetition: u32,
        threshold: f64,
        sinks: &mut [&mut dyn EventSink],
    ) -> RunRecord {
        let id = format!("{}#{}", w.label, repetition);
        for s in sinks.iter_mut() {
            s.event(&RunEvent::RunStarted {
                index,
                id: &id,
                planned: w.planned(),
            });
        }
        let started_at = now_rfc3339();
        let monitor = self.monitor.clone().map(|mut m| {
            m.threshold_vcpus = threshold;
            Monitor::start(m)
        });
        let mut steps = Vec::new();
        let mut error = None;
        let mut measured_s = 0.0;
        // The calibrated clock against the kernel's over the whole run: a
        // TSC scale off by a few percent would shift every timed figure.
        let clock_check = (self.clock.raw(), std::time::Instant::now());
        for step in w.workload.steps() {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let label = step.label.clone();
            let mut on_interval = |p: &IntervalPoint| {
                for s in sinks.iter_mut() {
                    s.event(&RunEvent::Interval {
                        index,
                        step: &label,
                        point: p,
                    });
                }
            };
            match self.run_step(w.workload.as_ref(), &step, &w.timing, &mut on_interval) {
                Ok(r) => {
                    measured_s += r.elapsed_s;
                    steps.push(r);
                }
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        let disturbance = monitor.map(Monitor::finish).unwrap_or_else(|| Disturbance {
            threshold_vcpus: threshold,
            ..Disturbance::default()
        });
        let mut status = if error.is_some() {
            Status::Failed
        } else if self.stop.load(Ordering::Relaxed) {
            Status::Interrupted
        } else {
            Status::Ok
        };
        let mut out = match w.workload.metrics(&steps) {
            Ok(out) => out,
            Err(e) => {
                status = Status::Failed;
                error.get_or_insert(e.to_string());
                RunOutput::default()
            }
        };
        out.notes.insert(RESOURCES_NOTE.into(), resources_note(w));
        let wall_ns = clock_check.1.elapsed().as_nanos() as f64;
        if self.clock.source() != "mock" && wall_ns >= 1e8 {
            let ratio = self.clock.delta_ns(clock_check.0, self.clock.raw()) as f64 / wall_ns;
            out.notes
                .insert("clock_vs_monotonic_ratio".into(), ratio.into());
            if (ratio - 1.0).abs() > 0.005 {
                out.notes.insert(
                    "clock_warning".into(),
                    format!(
                        "the {} clock ran {:.2}% off CLOCK_MONOTONIC over this run: timed figures are scaled by that much",
                        self.clock.source(),
                        (ratio - 1.0) * 100.0
                    )
                    .into(),
                );
            }
        }
        // A run that measured nothing is a failure, never `ok` with no
        // metrics: a comparison would otherwise treat it as a clean run.
        if status == Status::Ok && !out.metrics.iter().any(|m| m.value.is_finite()) {
            status = Status::Failed;
            error = Some(format!(
                "{}: the run completed no measurement in {:.3} s measured (no metric); raise the duration or make one operation smaller",
                w.label, measured_s
            ));
        }
        // Attribution after that check: it explains what was measured and
        // is no measurement itself.
        if status != Status::Failed {
            for st in &steps {
                add_attribution(&st.step.label, &st.attribution, st.elapsed_s, &mut out);
            }
        }
        let mut histograms = BTreeMap::new();
        for (name, h) in &out.histograms {
            match encode(h) {
                Ok(s) => {
                    histograms.insert(name.clone(), s);
                }
                Err(e) => {
                    error.get_or_insert(e.to_string());
                }
            }
        }
        let record = RunRecord {
            id,
            workload: w.kind.clone(),
            label: w.label.clone(),
            repetition,
            spec: w.spec_json(),
            status,
            error,
            started_at,
            finished_at: now_rfc3339(),
            warmup_s: w.timing.warmup.as_secs_f64(),
            measured_s,
            metrics: {
                let mut m: Vec<_> = out
                    .metrics
                    .into_iter()
                    .filter(|m| m.value.is_finite())
                    .collect();
                crate::result::assign_roles(&mut m);
                m
            },
            histograms,
            series: out.series,
            // JSON has no NaN: a point that is not finite is left out, like a metric.
            curves: out
                .curves
                .into_iter()
                .map(|mut c| {
                    c.points.retain(|p| p.iter().all(|v| v.is_finite()));
                    c
                })
                .collect(),
            disturbance,
            notes: out.notes,
        };
        for s in sinks.iter_mut() {
            s.event(&RunEvent::RunFinished {
                index,
                record: &record,
            });
        }
        record
    }

    /// Runs a suite: repetitions interleaved across workloads (A B C A B C …),
    /// each workload prepared before its first run and torn down at the end
    /// (also after a failure or Ctrl-C). Returns the records and the overall status.
    pub fn run_suite(
        &self,
        suite: &mut Suite,
        sinks: &mut [&mut dyn EventSink],
    ) -> (Vec<RunRecord>, Status) {
        let total = suite.workloads.len() * suite.settings.repetitions as usize;
        for s in sinks.iter_mut() {
            s.event(&RunEvent::SuiteStarted {
                suite: &suite.name,
                total_runs: total,
                planned: suite.planned(),
            });
        }
        let env = PrepareEnv {
            vcpus: self.vcpus,
            stop: self.stop.clone(),
        };
        let mut prepared: Vec<Option<Result<(), String>>> = vec![None; suite.workloads.len()];
        let mut records = Vec::new();
        let mut index = 0;
        let threshold = suite.settings.disturbance_threshold;
        'reps: for rep in 1..=suite.settings.repetitions {
            let mut done = vec![false; suite.workloads.len()];
            for wi in 0..suite.workloads.len() {
                if done[wi] {
                    continue;
                }
                if self.stop.load(Ordering::Relaxed) {
                    break 'reps;
                }
                // The workload and, when it has a group, every later member.
                let members: Vec<usize> = match &suite.workloads[wi].group {
                    Some(g) => (wi..suite.workloads.len())
                        .filter(|&j| suite.workloads[j].group.as_ref() == Some(g))
                        .collect(),
                    None => vec![wi],
                };
                let mut ready = Vec::new();
                for &j in &members {
                    done[j] = true;
                    let w = &mut suite.workloads[j];
                    let prep = prepared[j]
                        .get_or_insert_with(|| w.workload.prepare(&env).map_err(|e| e.to_string()))
                        .clone();
                    match prep {
                        Ok(()) => ready.push((j, index)),
                        Err(e) => {
                            let r = failed_record(w, rep, format!("prepare failed: {e}"));
                            for s in sinks.iter_mut() {
                                s.event(&RunEvent::RunFinished { index, record: &r });
                            }
                            records.push((index, r));
                        }
                    }
                    index += 1;
                }
                if let [(j, at)] = ready[..] {
                    let r = self.run_once(at, &suite.workloads[j], rep, threshold, sinks);
                    records.push((at, r));
                } else if !ready.is_empty() {
                    let runs =
                        self.run_together(&mut suite.workloads, &ready, rep, threshold, sinks);
                    records.extend(runs);
                }
            }
        }
        records.sort_by_key(|(i, _)| *i);
        let mut records: Vec<RunRecord> = records.into_iter().map(|(_, r)| r).collect();
        for (wi, w) in suite.workloads.iter_mut().enumerate() {
            if prepared[wi].is_some() {
                if let Err(e) = w.workload.teardown() {
                    // Keep going: the other workloads still need tearing down.
                    if let Some(r) = records.iter_mut().rev().find(|r| r.label == w.label) {
                        r.error.get_or_insert(format!("teardown failed: {e}"));
                        r.status = Status::Failed;
                    }
                }
            }
        }
        let status = overall_status(&records, self.stop.load(Ordering::Relaxed));
        for s in sinks.iter_mut() {
            s.event(&RunEvent::SuiteFinished { status });
        }
        (records, status)
    }
}

/// Notes of a run that shares its group with `labels` (its own among them):
/// the labels of the others and, when the workload wants to run alone
/// ([`Resources::exclusive`](crate::workload::Resources)), a warning that
/// its figures include the others' load.
fn group_notes(
    w: &crate::suite::PlannedWorkload,
    labels: &[String],
) -> BTreeMap<String, serde_json::Value> {
    let others: Vec<&String> = labels.iter().filter(|l| **l != w.label).collect();
    let mut notes = BTreeMap::new();
    if w.workload.resources().exclusive && !others.is_empty() {
        let names: Vec<String> = others.iter().map(|l| format!("`{l}`")).collect();
        notes.insert(
            RESOURCES_WARNING.into(),
            format!(
                "{} ({}) is sensitive to other load and should run alone, but group `{}` runs it beside {}: its figures include their load",
                w.label,
                w.origin,
                w.group.as_deref().unwrap_or_default(),
                names.join(", ")
            )
            .into(),
        );
    }
    notes.insert("concurrent_with".into(), serde_json::json!(others));
    notes
}

/// Note key of the warning that an exclusive workload ran beside others.
pub const RESOURCES_WARNING: &str = "resources.warning";

/// Note key of what the workload needs and does ([`Resources`](crate::workload::Resources)).
pub const RESOURCES_NOTE: &str = "resources";

/// The workload's [`Resources`](crate::workload::Resources) as a note.
fn resources_note(w: &crate::suite::PlannedWorkload) -> serde_json::Value {
    serde_json::to_value(w.workload.resources()).unwrap_or_default()
}

fn failed_record(w: &crate::suite::PlannedWorkload, rep: u32, error: String) -> RunRecord {
    let now = now_rfc3339();
    RunRecord {
        id: format!("{}#{}", w.label, rep),
        workload: w.kind.clone(),
        label: w.label.clone(),
        repetition: rep,
        spec: w.spec_json(),
        status: Status::Failed,
        error: Some(error),
        started_at: now.clone(),
        finished_at: now,
        warmup_s: 0.0,
        measured_s: 0.0,
        metrics: Vec::new(),
        histograms: BTreeMap::new(),
        series: Vec::new(),
        curves: Vec::new(),
        disturbance: Disturbance::default(),
        notes: BTreeMap::from([(RESOURCES_NOTE.to_string(), resources_note(w))]),
    }
}

/// The invocation's status from its runs: interrupted beats failed beats ok.
pub fn overall_status(records: &[RunRecord], stopped: bool) -> Status {
    if stopped || records.iter().any(|r| r.status == Status::Interrupted) {
        Status::Interrupted
    } else if records.iter().any(|r| r.status == Status::Failed) {
        Status::Failed
    } else {
        Status::Ok
    }
}

/// One interval's reports, summed over the workers that sent them.
struct IntervalAcc {
    reports: usize,
    len_ns: u64,
    ops: u64,
    bytes: u64,
    hist: Hist,
    classes: Vec<(String, (u64, u64, Hist))>,
}

impl IntervalAcc {
    fn new() -> Self {
        Self {
            reports: 0,
            len_ns: 0,
            ops: 0,
            bytes: 0,
            hist: new_hist(),
            classes: Vec::new(),
        }
    }
}

/// The series point of interval `idx`.
fn point(idx: u64, interval_ns: u64, len_ns: u64, ops: u64, bytes: u64, h: &Hist) -> IntervalPoint {
    let len_s = len_ns as f64 / 1e9;
    let q = |p: f64| {
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(p)
        }
    };
    IntervalPoint {
        t_s: (idx * interval_ns + len_ns) as f64 / 1e9,
        len_s,
        ops,
        ops_per_s: if len_s > 0.0 { ops as f64 / len_s } else { 0.0 },
        bytes_per_s: if len_s > 0.0 {
            bytes as f64 / len_s
        } else {
            0.0
        },
        p50_ns: q(0.5),
        p99_ns: q(0.99),
    }
}

/// Per-class points of each emitted interval, in emission order (points,
/// not histograms, so a long run keeps a few bytes per class and second).
#[derive(Default)]
struct ClassPoints {
    names: Vec<String>,
    per_interval: Vec<Vec<(String, IntervalPoint)>>,
}

impl ClassPoints {
    fn push(&mut self, points: Vec<(String, IntervalPoint)>) {
        for (n, _) in &points {
            if !self.names.contains(n) {
                self.names.push(n.clone());
            }
        }
        self.per_interval.push(points);
    }

    /// One series per class with a point for every interval of the total
    /// series; an interval where the class did nothing gets a zero point, so
    /// every class series lines up with the total.
    fn finish(self, total: &[IntervalPoint]) -> Vec<(String, Vec<IntervalPoint>)> {
        self.names
            .iter()
            .map(|name| {
                let pts = self
                    .per_interval
                    .iter()
                    .zip(total)
                    .map(|(ps, t)| {
                        ps.iter()
                            .find(|(n, _)| n == name)
                            .map(|(_, p)| p.clone())
                            .unwrap_or(IntervalPoint {
                                t_s: t.t_s,
                                len_s: t.len_s,
                                ops: 0,
                                ops_per_s: 0.0,
                                bytes_per_s: 0.0,
                                p50_ns: 0,
                                p99_ns: 0,
                            })
                    })
                    .collect();
                (name.clone(), pts)
            })
            .collect()
    }
}

/// An event of a run on another thread, owned so it can cross a channel.
enum Owned {
    Started(usize, String, Duration),
    Interval(usize, String, IntervalPoint),
    Finished(usize, Box<RunRecord>),
}

/// Forwards a concurrent run's events to the thread that owns the sinks,
/// the final record with the group's notes (see [`group_notes`]).
struct Forward(mpsc::Sender<Owned>, BTreeMap<String, serde_json::Value>);

impl EventSink for Forward {
    fn event(&mut self, e: &RunEvent<'_>) {
        let o = match e {
            RunEvent::RunStarted { index, id, planned } => {
                Owned::Started(*index, id.to_string(), *planned)
            }
            RunEvent::Interval { index, step, point } => {
                Owned::Interval(*index, step.to_string(), (*point).clone())
            }
            RunEvent::RunFinished { index, record } => {
                let mut r = (*record).clone();
                r.notes.extend(self.1.clone());
                Owned::Finished(*index, Box::new(r))
            }
            _ => return,
        };
        let _ = self.0.send(o);
    }
}

/// What attribution reads for a step, from its kind and test (the label's
/// first two segments): stack counters for network steps; block latency
/// for disk steps; TCP RTT for network streams (where RTT under load
/// explains throughput); run-queue latency for cpu, mem and jitter. Tracing every
/// context switch or segment costs too much where those are the workload:
/// run-queue tracing took 15% of `net.tcp_rr`'s transactions, `tcp_probe`
/// about 6% (bench/attrib-overhead.sh); a request-response test measures
/// its RTT itself, and the workers' own run-queue wait (`sched.*`, from
/// schedstat) stands in for the histogram.
fn attribution_scope(label: &str) -> (Scope, Probes) {
    let mut parts = label.split('.');
    let kind = parts.next().unwrap_or("");
    let test = parts.next().unwrap_or("");
    let (disk, net) = (kind == "disk", kind == "net");
    let request_response = test.ends_with("_rr") || test.ends_with("_crr");
    (
        Scope { net },
        Probes {
            block: disk,
            // Not for the null workload either: it measures the harness,
            // which the tracer would be part of.
            runq: !disk && !net && kind != "null",
            tcp_rtt: net && !request_response,
        },
    )
}

/// Adds a step's attribution to the run: `<label>.sched.*`, `.psi.*`,
/// `.softirq.*`, `.netstack.*`, `.nic.*` metrics, the eBPF histograms with
/// their percentiles (`<label>.ebpf.*`), and notes (`attribution.<label>`:
/// the interrupt and softirq lines that changed; `ebpf_absent`: why there
/// are no eBPF histograms). All are explanatory ([`crate::result::Role::of`]).
fn add_attribution(label: &str, a: &StepAttribution, elapsed_s: f64, out: &mut RunOutput) {
    let mut add = |m: crate::attrib::AttrMetric| {
        out.metrics.push(crate::result::Metric::new(
            format!("{label}.{}", m.name),
            m.value,
            m.unit,
            crate::result::Better::Lower,
        ))
    };
    for m in a.threads.metrics(elapsed_s) {
        add(m);
    }
    if let Some(sys) = &a.system {
        for m in sys.metrics.iter().cloned() {
            add(m);
        }
        if !sys.notes.is_empty() {
            out.notes.insert(
                format!("attribution.{label}"),
                serde_json::Value::Object(sys.notes.clone()),
            );
        }
    }
    if let Some(h) = &a.ebpf {
        let named = h
            .block
            .iter()
            .map(|(dev, hist)| (format!("{label}.ebpf.block.{dev}.lat_ns"), hist))
            .chain(
                h.runq
                    .iter()
                    .map(|x| (format!("{label}.ebpf.runq.lat_ns"), x)),
            )
            .chain(
                h.tcp_rtt
                    .iter()
                    .map(|x| (format!("{label}.ebpf.tcp_rtt_ns"), x)),
            );
        for (name, hist) in named {
            if hist.is_empty() {
                continue;
            }
            out.latency(&name, hist);
            // The mean too: the device's own counters give a mean service
            // time (`dev.read_await_ns`), the figure to check this against.
            out.metric(
                format!("{name}.mean"),
                hist.mean(),
                crate::units::Unit::Ns,
                crate::result::Better::Lower,
            );
        }
    }
    if let Some(h) = &a.ebpf {
        // The tracer's own CPU time over the CPU time there was: an upper
        // bound of what it can take from a CPU-bound workload.
        let (calls, ns) = h
            .cost
            .iter()
            .fold((0u64, 0u64), |(c, n), p| (c + p.calls, n + p.run_ns));
        if calls > 0 && elapsed_s > 0.0 {
            let cpus = crate::affinity::online_vcpus().max(1) as f64;
            out.metric(
                format!("{label}.ebpf.cost.ns_per_call"),
                ns as f64 / calls as f64,
                crate::units::Unit::Ns,
                crate::result::Better::Lower,
            );
            out.metric(
                format!("{label}.ebpf.cost.cpu_ratio"),
                ns as f64 * 1e-9 / (elapsed_s * cpus),
                crate::units::Unit::Ratio,
                crate::result::Better::Lower,
            );
            out.notes.insert(
                format!("ebpf_cost.{label}"),
                serde_json::json!(h
                    .cost
                    .iter()
                    .map(|p| serde_json::json!({"program": p.prog, "calls": p.calls, "run_ns": p.run_ns}))
                    .collect::<Vec<_>>()),
            );
        }
    }
    if let Some(why) = &a.ebpf_absent {
        out.notes.insert("ebpf_absent".into(), why.clone().into());
    } else if a.ebpf.is_some() {
        let p = attribution_scope(label).1;
        let block = match &a.ebpf {
            Some(h) if h.block_stamped => {
                "block (raw tracepoint at completion, issue time from the request)"
            }
            Some(h) if h.block_raw => "block (raw tracepoints)",
            _ => "block",
        };
        if let Some(why) = a.ebpf.as_ref().and_then(|h| h.block_fallback.as_ref()) {
            out.notes
                .insert(format!("ebpf_block_fallback.{label}"), why.clone().into());
        }
        let traced: Vec<&str> = [(p.block, block), (p.runq, "runq"), (p.tcp_rtt, "tcp_rtt")]
            .iter()
            .filter(|x| x.0)
            .map(|x| x.1)
            .collect();
        out.notes
            .insert(format!("ebpf_probes.{label}"), serde_json::json!(traced));
    }
}
