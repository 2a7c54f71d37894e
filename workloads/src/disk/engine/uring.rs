//! The io_uring engine: one ring per job with `iodepth` entries, registered
//! file and buffers where the kernel allows, bounded waits.

use std::os::fd::RawFd;
use std::time::Duration;

use bench_core::workload::WorkerCtx;
use bench_core::WorkloadError;
use io_uring::{opcode, types, IoUring};

use super::buf::AlignedBuf;
use super::{Done, IoEngine, Queued, Wait};
use crate::disk::pattern::Io;
use crate::disk::Prepared;

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

/// Errors of `io_uring_enter` that only mean "try again".
fn transient(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINTR) | Some(libc::ETIME) | Some(libc::EBUSY) | Some(libc::EAGAIN)
    )
}

/// Checks that io_uring works here: sets up a ring and completes a no-op.
pub fn probe_io_uring() -> Result<(), WorkloadError> {
    let unavailable = WorkloadError::Other;
    let mut ring: IoUring =
        IoUring::new(4).map_err(|e| unavailable(uring_error("io_uring_setup", &e)))?;
    let nop = opcode::Nop::new().build().user_data(7);
    // SAFETY: a no-op references no memory.
    unsafe {
        ring.submission()
            .push(&nop)
            .map_err(|_| unavailable("io_uring submission queue full".to_string()))?;
    }
    ring.submit_and_wait(1)
        .map_err(|e| unavailable(uring_error("io_uring_enter", &e)))?;
    let res = ring.completion().next().map(|c| c.result());
    match res {
        Some(r) if r >= 0 => Ok(()),
        Some(r) => Err(unavailable(describe_uring_error(
            "io_uring no-op",
            Some(-r),
            None,
        ))),
        None => Err(unavailable(
            "io_uring returned no completion for a no-op".into(),
        )),
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

/// One ring, one buffer per slot. Field order matters: the ring is dropped
/// before the buffers it may still reference.
pub(super) struct UringEngine {
    ring: IoUring,
    bufs: AlignedBuf,
    stride: usize,
    fd: RawFd,
    fixed_file: bool,
    fixed_bufs: bool,
    ext_arg: bool,
    /// Raw clock at each slot's submission.
    submit: Vec<u64>,
    /// Slots queued since the last `commit`.
    new_slots: Vec<usize>,
}

impl UringEngine {
    pub(super) fn new(fd: RawFd, p: &Prepared, seed: u64) -> Result<Self, WorkloadError> {
        let cfg = &p.cfg;
        let depth = cfg.iodepth.max(1) as usize;
        let (ring, mode) = new_ring(depth as u32, cfg.rate_iops.is_none()).map_err(|e| {
            WorkloadError::Other(format!(
                "engine io_uring is unavailable: {}",
                uring_error("io_uring_setup", &e)
            ))
        })?;
        p.note("io_uring_setup", mode.to_string());
        let stride = (cfg.sizes.max() as usize).div_ceil(4096) * 4096;
        let mut bufs = AlignedBuf::new(stride * depth, seed)?;
        let off = |key: &str, e: std::io::Error| p.note(key, format!("off: {e}"));
        let fixed_file = (ring.submitter().register_files(&[fd]))
            .map_err(|e| off("io_uring_registerfiles", e))
            .is_ok();
        let iovecs: Vec<libc::iovec> = (0..depth)
            .map(|i| libc::iovec {
                iov_base: bufs.slice_mut(i * stride, stride).as_mut_ptr().cast(),
                iov_len: stride,
            })
            .collect();
        // SAFETY: the iovecs describe `bufs`, which outlives the ring (the
        // ring is dropped first, and after every I/O has completed or with
        // the buffers leaked, see `finish`).
        let fixed_bufs = unsafe { ring.submitter().register_buffers(&iovecs) }
            .map_err(|e| off("io_uring_fixedbufs", e))
            .is_ok();
        let ext_arg = ring.params().is_feature_ext_arg();
        Ok(Self {
            ring,
            bufs,
            stride,
            fd,
            fixed_file,
            fixed_bufs,
            ext_arg,
            submit: vec![0; depth],
            new_slots: Vec::with_capacity(depth),
        })
    }

    fn sqe(&mut self, io: &Io, slot: usize) -> io_uring::squeue::Entry {
        let ptr = self
            .bufs
            .slice_mut(slot * self.stride, io.len as usize)
            .as_mut_ptr();
        let (len, idx) = (io.len as u32, slot as u16);
        macro_rules! op {
            ($f:expr) => {
                match (io.write, self.fixed_bufs) {
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
        let e = if self.fixed_file {
            op!(types::Fixed(0))
        } else {
            op!(types::Fd(self.fd))
        };
        e.user_data(slot as u64)
    }
}

impl IoEngine for UringEngine {
    fn depth(&self) -> usize {
        self.submit.len()
    }

    fn buf(&mut self, slot: usize, len: usize) -> &mut [u8] {
        self.bufs.slice_mut(slot * self.stride, len)
    }

    #[inline(always)]
    fn queue(&mut self, _ctx: &WorkerCtx, slot: usize, io: &Io) -> Queued {
        let entry = self.sqe(io, slot);
        // SAFETY: the entry points into slot `slot` of `bufs`, which the loop
        // leaves alone until its completion is reaped, and `bufs` outlives
        // every in-flight I/O (the loop drains, `finish` leaks what is left).
        if unsafe { self.ring.submission().push(&entry) }.is_err() {
            return Queued::Full;
        }
        self.new_slots.push(slot);
        Queued::Pending
    }

    /// Stamps before io_uring_enter, as fio stamps issue time before its
    /// commit: the submit call itself hands the I/O to the block layer and
    /// can take microseconds, which are part of the I/O's latency (without
    /// this, p50 at qd32 read 8% below fio's at equal IOPS). So latency runs
    /// from the submission, as fio's clat.
    #[inline(always)]
    fn commit(&mut self, ctx: &WorkerCtx) -> Result<(), WorkloadError> {
        let now = ctx.now();
        let r = self.ring.submit();
        for &s in &self.new_slots {
            self.submit[s] = now;
        }
        self.new_slots.clear();
        match r.err().filter(|e| !transient(e)) {
            Some(e) => Err(WorkloadError::Other(uring_error("io_uring_enter", &e))),
            None => Ok(()),
        }
    }

    /// One clock reading for what is reaped, taken after reaping: the
    /// completion is stamped when the harness gets to it.
    #[inline(always)]
    fn getevents(
        &mut self,
        ctx: &WorkerCtx,
        how: Wait,
        max: usize,
        out: &mut Vec<Done>,
    ) -> Result<(), WorkloadError> {
        let timed = |ring: &IoUring, ns: u64| {
            let ts = types::Timespec::from(Duration::from_nanos(ns));
            let args = types::SubmitArgs::new().timespec(&ts);
            ring.submitter().submit_with_args(1, &args)
        };
        let r = match how {
            _ if !self.ring.completion().is_empty() => Ok(0),
            Wait::Poll => Ok(0),
            Wait::Until(ns) if self.ext_arg => timed(&self.ring, ns),
            Wait::Until(_) => Ok(0),
            // Bounded, so a stalled device cannot hold the run past its
            // end: the phase clock ticks at least every second.
            Wait::Block if self.ext_arg => timed(&self.ring, 1_000_000_000),
            Wait::Block => self.ring.submit_and_wait(1),
        };
        if let Some(e) = r.err().filter(|e| !transient(e)) {
            let why = uring_error("io_uring_enter", &e);
            return Err(WorkloadError::Other(format!("io_uring_enter: {why}")));
        }
        let first = out.len();
        out.extend(self.ring.completion().take(max).map(|c| Done {
            slot: c.user_data() as usize,
            res: i64::from(c.result()),
            start: 0,
            end: 0,
        }));
        if out.len() == first {
            if matches!(how, Wait::Until(_)) && !self.ext_arg {
                // No timed wait: sleep briefly instead of spinning.
                std::thread::sleep(Duration::from_micros(20));
            }
            return Ok(());
        }
        let now = ctx.now();
        for d in &mut out[first..] {
            d.start = self.submit.get(d.slot).copied().unwrap_or(now);
            d.end = now;
        }
        Ok(())
    }

    fn finish(self, abandoned: bool) {
        let Self { ring, bufs, .. } = self;
        drop(ring);
        if abandoned {
            // The kernel may still write into these buffers (unregistered
            // ones are written through our mappings): never free them.
            std::mem::forget(bufs);
        }
    }
}
