//! Runner tests with exact expectations: a mock clock and the `null` workload.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use bench_core::clock::Clock;
use bench_core::events::Collect;
use bench_core::hist::new_hist;
use bench_core::null::NullFactory;
use bench_core::result::Status;
use bench_core::runner::Runner;
use bench_core::suite::{parse_suite, Timing};
use bench_core::workload::{
    Merge, Registry, Resources, RunOutput, Step, StepResult, Worker, WorkerCtx, WorkerOutput,
    Workload,
};
use bench_core::WorkloadError;

fn runner(clock: Clock) -> Runner {
    Runner {
        clock,
        stop: Arc::new(AtomicBool::new(false)),
        monitor: None,
        vcpus: 2,
        ebpf: Default::default(),
    }
}

/// Each operation advances the mock clock by `step`: time is exact.
struct Ticking {
    mock: Arc<quanta_mock::Mock>,
    step: Duration,
}

mod quanta_mock {
    pub use quanta::Mock;
}

impl Workload for Ticking {
    fn resources(&self) -> Resources {
        Resources::default()
    }
    fn steps(&self) -> Vec<Step> {
        vec![Step::new("tick", 1, None)]
    }
    fn worker(&self, _: &Step, _: usize) -> Result<Box<dyn Worker>, WorkloadError> {
        Ok(Box::new(TickWorker {
            mock: self.mock.clone(),
            step: self.step,
            total: 0,
        }))
    }
}

/// Operations a `TickWorker` did, warm-up included.
#[derive(Debug, Default)]
struct Total(u64);

impl Merge for Total {
    fn merge(&mut self, other: &Self) {
        self.0 += other.0;
    }
}

/// A type no worker returns.
#[derive(Debug, Default)]
struct WrongTotal;

impl Merge for WrongTotal {
    fn merge(&mut self, _: &Self) {}
}

struct TickWorker {
    mock: Arc<quanta::Mock>,
    step: Duration,
    total: u64,
}

impl Worker for TickWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        while ctx.running() {
            self.mock.increment(self.step);
            ctx.op_done(10);
            self.total += 1;
        }
        Ok(Box::new(Total(self.total)))
    }
}

#[test]
fn warmup_is_excluded_and_intervals_are_exact() {
    let (clock, mock) = Clock::mock();
    let r = runner(clock);
    let w = Ticking {
        mock,
        step: Duration::from_millis(1),
    };
    let timing = Timing {
        warmup: Duration::from_millis(10),
        duration: Some(Duration::from_millis(100)),
        ops: None,
        interval: Duration::from_millis(25),
    };
    let mut seen = Vec::new();
    let s = r
        .run_step(&w, &w.steps()[0], &timing, &mut |p| seen.push(p.clone()))
        .unwrap();
    // Ops complete at t = 1, 2, 3 … ms; measured are those completing in [10, 110).
    assert_eq!(s.ops, 100);
    assert_eq!(s.bytes, 1000);
    assert_eq!(s.merged.len(), 100);
    assert!(s.merged.equivalent(s.merged.min(), s.merged.max()));
    assert!(s
        .merged
        .equivalent(s.merged.value_at_quantile(0.5), 1_000_000));
    assert!((s.elapsed_s - 0.1).abs() < 1e-9, "{}", s.elapsed_s);
    assert!((s.ops_per_s() - 1000.0).abs() < 1e-6);
    // 9 warm-up ops (t = 1..9 ms) and the one completing at the end (110 ms) were not recorded.
    assert_eq!(s.merged_output::<Total>().unwrap().0, 110);
    // Reading the output as another type is an error naming both, never 0.
    let e = s.merged_output::<WrongTotal>().unwrap_err().to_string();
    assert!(e.contains("Total") && e.contains("WrongTotal"), "{e}");
    assert_eq!(s.series.len(), 4);
    assert!(s.series.iter().all(|p| p.ops == 25), "{:?}", s.series);
    assert_eq!(seen, s.series);
    assert!((s.series[3].t_s - 0.1).abs() < 1e-9);
}

fn null_suite(text: &str) -> bench_core::suite::Suite {
    let mut reg = Registry::new();
    reg.add(Box::new(NullFactory));
    parse_suite(text, "t.toml", &reg, 2).unwrap()
}

#[test]
fn op_count_mode_is_exact_and_merge_equals_reference() {
    let (clock, _mock) = Clock::mock();
    let r = runner(clock);
    let mut suite = null_suite(
        "warmup = 0\nops = 1003\n[[workload]]\nkind = \"null\"\nthreads = 4\nlatency_ns = [100, 2000, 30000, 400000, 5000000]\n",
    );
    let mut c = Collect::default();
    let (recs, status) = r.run_suite(&mut suite, &mut [&mut c]);
    assert_eq!(status, Status::Ok);
    let rec = &recs[0];
    let h = rec.histogram("null.lat_ns").unwrap().unwrap();
    assert_eq!(h.len(), 1003);
    // Reference: worker i starts at latency entry i and does 1003/4 ops (+1 for the first 3).
    let lats = [100u64, 2000, 30000, 400000, 5000000];
    let mut reference = new_hist();
    for i in 0..4usize {
        let n = 1003 / 4 + usize::from(i < 1003 % 4);
        for k in 0..n {
            reference.record(lats[(i + k) % lats.len()]).unwrap();
        }
    }
    for q in [0.0, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
        assert_eq!(
            h.value_at_quantile(q),
            reference.value_at_quantile(q),
            "q={q}"
        );
    }
    let p99 = rec.metric("null.lat_ns.p99").unwrap().value;
    assert_eq!(p99 as u64, reference.value_at_quantile(0.99));
}

#[test]
fn repetitions_are_interleaved() {
    let (clock, _mock) = Clock::mock();
    let r = runner(clock);
    let mut suite = null_suite(
        "repetitions = 3\nwarmup = 0\nops = 10\nlatency_ns = [5]\n\
         [[workload]]\nkind = \"null\"\nname = \"A\"\n\
         [[workload]]\nkind = \"null\"\nname = \"B\"\n\
         [[workload]]\nkind = \"null\"\nname = \"C\"\n",
    );
    let mut c = Collect::default();
    let (recs, _) = r.run_suite(&mut suite, &mut [&mut c]);
    let order: Vec<&str> = recs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        order,
        ["A#1", "B#1", "C#1", "A#2", "B#2", "C#2", "A#3", "B#3", "C#3"]
    );
    assert_eq!(c.records.len(), 9);
    assert!(recs.iter().all(|r| r.metric("null.ops_per_s").is_some()));
}

#[test]
fn real_clock_duration_run_is_bounded_and_sane() {
    let r = Runner {
        monitor: None,
        ..Runner::new(Arc::new(AtomicBool::new(false)))
    };
    let mut suite = null_suite(
        "warmup = \"100ms\"\nduration = \"300ms\"\ninterval = \"100ms\"\n[[workload]]\nkind = \"null\"\nthreads = 2\n",
    );
    let start = std::time::Instant::now();
    let (recs, status) = r.run_suite(&mut suite, &mut []);
    let took = start.elapsed();
    assert_eq!(status, Status::Ok);
    assert!(took < Duration::from_secs(3), "{took:?}");
    let rec = &recs[0];
    assert!((rec.measured_s - 0.3).abs() < 0.05, "{}", rec.measured_s);
    let ops = rec.metric("null.ops_per_s").unwrap().value;
    assert!(
        ops > 100_000.0,
        "the harness alone should do >100k ops/s per run, got {ops}"
    );
    let warm: f64 = rec.notes["ops_including_warmup"].as_f64().unwrap();
    let h = rec.histogram("null.lat_ns").unwrap().unwrap();
    assert!(warm > h.len() as f64, "warm-up ops must not be recorded");
    assert_eq!(rec.series.len(), 1);
    assert!(
        (3..=4).contains(&rec.series[0].points.len()),
        "{:?}",
        rec.series[0].points
    );
}

#[test]
fn stop_flag_interrupts_and_keeps_partial_results() {
    let stop = Arc::new(AtomicBool::new(false));
    let r = Runner {
        monitor: None,
        ..Runner::new(stop.clone())
    };
    let mut suite = null_suite(
        "repetitions = 2\nwarmup = 0\nduration = 30\n[[workload]]\nkind = \"null\"\n[[workload]]\nkind = \"null\"\n",
    );
    let s2 = stop.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        s2.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let start = std::time::Instant::now();
    let (recs, status) = r.run_suite(&mut suite, &mut []);
    t.join().unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(status, Status::Interrupted);
    assert_eq!(recs.len(), 1, "later runs are not started");
    assert_eq!(recs[0].status, Status::Interrupted);
    assert!(recs[0].metric("null.ops_per_s").unwrap().value > 0.0);
}

struct Failing;
impl Workload for Failing {
    fn resources(&self) -> Resources {
        Resources::default()
    }
    fn steps(&self) -> Vec<Step> {
        vec![Step::new("fail", 2, None)]
    }
    fn worker(&self, _: &Step, i: usize) -> Result<Box<dyn Worker>, WorkloadError> {
        Ok(Box::new(FailWorker(i)))
    }
}
struct FailWorker(usize);
impl Worker for FailWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        if self.0 == 1 {
            return Err(WorkloadError::Other("device on fire at offset 4096".into()));
        }
        while ctx.running() {
            ctx.op_done(0);
        }
        Ok(Box::new(()))
    }
}

#[test]
fn a_failing_worker_stops_the_step_with_its_error() {
    let r = Runner {
        monitor: None,
        ..Runner::new(Arc::new(AtomicBool::new(false)))
    };
    let timing = Timing {
        warmup: Duration::ZERO,
        duration: Some(Duration::from_secs(30)),
        ops: None,
        interval: Duration::from_secs(1),
    };
    let start = std::time::Instant::now();
    let e = r
        .run_step(&Failing, &Failing.steps()[0], &timing, &mut |_| {})
        .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(e.to_string().contains("offset 4096"), "{e}");
}

#[test]
fn pinned_workers_run_on_their_vcpu() {
    let r = Runner {
        monitor: None,
        ..Runner::new(Arc::new(AtomicBool::new(false)))
    };
    let last = *bench_core::affinity::allowed_cpus().last().unwrap();
    let mut suite = null_suite(&format!(
        "warmup = 0\nduration = \"100ms\"\n[[workload]]\nkind = \"null\"\npin = [{last}]\n"
    ));
    let (recs, status) = r.run_suite(&mut suite, &mut []);
    assert_eq!(status, Status::Ok, "{:?}", recs[0].error);
    let mut bad = null_suite(
        "warmup = 0\nduration = \"100ms\"\n[[workload]]\nkind = \"null\"\npin = [4000]\n",
    );
    let (recs, status) = r.run_suite(&mut bad, &mut []);
    assert_eq!(status, Status::Failed);
    assert!(
        recs[0].error.as_deref().unwrap().contains("vCPU 4000"),
        "{:?}",
        recs[0].error
    );
}

/// Like `Ticking`, but every op is filed under a class: "b" for the ops of
/// the first 30 measured ms that are odd, "a" for all others.
struct Classed {
    mock: Arc<quanta::Mock>,
}

impl Workload for Classed {
    fn resources(&self) -> Resources {
        Resources::default()
    }
    fn steps(&self) -> Vec<Step> {
        vec![Step::new("classed", 1, None)]
    }
    fn worker(&self, _: &Step, _: usize) -> Result<Box<dyn Worker>, WorkloadError> {
        Ok(Box::new(ClassedWorker {
            mock: self.mock.clone(),
        }))
    }
}

struct ClassedWorker {
    mock: Arc<quanta::Mock>,
}

impl Worker for ClassedWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        let a = ctx.aux_hist("a");
        let b = ctx.aux_hist("b");
        let mut t_ms = 0u64;
        while ctx.running() {
            self.mock.increment(Duration::from_millis(1));
            t_ms += 1;
            // Measured ops complete at 10 … 109 ms (10 ms warm-up).
            let class = if (11..=40).contains(&t_ms) && t_ms % 2 == 1 {
                b
            } else {
                a
            };
            ctx.record_in(class, 1_000 * (class as u64 + 1), 10);
        }
        Ok(Box::new(()))
    }
}

#[test]
fn operation_classes_get_their_own_aligned_series() {
    let (clock, mock) = Clock::mock();
    let r = runner(clock);
    let w = Classed { mock };
    let timing = Timing {
        warmup: Duration::from_millis(10),
        duration: Some(Duration::from_millis(100)),
        ops: None,
        interval: Duration::from_millis(25),
    };
    let s = r.run_step(&w, &w.steps()[0], &timing, &mut |_| {}).unwrap();
    assert_eq!(s.ops, 100);
    let names: Vec<&str> = s.class_series.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a", "b"], "registration order");
    let (a, b) = (&s.class_series[0].1, &s.class_series[1].1);
    assert_eq!(a.len(), s.series.len());
    assert_eq!(b.len(), s.series.len());
    for i in 0..s.series.len() {
        assert_eq!(a[i].ops + b[i].ops, s.series[i].ops, "interval {i}");
        assert_eq!(a[i].t_s, s.series[i].t_s);
        assert_eq!(b[i].t_s, s.series[i].t_s);
    }
    // Intervals are [10, 35), [35, 60) … ms. Odd ms in 11..=40: 12 in the
    // first (11, 13, …, 33), 3 in the second (35, 37, 39), none after: zero
    // points, not missing ones.
    let b_ops: Vec<u64> = b.iter().map(|p| p.ops).collect();
    assert_eq!(b_ops, [12, 3, 0, 0]);
    assert!(b[0].p50_ns >= 1_990 && b[0].p50_ns <= 2_010, "{:?}", b[0]);
    assert_eq!(b[2].p99_ns, 0);
    assert!((b[0].bytes_per_s - 120.0 / 0.025).abs() < 1e-6);
    // The class histograms hold the same operations as the series.
    assert_eq!(s.merged_aux("b").unwrap().len(), 15);
    assert_eq!(s.merged_aux("a").unwrap().len(), 85);
}

#[test]
fn a_group_runs_at_the_same_time_and_keeps_the_run_order() {
    let r = Runner {
        monitor: None,
        ..Runner::new(Arc::new(AtomicBool::new(false)))
    };
    let mut suite = null_suite(
        "warmup = 0\nduration = \"400ms\"\nrepetitions = 2\n\
         [[workload]]\nkind = \"null\"\nname = \"a\"\ngroup = \"soak\"\n\
         [[workload]]\nkind = \"null\"\nname = \"solo\"\nduration = \"100ms\"\n\
         [[workload]]\nkind = \"null\"\nname = \"b\"\ngroup = \"soak\"\n",
    );
    assert_eq!(suite.workloads[0].group.as_deref(), Some("soak"));
    assert_eq!(suite.workloads[1].group, None);
    let mut c = Collect::default();
    let (recs, status) = r.run_suite(&mut suite, &mut [&mut c]);
    assert_eq!(status, Status::Ok);
    // A group runs where its first member stands: a and b together, then
    // solo, each repetition; the records keep that order.
    let ids: Vec<&str> = recs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a#1", "b#1", "solo#1", "a#2", "b#2", "solo#2"]);
    // Every event reached the sinks, from the group's threads too.
    assert_eq!(c.records.len(), 6);
    assert!(c.intervals.iter().any(|(i, _)| *i == 1), "b's intervals");
    let (a, b) = (&recs[0], &recs[1]);
    assert_eq!(a.notes["concurrent_with"], serde_json::json!(["b"]));
    assert_eq!(b.notes["concurrent_with"], serde_json::json!(["a"]));
    assert!(!recs[2].notes.contains_key("concurrent_with"));
    // The records the sinks got (what the result file stores) say so too.
    let seen_a = c.records.iter().find(|r| r.id == "a#1").unwrap();
    assert_eq!(seen_a.notes["concurrent_with"], serde_json::json!(["b"]));
    // They overlapped in time (RFC 3339 with milliseconds sorts as text).
    assert!(
        a.started_at < b.finished_at && b.started_at < a.finished_at,
        "a {}–{}, b {}–{}",
        a.started_at,
        a.finished_at,
        b.started_at,
        b.finished_at
    );
    assert!(a.metric("null.ops_per_s").is_some() && b.metric("null.ops_per_s").is_some());
}

type MetricsFn = fn(&[StepResult]) -> Result<RunOutput, WorkloadError>;

/// A workload of `SilentWorker`s: one step named `step`, alone in its
/// group when `exclusive`, its steps turned into output by `metrics`.
struct Fake {
    step: &'static str,
    exclusive: bool,
    metrics: MetricsFn,
}

impl Workload for Fake {
    fn resources(&self) -> Resources {
        if self.exclusive {
            Resources {
                threads: 1,
                exclusive: true,
                ..Resources::default()
            }
        } else {
            Resources::default()
        }
    }
    fn steps(&self) -> Vec<Step> {
        vec![Step::new(self.step, 1, None)]
    }
    fn worker(&self, _: &Step, _: usize) -> Result<Box<dyn Worker>, WorkloadError> {
        Ok(Box::new(SilentWorker))
    }
    fn metrics(&self, steps: &[StepResult]) -> Result<RunOutput, WorkloadError> {
        (self.metrics)(steps)
    }
}

/// The trait's default: throughput and latency per step.
fn standard(steps: &[StepResult]) -> Result<RunOutput, WorkloadError> {
    let mut out = RunOutput::default();
    for s in steps {
        out.standard(&s.step.label, s);
    }
    Ok(out)
}

/// Runs like any workload but turns its measurements into no metric.
const SILENT: Fake = Fake {
    step: "silent",
    exclusive: false,
    metrics: |_| Ok(RunOutput::default()),
};

/// Its workers return `()`, its metrics read a `Total`: a workload bug.
const MISREAD: Fake = Fake {
    step: "misread",
    exclusive: false,
    metrics: |steps| {
        let mut out = RunOutput::default();
        for s in steps {
            out.standard(&s.step.label, s);
            let t = s.merged_output::<Total>()?;
            out.notes.insert("total".into(), t.0.into());
        }
        Ok(out)
    },
};

/// The standard metrics, but asks to run alone.
const EXCLUSIVE: Fake = Fake {
    step: "exclusive",
    exclusive: true,
    metrics: standard,
};

struct SilentWorker;

impl Worker for SilentWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        while ctx.running() {
            ctx.op_done(0);
        }
        Ok(Box::new(()))
    }
}

#[test]
fn a_run_that_measured_nothing_is_failed_not_ok() {
    let mut suite =
        null_suite("warmup = \"0s\"\nduration = \"20ms\"\n[[workload]]\nkind = \"null\"\n");
    suite.workloads[0].workload = Box::new(SILENT);
    let r = Runner {
        monitor: None,
        ..Runner::new(Arc::new(AtomicBool::new(false)))
    };
    let (recs, status) = r.run_suite(&mut suite, &mut []);
    assert_eq!(status, Status::Failed);
    assert_eq!(recs[0].status, Status::Failed);
    let e = recs[0].error.clone().unwrap_or_default();
    assert!(e.contains("no measurement"), "{e}");
}

#[test]
fn a_worker_output_of_the_wrong_type_fails_the_run() {
    let mut suite =
        null_suite("warmup = \"0s\"\nduration = \"20ms\"\n[[workload]]\nkind = \"null\"\n");
    suite.workloads[0].workload = Box::new(MISREAD);
    let r = Runner {
        monitor: None,
        ..Runner::new(Arc::new(AtomicBool::new(false)))
    };
    let (recs, status) = r.run_suite(&mut suite, &mut []);
    assert_eq!(status, Status::Failed);
    assert_eq!(recs[0].status, Status::Failed);
    let e = recs[0].error.clone().unwrap_or_default();
    assert!(e.contains("misread") && e.contains("Total"), "{e}");
    assert!(!recs[0].notes.contains_key("total"));
}

#[test]
fn resources_are_recorded_and_an_exclusive_workload_in_a_group_is_warned_about() {
    let mut suite = null_suite(
        "warmup = \"0s\"\nduration = \"20ms\"\n[[workload]]\nkind = \"null\"\nname = \"alone\"\ngroup = \"g\"\n[[workload]]\nkind = \"null\"\nname = \"beside\"\ngroup = \"g\"\n[[workload]]\nkind = \"null\"\nname = \"solo\"\n",
    );
    suite.workloads[0].workload = Box::new(EXCLUSIVE);
    suite.workloads[2].workload = Box::new(EXCLUSIVE);
    let r = Runner {
        monitor: None,
        ..Runner::new(Arc::new(AtomicBool::new(false)))
    };
    let mut c = Collect::default();
    let (recs, status) = r.run_suite(&mut suite, &mut [&mut c]);
    assert_eq!(
        status,
        Status::Ok,
        "{:?}",
        recs.iter().map(|r| &r.error).collect::<Vec<_>>()
    );
    for rec in &recs {
        assert!(
            rec.notes["resources"]["threads"].as_u64().is_some(),
            "{:?}",
            rec.notes
        );
    }
    let warned: Vec<&str> = recs
        .iter()
        .filter(|r| r.notes.contains_key("resources.warning"))
        .map(|r| r.label.as_str())
        .collect();
    // Only the exclusive workload that shared its group; alone is fine.
    assert_eq!(warned, ["alone"]);
    let w = recs[0].notes["resources.warning"].as_str().unwrap();
    assert!(w.contains("`beside`") && w.contains("group `g`"), "{w}");
    // The records the sinks saw (what the result file holds) carry it too.
    let seen = c.records.iter().find(|r| r.label == "alone").unwrap();
    assert_eq!(
        seen.notes["resources.warning"],
        recs[0].notes["resources.warning"]
    );
    assert_eq!(recs[0].notes["resources"]["exclusive"], true);
}
