//! `net.rr_under_load`: request/response latency while bulk streams
//! saturate the same path, with the unloaded run beside it in the same
//! result (SockPerf's `_Under_Load`, Intel MLC's loaded latency for the
//! network).
//!
//! Two steps of one run, against one peer:
//! 1. `net.rr_under_load.unloaded`: the RR test alone (`net.tcp_rr`'s,
//!    closed loop or open loop at `rate`);
//! 2. `net.rr_under_load`: the same RR test again while `load_streams`
//!    client → peer streams run on their own threads and their own
//!    control session (the peer serves both tests at once).
//!
//! Only the RR workers record operations, so the loaded step's histogram
//! is RR latency alone; the stream workers count their bytes
//! (`load.bits_per_s`, with the peer's view beside it). The deltas
//! `lat_ns.<p>_delta` (loaded − unloaded, ns) and the ratios
//! `lat_ns.p50_ratio` / `p99_ratio` (loaded ÷ unloaded) are metrics of
//! their own, so a comparison sees a change of the delta even when both
//! sides move together.

use std::sync::{Arc, Mutex};

use bench_core::hist::REPORTED_PERCENTILES;
use bench_core::params::{ParamDef, ParamKind, Params};
use bench_core::result::{Better, Series};
use bench_core::workload::{
    PrepareEnv, Resources, RunOutput, Step, StepResult, Workload, WorkloadFactory,
};
use bench_core::{SpecError, Unit, WorkloadError};

use super::common::{
    bits_metric, net_resources, with_peer_params, Finished, NetCtl, NetTest, NewWorker, Target,
};
use super::proto::{TestSpec, MAX_IO_SIZE};
use super::rr::RrTest;
use super::stream::{sent_bytes, StreamTest};

const LABEL: &str = "net.rr_under_load";
const UNLOADED: &str = "net.rr_under_load.unloaded";

const PARAMS: &[ParamDef] = with_peer_params![
    ParamDef {
        name: "threads",
        kind: ParamKind::U64 { min: 1, max: 256 },
        default: Some("1"),
        help: "RR client threads, one connection each",
    },
    ParamDef {
        name: "load_streams",
        kind: ParamKind::U64 { min: 1, max: 512 },
        default: Some("1"),
        help: "client → peer bulk streams during the loaded step, one thread each",
    },
    ParamDef {
        name: "req_size",
        kind: ParamKind::Size,
        default: Some("1"),
        help: "RR request bytes",
    },
    ParamDef {
        name: "resp_size",
        kind: ParamKind::Size,
        default: Some("1"),
        help: "RR response bytes",
    },
    ParamDef {
        name: "rate",
        kind: ParamKind::F64 { min: 0.0, max: 1e9 },
        default: Some("0"),
        help: "0: closed-loop RR; else open loop at this many transactions/s in all (sockperf --mps), latency from the intended send time",
    },
    ParamDef {
        name: "msg_size",
        kind: ParamKind::Size,
        default: Some("128k"),
        help: "load streams: bytes per send call",
    },
    ParamDef {
        name: "load_placement",
        kind: ParamKind::Choice(&["apart", "shared"]),
        default: Some("apart"),
        help: "with the default placement: apart = load on the vCPUs after the RR pair's (a NIC or wire between them is the shared path); shared = load on the RR pair's vCPUs too (on loopback or veth the vCPUs are the path)",
    },
];

/// Factory of `net.rr_under_load`.
pub struct UnderLoadFactory;

fn size(p: &Params, k: &str) -> Result<usize, SpecError> {
    let v = p.u64(k)?;
    if v == 0 || v > MAX_IO_SIZE as u64 {
        return Err(SpecError::key(
            k,
            format!("key `{k}`: {v} bytes, expected 1 byte to 16 MiB"),
        ));
    }
    Ok(v as usize)
}

impl WorkloadFactory for UnderLoadFactory {
    fn kind(&self) -> &'static str {
        LABEL
    }
    fn about(&self) -> &'static str {
        "TCP RR latency unloaded and while bulk streams saturate the same path (SockPerf under-load): percentiles of both, delta and ratio"
    }
    fn params(&self) -> &'static [ParamDef] {
        PARAMS
    }
    fn build(&self, p: &Params, _vcpus: usize) -> Result<Box<dyn Workload>, SpecError> {
        let target = Target::from_params(p)?;
        let rr_threads = p.u64("threads")? as usize;
        let load_threads = p.u64("load_streams")? as usize;
        let rr = RrTest::rr(
            size(p, "req_size")?,
            size(p, "resp_size")?,
            true,
            p.f64("rate")?,
        );
        let load = StreamTest::load(load_threads, size(p, "msg_size")?);
        Ok(Box::new(UnderLoad {
            rr_ctl: NetCtl::new(LABEL, target),
            load_ctl: Mutex::new(None),
            rr,
            load,
            rr_threads,
            load_threads,
            shared: p.str("load_placement")? == "shared",
            unloaded: Mutex::new(None),
        }))
    }
}

struct UnderLoad {
    rr_ctl: Arc<NetCtl>,
    /// The load's own control session, made in `prepare`.
    load_ctl: Mutex<Option<Arc<NetCtl>>>,
    rr: RrTest,
    load: StreamTest,
    rr_threads: usize,
    load_threads: usize,
    /// Load on the RR pair's vCPUs (`load_placement = "shared"`).
    shared: bool,
    /// The unloaded step's end, gathered when the loaded step begins.
    unloaded: Mutex<Option<Finished>>,
}

/// (client pins of all workers, peer pins of the RR test, peer pins of the load).
type LoadPins = (Option<Vec<usize>>, Option<Vec<usize>>, Option<Vec<usize>>);

impl UnderLoad {
    /// RR workers first, then load workers, each peer thread with its
    /// client worker (the in-process peer's default placement), so the
    /// load lands on other vCPUs than the RR pair where there are any
    /// (`apart`), or on the RR pair's own (`shared`).
    fn pins(&self) -> LoadPins {
        let total = self.rr_threads + self.load_threads;
        let rr = self.rr_threads;
        let (client, peer) = self.rr_ctl.target.pins(total, total, |j| j);
        let explicit = self.rr_ctl.target.pin.is_some() || self.rr_ctl.target.peer_pin.is_some();
        let (client, peer) = match (client, peer) {
            // Load worker k on the vCPU of RR worker k mod rr.
            (Some(c), Some(_)) if self.shared && !explicit && c.len() == total => {
                let c: Vec<usize> = (0..total)
                    .map(|i| c[if i < rr { i } else { (i - rr) % rr }])
                    .collect();
                (Some(c.clone()), Some(c))
            }
            x => x,
        };
        match peer {
            Some(p) if p.len() == total && self.rr_ctl.target.peer_pin.is_none() => {
                let (a, b) = p.split_at(self.rr_threads);
                (client, Some(a.to_vec()), Some(b.to_vec()))
            }
            p => (client, p.clone(), p),
        }
    }

    fn rr_step(&self, step: &Step) -> Step {
        Step {
            threads: self.rr_threads,
            ..step.clone()
        }
    }

    fn load_ctl(&self) -> Result<Arc<NetCtl>, WorkloadError> {
        self.load_ctl
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| WorkloadError::Other(format!("{LABEL}: not prepared")))
    }

    fn begin_rr(&self, step: &Step, pin: Option<Vec<usize>>) -> Result<(), WorkloadError> {
        let rs = self.rr_step(step);
        let spec = TestSpec {
            pin,
            ..self.rr.spec(&rs)
        };
        self.rr_ctl.begin(&spec, |ready| self.rr.open(ready, &rs))?;
        Ok(())
    }
}

/// The step `s` with only the workers `keep` (indices rebased to 0).
fn sub_step(s: &StepResult, label: &str, keep: std::ops::Range<usize>) -> StepResult {
    let mut out = s.clone();
    out.step.label = label.to_string();
    out.step.threads = keep.len();
    out.workers = s.workers[keep.clone()].to_vec();
    for (i, w) in out.workers.iter_mut().enumerate() {
        w.index = i;
    }
    out.ops = out.workers.iter().map(|w| w.ops).sum();
    out.bytes = out.workers.iter().map(|w| w.bytes).sum();
    out
}

impl Workload for UnderLoad {
    fn resources(&self) -> Resources {
        net_resources(self.rr_threads + self.load_threads)
    }
    fn steps(&self) -> Vec<Step> {
        let (client, _, _) = self.pins();
        let rr_pins = client
            .as_ref()
            .map(|c| c[..self.rr_threads.min(c.len())].to_vec());
        vec![
            Step::new(UNLOADED, self.rr_threads, rr_pins),
            Step::new(LABEL, self.rr_threads + self.load_threads, client),
        ]
    }
    fn prepare(&mut self, _env: &PrepareEnv) -> Result<(), WorkloadError> {
        self.rr_ctl.prepare()?;
        let mut g = self.load_ctl.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            *g = Some(self.rr_ctl.sibling("net.rr_under_load.load")?);
        }
        Ok(())
    }
    fn worker(&self, step: &Step, index: usize) -> NewWorker {
        let (_, rr_pin, load_pin) = self.pins();
        let loaded = step.label == LABEL;
        if index == 0 {
            if loaded {
                // The unloaded test ends here; its peer figures wait for `metrics`.
                let f = self.rr_ctl.finish();
                *self.unloaded.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
            }
            self.begin_rr(step, rr_pin)?;
            if loaded {
                let lc = self.load_ctl()?;
                let ls = Step::new(LABEL, self.load_threads, None);
                let spec = TestSpec {
                    pin: load_pin,
                    ..self.load.spec(&ls)
                };
                lc.begin(&spec, |ready| self.load.open(ready, &ls))?;
            }
        }
        if index < self.rr_threads {
            self.rr.worker(&self.rr_ctl, &self.rr_step(step), index)
        } else {
            let ls = Step::new(LABEL, self.load_threads, None);
            self.load
                .worker(&self.load_ctl()?, &ls, index - self.rr_threads)
        }
    }
    fn metrics(&self, steps: &[StepResult]) -> Result<RunOutput, WorkloadError> {
        let f_loaded = self.rr_ctl.finish();
        let f_load = self.load_ctl()?.finish();
        let f_unloaded = self
            .unloaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_default();
        let (Some(s0), Some(s1)) = (steps.first(), steps.get(1)) else {
            return Ok(RunOutput::default());
        };
        let mut out = self.rr.metrics(s0, &f_unloaded)?;
        // Notes of the unloaded step under their own prefix; the loaded
        // step's are the run's.
        let notes0 = std::mem::take(&mut out.notes);
        let rr1 = sub_step(s1, LABEL, 0..self.rr_threads);
        let o1 = self.rr.metrics(&rr1, &f_loaded)?;
        out.metrics.extend(o1.metrics);
        out.histograms.extend(o1.histograms);
        out.notes = o1.notes;
        for (k, v) in notes0 {
            out.notes.insert(format!("unloaded.{k}"), v);
        }
        let total = self.rr_threads + self.load_threads;
        let load = sub_step(s1, &format!("{LABEL}.load"), self.rr_threads..total);
        let el = s1.elapsed_s.max(1e-9);
        bits_metric(
            &mut out,
            format!("{LABEL}.load.bits_per_s"),
            sent_bytes(&load)? as f64,
            el,
        );
        if let Some(p) = &f_load.peer {
            if let (Some(ms), Some(rx)) = (p.measured_s, p.measured_rx_bytes) {
                if ms > 0.0 {
                    bits_metric(
                        &mut out,
                        format!("{LABEL}.load.peer.recv.bits_per_s"),
                        rx as f64,
                        ms,
                    );
                }
            }
            if !p.errors.is_empty() {
                out.notes
                    .insert("load.peer.errors".into(), serde_json::json!(p.errors));
            }
        }
        if let Some(e) = &f_load.peer_error {
            out.notes
                .insert("load.peer.error".into(), serde_json::json!(e));
        }
        let (h0, h1) = (&s0.merged, &rr1.merged);
        if !h0.is_empty() && !h1.is_empty() {
            for (p, suffix) in REPORTED_PERCENTILES {
                let q = p / 100.0;
                let d = h1.value_at_quantile(q) as f64 - h0.value_at_quantile(q) as f64;
                out.metric(
                    format!("{LABEL}.lat_ns.{suffix}_delta"),
                    d,
                    Unit::Ns,
                    Better::Lower,
                );
            }
            for (q, suffix) in [(0.5, "p50"), (0.99, "p99")] {
                let a = h0.value_at_quantile(q) as f64;
                if a > 0.0 {
                    out.metric(
                        format!("{LABEL}.lat_ns.{suffix}_ratio"),
                        h1.value_at_quantile(q) as f64 / a,
                        Unit::Ratio,
                        Better::Lower,
                    );
                }
            }
        }
        out.notes.insert(
            "under_load".into(),
            serde_json::json!({
                "steps": [UNLOADED, LABEL],
                "rr_threads": self.rr_threads,
                "load_streams": self.load_threads,
                "convention": "lat_ns: RR latency while the load streams run; unloaded.lat_ns: the same RR test alone, just before; <p>_delta = loaded − unloaded (ns), <p>_ratio = loaded ÷ unloaded; load.bits_per_s: the streams' goodput meanwhile"
            }),
        );
        for s in [s0, s1] {
            out.series.push(Series {
                name: s.step.label.clone(),
                points: s.series.clone(),
            });
        }
        Ok(out)
    }
    fn teardown(&mut self) -> Result<(), WorkloadError> {
        // The load's session first: the in-process peer belongs to rr_ctl.
        if let Some(l) = self
            .load_ctl
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            l.teardown();
        }
        self.rr_ctl.teardown();
        Ok(())
    }
}
