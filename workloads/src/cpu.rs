//! CPU stressors of different character, a scaling curve, and per-vCPU spread.
//!
//! One operation is a fixed chunk of work (≈ 5–20 µs), so ops/s compares
//! like with like across runs of the same binary. Like stress-ng's bogo-ops,
//! the absolute numbers are only meaningful against the same skubench build.

use std::hint::black_box;

use bench_core::affinity::{allowed_cpus, pin_param};
use bench_core::params::{ParamDef, ParamKind, Params};
use bench_core::result::{Better, Curve};
use bench_core::stats::median;
use bench_core::workload::{
    Resources, RunOutput, Step, StepResult, Worker, WorkerCtx, WorkerOutput, Workload,
    WorkloadFactory,
};
use bench_core::{SpecError, Unit, WorkloadError};
use sha2::Digest;

/// The stressors, in the order `stressor = "all"` runs them.
pub const STRESSORS: &[&str] = &["int", "float", "hash", "branch"];

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "stressor",
        kind: ParamKind::Choice(&["int", "float", "hash", "branch", "all"]),
        default: Some("all"),
        help: "integer ALU, float matrix multiply, SHA-256 hashing, branch-heavy state machine, or all four",
    },
    ParamDef {
        name: "mode",
        kind: ParamKind::Choice(&["throughput", "scaling", "spread"]),
        default: Some("throughput"),
        help: "throughput on `threads`; scaling curve 1,2,4…all; spread: one thread pinned on each vCPU in turn",
    },
    ParamDef {
        name: "threads",
        kind: ParamKind::Threads,
        default: None,
        help: "worker threads in throughput mode (default 1); the top of the scaling curve (default all)",
    },
    ParamDef {
        name: "pin",
        kind: ParamKind::CpuList,
        default: None,
        help: "vCPUs to pin workers to, round-robin (scaling/spread pin by themselves)",
    },
];

/// Factory of the `cpu` workload.
pub struct CpuFactory;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Mode {
    Throughput,
    Scaling,
    Spread,
}

/// A configured `cpu` workload.
#[derive(Clone, Debug)]
pub struct CpuWorkload {
    stressors: Vec<&'static str>,
    mode: Mode,
    threads: usize,
    pin: Option<Vec<usize>>,
    cpus: Vec<usize>,
}

impl WorkloadFactory for CpuFactory {
    fn kind(&self) -> &'static str {
        "cpu"
    }
    fn about(&self) -> &'static str {
        "CPU stressors (int, float, hash, branch): ops/s, scaling curve, per-vCPU spread"
    }
    fn params(&self) -> &'static [ParamDef] {
        PARAMS
    }
    fn build(&self, p: &Params, vcpus: usize) -> Result<Box<dyn Workload>, SpecError> {
        let stressors = match p.str("stressor")? {
            "all" => STRESSORS.to_vec(),
            s => STRESSORS.iter().copied().filter(|x| *x == s).collect(),
        };
        let mode = match p.str("mode")? {
            "scaling" => Mode::Scaling,
            "spread" => Mode::Spread,
            _ => Mode::Throughput,
        };
        let mut cpus = allowed_cpus();
        let pin = pin_param(p, &cpus)?;
        if let Some(pin) = &pin {
            if mode != Mode::Throughput {
                cpus = pin.clone();
            }
        }
        let threads = match (p.is_set("threads"), &mode) {
            (true, _) => p.threads("threads")?.resolve(vcpus),
            (false, Mode::Scaling) => cpus.len(),
            (false, _) => 1,
        };
        Ok(Box::new(CpuWorkload {
            stressors,
            mode,
            threads,
            pin,
            cpus,
        }))
    }
}

/// Thread counts of the scaling curve: 1, 2, 4 … and the top itself.
pub fn scaling_points(top: usize) -> Vec<usize> {
    let mut v = Vec::new();
    let mut k = 1;
    while k < top {
        v.push(k);
        k *= 2;
    }
    v.push(top.max(1));
    v
}

impl Workload for CpuWorkload {
    fn resources(&self) -> Resources {
        Resources {
            threads: match self.mode {
                Mode::Spread => 1,
                _ => self.threads,
            },
            exclusive: self.mode != Mode::Throughput,
            ..Resources::default()
        }
    }

    fn steps(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        for s in &self.stressors {
            match self.mode {
                Mode::Throughput => steps.push(Step::new(
                    format!("cpu.{s}"),
                    self.threads,
                    self.pin.clone(),
                )),
                Mode::Scaling => {
                    for k in scaling_points(self.threads) {
                        let pin: Vec<usize> = self.cpus.iter().copied().cycle().take(k).collect();
                        steps.push(Step::new(format!("cpu.{s}.scaling.t{k}"), k, Some(pin)));
                    }
                }
                Mode::Spread => {
                    for &c in &self.cpus {
                        steps.push(Step::new(format!("cpu.{s}.vcpu{c}"), 1, Some(vec![c])));
                    }
                }
            }
        }
        steps
    }

    fn worker(&self, step: &Step, _index: usize) -> Result<Box<dyn Worker>, WorkloadError> {
        let stressor = step.label.split('.').nth(1).unwrap_or("int");
        Ok(match stressor {
            "float" => Box::new(FloatWorker::new()),
            "hash" => Box::new(HashWorker::new()),
            "branch" => Box::new(BranchWorker {
                state: 0x9e37_79b9_7f4a_7c15,
            }),
            _ => Box::new(IntWorker {
                state: 0x2545_f491_4f6c_dd1d,
            }),
        })
    }

    fn metrics(&self, steps: &[StepResult]) -> Result<RunOutput, WorkloadError> {
        let mut out = RunOutput::default();
        for s in steps {
            out.standard(&s.step.label, s);
            if self.mode == Mode::Throughput {
                out.metric(
                    format!("{}.ops_per_s_per_thread", s.step.label),
                    s.ops_per_s() / s.step.threads as f64,
                    Unit::OpsPerS,
                    Better::Higher,
                );
            }
        }
        for st in &self.stressors {
            match self.mode {
                Mode::Scaling => {
                    let prefix = format!("cpu.{st}.scaling.");
                    let mine: Vec<&StepResult> = steps
                        .iter()
                        .filter(|s| s.step.label.starts_with(&prefix))
                        .collect();
                    if !mine.is_empty() {
                        out.curves.push(Curve {
                            name: format!("cpu.{st}.scaling.ops_per_s"),
                            x_unit: Unit::Threads.to_string(),
                            y_unit: Unit::OpsPerS.to_string(),
                            log_x: false,
                            log_y: false,
                            points: mine
                                .iter()
                                .map(|s| [s.step.threads as f64, s.ops_per_s()])
                                .collect(),
                        });
                    }
                    if let Some(base) = mine.first().map(|s| s.ops_per_s()).filter(|b| *b > 0.0) {
                        for s in &mine {
                            let k = s.step.threads as f64;
                            out.metric(
                                format!("{}.efficiency_ratio", s.step.label),
                                s.ops_per_s() / (k * base),
                                Unit::Ratio,
                                Better::Higher,
                            );
                        }
                    }
                }
                Mode::Spread => {
                    let prefix = format!("cpu.{st}.vcpu");
                    let mut rates: Vec<(usize, f64)> = steps
                        .iter()
                        .filter(|s| s.step.label.starts_with(&prefix))
                        .map(|s| (s.step.cpu_of(0).unwrap_or(0), s.ops_per_s()))
                        .collect();
                    if rates.is_empty() {
                        continue;
                    }
                    rates.sort_by(|a, b| a.1.total_cmp(&b.1));
                    let median = median(&rates.iter().map(|r| r.1).collect::<Vec<_>>());
                    let (slow_cpu, slow) = rates[0];
                    if median > 0.0 {
                        out.metric(
                            format!("cpu.{st}.spread.slowest_vs_median_ratio"),
                            slow / median,
                            Unit::Ratio,
                            Better::Higher,
                        );
                    }
                    let mean = rates.iter().map(|r| r.1).sum::<f64>() / rates.len() as f64;
                    let var = rates.iter().map(|r| (r.1 - mean).powi(2)).sum::<f64>()
                        / rates.len() as f64;
                    if mean > 0.0 {
                        out.metric(
                            format!("cpu.{st}.spread.cv_ratio"),
                            var.sqrt() / mean,
                            Unit::Ratio,
                            Better::Lower,
                        );
                    }
                    out.notes
                        .insert(format!("cpu.{st}.spread.slowest_vcpu"), slow_cpu.into());
                }
                Mode::Throughput => {}
            }
        }
        out.notes.insert(
            "cpu.op".into(),
            "one op: int = 4096 xorshift-multiply rounds; float = 32x32 f64 matrix multiply; hash = SHA-256 of 4 KiB; branch = 4096 steps of an 8-way state machine".into(),
        );
        Ok(out)
    }
}

struct IntWorker {
    state: u64,
}

/// 4096 rounds of xorshift64 with multiply/rotate: a dependent integer chain.
#[inline(never)]
pub fn int_op(mut x: u64) -> u64 {
    let mut acc = 0u64;
    for i in 0..4096u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        acc = acc.wrapping_add(x.wrapping_mul(i | 1)).rotate_left(5);
    }
    x ^ acc
}

impl Worker for IntWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        ctx.restart();
        while ctx.running() {
            self.state = black_box(int_op(black_box(self.state)));
            ctx.op_done(0);
        }
        Ok(Box::new(()))
    }
}

const N: usize = 32;

struct FloatWorker {
    a: Vec<f64>,
    b: Vec<f64>,
    c: Vec<f64>,
}

impl FloatWorker {
    fn new() -> Self {
        let a = (0..N * N).map(|i| ((i % 17) as f64) * 0.25 + 1.0).collect();
        let b = (0..N * N).map(|i| ((i % 13) as f64) * 0.5 - 2.0).collect();
        Self {
            a,
            b,
            c: vec![0.0; N * N],
        }
    }
}

/// C = A × B for 32×32 doubles (i-k-j order, vectorisable inner loop).
#[inline(never)]
pub fn matmul(a: &[f64], b: &[f64], c: &mut [f64]) {
    c.iter_mut().for_each(|x| *x = 0.0);
    for i in 0..N {
        for k in 0..N {
            let aik = a[i * N + k];
            let brow = &b[k * N..k * N + N];
            let crow = &mut c[i * N..i * N + N];
            for j in 0..N {
                crow[j] += aik * brow[j];
            }
        }
    }
}

impl Worker for FloatWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        ctx.restart();
        while ctx.running() {
            matmul(black_box(&self.a), black_box(&self.b), &mut self.c);
            black_box(&self.c);
            // Feed one result back so iterations depend on each other.
            self.a[0] = self.c[N + 1] * 1e-9 + 1.0;
            ctx.op_done(0);
        }
        Ok(Box::new(()))
    }
}

struct HashWorker {
    buf: Vec<u8>,
}

impl HashWorker {
    fn new() -> Self {
        Self {
            buf: (0..4096u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
        }
    }
}

impl Worker for HashWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        ctx.restart();
        while ctx.running() {
            let d = sha2::Sha256::digest(black_box(&self.buf));
            self.buf[0] = d[0];
            ctx.op_done(self.buf.len() as u64);
        }
        black_box(&self.buf);
        Ok(Box::new(()))
    }
}

struct BranchWorker {
    state: u64,
}

/// 4096 steps of an 8-way state machine driven by a pseudo-random stream:
/// unpredictable indirect branches and data-dependent control flow.
#[inline(never)]
pub fn branch_op(mut x: u64) -> u64 {
    let mut acc = 0u64;
    for _ in 0..4096 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        match (x >> 61) as u8 {
            0 => acc = acc.wrapping_add(x >> 7),
            1 => acc ^= x.rotate_left(13),
            2 => {
                if acc & 1 == 0 {
                    acc = acc.wrapping_mul(3);
                } else {
                    acc >>= 1;
                }
            }
            3 => acc = acc.wrapping_sub(x & 0xffff),
            4 => {
                if x & 0x10 != 0 {
                    acc = acc.wrapping_add(17);
                }
            }
            5 => acc = acc.rotate_right((x & 63) as u32),
            6 => acc = !acc,
            _ => acc = acc.wrapping_add(acc >> 3),
        }
    }
    x ^ acc
}

impl Worker for BranchWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        ctx.restart();
        while ctx.running() {
            self.state = black_box(branch_op(black_box(self.state)));
            ctx.op_done(0);
        }
        Ok(Box::new(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_points_cover_one_to_top() {
        assert_eq!(scaling_points(1), vec![1]);
        assert_eq!(scaling_points(2), vec![1, 2]);
        assert_eq!(scaling_points(6), vec![1, 2, 4, 6]);
        assert_eq!(scaling_points(16), vec![1, 2, 4, 8, 16]);
    }

    #[test]
    fn kernels_are_deterministic() {
        assert_eq!(int_op(1), int_op(1));
        assert_ne!(int_op(1), int_op(2));
        assert_eq!(branch_op(7), branch_op(7));
        let w = FloatWorker::new();
        let mut c = vec![0.0; N * N];
        matmul(&w.a, &w.b, &mut c);
        // c[0][0] = Σ_k a[0][k]·b[k][0]
        let expect: f64 = (0..N).map(|k| w.a[k] * w.b[k * N]).sum();
        assert!((c[0] - expect).abs() < 1e-9);
    }
}
