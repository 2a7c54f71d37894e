//! The `null` workload: no real work. With `latency_ns` it records the given
//! synthetic latencies in turn (optionally spinning for that long), so the
//! runner can be tested exactly; without, it measures the harness itself.

use crate::error::{SpecError, WorkloadError};
use crate::params::{ParamDef, ParamKind, Params};
use crate::workload::{
    Merge, Resources, RunOutput, Step, StepResult, Worker, WorkerCtx, WorkerOutput, Workload,
    WorkloadFactory,
};

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "threads",
        kind: ParamKind::Threads,
        default: Some("1"),
        help: "worker threads (a number or `all`)",
    },
    ParamDef {
        name: "pin",
        kind: ParamKind::CpuList,
        default: None,
        help: "vCPUs to pin workers to, round-robin",
    },
    ParamDef {
        name: "latency_ns",
        kind: ParamKind::U64List,
        default: None,
        help: "synthetic latencies recorded in turn (worker i starts at entry i)",
    },
    ParamDef {
        name: "spin",
        kind: ParamKind::Bool,
        default: Some("false"),
        help: "busy-wait for each synthetic latency",
    },
    ParamDef {
        name: "bytes",
        kind: ParamKind::Size,
        default: Some("0"),
        help: "bytes counted per operation",
    },
];

/// Factory of the `null` workload.
pub struct NullFactory;

/// A configured `null` workload.
#[derive(Clone, Debug)]
pub struct NullWorkload {
    threads: usize,
    pin: Option<Vec<usize>>,
    latencies: Option<Vec<u64>>,
    spin: bool,
    bytes: u64,
}

impl WorkloadFactory for NullFactory {
    fn kind(&self) -> &'static str {
        "null"
    }
    fn about(&self) -> &'static str {
        "no work: synthetic latencies, or the harness's own cost per operation"
    }
    fn params(&self) -> &'static [ParamDef] {
        PARAMS
    }
    fn build(&self, p: &Params, vcpus: usize) -> Result<Box<dyn Workload>, SpecError> {
        Ok(Box::new(NullWorkload {
            threads: p.threads("threads")?.resolve(vcpus),
            pin: p
                .list("pin")
                .map(|l| l.into_iter().map(|c| c as usize).collect()),
            latencies: p.list("latency_ns"),
            spin: p.bool("spin")?,
            bytes: p.u64("bytes")?,
        }))
    }
}

impl Workload for NullWorkload {
    fn resources(&self) -> Resources {
        Resources {
            threads: self.threads,
            ..Resources::default()
        }
    }
    fn steps(&self) -> Vec<Step> {
        vec![Step::new("null", self.threads, self.pin.clone())]
    }
    fn worker(&self, _step: &Step, index: usize) -> Result<Box<dyn Worker>, WorkloadError> {
        Ok(Box::new(NullWorker {
            cfg: self.clone(),
            next: index,
            total_ops: 0,
        }))
    }
    fn metrics(&self, steps: &[StepResult]) -> Result<RunOutput, WorkloadError> {
        let mut out = RunOutput::default();
        for s in steps {
            out.standard(&s.step.label, s);
            let total = s.merged_output::<NullOutput>()?;
            // A float, as the figure has always been written.
            out.notes.insert(
                "ops_including_warmup".into(),
                serde_json::json!(total.ops_including_warmup as f64),
            );
        }
        Ok(out)
    }
}

/// What a `null` worker counts itself: every operation, warm-up included.
#[derive(Clone, Debug, Default)]
struct NullOutput {
    ops_including_warmup: u64,
}

impl Merge for NullOutput {
    fn merge(&mut self, other: &Self) {
        self.ops_including_warmup += other.ops_including_warmup;
    }
}

struct NullWorker {
    cfg: NullWorkload,
    next: usize,
    total_ops: u64,
}

impl Worker for NullWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        let bytes = self.cfg.bytes;
        match &self.cfg.latencies {
            Some(lats) if !lats.is_empty() => {
                while ctx.running() {
                    let l = lats[self.next % lats.len()];
                    self.next += 1;
                    if self.cfg.spin {
                        let start = ctx.now();
                        while ctx.clock().delta_ns(start, ctx.now()) < l {
                            std::hint::spin_loop();
                        }
                    }
                    ctx.record(l, bytes);
                    self.total_ops += 1;
                }
            }
            _ => {
                ctx.restart();
                while ctx.running() {
                    ctx.op_done(bytes);
                    self.total_ops += 1;
                }
            }
        }
        Ok(Box::new(NullOutput {
            ops_including_warmup: self.total_ops,
        }))
    }
}
