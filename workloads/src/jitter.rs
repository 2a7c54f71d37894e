//! Timer jitter: how late a thread wakes from a timed sleep, on every vCPU.
//!
//! Each worker is pinned to one vCPU and sleeps until an absolute
//! `CLOCK_MONOTONIC` deadline (`clock_nanosleep`, `TIMER_ABSTIME`), then
//! records how far past the deadline it woke. Host updates and noisy
//! neighbours disturb this signal first.

use bench_core::affinity::{allowed_cpus, pin_param};
use bench_core::params::{ParamDef, ParamKind, Params};
use bench_core::workload::{
    Resources, RunOutput, Step, StepResult, Worker, WorkerCtx, WorkerOutput, Workload,
    WorkloadFactory,
};
use bench_core::{SpecError, Unit, WorkloadError};

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "threads",
        kind: ParamKind::Threads,
        default: Some("all"),
        help: "sleeping threads, each pinned to its own vCPU",
    },
    ParamDef {
        name: "pin",
        kind: ParamKind::CpuList,
        default: None,
        help: "vCPUs to measure (default: every allowed vCPU)",
    },
    ParamDef {
        name: "sleep",
        kind: ParamKind::Duration,
        default: Some("1ms"),
        help: "timed sleep per wake-up",
    },
];

/// Factory of the `jitter` workload.
pub struct JitterFactory;

/// A configured `jitter` workload.
#[derive(Clone, Debug)]
pub struct JitterWorkload {
    threads: usize,
    cpus: Vec<usize>,
    sleep_ns: u64,
}

impl WorkloadFactory for JitterFactory {
    fn kind(&self) -> &'static str {
        "jitter"
    }
    fn about(&self) -> &'static str {
        "wake-up lateness of a timed sleep on every vCPU (HDR histogram)"
    }
    fn params(&self) -> &'static [ParamDef] {
        PARAMS
    }
    fn build(&self, p: &Params, vcpus: usize) -> Result<Box<dyn Workload>, SpecError> {
        let allowed = allowed_cpus();
        let cpus = pin_param(p, &allowed)?.unwrap_or(allowed);
        let threads = match p.threads("threads")? {
            bench_core::params::Threads::All => cpus.len(),
            t => t.resolve(vcpus),
        };
        let sleep = p.duration("sleep")?;
        if sleep.as_micros() < 10 || sleep.as_secs() > 10 {
            return Err(SpecError::key(
                "sleep",
                "key `sleep`: must be between 10µs and 10s",
            ));
        }
        Ok(Box::new(JitterWorkload {
            threads,
            cpus,
            sleep_ns: sleep.as_nanos() as u64,
        }))
    }
}

impl Workload for JitterWorkload {
    fn resources(&self) -> Resources {
        Resources {
            threads: self.threads,
            exclusive: true,
            ..Resources::default()
        }
    }
    fn steps(&self) -> Vec<Step> {
        vec![Step::new("jitter", self.threads, Some(self.cpus.clone()))]
    }
    fn worker(&self, _step: &Step, _index: usize) -> Result<Box<dyn Worker>, WorkloadError> {
        Ok(Box::new(JitterWorker {
            sleep_ns: self.sleep_ns,
        }))
    }
    fn metrics(&self, steps: &[StepResult]) -> Result<RunOutput, WorkloadError> {
        let mut out = RunOutput::default();
        for s in steps {
            out.latency("jitter.wake_lat_ns", &s.merged);
            for w in &s.workers {
                if let Some(c) = w.cpu {
                    if !w.hist.is_empty() {
                        out.metric(
                            format!("jitter.vcpu{c}.wake_lat_ns.p99"),
                            w.hist.value_at_quantile(0.99) as f64,
                            Unit::Ns,
                            bench_core::result::Better::Lower,
                        );
                        out.metric(
                            format!("jitter.vcpu{c}.wake_lat_ns.max"),
                            w.hist.max() as f64,
                            Unit::Ns,
                            bench_core::result::Better::Lower,
                        );
                    }
                }
            }
            out.series.push(bench_core::result::Series {
                name: "jitter".into(),
                points: s.series.clone(),
            });
        }
        out.notes
            .insert("jitter.sleep_ns".into(), self.sleep_ns.into());
        out.notes.insert(
            "jitter.method".into(),
            "clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME); lateness = wake time - deadline"
                .into(),
        );
        Ok(out)
    }
}

struct JitterWorker {
    sleep_ns: u64,
}

fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Worker for JitterWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        // The default 50 µs timer slack of SCHED_OTHER threads would be
        // measured as lateness and hide the jitter we are after (cyclictest
        // avoids it the same way).
        // SAFETY: PR_SET_TIMERSLACK takes an unsigned long and touches only this thread.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
        while ctx.running() {
            let deadline = mono_ns() + self.sleep_ns;
            let ts = libc::timespec {
                tv_sec: (deadline / 1_000_000_000) as libc::time_t,
                tv_nsec: (deadline % 1_000_000_000) as libc::c_long,
            };
            loop {
                // SAFETY: ts is valid; the remainder pointer may be null with TIMER_ABSTIME.
                let r = unsafe {
                    libc::clock_nanosleep(
                        libc::CLOCK_MONOTONIC,
                        libc::TIMER_ABSTIME,
                        &ts,
                        std::ptr::null_mut(),
                    )
                };
                if r != libc::EINTR {
                    if r != 0 {
                        return Err(WorkloadError::io(
                            "clock_nanosleep",
                            std::io::Error::from_raw_os_error(r),
                        ));
                    }
                    break;
                }
            }
            let late = mono_ns().saturating_sub(deadline);
            ctx.record(late, 0);
        }
        Ok(Box::new(()))
    }
}
