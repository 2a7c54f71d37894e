//! The I/O engines: one worker loop each for `null`, `sync` and `io_uring`,
//! plus what they share (rate pacing, CPU and device accounting, buffers).
//!
//! Latency is submit → completion of each I/O. With `rate_iops`, each I/O
//! also has an intended start on a fixed schedule (`n / rate` from the
//! job's start); the response time from that intended start goes to a
//! second histogram, so a stalled device is not hidden by the generator
//! waiting for it (coordinated omission). A late schedule is caught up.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bench_core::workload::{Worker, WorkerCtx};
use bench_core::WorkloadError;
use io_uring::{opcode, types, IoUring};

use super::pattern::{Io, IoPattern, PatternSpec};
use super::target::{self, DevStat};
use super::verify;
use super::{Engine, Prepared, SyncEvery};

/// How long in-flight I/Os may take to complete after a run ends.
const DRAIN_LIMIT_NS: u64 = 30_000_000_000;

/// Auxiliary histogram: read latency (mixed patterns).
pub const AUX_READ: &str = "read";
/// Auxiliary histogram: write latency (mixed patterns).
pub const AUX_WRITE: &str = "write";
/// Auxiliary histogram: response time from the intended start (rate_iops).
pub const AUX_RESP: &str = "resp";
/// Auxiliary histogram: read response time (mixed, rate_iops).
pub const AUX_READ_RESP: &str = "read.resp";
/// Auxiliary histogram: write response time (mixed, rate_iops).
pub const AUX_WRITE_RESP: &str = "write.resp";
/// Auxiliary histogram: fsync/fdatasync latency.
pub const AUX_SYNC: &str = "sync";

/// Explains an io_uring failure of `call` with `errno`, given the value of
/// `/proc/sys/kernel/io_uring_disabled` when readable.
pub fn describe_uring_error(call: &str, errno: Option<i32>, disabled: Option<&str>) -> String {
    match errno {
        Some(libc::EPERM) | Some(libc::EACCES) => format!(
            "{call} failed with EPERM: {}",
            match disabled.map(str::trim) {
                Some("2") => "kernel.io_uring_disabled = 2 (io_uring is switched off for all processes)".to_string(),
                Some("1") => "kernel.io_uring_disabled = 1 (only members of kernel.io_uring_group may use it)".to_string(),
                _ => "blocked by a seccomp filter (e.g. a container runtime's default profile) or a security module".to_string(),
            }
        ),
        Some(libc::ENOSYS) => format!(
            "{call} failed with ENOSYS: the kernel has no io_uring (older than 5.1 or built \
             without CONFIG_IO_URING) or a seccomp filter blocks the system call"
        ),
        Some(libc::ENOMEM) => format!(
            "{call} failed with ENOMEM: the locked-memory limit (ulimit -l, RLIMIT_MEMLOCK) is too low"
        ),
        Some(e) => format!(
            "{call} failed: {}",
            std::io::Error::from_raw_os_error(e)
        ),
        None => format!("{call} failed"),
    }
}

fn uring_error(call: &str, e: &std::io::Error) -> String {
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").ok();
    describe_uring_error(call, e.raw_os_error(), disabled.as_deref())
}

/// Checks that io_uring works here: sets up a ring and completes a no-op.
pub fn probe_io_uring() -> Result<(), String> {
    let mut ring: IoUring = IoUring::new(4).map_err(|e| uring_error("io_uring_setup", &e))?;
    let nop = opcode::Nop::new().build().user_data(7);
    // SAFETY: a no-op references no memory.
    unsafe {
        ring.submission()
            .push(&nop)
            .map_err(|_| "io_uring submission queue full".to_string())?;
    }
    ring.submit_and_wait(1)
        .map_err(|e| uring_error("io_uring_enter", &e))?;
    let res = ring.completion().next().map(|c| c.result());
    match res {
        Some(r) if r >= 0 => Ok(()),
        Some(r) => Err(describe_uring_error("io_uring no-op", Some(-r), None)),
        None => Err("io_uring returned no completion for a no-op".into()),
    }
}

/// A zeroed, 4 KiB-aligned buffer (O_DIRECT needs aligned memory).
struct AlignedBuf {
    ptr: *mut u8,
    len: usize,
    layout: std::alloc::Layout,
}

// SAFETY: the buffer is uniquely owned plain memory.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    fn new(len: usize) -> Result<Self, WorkloadError> {
        const HUGE: usize = 2 << 20;
        let len = len.max(4096).div_ceil(4096) * 4096;
        // Large buffers on 2 MiB boundaries, backed by huge pages where the
        // kernel allows: a 1 MiB direct I/O then needs a handful of DMA
        // segments instead of 256 (virtio-blk allows ~254 per request, so
        // 4 KiB pages would split every 1 MiB request in two).
        let align = if len >= HUGE { HUGE } else { 4096 };
        let len = len.div_ceil(align) * align;
        let layout = std::alloc::Layout::from_size_align(len, align)
            .map_err(|e| WorkloadError::Other(format!("buffer of {len} bytes: {e}")))?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc(layout) };
        if ptr.is_null() {
            return Err(WorkloadError::Other(format!(
                "cannot allocate a {len} byte I/O buffer"
            )));
        }
        if align == HUGE {
            // SAFETY: advisory call on memory we just allocated, page aligned.
            unsafe {
                libc::madvise(ptr.cast(), len, libc::MADV_HUGEPAGE);
            }
        }
        // SAFETY: `ptr` is valid for `len` bytes; zero it after the advice
        // so the first touch already faults in huge pages.
        unsafe { std::ptr::write_bytes(ptr, 0, len) };
        Ok(Self { ptr, len, layout })
    }
    fn slice_mut(&mut self, off: usize, len: usize) -> &mut [u8] {
        assert!(off + len <= self.len);
        // SAFETY: in bounds (checked above) of memory we own; `&mut self`
        // guarantees no other reference from safe code.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(off), len) }
    }
    fn fill_random(&mut self, seed: u64) {
        let mut rng = super::pattern::Rng::new(seed);
        let all = self.slice_mut(0, self.len);
        for w in all.chunks_mut(8) {
            let v = rng.next_u64().to_le_bytes();
            w.copy_from_slice(&v[..w.len()]);
        }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout in `new`.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) }
    }
}

fn thread_rusage() -> (f64, f64) {
    // SAFETY: `ru` is a properly sized, writable rusage the call fills in.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_THREAD, &mut ru) != 0 {
            return (0.0, 0.0);
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
        (tv(ru.ru_utime), tv(ru.ru_stime))
    }
}

/// Snapshots of CPU time and device counters at the start and end of the
/// measured phase.
struct Probe {
    started: bool,
    t0: u64,
    ru0: (f64, f64),
    dev: Option<PathBuf>,
    dev0: Option<DevStat>,
}

impl Probe {
    fn new(dev: Option<PathBuf>) -> Self {
        Self {
            started: false,
            t0: 0,
            ru0: (0.0, 0.0),
            dev,
            dev0: None,
        }
    }

    #[inline(always)]
    fn poll(&mut self, ctx: &WorkerCtx) {
        if !self.started && ctx.measuring() {
            self.start(ctx);
        }
    }

    #[cold]
    fn start(&mut self, ctx: &WorkerCtx) {
        self.started = true;
        self.t0 = ctx.now();
        self.ru0 = thread_rusage();
        self.dev0 = self.dev.as_deref().and_then(target::read_dev_stat);
    }

    fn finish(&self, ctx: &WorkerCtx, out: &mut Vec<(String, f64)>) {
        if !self.started {
            return;
        }
        let wall = ctx.clock().delta_ns(self.t0, ctx.now()) as f64 / 1e9;
        if wall <= 0.0 {
            return;
        }
        let (u1, s1) = thread_rusage();
        let (u, s) = ((u1 - self.ru0.0).max(0.0), (s1 - self.ru0.1).max(0.0));
        out.push(("cpu_usr_s".into(), u));
        out.push(("cpu_sys_s".into(), s));
        out.push(("cpu_wall_s".into(), wall));
        out.push(("cpu_usr_pct".into(), 100.0 * u / wall));
        out.push(("cpu_sys_pct".into(), 100.0 * s / wall));
        if let (Some(d0), Some(d1)) = (
            self.dev0,
            self.dev.as_deref().and_then(target::read_dev_stat),
        ) {
            let d = |a: u64, b: u64| b.saturating_sub(a) as f64;
            out.push(("dev_wall_s".into(), wall));
            out.push(("dev_reads".into(), d(d0.reads, d1.reads)));
            out.push(("dev_writes".into(), d(d0.writes, d1.writes)));
            out.push((
                "dev_read_bytes".into(),
                512.0 * d(d0.read_sectors, d1.read_sectors),
            ));
            out.push((
                "dev_write_bytes".into(),
                512.0 * d(d0.write_sectors, d1.write_sectors),
            ));
            out.push(("dev_io_ms".into(), d(d0.io_ms, d1.io_ms)));
        }
    }
}

/// Open-loop schedule of intended start times for `rate_iops`.
struct Pacer {
    base: u64,
    period_ns: f64,
    n: u64,
}

impl Pacer {
    fn new(ctx: &WorkerCtx, rate: u64) -> Self {
        // Sleep precisely: the default 50 µs timer slack would make every
        // wake-up late by that much.
        // SAFETY: prctl with integer arguments only affects this thread.
        unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
        }
        Self {
            base: ctx.now(),
            period_ns: 1e9 / rate as f64,
            n: 0,
        }
    }
    fn now_ns(&self, ctx: &WorkerCtx) -> u64 {
        ctx.clock().delta_ns(self.base, ctx.now())
    }
    fn due_ns(&self) -> u64 {
        (self.n as f64 * self.period_ns) as u64
    }
    /// Nanoseconds until the next I/O is due (0 if due).
    fn wait_ns(&self, ctx: &WorkerCtx) -> u64 {
        self.due_ns().saturating_sub(self.now_ns(ctx))
    }
    /// Takes the next slot: its intended start, ns since `base`.
    fn take(&mut self) -> u64 {
        let d = self.due_ns();
        self.n += 1;
        d
    }
    /// Waits until the next I/O is due, keeping the phase clock ticking.
    /// Returns false when the run ended while waiting.
    fn sleep_until_due(&self, ctx: &mut WorkerCtx) -> bool {
        loop {
            let w = self.wait_ns(ctx);
            if w == 0 {
                return true;
            }
            ctx.tick();
            if !ctx.running() {
                return false;
            }
            if w > 30_000 {
                // Wake a little early, then spin the rest; bounded chunks
                // keep the phase boundaries on time.
                std::thread::sleep(Duration::from_nanos((w - 20_000).min(5_000_000)));
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// Slots of the response-time histograms (from the intended start), by
/// direction; unused (`usize::MAX`) without a rate limit.
fn resp_slots(ctx: &mut WorkerCtx, paced: bool, mixed: bool) -> [usize; 2] {
    match (paced, mixed) {
        (false, _) => [usize::MAX; 2],
        (true, false) => {
            let s = ctx.aux_hist(AUX_RESP);
            [s, s]
        }
        (true, true) => [ctx.aux_hist(AUX_READ_RESP), ctx.aux_hist(AUX_WRITE_RESP)],
    }
}

/// Per-direction counters of the measured phase.
#[derive(Default)]
struct Counts {
    ops: [u64; 2],
    bytes: [u64; 2],
    verified: u64,
}

/// Creates the worker for job `index` of `threads`.
pub fn new_worker(
    p: Arc<Prepared>,
    index: usize,
    threads: usize,
) -> Result<Box<dyn Worker>, WorkloadError> {
    let (start, len) = p.region_of(index, threads);
    let seed = super::pattern::splitmix(p.cfg.seed ^ (index as u64 + 1).wrapping_mul(0x9e37));
    let pattern = IoPattern::new(&PatternSpec {
        rw: p.cfg.rw,
        rwmixread: p.cfg.rwmixread,
        sizes: p.cfg.sizes.clone(),
        start,
        len,
        distribution: p.cfg.distribution,
        seed,
    });
    let file = match (&p.path, p.engine) {
        (Some(path), Engine::Sync | Engine::IoUring) => {
            Some(target::open(path, p.cfg.rw.writes(), p.cfg.direct)?)
        }
        _ => None,
    };
    let dev = if index == 0 {
        p.dev_stat.as_ref().map(|d| d.1.clone())
    } else {
        None
    };
    Ok(Box::new(DiskWorker {
        wseed: p.tag | ((index as u64 + 1) & 0xffff_ffff),
        p,
        pattern,
        file,
        probe: Probe::new(dev),
        counts: Counts::default(),
        measured_bytes: 0,
    }))
}

struct DiskWorker {
    p: Arc<Prepared>,
    pattern: IoPattern,
    file: Option<File>,
    probe: Probe,
    counts: Counts,
    measured_bytes: u64,
    wseed: u64,
}

impl Worker for DiskWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Vec<(String, f64)>, WorkloadError> {
        let r = match self.p.engine {
            Engine::Null => {
                self.run_null(ctx);
                Ok(())
            }
            Engine::Sync => self.run_sync(ctx),
            Engine::IoUring => self.run_uring(ctx),
        };
        r?;
        let mut out = Vec::with_capacity(20);
        self.probe.finish(ctx, &mut out);
        let c = &self.counts;
        out.push(("read_ops".into(), c.ops[0] as f64));
        out.push(("write_ops".into(), c.ops[1] as f64));
        out.push(("read_bytes".into(), c.bytes[0] as f64));
        out.push(("write_bytes".into(), c.bytes[1] as f64));
        out.push(("verified_blocks".into(), c.verified as f64));
        Ok(out)
    }
}

impl DiskWorker {
    /// Counts a finished I/O in the measured phase; true when `io_size` is reached.
    #[inline(always)]
    fn count(&mut self, ctx: &WorkerCtx, io: &Io) -> bool {
        if !ctx.measuring() {
            return false;
        }
        let d = usize::from(io.write);
        self.counts.ops[d] += 1;
        self.counts.bytes[d] += io.len;
        self.measured_bytes += io.len;
        self.p.cfg.io_size.is_some_and(|n| self.measured_bytes >= n)
    }

    fn io_error(&self, io: &Io, e: std::io::Error) -> WorkloadError {
        let path = self.p.path.clone().unwrap_or_default();
        let what = format!(
            "{} of {} bytes at offset {} of",
            if io.write { "write" } else { "read" },
            io.len,
            io.offset
        );
        target::explain(&what, &path, e, self.p.cfg.direct)
    }

    fn short(&self, io: &Io, got: usize) -> WorkloadError {
        let path = self.p.path.clone().unwrap_or_default();
        WorkloadError::Other(format!(
            "short {} at offset {} of {}: {got} of {} bytes (the file shrank?)",
            if io.write { "write" } else { "read" },
            io.offset,
            path.display(),
            io.len
        ))
    }

    fn sync_every(&self) -> Option<(u64, bool)> {
        match self.p.cfg.sync {
            SyncEvery::Never => None,
            SyncEvery::Fsync(n) => Some((n, false)),
            SyncEvery::Fdatasync(n) => Some((n, true)),
        }
    }

    fn do_sync(&self, fd: RawFd, data_only: bool) -> Result<(), WorkloadError> {
        // SAFETY: plain system call on a descriptor this worker owns.
        let r = unsafe {
            if data_only {
                libc::fdatasync(fd)
            } else {
                libc::fsync(fd)
            }
        };
        if r != 0 {
            let path = self.p.path.clone().unwrap_or_default();
            return Err(target::explain(
                if data_only { "fdatasync" } else { "fsync" },
                &path,
                std::io::Error::last_os_error(),
                false,
            ));
        }
        Ok(())
    }

    /// The null engine: no I/O; per operation only the offset is generated
    /// and the operation counted, so this measures skubench itself.
    fn run_null(&mut self, ctx: &mut WorkerCtx) {
        let plain = self.p.cfg.rate_iops.is_none()
            && self.p.cfg.io_size.is_none()
            && !self.p.cfg.rw.mixed();
        ctx.restart();
        if plain {
            while ctx.running() {
                self.probe.poll(ctx);
                let io = self.pattern.next_io();
                std::hint::black_box(io.offset);
                ctx.op_done(io.len);
            }
            return;
        }
        let mut pacer = self.p.cfg.rate_iops.map(|r| Pacer::new(ctx, r));
        let resp = resp_slots(ctx, pacer.is_some(), self.p.cfg.rw.mixed());
        while ctx.running() {
            let mut intended = None;
            if let Some(pc) = pacer.as_mut() {
                if !pc.sleep_until_due(ctx) {
                    break;
                }
                intended = Some(pc.take());
                ctx.restart();
            }
            let t0 = ctx.now();
            self.probe.poll(ctx);
            let io = self.pattern.next_io();
            std::hint::black_box(io.offset);
            let t1 = ctx.now();
            let lat = ctx.clock().delta_ns(t0, t1);
            if let (Some(pc), Some(i)) = (pacer.as_ref(), intended) {
                // As the real engines do: the response ends when the
                // operation does, and is never shorter than its service.
                let done_ns = ctx.clock().delta_ns(pc.base, t1);
                ctx.record_aux(
                    resp[usize::from(io.write)],
                    done_ns.saturating_sub(i).max(lat),
                );
            }
            let done = self.count(ctx, &io);
            if pacer.is_some() {
                ctx.record(lat, io.len);
            } else {
                ctx.op_done(io.len);
            }
            if done {
                break;
            }
        }
    }

    fn run_sync(&mut self, ctx: &mut WorkerCtx) -> Result<(), WorkloadError> {
        let cfg = self.p.cfg.clone();
        let fd = match &self.file {
            Some(f) => f.as_raw_fd(),
            None => return Err(WorkloadError::Other("sync engine without a file".into())),
        };
        let maxbs = cfg.sizes.max() as usize;
        let mut buf = AlignedBuf::new(maxbs)?;
        buf.fill_random(self.wseed);
        let unit = cfg.unit() as usize;
        let mixed = cfg.rw.mixed();
        let slots = if mixed {
            [ctx.aux_hist(AUX_READ), ctx.aux_hist(AUX_WRITE)]
        } else {
            [0, 0]
        };
        let mut pacer = cfg.rate_iops.map(|r| Pacer::new(ctx, r));
        let resp = resp_slots(ctx, pacer.is_some(), mixed);
        let sync = self.sync_every();
        let sync_slot = if sync.is_some() {
            ctx.aux_hist(AUX_SYNC)
        } else {
            usize::MAX
        };
        let mut since_sync = 0u64;
        while ctx.running() {
            let intended = match pacer.as_mut() {
                Some(pc) => {
                    if !pc.sleep_until_due(ctx) {
                        break;
                    }
                    Some(pc.take())
                }
                None => None,
            };
            self.probe.poll(ctx);
            let io = self.pattern.next_io();
            let len = io.len as usize;
            let b = buf.slice_mut(0, len);
            if io.write && cfg.verify {
                verify::stamp(b, io.offset, unit, self.wseed);
            }
            let t0 = ctx.now();
            // SAFETY: `b` is a valid buffer of `len` bytes for the duration of the call.
            let r = unsafe {
                if io.write {
                    libc::pwrite(fd, b.as_ptr().cast(), len, io.offset as libc::off_t)
                } else {
                    libc::pread(fd, b.as_mut_ptr().cast(), len, io.offset as libc::off_t)
                }
            };
            let t1 = ctx.now();
            if r < 0 {
                return Err(self.io_error(&io, std::io::Error::last_os_error()));
            }
            if r as usize != len {
                return Err(self.short(&io, r as usize));
            }
            if !io.write && cfg.verify {
                let b = buf.slice_mut(0, len);
                let copy: &[u8] = b;
                // Split borrow: verify reads the buffer, counts update self.
                let v = verify::check(copy, io.offset, unit, self.p.tag);
                if let Err(m) = v {
                    return Err(WorkloadError::Other(format!(
                        "{m} of {}",
                        self.p.path.clone().unwrap_or_default().display()
                    )));
                }
                self.counts.verified += (len / unit) as u64;
            }
            let lat = ctx.clock().delta_ns(t0, t1);
            let d = usize::from(io.write);
            if let (Some(pc), Some(i)) = (pacer.as_ref(), intended) {
                let done_ns = ctx.clock().delta_ns(pc.base, t1);
                ctx.record_aux(resp[d], done_ns.saturating_sub(i).max(lat));
            }
            let done = self.count(ctx, &io);
            if mixed {
                // Per direction too: its histogram and its own series.
                ctx.record_in(slots[d], lat, io.len);
            } else {
                ctx.record(lat, io.len);
            }
            if io.write {
                if let Some((n, data_only)) = sync {
                    since_sync += 1;
                    if since_sync >= n {
                        since_sync = 0;
                        let s0 = ctx.now();
                        self.do_sync(fd, data_only)?;
                        ctx.record_aux(sync_slot, ctx.clock().delta_ns(s0, ctx.now()));
                    }
                }
            }
            if done {
                break;
            }
        }
        Ok(())
    }

    fn run_uring(&mut self, ctx: &mut WorkerCtx) -> Result<(), WorkloadError> {
        let cfg = self.p.cfg.clone();
        let fd = match &self.file {
            Some(f) => f.as_raw_fd(),
            None => {
                return Err(WorkloadError::Other(
                    "io_uring engine without a file".into(),
                ))
            }
        };
        let depth = cfg.iodepth.max(1) as usize;
        let (mut ring, mode) = new_ring(depth as u32, cfg.rate_iops.is_none()).map_err(|e| {
            WorkloadError::Other(format!(
                "engine io_uring is unavailable: {}",
                uring_error("io_uring_setup", &e)
            ))
        })?;
        self.p.note("io_uring_setup", mode.to_string());
        let stride = (cfg.sizes.max() as usize).div_ceil(4096) * 4096;
        let mut bufs = AlignedBuf::new(stride * depth)?;
        bufs.fill_random(self.wseed);
        let fixed_file = match ring.submitter().register_files(&[fd]) {
            Ok(()) => true,
            Err(e) => {
                self.p.note("io_uring_registerfiles", format!("off: {e}"));
                false
            }
        };
        let iovecs: Vec<libc::iovec> = (0..depth)
            .map(|i| libc::iovec {
                iov_base: bufs.slice_mut(i * stride, stride).as_mut_ptr().cast(),
                iov_len: stride,
            })
            .collect();
        // SAFETY: the iovecs describe `bufs`, which outlives the ring (the
        // ring is dropped first, at the end of this function, after every
        // I/O has completed).
        let fixed_bufs = match unsafe { ring.submitter().register_buffers(&iovecs) } {
            Ok(()) => true,
            Err(e) => {
                self.p.note("io_uring_fixedbufs", format!("off: {e}"));
                false
            }
        };
        let ext_arg = ring.params().is_feature_ext_arg();

        let unit = cfg.unit() as usize;
        let mixed = cfg.rw.mixed();
        let dir_slots = if mixed {
            [ctx.aux_hist(AUX_READ), ctx.aux_hist(AUX_WRITE)]
        } else {
            [0, 0]
        };
        let mut pacer = cfg.rate_iops.map(|r| Pacer::new(ctx, r));
        let resp = resp_slots(ctx, pacer.is_some(), mixed);
        let sync = self.sync_every();
        let sync_slot = if sync.is_some() {
            ctx.aux_hist(AUX_SYNC)
        } else {
            usize::MAX
        };
        let check_overlap = cfg.verify && cfg.rw.writes() && depth > 1;
        let batch = (cfg.iodepth_batch as usize).clamp(1, depth);
        let reap_max = match cfg.iodepth_batch_complete {
            0 => usize::MAX,
            n => n as usize,
        };

        let mut slots = vec![
            Slot {
                io: Io {
                    offset: 0,
                    len: 0,
                    write: false
                },
                submit: 0,
                intended: u64::MAX,
            };
            depth
        ];
        let mut busy = vec![false; depth];
        let mut free: Vec<usize> = (0..depth).rev().collect();
        let mut new_slots: Vec<usize> = Vec::with_capacity(depth);
        let mut inflight = 0usize;
        let mut done_cqes: Vec<(u64, i32)> = Vec::with_capacity(depth * 2 + 8);
        let mut since_sync = 0u64;
        let mut sync_pending = false;
        let mut stop = false;
        let mut error: Option<WorkloadError> = None;

        let mut stop_at: Option<u64> = None;
        loop {
            if !stop && (!ctx.running() || error.is_some()) {
                stop = true;
            }
            if stop && stop_at.is_none() {
                stop_at = Some(ctx.now());
            }
            self.probe.poll(ctx);
            // Fill the queue.
            let mut pushed = 0usize;
            if !stop && !sync_pending {
                while let Some(&s) = free.last() {
                    if pacer.as_ref().is_some_and(|pc| pc.wait_ns(ctx) > 0) {
                        break;
                    }
                    let mut io = self.pattern.next_io();
                    if check_overlap {
                        // A read racing a write of the same block would see
                        // a torn block: draw again (bounded), else wait.
                        let mut tries = 0;
                        while tries < 8
                            && (0..depth).any(|j| {
                                busy[j]
                                    && slots[j].io.offset < io.offset + io.len
                                    && io.offset < slots[j].io.offset + slots[j].io.len
                            })
                        {
                            io = self.pattern.next_io();
                            tries += 1;
                        }
                        if tries == 8 {
                            break;
                        }
                    }
                    free.pop();
                    let intended = pacer.as_mut().map_or(u64::MAX, Pacer::take);
                    let b = bufs.slice_mut(s * stride, io.len as usize);
                    if io.write && cfg.verify {
                        verify::stamp(b, io.offset, unit, self.wseed);
                    }
                    let ptr = b.as_mut_ptr();
                    let len = io.len as u32;
                    let entry = build_sqe(io, ptr, len, s, fd, fixed_file, fixed_bufs);
                    // SAFETY: the entry points into slot `s` of `bufs`, which
                    // nothing touches until its completion is reaped, and
                    // `bufs` outlives every in-flight I/O (we drain below).
                    if unsafe { ring.submission().push(&entry) }.is_err() {
                        free.push(s);
                        break;
                    }
                    slots[s] = Slot {
                        io,
                        submit: 0,
                        intended,
                    };
                    busy[s] = true;
                    new_slots.push(s);
                    inflight += 1;
                    pushed += 1;
                    // Like fio's iodepth_batch_submit (default 1): each
                    // I/O goes to the device as soon as it is ready, not
                    // held back in a plug until the whole refill is built.
                    if new_slots.len() >= batch {
                        if let Some(e) = submit_queued(&ring, &mut new_slots, &mut slots, ctx) {
                            error.get_or_insert(e);
                            break;
                        }
                    }
                }
            }
            if !new_slots.is_empty() {
                if let Some(e) = submit_queued(&ring, &mut new_slots, &mut slots, ctx) {
                    error.get_or_insert(e);
                }
            }
            if inflight == 0 {
                if sync_pending {
                    if let Some((_, data_only)) = sync {
                        let s0 = ctx.now();
                        if let Err(e) = self.do_sync(fd, data_only) {
                            error.get_or_insert(e);
                        }
                        ctx.record_aux(sync_slot, ctx.clock().delta_ns(s0, ctx.now()));
                    }
                    sync_pending = false;
                    continue;
                }
                if stop {
                    break;
                }
                if let Some(pc) = pacer.as_ref() {
                    if !pc.sleep_until_due(ctx) {
                        stop = true;
                    }
                }
                continue;
            }
            // Wait for at least one completion, unless some are already
            // there; under a rate limit with room in the queue, wait no
            // longer than the next due time.
            let wait_ns = match pacer.as_ref() {
                Some(pc) if !stop && !sync_pending && inflight < depth => Some(pc.wait_ns(ctx)),
                _ => None,
            };
            let r = if !ring.completion().is_empty() {
                Ok(0)
            } else {
                match wait_ns {
                    // Due now and just submitted: look for completions, then fill again.
                    Some(0) if pushed > 0 => Ok(0),
                    Some(ns) if ns > 0 && ext_arg => {
                        let ts = types::Timespec::new()
                            .sec(ns / 1_000_000_000)
                            .nsec((ns % 1_000_000_000) as u32);
                        let args = types::SubmitArgs::new().timespec(&ts);
                        ring.submitter().submit_with_args(1, &args)
                    }
                    Some(ns) if ns > 0 => Ok(0),
                    // Bounded waits, so a stalled device cannot hold the
                    // run past its end: the phase clock ticks at least every second.
                    _ if ext_arg => {
                        let ts = types::Timespec::new().sec(1);
                        let args = types::SubmitArgs::new().timespec(&ts);
                        ring.submitter().submit_with_args(1, &args)
                    }
                    _ => ring.submit_and_wait(1),
                }
            };
            if let Some(t) = stop_at {
                if ctx.clock().delta_ns(t, ctx.now()) > DRAIN_LIMIT_NS {
                    error.get_or_insert(WorkloadError::Other(format!(
                        "{inflight} I/Os still in flight {} s after the end of the run \
                         (the device stalled?)",
                        DRAIN_LIMIT_NS / 1_000_000_000
                    )));
                    break;
                }
            }
            if let Err(e) = r {
                match e.raw_os_error() {
                    Some(libc::EINTR) | Some(libc::ETIME) | Some(libc::EBUSY)
                    | Some(libc::EAGAIN) => {}
                    _ => {
                        error.get_or_insert(WorkloadError::Other(format!(
                            "io_uring_enter: {}",
                            uring_error("io_uring_enter", &e)
                        )));
                        // Nothing can complete if the ring is broken.
                        break;
                    }
                }
            }
            // Reap at most `reap_max` completions, then refill, as fio does
            // (its iodepth_batch_complete_max defaults to 1): each reaped
            // slot goes back to the device at once, so the queue stays at
            // `iodepth`, and the completion stamp is taken when the harness
            // gets to the I/O. Reaping everything and then resubmitting one
            // by one leaves the last slots idle and unmeasured: at qd32 that
            // showed as 10% less in flight (Little's law) and a p50 8%
            // below fio's at the same IOPS.
            done_cqes.clear();
            for c in ring.completion().take(reap_max) {
                done_cqes.push((c.user_data(), c.result()));
            }
            if done_cqes.is_empty() {
                if wait_ns.is_some_and(|w| w > 0) && !ext_arg {
                    // No timed wait: sleep briefly instead of spinning.
                    std::thread::sleep(Duration::from_micros(20));
                }
                ctx.tick();
                continue;
            }
            let now = ctx.now();
            for &(ud, res) in &done_cqes {
                let s = ud as usize;
                if s >= depth || !busy[s] {
                    continue;
                }
                busy[s] = false;
                inflight -= 1;
                let slot = slots[s];
                free.push(s);
                let io = slot.io;
                if res < 0 {
                    error
                        .get_or_insert(self.io_error(&io, std::io::Error::from_raw_os_error(-res)));
                    continue;
                }
                if res as u64 != io.len {
                    error.get_or_insert(self.short(&io, res as usize));
                    continue;
                }
                if !io.write && cfg.verify {
                    let b = bufs.slice_mut(s * stride, io.len as usize);
                    let b: &[u8] = b;
                    if let Err(e) = verify_block(b, &io, unit, &self.p) {
                        error.get_or_insert(e);
                        continue;
                    }
                    self.counts.verified += io.len / unit as u64;
                }
                let lat = ctx.clock().delta_ns(slot.submit, now);
                let d = usize::from(io.write);
                if let Some(pc) = pacer.as_ref() {
                    let done_ns = ctx.clock().delta_ns(pc.base, now);
                    ctx.record_aux(resp[d], done_ns.saturating_sub(slot.intended).max(lat));
                }
                if self.count(ctx, &io) {
                    stop = true;
                }
                if mixed {
                    ctx.record_in(dir_slots[d], lat, io.len);
                } else {
                    ctx.record(lat, io.len);
                }
                if io.write {
                    if let Some((n, _)) = sync {
                        since_sync += 1;
                        if since_sync >= n {
                            since_sync = 0;
                            sync_pending = true;
                        }
                    }
                }
            }
        }
        let abandoned = inflight > 0;
        drop(ring);
        if abandoned {
            // The kernel may still write into these buffers (unregistered
            // ones are written through our mappings): never free them.
            std::mem::forget(bufs);
        } else {
            drop(bufs);
        }
        match error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// A ring for one worker thread, with the cheapest completion handling
/// the kernel offers: task work run only when this thread waits
/// (`DEFER_TASKRUN`, 6.1+, not under a rate limit where the worker also
/// polls without waiting), else cooperative task work (5.19+), else plain.
fn new_ring(entries: u32, defer: bool) -> std::io::Result<(IoUring, &'static str)> {
    if defer {
        if let Ok(r) = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(entries)
        {
            return Ok((r, "single_issuer,defer_taskrun"));
        }
    }
    if let Ok(r) = IoUring::builder()
        .setup_single_issuer()
        .setup_coop_taskrun()
        .build(entries)
    {
        return Ok((r, "single_issuer,coop_taskrun"));
    }
    Ok((IoUring::builder().build(entries)?, "plain"))
}

/// One io_uring queue slot: its I/O, when it was submitted (raw clock) and
/// when it was meant to start (ns since the pacer's base, or `u64::MAX`).
#[derive(Clone, Copy)]
struct Slot {
    io: Io,
    submit: u64,
    intended: u64,
}

/// Submits what is queued and starts the clocks of those slots: latency is
/// measured from the return of the submission call, as fio's clat.
fn submit_queued(
    ring: &IoUring,
    new_slots: &mut Vec<usize>,
    slots: &mut [Slot],
    ctx: &WorkerCtx,
) -> Option<WorkloadError> {
    let mut err = None;
    // Stamp before io_uring_enter, as fio stamps issue time before its
    // commit: the submit call itself hands the I/O to the block layer and
    // can take microseconds, which are part of the I/O's latency (without
    // this, p50 at qd32 read 8% below fio's at equal IOPS).
    let now = ctx.now();
    if let Err(e) = ring.submit() {
        if !matches!(
            e.raw_os_error(),
            Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN)
        ) {
            err = Some(WorkloadError::Other(uring_error("io_uring_enter", &e)));
        }
    }
    for &s in new_slots.iter() {
        slots[s].submit = now;
    }
    new_slots.clear();
    err
}

fn verify_block(buf: &[u8], io: &Io, unit: usize, p: &Prepared) -> Result<(), WorkloadError> {
    verify::check(buf, io.offset, unit, p.tag).map_err(|m| {
        WorkloadError::Other(format!(
            "{m} of {}",
            p.path.clone().unwrap_or_default().display()
        ))
    })
}

fn build_sqe(
    io: Io,
    ptr: *mut u8,
    len: u32,
    slot: usize,
    fd: RawFd,
    fixed_file: bool,
    fixed_bufs: bool,
) -> io_uring::squeue::Entry {
    let idx = slot as u16;
    macro_rules! op {
        ($f:expr) => {
            match (io.write, fixed_bufs) {
                (false, true) => opcode::ReadFixed::new($f, ptr, len, idx)
                    .offset(io.offset)
                    .build(),
                (true, true) => opcode::WriteFixed::new($f, ptr, len, idx)
                    .offset(io.offset)
                    .build(),
                (false, false) => opcode::Read::new($f, ptr, len).offset(io.offset).build(),
                (true, false) => opcode::Write::new($f, ptr, len).offset(io.offset).build(),
            }
        };
    }
    let e = if fixed_file {
        op!(types::Fixed(0))
    } else {
        op!(types::Fd(fd))
    };
    e.user_data(slot as u64)
}
