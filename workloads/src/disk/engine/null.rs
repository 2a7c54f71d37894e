//! The null engine: no I/O. Its operation is generating the offset, so it
//! measures skubench itself.

use bench_core::workload::WorkerCtx;

use super::{DiskWorker, Done, IoEngine, Queued};
use crate::disk::pattern::Io;

/// Times offset generation. Paced, each operation alone (its service time,
/// which bounds the response time from below); unpaced, from the end of the
/// previous one, the harness's whole cost per operation.
pub(super) struct NullEngine {
    paced: bool,
    /// Raw clock where the next operation's latency starts.
    start: u64,
}

impl NullEngine {
    pub(super) fn new(ctx: &WorkerCtx, paced: bool) -> Self {
        let start = ctx.now();
        Self { paced, start }
    }
}

impl IoEngine for NullEngine {
    #[inline(always)]
    fn before_io(&mut self, ctx: &WorkerCtx) {
        if self.paced {
            self.start = ctx.now();
        }
    }

    #[inline(always)]
    fn queue(&mut self, ctx: &WorkerCtx, slot: usize, io: &Io) -> Queued {
        std::hint::black_box(io.offset);
        let end = ctx.now();
        let done = Done {
            slot,
            res: io.len as i64,
            start: self.start,
            end,
        };
        if !self.paced {
            self.start = end;
        }
        Queued::Completed(done)
    }
}

impl DiskWorker {
    /// The null engine without pacing, classes or a byte limit: nothing of
    /// the job loop is needed, and the loop's bookkeeping would be most of
    /// what this run measures.
    pub(super) fn run_null_plain(&mut self, ctx: &mut WorkerCtx) {
        ctx.restart();
        while ctx.running() {
            self.probe.poll(ctx);
            let io = self.pattern.next_io();
            std::hint::black_box(io.offset);
            ctx.op_done(io.len);
        }
    }
}
