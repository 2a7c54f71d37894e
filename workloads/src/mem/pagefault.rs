//! `mem.pagefault`: the rate of mmap → touch every page → munmap, per thread
//! and in total, on all vCPUs.
//!
//! Every first write to a page of a fresh anonymous mapping is a minor
//! fault: the kernel allocates and zeroes a page and maps it; munmap then
//! frees them (and, with several threads, shoots down TLB entries on the
//! other vCPUs). One operation is one such cycle over `size` bytes. The
//! kernel's own count of minor faults (getrusage, per thread) is recorded
//! next to the pages touched, so a result says whether each touch really
//! faulted (it does not under THP, for example).

use bench_core::params::{ParamDef, ParamKind, Params};
use bench_core::result::Better;
use bench_core::workload::{
    Merge, Resources, RunOutput, Step, StepResult, Worker, WorkerCtx, WorkerOutput, Workload,
    WorkloadFactory,
};
use bench_core::{SpecError, Unit, WorkloadError};

use super::{hugepages_param, page_size, pin_list, Hugepages, Region};

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "threads",
        kind: ParamKind::Threads,
        default: Some("all"),
        help: "worker threads, each mapping, touching and unmapping its own regions",
    },
    ParamDef {
        name: "pin",
        kind: ParamKind::CpuList,
        default: None,
        help: "vCPUs to pin workers to, round-robin (default: every allowed vCPU)",
    },
    ParamDef {
        name: "size",
        kind: ParamKind::Size,
        default: Some("1m"),
        help: "bytes mapped, touched (one write per page) and unmapped per operation",
    },
    hugepages_param("default"),
];

/// Largest mapping per operation.
pub const MAX_SIZE: u64 = 1 << 30;

/// Factory of `mem.pagefault`.
pub struct PagefaultFactory;

/// A configured `mem.pagefault`.
pub struct PagefaultWorkload {
    threads: usize,
    pin: Vec<usize>,
    size: usize,
    page: usize,
    hugepages: Hugepages,
}

impl WorkloadFactory for PagefaultFactory {
    fn kind(&self) -> &'static str {
        "mem.pagefault"
    }
    fn about(&self) -> &'static str {
        "page-fault rate: mmap, touch every page, munmap, on every vCPU (faults/s)"
    }
    fn params(&self) -> &'static [ParamDef] {
        PARAMS
    }
    fn build(&self, p: &Params, vcpus: usize) -> Result<Box<dyn Workload>, SpecError> {
        let page = page_size();
        let size = p.u64("size")?;
        if size < page as u64 || size > MAX_SIZE {
            return Err(SpecError::key(
                "size",
                format!("key `size`: {size} bytes is outside {page}..={MAX_SIZE}"),
            ));
        }
        Ok(Box::new(PagefaultWorkload {
            threads: p.threads("threads")?.resolve(vcpus),
            pin: pin_list(p)?,
            size: (size as usize).next_multiple_of(page),
            page,
            hugepages: Hugepages::from_params(p)?,
        }))
    }
}

impl PagefaultWorkload {
    fn pages(&self) -> u64 {
        (self.size / self.page) as u64
    }
}

impl Workload for PagefaultWorkload {
    fn resources(&self) -> Resources {
        Resources {
            threads: self.threads,
            ..Resources::default()
        }
    }

    fn steps(&self) -> Vec<Step> {
        vec![Step::new(
            "mem.pagefault",
            self.threads,
            Some(self.pin.clone()),
        )]
    }

    fn worker(&self, _step: &Step, _index: usize) -> Result<Box<dyn Worker>, WorkloadError> {
        Ok(Box::new(PagefaultWorker {
            size: self.size,
            page: self.page,
            hugepages: self.hugepages,
        }))
    }

    fn metrics(&self, steps: &[StepResult]) -> Result<RunOutput, WorkloadError> {
        let mut out = RunOutput::default();
        // One operation maps, touches and unmaps the whole region: a step
        // that finished none measured nothing, and 0 faults/s would read as
        // a (terrible) measurement.
        if let Some(s) = steps.iter().find(|s| s.ops == 0) {
            return Err(WorkloadError::Other(format!(
                "{}: no map-touch-unmap cycle of {} bytes completed in {:.3} s measured; raise the duration or lower size",
                s.step.label, self.size, s.elapsed_s
            )));
        }
        for s in steps {
            let faults = s.ops_per_s() * self.pages() as f64;
            out.metric(
                format!("{}.faults_per_s", s.step.label),
                faults,
                Unit::FaultsPerS,
                Better::Higher,
            );
            out.metric(
                format!("{}.faults_per_s_per_thread", s.step.label),
                faults / s.step.threads as f64,
                Unit::FaultsPerS,
                Better::Higher,
            );
            out.standard(&s.step.label, s);
            let total = s.merged_output::<FaultCounts>()?;
            if total.pages_touched > 0 {
                out.notes.insert(
                    "mem.pagefault.kernel_faults_per_touched_page".into(),
                    (total.minor_faults as f64 / total.pages_touched as f64).into(),
                );
            }
        }
        out.notes
            .insert("mem.pagefault.size_bytes".into(), self.size.into());
        out.notes
            .insert("mem.pagefault.page_bytes".into(), self.page.into());
        out.notes.insert(
            "mem.pagefault.hugepages".into(),
            self.hugepages.as_str().into(),
        );
        out.notes.insert(
            "mem.pagefault.method".into(),
            "one op = mmap(size, anonymous private) + one write per page + munmap; faults/s = ops/s × pages per op; kernel_faults_per_touched_page = getrusage minor faults / pages touched (warm-up included), ≈ 1 when every touch faulted".into(),
        );
        Ok(out)
    }
}

/// Pages a worker touched and the minor faults its thread took
/// (warm-up included).
#[derive(Clone, Copy, Debug, Default)]
struct FaultCounts {
    pages_touched: u64,
    minor_faults: u64,
}

impl Merge for FaultCounts {
    fn merge(&mut self, other: &Self) {
        self.pages_touched += other.pages_touched;
        self.minor_faults += other.minor_faults;
    }
}

struct PagefaultWorker {
    size: usize,
    page: usize,
    hugepages: Hugepages,
}

/// Minor faults of the calling thread so far.
fn thread_minor_faults() -> Option<u64> {
    // SAFETY: rusage is plain data that getrusage fills completely on success.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        (libc::getrusage(libc::RUSAGE_THREAD, &mut ru) == 0).then_some(ru.ru_minflt as u64)
    }
}

impl Worker for PagefaultWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        let pages = self.size / self.page;
        let before = thread_minor_faults();
        let mut touched = 0u64;
        ctx.restart();
        while ctx.running() {
            let mut r = Region::new(self.size, self.hugepages)?;
            let p = r.as_mut_ptr();
            for i in 0..pages {
                // SAFETY: i * page < size = the region's length; the region
                // is writable and owned here. Volatile so every page is
                // really written (and faulted) before the unmap.
                unsafe { p.add(i * self.page).write_volatile(1) };
            }
            drop(r);
            touched += pages as u64;
            ctx.op_done(self.size as u64);
        }
        // Without getrusage the thread's faults count as none, as before.
        let minor_faults = match (before, thread_minor_faults()) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => 0,
        };
        Ok(Box::new(FaultCounts {
            pages_touched: touched,
            minor_faults,
        }))
    }
}
