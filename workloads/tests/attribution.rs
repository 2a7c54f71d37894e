//! Attribution on real runs: the run-queue wait a competing load causes,
//! and the eBPF block-latency histogram against the disk workload's own.
//!
//! The tests of this binary take one lock each: a competing busy loop of
//! one test would be another test's disturbance.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bench_core::result::{RunRecord, Status};
use bench_core::runner::Runner;
use bench_core::suite::parse_suite;

static SERIAL: Mutex<()> = Mutex::new(());

fn run(text: &str, runner: &Runner) -> RunRecord {
    let reg = workloads::registry();
    let mut suite =
        parse_suite(text, "t.toml", &reg, bench_core::affinity::online_vcpus()).unwrap();
    let (mut recs, status) = runner.run_suite(&mut suite, &mut []);
    assert_eq!(status, Status::Ok, "{:?}", recs[0].error);
    recs.remove(0)
}

fn plain_runner() -> Runner {
    Runner {
        monitor: None,
        ebpf: Default::default(),
        ..Runner::new(Arc::new(AtomicBool::new(false)))
    }
}

/// Busy loops pinned to `cpu` until `stop` (bounded: at most `limit`).
fn busy_loops(
    n: usize,
    cpu: usize,
    stop: &Arc<AtomicBool>,
    limit: Duration,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let stop = Arc::clone(stop);
            std::thread::spawn(move || {
                let _ = bench_core::affinity::pin_current_thread(cpu);
                let t = Instant::now();
                let mut x = 1u64;
                while !stop.load(Ordering::Relaxed) && t.elapsed() < limit {
                    for _ in 0..10_000 {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    }
                    std::hint::black_box(x);
                }
            })
        })
        .collect()
}

#[test]
fn run_queue_wait_shows_two_busy_loops_on_the_workers_vcpu() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cpu = *bench_core::affinity::allowed_cpus().last().expect("a vCPU");
    let suite = format!(
        "warmup = \"200ms\"\nduration = \"1s\"\n[[workload]]\nkind = \"cpu\"\nstressor = \"int\"\nthreads = 1\npin = [{cpu}]\n"
    );
    let ratio = |r: &RunRecord| {
        r.metric("cpu.int.sched.runq_wait_ratio")
            .expect("the run records its run-queue wait")
            .value
    };
    let alone = run(&suite, &plain_runner());
    let stop = Arc::new(AtomicBool::new(false));
    let loops = busy_loops(2, cpu, &stop, Duration::from_secs(10));
    let contended = run(&suite, &plain_runner());
    stop.store(true, Ordering::Relaxed);
    for l in loops {
        l.join().unwrap();
    }
    let (a, c) = (ratio(&alone), ratio(&contended));
    // Three runnable threads on one vCPU: the worker waits about two
    // thirds of the time, a wait ratio near 2.
    assert!(c > 0.5, "contended wait ratio {c}");
    assert!(a < 0.1, "alone wait ratio {a}");
    assert_eq!(
        alone
            .metric("cpu.int.sched.runq_wait_ratio")
            .unwrap()
            .role(),
        bench_core::result::Role::Explanatory
    );
    let invol = contended
        .metric("cpu.int.sched.involuntary_switches_per_s")
        .unwrap()
        .value;
    assert!(invol > 10.0, "preempted {invol}/s by the busy loops");
}

/// At 4k random reads, queue depth 1, O_DIRECT: the block layer's own
/// latency (eBPF, issue → completion) against the device's counters and
/// skubench's own. Root only.
///
/// Every request is traced once (the traced count matches the device's own
/// count and covers the measured reads),
/// and the traced time nests where it must: inside the device counters'
/// request lifetime (`/sys/block/*/stat` times a request from its
/// allocation, the tracepoint from its issue to the driver) and inside
/// skubench's own latency, which adds the system call, O_DIRECT's page
/// pinning and the wake-up on completion. On this project's 45 µs virtio
/// disk that path was 12 µs (27% of the p50); on a 250 µs request 6%
/// (docs/attribution.md), so "within 10% of skubench's p50" holds only on
/// slower devices and is not asserted.
#[test]
fn ebpf_block_latency_matches_the_disk_workloads_own_at_qd1() {
    if std::env::var_os("SKUBENCH_PRIVILEGED_TESTS").is_none() {
        eprintln!("skipped: set SKUBENCH_PRIVILEGED_TESTS=1 (root) to trace the block layer");
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // On the build disk, not a tmpfs: O_DIRECT and a block device are the point.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let suite = format!(
        "warmup = \"300ms\"\nduration = \"2s\"\n[[workload]]\nkind = \"disk\"\nrw = \"randread\"\nbs = \"4k\"\niodepth = 1\nengine = \"sync\"\ndirect = true\nsize = \"64m\"\ndir = \"{}\"\n",
        dir.path().display()
    );
    let runner = Runner {
        monitor: None,
        ..Runner::new(Arc::new(AtomicBool::new(false)))
    };
    let r = run(&suite, &runner);
    assert!(
        !r.notes.contains_key("ebpf_absent"),
        "eBPF did not run as root: {:?}",
        r.notes.get("ebpf_absent")
    );
    let own = r.metric("disk.randread.lat_ns.p50").unwrap().value;
    let dev = disk_of(dir.path());
    let name = format!("disk.randread.ebpf.block.{dev}.lat_ns.p50");
    let traced = r
        .metric(&name)
        .unwrap_or_else(|| {
            panic!(
                "no {name}: {:?}",
                r.metrics.iter().map(|m| &m.name).collect::<Vec<_>>()
            )
        })
        .value;
    assert!(
        traced < own && traced > 0.5 * own,
        "{name}: {traced} ns vs skubench p50 {own} ns ({:+.1}%)",
        (traced / own - 1.0) * 100.0
    );
    // Every request was traced, once: at least skubench's own reads, and
    // as many as the device's own counters saw in the phase (they count
    // the other I/O on the disk too, as the tracepoints do).
    let count = |h: &str| bench_core::hist::decode(&r.histograms[h]).unwrap().len() as f64;
    let (n_traced, n_own) = (
        count(&format!("disk.randread.ebpf.block.{dev}.lat_ns")),
        count("disk.randread.lat_ns"),
    );
    let rate = |m: &str| r.metric(m).map_or(0.0, |m| m.value);
    let n_dev =
        (rate("disk.randread.dev.read_iops") + rate("disk.randread.dev.write_iops")) * r.measured_s;
    assert!(
        n_traced >= 0.97 * n_own && (n_traced / n_dev - 1.0).abs() <= 0.10,
        "{n_traced} requests traced, {n_own} reads measured, {n_dev:.0} requests counted by the device"
    );
    // The device's counters time a request from its allocation, the
    // tracepoints from its issue to the driver: the traced mean lies
    // within, and is most of, `dev.read_await_ns`.
    let mean = r.metric(&name.replace(".p50", ".mean")).unwrap().value;
    let dev_mean = r
        .metric("disk.randread.dev.read_await_ns")
        .expect("the device's counters")
        .value;
    assert!(
        mean <= dev_mean * 1.02 && mean >= 0.6 * dev_mean,
        "eBPF block-layer mean {mean:.0} ns vs /sys/block read_await {dev_mean:.0} ns"
    );
    assert!(r
        .histograms
        .keys()
        .any(|k| k.starts_with("disk.randread.ebpf.block.")));
}

/// The whole disk a path lives on (`vda` for a file on `/dev/vda1`), as
/// the block tracepoints name it.
fn disk_of(path: &std::path::Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(path).unwrap().dev();
    let (maj, min) = (libc::major(dev), libc::minor(dev));
    let sys = std::fs::canonicalize(format!("/sys/dev/block/{maj}:{min}")).unwrap();
    let disk = if sys.join("partition").exists() {
        sys.parent().unwrap().to_path_buf()
    } else {
        sys
    };
    disk.file_name().unwrap().to_string_lossy().into_owned()
}
