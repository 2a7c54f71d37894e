//! The sync engine: one `pread`/`pwrite` per I/O, done inside `queue` (fio's
//! `FIO_Q_COMPLETED`).

use std::os::fd::RawFd;

use bench_core::workload::WorkerCtx;
use bench_core::WorkloadError;

use super::buf::AlignedBuf;
use super::{Done, IoEngine, Queued};
use crate::disk::pattern::Io;

/// One buffer of the largest block size; latency is the system call.
pub(super) struct SyncEngine {
    fd: RawFd,
    buf: AlignedBuf,
}

impl SyncEngine {
    pub(super) fn new(fd: RawFd, max_bs: usize, seed: u64) -> Result<Self, WorkloadError> {
        Ok(Self {
            fd,
            buf: AlignedBuf::new(max_bs, seed)?,
        })
    }
}

impl IoEngine for SyncEngine {
    fn buf(&mut self, _slot: usize, len: usize) -> &mut [u8] {
        self.buf.slice_mut(0, len)
    }

    #[inline(always)]
    fn queue(&mut self, ctx: &WorkerCtx, slot: usize, io: &Io) -> Queued {
        let (fd, len, off) = (self.fd, io.len as usize, io.offset as libc::off_t);
        let b = self.buf.slice_mut(0, len);
        let start = ctx.now();
        // SAFETY: `b` is a valid buffer of `len` bytes for the duration of the call.
        let r = unsafe {
            if io.write {
                libc::pwrite(fd, b.as_ptr().cast(), len, off)
            } else {
                libc::pread(fd, b.as_mut_ptr().cast(), len, off)
            }
        };
        let end = ctx.now();
        let res = match r {
            0.. => r as i64,
            _ => -i64::from(
                std::io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO),
            ),
        };
        Queued::Completed(Done {
            slot,
            res,
            start,
            end,
        })
    }
}
