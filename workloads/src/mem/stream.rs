//! `mem.stream`: STREAM copy, scale, add and triad on N threads.
//!
//! Each worker owns a contiguous slice of the three arrays, mapped and first
//! touched by a thread pinned where the worker will run (so pages land on
//! its NUMA node), before the step's clock starts. One iteration runs the
//! four kernels in STREAM's order; every kernel is timed across *all*
//! threads: the workers meet at a barrier before and after it, and the
//! leader (worker 0) reads the clock at each meeting. That is what STREAM's
//! OpenMP loops do (the implicit barrier ends each parallel loop), so the
//! best time per kernel is the time the whole machine needed for one pass.
//!
//! Bytes are counted as STREAM counts them, per 8-byte element: Copy 16,
//! Scale 16, Add 24, Triad 24. Write-allocate traffic (reading the
//! destination line before writing it) is not counted; the bus moves more.
//!
//! Code generation, checked with `cargo rustc --release -p workloads --
//! --emit asm` (x86-64 baseline target): scale, add and triad compile to
//! packed SSE2 loops (`mulpd`/`addpd`, two xmm = 32 bytes per array per trip, no
//! bounds checks); copy becomes a `memcpy` call, as gcc -O3 turns STREAM's
//! own copy loop into one (glibc then picks its large-copy path). A
//! wider ISA (AVX2/AVX-512) does not move DRAM bandwidth; the kernels are
//! memory-bound.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bench_core::params::{ParamDef, ParamKind, Params};
use bench_core::result::{Better, Series};
use bench_core::workload::{
    PrepareEnv, Resources, RunOutput, Step, StepResult, Worker, WorkerCtx, WorkerOutput, Workload,
    WorkloadFactory,
};
use bench_core::{SpecError, Unit, WorkloadError};

use super::{check_memory, hugepages_param, on_cpu, pin_list, Barrier, Hugepages, Region};

/// The STREAM kernels in run order, with the bytes STREAM counts per element.
pub const KERNELS: [(&str, u64); 4] = [("copy", 16), ("scale", 16), ("add", 24), ("triad", 24)];

/// The scalar of scale and triad: √2 − 1. With it one iteration maps
/// a → a·(2s + s²) = a, so values neither overflow nor vanish however many
/// iterations a timed run does (STREAM's 3.0 grows 15× per iteration).
pub const SCALAR: f64 = std::f64::consts::SQRT_2 - 1.0;

/// Minimum bytes per array.
pub const MIN_ARRAY_BYTES: u64 = 64 << 10;

/// What is written into every result: the counting convention.
pub const BYTE_COUNTING: &str = "STREAM convention: bytes per 8-byte element Copy 16 (c=a), Scale 16 (b=s*c), Add 24 (c=a+b), Triad 24 (a=b+s*c); write-allocate traffic not counted; bytes/s = counted bytes of one pass over all threads' slices / time of that pass; headline = best of the measured iterations (every pass that started in the measured phase; STREAM's skipped first iteration runs untimed before the clock starts), percentiles of the pass time in *.lat_ns";

/// Array size when none is given and /sys names no LLC.
pub const FALLBACK_ARRAY_BYTES: u64 = 256 << 20;

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "threads",
        kind: ParamKind::Threads,
        default: Some("all"),
        help: "worker threads, each with its own slice of the arrays",
    },
    ParamDef {
        name: "pin",
        kind: ParamKind::CpuList,
        default: None,
        help: "vCPUs to pin workers to, round-robin (default: every allowed vCPU)",
    },
    ParamDef {
        name: "array_size",
        kind: ParamKind::Size,
        default: None,
        help: "bytes of each of the three arrays (default: 4 × the last-level cache from /sys)",
    },
    hugepages_param("default"),
];

/// Factory of `mem.stream`.
pub struct StreamFactory;

/// A configured `mem.stream`.
pub struct StreamWorkload {
    threads: usize,
    pin: Vec<usize>,
    /// Elements of each worker's slice.
    chunks: Vec<usize>,
    llc_bytes: u64,
    hugepages: Hugepages,
    shared: Mutex<Option<Arc<Shared>>>,
}

/// Array bytes for a given LLC size: STREAM's rule, each array ≥ 4 × LLC.
pub fn default_array_bytes(llc_bytes: u64) -> u64 {
    if llc_bytes == 0 {
        FALLBACK_ARRAY_BYTES
    } else {
        (llc_bytes * 4).max(MIN_ARRAY_BYTES)
    }
}

/// Splits `elems` elements over `threads` workers in whole 64-byte lines
/// (8 doubles), so every slice starts cache-line aligned; a partial line at
/// the end is dropped. Returns the element count of each slice.
pub fn split(elems: usize, threads: usize) -> Vec<usize> {
    let threads = threads.max(1);
    let lines = elems / 8;
    let base = lines / threads;
    let extra = lines % threads;
    (0..threads)
        .map(|i| (base + usize::from(i < extra)) * 8)
        .collect()
}

/// STREAM's byte count of one pass of kernel `k` (index into [`KERNELS`])
/// over `elems` elements.
pub fn kernel_bytes(k: usize, elems: usize) -> u64 {
    KERNELS[k].1 * elems as u64
}

impl WorkloadFactory for StreamFactory {
    fn kind(&self) -> &'static str {
        "mem.stream"
    }
    fn about(&self) -> &'static str {
        "STREAM copy/scale/add/triad bandwidth on N pinned threads, arrays ≥ 4 × LLC"
    }
    fn params(&self) -> &'static [ParamDef] {
        PARAMS
    }
    fn build(&self, p: &Params, vcpus: usize) -> Result<Box<dyn Workload>, SpecError> {
        let threads = p.threads("threads")?.resolve(vcpus);
        let pin = pin_list(p)?;
        let llc_bytes = bench_core::host::llc_total_bytes();
        let array_bytes = if p.is_set("array_size") {
            p.u64("array_size")?
        } else {
            default_array_bytes(llc_bytes)
        };
        if array_bytes < MIN_ARRAY_BYTES {
            return Err(SpecError::key(
                "array_size",
                format!(
                    "key `array_size`: {array_bytes} bytes is below the minimum of {MIN_ARRAY_BYTES}"
                ),
            ));
        }
        if array_bytes > 1 << 40 {
            return Err(SpecError::key(
                "array_size",
                "key `array_size`: more than 1 TiB per array",
            ));
        }
        let chunks = split((array_bytes / 8) as usize, threads);
        if chunks.contains(&0) {
            return Err(SpecError::key(
                "array_size",
                format!(
                    "key `array_size`: {array_bytes} bytes leave some of the {threads} threads without a 64-byte line"
                ),
            ));
        }
        Ok(Box::new(StreamWorkload {
            threads,
            pin,
            chunks,
            llc_bytes,
            hugepages: super::Hugepages::from_params(p)?,
            shared: Mutex::new(None),
        }))
    }
}

/// State shared by the workers of one step.
struct Shared {
    barrier: Barrier,
    go: AtomicBool,
}

/// How long a worker waits for the others at a barrier before giving up:
/// far longer than one pass over any array this workload allows.
const MEET_TIMEOUT: Duration = Duration::from_secs(300);

/// Upper bound on iterations, so the loop ends even without a time limit.
const MAX_ITERATIONS: u64 = 1 << 40;

impl StreamWorkload {
    fn elements(&self) -> usize {
        self.chunks.iter().sum()
    }
}

impl Workload for StreamWorkload {
    fn resources(&self) -> Resources {
        Resources {
            threads: self.threads,
            exclusive: true,
            ..Resources::default()
        }
    }

    fn steps(&self) -> Vec<Step> {
        vec![Step::new(
            "mem.stream",
            self.threads,
            Some(self.pin.clone()),
        )]
    }

    fn prepare(&mut self, _env: &PrepareEnv) -> Result<(), WorkloadError> {
        check_memory("mem.stream", 3 * 8 * self.elements() as u64)
    }

    fn worker(&self, step: &Step, index: usize) -> Result<Box<dyn Worker>, WorkloadError> {
        let shared = {
            let mut g = self
                .shared
                .lock()
                .map_err(|_| WorkloadError::Other("mem.stream state poisoned".into()))?;
            if index == 0 {
                *g = Some(Arc::new(Shared {
                    barrier: Barrier::new(step.threads),
                    go: AtomicBool::new(false),
                }));
            }
            g.clone()
                .ok_or_else(|| WorkloadError::Other("mem.stream: worker 0 not created".into()))?
        };
        let elems = *self.chunks.get(index).ok_or_else(|| {
            WorkloadError::Other(format!("mem.stream: no slice for worker {index}"))
        })?;
        let hp = self.hugepages;
        let (a, b, c) = on_cpu(step.cpu_of(index), move || {
            let mut a = Region::new(elems * 8, hp)?;
            let mut b = Region::new(elems * 8, hp)?;
            let mut c = Region::new(elems * 8, hp)?;
            // STREAM's initial values; writing them is the first touch.
            a.as_f64_mut()[..elems].fill(1.0);
            b.as_f64_mut()[..elems].fill(2.0);
            c.as_f64_mut()[..elems].fill(0.0);
            // STREAM's first, never-counted iteration, here before the
            // clock starts: it pays for cold TLBs and page-table walks, and
            // a run of any duration then measures from its first pass on.
            let (x, y, z) = (
                &mut a.as_f64_mut()[..elems],
                &mut b.as_f64_mut()[..elems],
                &mut c.as_f64_mut()[..elems],
            );
            copy(z, x);
            scale(y, z, SCALAR);
            add(z, x, y);
            triad(x, y, z, SCALAR);
            Ok((a, b, c))
        })?;
        Ok(Box::new(StreamWorker {
            a,
            b,
            c,
            elems,
            leader: index == 0,
            shared,
        }))
    }

    fn metrics(&self, steps: &[StepResult]) -> Result<RunOutput, WorkloadError> {
        let mut out = RunOutput::default();
        let elems = self.elements();
        let array_bytes = elems as u64 * 8;
        for s in steps {
            let outputs = s.outputs::<StreamOutput>()?;
            let Some(lead) = outputs.first() else {
                continue;
            };
            // Triad first: front ends show a run's first metric as its headline.
            for k in [3, 0, 1, 2] {
                let name = KERNELS[k].0;
                let bytes = kernel_bytes(k, elems) as f64;
                if let Some(best) = lead.best_ns.map(|b| b[k]).filter(|b| *b > 0) {
                    out.metric(
                        format!("mem.stream.{name}.bytes_per_s"),
                        bytes / best as f64 * 1e9,
                        Unit::BytesPerS,
                        Better::Higher,
                    );
                }
                if let Some(h) = s.merged_aux(name).filter(|h| !h.is_empty()) {
                    let p50 = h.value_at_quantile(0.5) as f64;
                    if p50 > 0.0 {
                        out.metric(
                            format!("mem.stream.{name}.median_bytes_per_s"),
                            bytes / p50 * 1e9,
                            Unit::BytesPerS,
                            Better::Higher,
                        );
                    }
                    out.latency(&format!("mem.stream.{name}.lat_ns"), &h);
                }
            }
            out.series.push(Series {
                name: s.step.label.clone(),
                points: s.series.clone(),
            });
            out.notes.insert(
                "mem.stream.iterations".into(),
                // A float, as the figure has always been written.
                (lead.iterations as f64).into(),
            );
            let thp = outputs.iter().map(|o| o.thp_bytes).sum::<u64>() as f64;
            out.notes.insert(
                "mem.stream.thp_backed_ratio".into(),
                (thp / (3.0 * array_bytes as f64)).into(),
            );
        }
        out.notes
            .insert("mem.stream.byte_counting".into(), BYTE_COUNTING.into());
        out.notes
            .insert("mem.stream.array_bytes".into(), array_bytes.into());
        out.notes
            .insert("mem.stream.threads".into(), self.threads.into());
        out.notes
            .insert("mem.stream.llc_bytes".into(), self.llc_bytes.into());
        if self.llc_bytes > 0 {
            let ratio = array_bytes as f64 / self.llc_bytes as f64;
            out.notes
                .insert("mem.stream.array_vs_llc_ratio".into(), ratio.into());
            if ratio < 4.0 {
                out.notes.insert(
                    "mem.stream.warning".into(),
                    "arrays smaller than 4 × LLC: partly cache bandwidth, not a DRAM figure".into(),
                );
            }
        }
        out.notes.insert(
            "mem.stream.hugepages".into(),
            self.hugepages.as_str().into(),
        );
        out.notes.insert("mem.stream.scalar".into(), SCALAR.into());
        Ok(out)
    }
}

struct StreamWorker {
    a: Region,
    b: Region,
    c: Region,
    elems: usize,
    leader: bool,
    shared: Arc<Shared>,
}

/// Breaks the step's barrier when a worker leaves `run` for any reason, so
/// no other worker waits for it. On a normal exit everyone is already past
/// the last meeting, so breaking is harmless.
struct BreakOnExit<'a>(&'a Barrier);

impl Drop for BreakOnExit<'_> {
    fn drop(&mut self) {
        self.0.break_it();
    }
}

/// `c = a`.
#[inline(never)]
pub fn copy(c: &mut [f64], a: &[f64]) {
    for (c, a) in c.iter_mut().zip(a) {
        *c = *a;
    }
}

/// `b = s·c`.
#[inline(never)]
pub fn scale(b: &mut [f64], c: &[f64], s: f64) {
    for (b, c) in b.iter_mut().zip(c) {
        *b = s * *c;
    }
}

/// `c = a + b`.
#[inline(never)]
pub fn add(c: &mut [f64], a: &[f64], b: &[f64]) {
    for ((c, a), b) in c.iter_mut().zip(a).zip(b) {
        *c = *a + *b;
    }
}

/// `a = b + s·c`.
#[inline(never)]
pub fn triad(a: &mut [f64], b: &[f64], c: &[f64], s: f64) {
    for ((a, b), c) in a.iter_mut().zip(b).zip(c) {
        *a = *b + s * *c;
    }
}

/// The values every element of a, b and c holds after `iterations` passes
/// of the four kernels from STREAM's initial 1, 2, 0: the same operations
/// on scalars, so the comparison can be exact.
pub fn expected_after(iterations: u64) -> (f64, f64, f64) {
    let (mut a, mut b, mut c) = (1.0f64, 2.0f64, 0.0f64);
    for _ in 0..iterations {
        c = a;
        b = SCALAR * c;
        c = a + b;
        a = b + SCALAR * c;
    }
    (a, b, c)
}

/// Checks a sample of the slice (both ends fully, every 509th element in
/// between) against the expected values; returns the first mismatch.
fn validate(a: &[f64], b: &[f64], c: &[f64], exp: (f64, f64, f64)) -> Option<(usize, f64, f64)> {
    let n = a.len();
    let edge = 512.min(n);
    let idx = (0..edge)
        .chain((edge..n.saturating_sub(edge)).step_by(509))
        .chain(n.saturating_sub(edge).max(edge)..n);
    for i in idx {
        for (arr, e) in [(a, exp.0), (b, exp.1), (c, exp.2)] {
            if arr[i] != e {
                return Some((i, arr[i], e));
            }
        }
    }
    None
}

/// What a STREAM worker returns. Only the leader times the kernels (the
/// barrier makes every pass the same for all threads).
#[derive(Clone, Debug)]
struct StreamOutput {
    /// Passes done, the untimed set-up pass included.
    iterations: u64,
    /// Bytes of this worker's arrays backed by transparent huge pages.
    thp_bytes: u64,
    /// Fastest measured time of each kernel, in [`KERNELS`] order (leader only).
    best_ns: Option<[u64; 4]>,
}

impl Worker for StreamWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        let shared = Arc::clone(&self.shared);
        let _exit = BreakOnExit(&shared.barrier);
        let n = self.elems;
        let a = &mut self.a.as_f64_mut()[..n];
        let b = &mut self.b.as_f64_mut()[..n];
        let c = &mut self.c.as_f64_mut()[..n];
        let my_bytes: u64 = (0..KERNELS.len()).map(|k| kernel_bytes(k, n)).sum();
        let slots: Vec<usize> = KERNELS.iter().map(|(k, _)| ctx.aux_hist(k)).collect();
        let mut best = [u64::MAX; 4];
        let mut measured = 0u64;
        // The untimed pass of `worker` (set-up) counts for validation.
        let mut iterations = 1u64;
        let mut last_pass_ns = 0u64;
        let mut times = [0u64; 4];
        ctx.restart();
        let clock = ctx.clock().clone();
        let now = || clock.raw();
        loop {
            if self.leader {
                let go = ctx.running() && iterations < MAX_ITERATIONS;
                shared.go.store(go, Ordering::SeqCst);
            }
            // A pass that starts in the measured phase counts, even when it
            // ends after it (as fio completes the I/O in flight).
            let counted = ctx.measuring();
            let mut t = shared.barrier.wait(MEET_TIMEOUT, now)?;
            if !shared.go.load(Ordering::SeqCst) {
                break;
            }
            for (k, time) in times.iter_mut().enumerate() {
                match k {
                    0 => copy(c, a),
                    1 => scale(b, c, SCALAR),
                    2 => add(c, a, b),
                    _ => triad(a, b, c, SCALAR),
                }
                // From "all had finished the previous kernel" to "all have
                // finished this one", as stamped by the last to arrive.
                let done = shared.barrier.wait(MEET_TIMEOUT, now)?;
                *time = clock.delta_ns(t, done);
                t = done;
            }
            iterations += 1;
            last_pass_ns = times.iter().sum();
            if self.leader && counted {
                for k in 0..KERNELS.len() {
                    ctx.record_aux(slots[k], times[k]);
                    best[k] = best[k].min(times[k].max(1));
                }
                measured += 1;
            }
            ctx.op_done(my_bytes);
        }
        if self.leader && measured == 0 && !ctx.stop_requested() {
            // Say why, and what to change, rather than an `ok` with no metrics.
            let phase = ctx
                .planned_measure()
                .map(|d| format!("{:.3} s", d.as_secs_f64()))
                .unwrap_or_else(|| "the measured phase".into());
            return Err(WorkloadError::Other(format!(
                "mem.stream: no complete pass in {phase}: no pass started in the measured phase (the last took {:.3} s, on {} MiB of each array per thread); raise duration (or warmup) or lower array_size",
                last_pass_ns as f64 / 1e9,
                (n as u64 * 8) >> 20
            )));
        }
        let exp = expected_after(iterations);
        if let Some((i, got, want)) = validate(a, b, c, exp) {
            return Err(WorkloadError::Other(format!(
                "mem.stream validation failed after {iterations} iterations: element {i} is {got}, expected {want}"
            )));
        }
        let thp: u64 = [&self.a, &self.b, &self.c]
            .iter()
            .filter_map(|r| r.thp_bytes())
            .sum();
        Ok(Box::new(StreamOutput {
            iterations,
            thp_bytes: thp,
            best_ns: (self.leader && measured > 0).then_some(best),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_keeps_values_bounded() {
        let (a, b, c) = expected_after(1_000_000);
        assert!((a - 1.0).abs() < 1e-6, "{a}");
        assert!((b - SCALAR).abs() < 1e-6, "{b}");
        assert!((c - (1.0 + SCALAR)).abs() < 1e-6, "{c}");
    }

    #[test]
    fn kernels_compute_stream() {
        let mut a = vec![1.0; 37];
        let mut b = vec![2.0; 37];
        let mut c = vec![0.0; 37];
        copy(&mut c, &a);
        scale(&mut b, &c, SCALAR);
        add(&mut c, &a, &b);
        triad(&mut a, &b, &c, SCALAR);
        assert_eq!(validate(&a, &b, &c, expected_after(1)), None);
        assert!(validate(&a, &b, &c, expected_after(2)).is_some());
    }
}
