//! `net.tcp_flows` and `net.tcp_cps`: thousands of connections on event
//! loops, neper- and NCPS-class.
//!
//! `net.tcp_flows`: `flows` persistent connections, stream or
//! request/response, spread over `threads` client workers (default one per
//! vCPU), each an edge-triggered epoll loop (mio) owning its share, as
//! neper's `-T threads -F flows`; the peer serves them on as many event
//! loops. Each worker serves its ready flows round-robin, a burst of calls
//! each, so one flow cannot starve the others. Beside the aggregate it
//! reports per-flow figures (min, median, max over flows) and Jain's
//! fairness index `(Σx)² / (n·Σx²)` (1 = perfectly even, 1/n = one flow
//! got everything), and counts the flows that moved nothing.
//!
//! `net.tcp_cps`: `connectors` connections in flight at once, each one
//! non-blocking `connect` → established → request → response → close,
//! then the next. The connect time is from the `connect` call (the SYN) to
//! the socket turning writable (established: the SYN-ACK is in), NCPS's
//! SYN-RTT, recorded in its own histogram (`connect_ns`). The close is
//! abortive (SO_LINGER 0, a reset), so neither end keeps the port in
//! TIME-WAIT and the rate is not capped by the ephemeral port range; this
//! differs from netperf's TCP_CRR (and `net.tcp_crr`), whose transaction
//! includes an orderly FIN close.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};

use bench_core::params::{ParamDef, ParamKind, Params};
use bench_core::result::Better;
use bench_core::workload::{
    RunOutput, Step, StepResult, Worker, WorkerCtx, WorkerOutput, Workload, WorkloadFactory,
};
use bench_core::{SpecError, Unit, WorkloadError};

use super::client::{open_data, Ready};
use super::common::{
    client_cpu_metrics, client_tcp, common_notes, cpu_metrics, peer_flow_metrics, share,
    tcp_metrics, with_peer_params, Finished, Marker, NetCtl, NetOutput, NetTest, NetWorkload,
    NewWorker, Pins, Target, DATA_TICK, STALL_LIMIT,
};
use super::proto::{PeerError, Role, TcpInfoSum, TestKind, TestSpec, MAX_FLOWS, MAX_IO_SIZE};
use super::sys::{self, SockOpts};

/// Calls on one flow per turn before the worker's other flows get theirs.
const BURST: usize = 16;
/// Longest connect of `net.tcp_cps` before it counts as timed out.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Descriptors kept free beside the flows (control sockets, epoll, files).
const FD_SLACK: u64 = 128;

const FLOWS_PARAMS: &[ParamDef] = with_peer_params![
    ParamDef {
        name: "flows",
        kind: ParamKind::U64 {
            min: 1,
            max: MAX_FLOWS as u64
        },
        default: Some("1000"),
        help: "persistent TCP connections (neper -F)",
    },
    ParamDef {
        name: "mode",
        kind: ParamKind::Choice(&["stream", "rr"]),
        default: Some("stream"),
        help: "stream: bulk client → peer on every flow; rr: closed-loop request/response on every flow",
    },
    ParamDef {
        name: "threads",
        kind: ParamKind::Threads,
        default: Some("all"),
        help: "client event-loop threads, each owning a share of the flows (neper -T); the peer uses as many",
    },
    ParamDef {
        name: "msg_size",
        kind: ParamKind::Size,
        default: Some("16k"),
        help: "stream: bytes per send call",
    },
    ParamDef {
        name: "req_size",
        kind: ParamKind::Size,
        default: Some("1"),
        help: "rr: request bytes",
    },
    ParamDef {
        name: "resp_size",
        kind: ParamKind::Size,
        default: Some("1"),
        help: "rr: response bytes",
    },
];

const CPS_PARAMS: &[ParamDef] = with_peer_params![
    ParamDef {
        name: "connectors",
        kind: ParamKind::U64 {
            min: 1,
            max: MAX_FLOWS as u64
        },
        default: Some("64"),
        help: "connections in flight at once, over all threads (NCPS -N)",
    },
    ParamDef {
        name: "threads",
        kind: ParamKind::Threads,
        default: Some("all"),
        help: "client event-loop threads; the peer uses as many",
    },
    ParamDef {
        name: "req_size",
        kind: ParamKind::Size,
        default: Some("1"),
        help: "request bytes after connecting",
    },
    ParamDef {
        name: "resp_size",
        kind: ParamKind::Size,
        default: Some("1"),
        help: "response bytes before closing",
    },
];

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

/// Factory of `net.tcp_flows`.
pub struct FlowsFactory;

impl WorkloadFactory for FlowsFactory {
    fn kind(&self) -> &'static str {
        "net.tcp_flows"
    }
    fn about(&self) -> &'static str {
        "thousands of TCP flows (stream or RR) on epoll event loops, neper-style: aggregate, per-flow min/median/max and Jain's fairness"
    }
    fn params(&self) -> &'static [ParamDef] {
        FLOWS_PARAMS
    }
    fn build(&self, p: &Params, vcpus: usize) -> Result<Box<dyn Workload>, SpecError> {
        let target = Target::from_params(p)?;
        let flows = p.u64("flows")? as usize;
        let threads = p.threads("threads")?.resolve(vcpus).clamp(1, flows);
        if threads > super::proto::MAX_CONNS {
            return Err(SpecError::key(
                "threads",
                format!("key `threads`: at most {}", super::proto::MAX_CONNS),
            ));
        }
        let rr = p.str("mode")? == "rr";
        Ok(NetWorkload::boxed(
            target,
            "net.tcp_flows",
            threads,
            FlowsTest {
                flows,
                rr,
                msg: size(p, "msg_size")?,
                req: size(p, "req_size")?,
                resp: size(p, "resp_size")?,
            },
        ))
    }
}

/// Checks that this process can hold `sockets` more descriptors (raising
/// the soft limit if need be) and that one destination has enough
/// ephemeral ports for them.
fn check_capacity(sockets: u64, local_peer: bool, what: &str) -> Result<(), PeerError> {
    // The in-process peer holds the other end of every flow.
    let fds = if local_peer { 2 * sockets } else { sockets } + FD_SLACK;
    sys::ensure_nofile(fds).map_err(|e| format!("{what}: {e}"))?;
    if let Some((lo, hi)) = sys::ephemeral_ports() {
        let ports = u64::from(hi - lo) + 1;
        if sockets > ports {
            return Err(format!(
                "{what}: {sockets} connections to one peer port need as many local ports; \
                 net.ipv4.ip_local_port_range has {ports} ({lo}-{hi})"
            )
            .into());
        }
    }
    Ok(())
}

struct FlowsTest {
    flows: usize,
    rr: bool,
    msg: usize,
    req: usize,
    resp: usize,
}

impl NetTest for FlowsTest {
    fn pins(&self, target: &Target, threads: usize) -> Pins {
        target.pins(threads, threads, |j| j)
    }
    fn spec(&self, step: &Step) -> TestSpec {
        TestSpec {
            roles: vec![if self.rr { Role::Echo } else { Role::Sink }],
            threads: step.threads as u32,
            flows: self.flows as u32,
            msg_size: self.msg as u32,
            req_size: if self.rr { self.req as u32 } else { 0 },
            resp_size: if self.rr { self.resp as u32 } else { 0 },
            nodelay: self.rr,
            ..TestSpec::new(TestKind::TcpFlows)
        }
    }
    fn open(&self, ready: &Ready, _step: &Step) -> Result<Vec<TcpStream>, PeerError> {
        let local = ready.addr.ip().is_loopback();
        check_capacity(self.flows as u64, local, "flows")?;
        let opts = SockOpts {
            nodelay: self.rr,
            ..SockOpts::default()
        };
        (0..self.flows)
            .map(|i| open_data(ready, i as u32, &opts))
            .collect()
    }
    fn worker(&self, ctl: &Arc<NetCtl>, step: &Step, index: usize) -> NewWorker {
        let idx = share(self.flows, step.threads, index);
        let socks = ctl.take(&idx)?;
        Ok(Box::new(FlowWorker {
            flows: idx.into_iter().zip(socks).collect(),
            rr: self.rr,
            msg: self.msg,
            req: self.req,
            resp: self.resp,
            marker: Marker::new(ctl, index),
            window_start: None,
        }))
    }
    fn metrics(&self, s: &StepResult, f: &Finished) -> Result<RunOutput, WorkloadError> {
        let mut out = RunOutput::default();
        let outputs = s.outputs::<NetOutput<FlowCounts>>()?;
        let l = &s.step.label;
        let el = s.elapsed_s.max(1e-9);
        // Stream mode counts what the peer acknowledged, each worker over
        // its own window; `send` returning counts bytes queued in the
        // socket, which on a capped link overstates the rate by the send
        // queues' growth (docs/lab.md). The queued figure is the fallback
        // where a kernel lacks tcpi_bytes_acked.
        let delivered: Option<Vec<f64>> = if self.rr {
            None
        } else {
            outputs
                .iter()
                .flat_map(|o| {
                    let w = o.own.window_s.filter(|&t| t > 0.0);
                    o.own
                        .per_flow
                        .iter()
                        .map(move |&(_, _, _, a)| Some(a? as f64 * 8.0 / w?))
                })
                .collect()
        };
        let per_flow: Vec<f64> = match &delivered {
            Some(d) => d.clone(),
            None => outputs
                .iter()
                .flat_map(|o| o.own.per_flow.iter())
                .map(|&(_, b, n, _)| {
                    if self.rr {
                        n as f64 / el
                    } else {
                        b as f64 * 8.0 / el
                    }
                })
                .collect(),
        };
        if self.rr {
            out.metric(
                format!("{l}.transactions_per_s"),
                s.ops_per_s(),
                Unit::TransactionsPerS,
                Better::Higher,
            );
            out.latency(&format!("{l}.lat_ns"), &s.merged);
            fairness(
                &mut out,
                l,
                "transactions_per_s",
                Unit::TransactionsPerS,
                &per_flow,
            );
        } else {
            let queued = s.bytes as f64 * 8.0 / el;
            let headline: f64 = match &delivered {
                Some(d) if !d.is_empty() => d.iter().sum(),
                _ => queued,
            };
            for (name, v) in [("bits_per_s", headline), ("queued_bits_per_s", queued)] {
                out.metric(format!("{l}.{name}"), v, Unit::BitsPerS, Better::Higher);
            }
            out.notes.insert(
                "bits_per_s_counts".into(),
                serde_json::json!(if matches!(&delivered, Some(d) if !d.is_empty()) {
                    "acknowledged"
                } else {
                    "queued"
                }),
            );
            fairness(&mut out, l, "bits_per_s", Unit::BitsPerS, &per_flow);
        }
        let ctcp = client_tcp(&outputs);
        tcp_metrics(&mut out, &format!("{l}.client"), &ctcp);
        let (work, unit) = if self.rr {
            (s.ops as f64, "transaction")
        } else {
            (s.bytes as f64, "byte")
        };
        client_cpu_metrics(&mut out, l, f, work, unit);
        if let Some(p) = &f.peer {
            if self.rr {
                if let (Some(c), Some(ms)) = (&p.cpu, p.measured_s) {
                    cpu_metrics(
                        &mut out,
                        &format!("{l}.peer"),
                        c,
                        Some((s.ops_per_s() * ms, "transaction")),
                    );
                }
            } else {
                peer_flow_metrics(&mut out, l, p, "recv", p.measured_rx_bytes);
            }
            tcp_metrics(&mut out, &format!("{l}.peer"), &p.tcp);
        }
        common_notes(&mut out, s, &outputs, f);
        out.notes.insert(
            "flows".into(),
            serde_json::json!({"flows": self.flows, "client_threads": s.step.threads,
                "mode": if self.rr { "rr" } else { "stream" },
                "event_loop": "mio (epoll, edge-triggered), one per worker thread"}),
        );
        out.notes.insert(
            "convention".into(),
            serde_json::json!(if self.rr {
                "closed loop on every flow at once; lat_ns is each transaction's full round trip, queueing in the event loops included; flow.* are per-flow transactions/s over the measured phase; fairness.jain_ratio = (Σx)²/(n·Σx²)"
            } else {
                "bits/s = 8 × payload bytes the peer acknowledged (tcpi_bytes_acked) in the measured phase ÷ its length, each worker over its own window (goodput, no headers; note bits_per_s_counts says `queued` where the kernel lacks the field); queued_bits_per_s counts what send calls returned instead; flow.* per flow, same basis; fairness.jain_ratio = (Σx)²/(n·Σx²); flows close with a reset (SO_LINGER 0) so no TIME-WAIT is left"
            }),
        );
        Ok(out)
    }
}

/// Adds `{l}.flow.{name}.min/.p50/.max`, `{l}.fairness.jain_ratio` and
/// `{l}.flows_starved` (flows that moved nothing) over the per-flow figures.
fn fairness(out: &mut RunOutput, l: &str, name: &str, unit: Unit, per_flow: &[f64]) {
    if per_flow.is_empty() {
        return;
    }
    let mut v = per_flow.to_vec();
    v.sort_by(f64::total_cmp);
    out.metric(
        format!("{l}.flow.{name}.min"),
        v[0],
        unit.clone(),
        Better::Higher,
    );
    out.metric(
        format!("{l}.flow.{name}.p50"),
        bench_core::stats::median(&v),
        unit.clone(),
        Better::Higher,
    );
    out.metric(
        format!("{l}.flow.{name}.max"),
        v[v.len() - 1],
        unit,
        Better::Higher,
    );
    out.metric(
        format!("{l}.fairness.jain_ratio"),
        jain(&v),
        Unit::Ratio,
        Better::Higher,
    );
    out.metric(
        format!("{l}.flows_starved"),
        v.iter().filter(|&&x| x <= 0.0).count() as f64,
        Unit::Count,
        Better::Lower,
    );
}

/// Jain's fairness index of `x`: 1 when all are equal, 1/n when one has all.
pub fn jain(x: &[f64]) -> f64 {
    let s: f64 = x.iter().sum();
    let q: f64 = x.iter().map(|v| v * v).sum();
    if x.is_empty() || q <= 0.0 {
        return 0.0;
    }
    s * s / (x.len() as f64 * q)
}

/// Per-flow figures of one worker: (flow index, bytes, transactions) in
/// the measured phase.
#[derive(Clone, Debug, Default)]
struct FlowCounts {
    /// Per flow: its index, the payload bytes its send calls returned (or
    /// its transactions' bytes, rr), its transactions, and (stream) the
    /// bytes the peer acknowledged over the worker's window.
    per_flow: Vec<(usize, u64, u64, Option<u64>)>,
    /// The worker's acknowledged-bytes window in seconds: its first
    /// measured iteration to its end; `None` in rr mode or when the phase
    /// was never seen measured.
    window_s: Option<f64>,
}

struct FlowWorker {
    flows: Vec<(usize, TcpStream)>,
    rr: bool,
    msg: usize,
    req: usize,
    resp: usize,
    marker: Marker,
    /// When the worker first saw the measured phase (stream mode): the
    /// start of the acknowledged-bytes window.
    window_start: Option<Instant>,
}

struct Flow {
    s: MioStream,
    idx: usize,
    /// Request bytes still to send (rr).
    out_left: usize,
    /// Response bytes still to read (rr).
    in_left: usize,
    /// Raw clock reading when the current request went out (rr).
    sent_at: u64,
    bytes: u64,
    n: u64,
    queued: bool,
    /// `tcpi_bytes_acked` at the start of the worker's window (stream).
    acked0: Option<u64>,
}

fn flow_err(f: &Flow, e: io::Error) -> WorkloadError {
    let hint = if sys::is_disconnect(&e) {
        " (the peer closed the connection: did it stop or crash?)"
    } else {
        ""
    };
    WorkloadError::Other(format!("net.tcp_flows: flow {}: {e}{hint}", f.idx))
}

impl FlowWorker {
    /// One turn on flow `f`: at most [`BURST`] calls; `Ok(true)` if it
    /// has more to do (did not block).
    #[inline]
    fn turn(
        &self,
        f: &mut Flow,
        buf: &mut [u8],
        ctx: &mut WorkerCtx,
        moved: &mut bool,
    ) -> Result<bool, WorkloadError> {
        for _ in 0..BURST {
            let r = if !self.rr {
                f.s.write(&buf[..self.msg])
            } else if f.out_left > 0 {
                f.s.write(&buf[..f.out_left])
            } else {
                match f.s.read(&mut buf[..f.in_left]) {
                    Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
                    r => r,
                }
            };
            let n = match r {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(flow_err(f, e)),
            };
            *moved = true;
            if !self.rr {
                ctx.op_done(n as u64);
                if ctx.measuring() {
                    f.bytes += n as u64;
                }
            } else if f.out_left > 0 {
                f.out_left -= n;
            } else {
                f.in_left -= n;
                if f.in_left == 0 {
                    let now = ctx.now();
                    let bytes = (self.req + self.resp) as u64;
                    ctx.record(ctx.clock().delta_ns(f.sent_at, now), bytes);
                    if ctx.measuring() {
                        f.n += 1;
                        f.bytes += bytes;
                    }
                    f.sent_at = now;
                    f.out_left = self.req;
                    f.in_left = self.resp;
                }
            }
        }
        Ok(true)
    }

    fn event_loop(&mut self, flows: &mut [Flow], ctx: &mut WorkerCtx) -> Result<(), WorkloadError> {
        let werr = |e: io::Error| WorkloadError::io("net.tcp_flows: epoll", e);
        let mut poll = Poll::new().map_err(werr)?;
        for (k, f) in flows.iter_mut().enumerate() {
            let interest = if self.rr {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::WRITABLE
            };
            poll.registry()
                .register(&mut f.s, Token(k), interest)
                .map_err(werr)?;
        }
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![
            0u8;
            self.msg
                .max(self.req)
                .max(self.resp)
                .min(MAX_IO_SIZE as usize)
        ];
        // Every flow starts ready: a stream has room, an RR flow's first
        // request is due.
        let mut ready: std::collections::VecDeque<usize> = (0..flows.len()).collect();
        for f in flows.iter_mut() {
            f.queued = true;
        }
        let mut last_progress = Instant::now();
        ctx.restart();
        let t0 = ctx.now();
        for f in flows.iter_mut() {
            f.sent_at = t0;
        }
        while ctx.running() {
            self.marker.poll(ctx);
            if !self.rr && self.window_start.is_none() && ctx.measuring() {
                // The window's start: acknowledged bytes, not what `send`
                // queued, are what reached the peer (see net.tcp_stream).
                self.window_start = Some(Instant::now());
                for f in flows.iter_mut() {
                    f.acked0 = sys::bytes_acked(&f.s);
                }
            }
            let timeout = if ready.is_empty() {
                DATA_TICK
            } else {
                Duration::ZERO
            };
            match poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(werr(e)),
            }
            for ev in events.iter() {
                let k = ev.token().0;
                if let Some(f) = flows.get_mut(k) {
                    if !f.queued {
                        f.queued = true;
                        ready.push_back(k);
                    }
                }
            }
            let mut moved = false;
            for _ in 0..ready.len() {
                let Some(k) = ready.pop_front() else { break };
                let f = &mut flows[k];
                if self.turn(f, &mut buf, ctx, &mut moved)? {
                    ready.push_back(k);
                } else {
                    f.queued = false;
                }
                if !ctx.running() {
                    break;
                }
            }
            if moved {
                last_progress = Instant::now();
            } else {
                ctx.tick();
                if last_progress.elapsed() > STALL_LIMIT {
                    return Err(WorkloadError::Other(format!(
                        "net.tcp_flows: no flow moved data for {STALL_LIMIT:?}: the peer or the path stalled"
                    )));
                }
            }
        }
        Ok(())
    }
}

impl Worker for FlowWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        let mut flows = Vec::with_capacity(self.flows.len());
        for (idx, s) in self.flows.drain(..) {
            s.set_nonblocking(true)
                .map_err(|e| WorkloadError::io("set_nonblocking", e))?;
            flows.push(Flow {
                s: MioStream::from_std(s),
                idx,
                out_left: self.req,
                in_left: self.resp,
                sent_at: 0,
                bytes: 0,
                n: 0,
                queued: false,
                acked0: None,
            });
        }
        self.window_start = None;
        let r = self.event_loop(&mut flows, ctx);
        // The window ends as the worker leaves its loop: before the end
        // mark, which can stop the peer reading (no acknowledgements after
        // it), and before the reset below.
        let window_s = self.window_start.map(|t| t.elapsed().as_secs_f64());
        let acked: Vec<Option<u64>> = flows
            .iter()
            .map(|f| match (f.acked0, window_s) {
                (Some(a0), Some(_)) => sys::bytes_acked(&f.s).map(|a1| a1.saturating_sub(a0)),
                _ => None,
            })
            .collect();
        self.marker.end();
        let mut tcp = TcpInfoSum::default();
        let mut per_flow = Vec::with_capacity(flows.len());
        for (f, acked) in flows.iter().zip(acked) {
            if let Some(t) = sys::tcp_info(&f.s) {
                tcp.merge(&t);
            }
            per_flow.push((f.idx, f.bytes, f.n, acked));
            // A reset, not a FIN: a thousand flows would otherwise leave a
            // thousand local ports in TIME-WAIT for a minute.
            let _ = sys::set_linger_zero(f.s.as_raw_fd());
        }
        drop(flows);
        r?;
        Ok(Box::new(NetOutput::here(
            tcp,
            FlowCounts { per_flow, window_s },
        )))
    }
}

// ------------------------------------------------------------- tcp_cps

/// Factory of `net.tcp_cps`.
pub struct CpsFactory;

impl WorkloadFactory for CpsFactory {
    fn kind(&self) -> &'static str {
        "net.tcp_cps"
    }
    fn about(&self) -> &'static str {
        "TCP connections per second with N concurrent connectors on event loops (NCPS-style): connect-time (SYN→established) percentiles"
    }
    fn params(&self) -> &'static [ParamDef] {
        CPS_PARAMS
    }
    fn build(&self, p: &Params, vcpus: usize) -> Result<Box<dyn Workload>, SpecError> {
        let target = Target::from_params(p)?;
        let connectors = p.u64("connectors")? as usize;
        let threads = p.threads("threads")?.resolve(vcpus).clamp(1, connectors);
        if threads > super::proto::MAX_CONNS {
            return Err(SpecError::key(
                "threads",
                format!("key `threads`: at most {}", super::proto::MAX_CONNS),
            ));
        }
        Ok(NetWorkload::boxed(
            target,
            "net.tcp_cps",
            threads,
            CpsTest {
                connectors,
                req: size(p, "req_size")?,
                resp: size(p, "resp_size")?,
            },
        ))
    }
}

struct CpsTest {
    connectors: usize,
    req: usize,
    resp: usize,
}

impl NetTest for CpsTest {
    fn pins(&self, target: &Target, threads: usize) -> Pins {
        target.pins(threads, threads, |j| j)
    }
    fn spec(&self, step: &Step) -> TestSpec {
        TestSpec {
            threads: step.threads as u32,
            flows: self.connectors as u32,
            req_size: self.req as u32,
            resp_size: self.resp as u32,
            nodelay: true,
            ..TestSpec::new(TestKind::TcpCps)
        }
    }
    fn open(&self, ready: &Ready, _step: &Step) -> Result<Vec<TcpStream>, PeerError> {
        check_capacity(
            self.connectors as u64,
            ready.addr.ip().is_loopback(),
            "connectors",
        )?;
        Ok(Vec::new())
    }
    fn worker(&self, ctl: &Arc<NetCtl>, step: &Step, index: usize) -> NewWorker {
        let ready = ctl.ready()?;
        let mut req = ready.cookie.clone();
        req.resize(ready.cookie.len() + self.req, 0);
        Ok(Box::new(CpsWorker {
            addr: ready.addr,
            n: share(self.connectors, step.threads, index).len(),
            req,
            resp: self.resp,
            marker: Marker::new(ctl, index),
        }))
    }
    fn metrics(&self, s: &StepResult, f: &Finished) -> Result<RunOutput, WorkloadError> {
        let mut out = RunOutput::default();
        let outputs = s.outputs::<NetOutput<CpsCounts>>()?;
        let l = &s.step.label;
        out.metric(
            format!("{l}.connections_per_s"),
            s.ops_per_s(),
            Unit::ConnectionsPerS,
            Better::Higher,
        );
        if let Some(h) = s.merged_aux("connect_ns") {
            out.latency(&format!("{l}.connect_ns"), &h);
        }
        out.latency(&format!("{l}.lat_ns"), &s.merged);
        let timeouts: u64 = outputs.iter().map(|o| o.own.timeouts).sum();
        out.metric(
            format!("{l}.connect_timeouts"),
            timeouts as f64,
            Unit::Count,
            Better::Lower,
        );
        client_cpu_metrics(&mut out, l, f, s.ops as f64, "connection");
        if let Some(p) = &f.peer {
            if let (Some(c), Some(ms)) = (&p.cpu, p.measured_s) {
                cpu_metrics(
                    &mut out,
                    &format!("{l}.peer"),
                    c,
                    Some((s.ops_per_s() * ms, "connection")),
                );
            }
            out.notes.insert(
                "peer.connections_total".into(),
                serde_json::json!(p.transactions),
            );
        }
        common_notes(&mut out, s, &outputs, f);
        out.notes.insert(
            "convention".into(),
            serde_json::json!("one operation = non-blocking connect, request, response, abortive close (SO_LINGER 0: a reset, no TIME-WAIT on either end; netperf TCP_CRR / net.tcp_crr close with a FIN instead); connect_ns = connect() call (SYN) to writable (established), NCPS's SYN-RTT; lat_ns = the whole connection"),
        );
        out.notes.insert(
            "connectors".into(),
            serde_json::json!({"connectors": self.connectors, "client_threads": s.step.threads}),
        );
        Ok(out)
    }
}

#[derive(Clone, Debug, Default)]
struct CpsCounts {
    timeouts: u64,
}

struct CpsWorker {
    addr: SocketAddr,
    n: usize,
    req: Vec<u8>,
    resp: usize,
    marker: Marker,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CState {
    Connecting,
    Sending,
    Receiving,
}

struct Connector {
    s: Option<MioStream>,
    state: CState,
    /// Raw clock reading at the connect call.
    syn_at: u64,
    started: Instant,
    off: usize,
}

fn cps_err(what: &str, e: io::Error) -> WorkloadError {
    let hint = match e.raw_os_error() {
        Some(libc::EADDRNOTAVAIL) => " (out of local ports: widen net.ipv4.ip_local_port_range)",
        Some(libc::ECONNREFUSED) => " (the peer is not listening: did it stop?)",
        Some(libc::EMFILE) | Some(libc::ENFILE) => " (out of file descriptors: fewer connectors)",
        _ => "",
    };
    WorkloadError::Other(format!("net.tcp_cps: {what}: {e}{hint}"))
}

impl CpsWorker {
    fn open(
        &self,
        poll: &Poll,
        c: &mut Connector,
        k: usize,
        ctx: &WorkerCtx,
    ) -> Result<(), WorkloadError> {
        c.syn_at = ctx.now();
        c.started = Instant::now();
        let mut s = MioStream::connect(self.addr)
            .map_err(|e| cps_err(&format!("connect to {}", self.addr), e))?;
        let _ = s.set_nodelay(true);
        poll.registry()
            .register(&mut s, Token(k), Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| WorkloadError::io("net.tcp_cps: epoll", e))?;
        c.s = Some(s);
        c.state = CState::Connecting;
        c.off = 0;
        Ok(())
    }

    /// Advances connector `c` as far as it goes without blocking; `true`
    /// when its connection completed (and a new one was started).
    fn advance(
        &self,
        poll: &Poll,
        c: &mut Connector,
        ctx: &mut WorkerCtx,
        connect_slot: usize,
        buf: &mut [u8],
    ) -> Result<bool, WorkloadError> {
        let Some(s) = c.s.as_mut() else {
            return Ok(false);
        };
        loop {
            match c.state {
                CState::Connecting => {
                    if let Ok(Some(e)) | Err(e) = s.take_error() {
                        return Err(cps_err(&format!("connect to {}", self.addr), e));
                    }
                    match s.peer_addr() {
                        Ok(_) => {}
                        Err(e)
                            if e.raw_os_error() == Some(libc::ENOTCONN)
                                || e.kind() == io::ErrorKind::WouldBlock =>
                        {
                            return Ok(false)
                        }
                        Err(e) => return Err(cps_err("connect", e)),
                    }
                    let now = ctx.now();
                    ctx.record_aux(connect_slot, ctx.clock().delta_ns(c.syn_at, now));
                    c.state = CState::Sending;
                }
                CState::Sending => match s.write(&self.req[c.off..]) {
                    Ok(n) => {
                        c.off += n;
                        if c.off == self.req.len() {
                            c.state = CState::Receiving;
                            c.off = 0;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(cps_err("sending a request", e)),
                },
                CState::Receiving => {
                    let want = (self.resp - c.off).min(buf.len());
                    match s.read(&mut buf[..want]) {
                        Ok(0) => {
                            return Err(cps_err(
                                "waiting for a response",
                                io::ErrorKind::UnexpectedEof.into(),
                            ))
                        }
                        Ok(n) => {
                            c.off += n;
                            if c.off == self.resp {
                                let now = ctx.now();
                                let _ = sys::set_linger_zero(s.as_raw_fd());
                                let _ = poll.registry().deregister(s);
                                c.s = None;
                                let bytes =
                                    (self.req.len() - super::proto::COOKIE_LEN + self.resp) as u64;
                                ctx.record(ctx.clock().delta_ns(c.syn_at, now), bytes);
                                return Ok(true);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(cps_err("waiting for a response", e)),
                    }
                }
            }
        }
    }
}

impl Worker for CpsWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        let poll = Poll::new().map_err(|e| WorkloadError::io("net.tcp_cps: epoll", e))?;
        let mut poll = poll;
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; self.resp.min(256 << 10)];
        let connect_slot = ctx.aux_hist("connect_ns");
        let mut conns: Vec<Connector> = (0..self.n)
            .map(|_| Connector {
                s: None,
                state: CState::Connecting,
                syn_at: 0,
                started: Instant::now(),
                off: 0,
            })
            .collect();
        let mut timeouts = 0u64;
        let mut r = Ok(());
        ctx.restart();
        for (k, c) in conns.iter_mut().enumerate() {
            if let Err(e) = self.open(&poll, c, k, ctx) {
                r = Err(e);
                break;
            }
        }
        let mut last_progress = Instant::now();
        let mut next_scan = Instant::now() + DATA_TICK;
        while r.is_ok() && ctx.running() {
            self.marker.poll(ctx);
            match poll.poll(&mut events, Some(DATA_TICK)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    r = Err(WorkloadError::io("net.tcp_cps: epoll", e));
                    break;
                }
            }
            let mut moved = false;
            for ev in events.iter() {
                let k = ev.token().0;
                let Some(c) = conns.get_mut(k) else { continue };
                match self.advance(&poll, c, ctx, connect_slot, &mut buf) {
                    Ok(true) => {
                        moved = true;
                        if let Err(e) = self.open(&poll, c, k, ctx) {
                            r = Err(e);
                            break;
                        }
                    }
                    Ok(false) => {}
                    Err(e) => {
                        r = Err(e);
                        break;
                    }
                }
            }
            if moved {
                last_progress = Instant::now();
            } else {
                ctx.tick();
            }
            let now = Instant::now();
            if now >= next_scan {
                next_scan = now + DATA_TICK;
                // A connect (or its exchange) past the deadline: counted,
                // abandoned, and replaced by a fresh one.
                for (k, c) in conns.iter_mut().enumerate() {
                    if c.s.is_some() && now.duration_since(c.started) > CONNECT_TIMEOUT {
                        if let Some(mut s) = c.s.take() {
                            let _ = sys::set_linger_zero(s.as_raw_fd());
                            let _ = poll.registry().deregister(&mut s);
                        }
                        if ctx.measuring() {
                            timeouts += 1;
                        }
                        if let Err(e) = self.open(&poll, c, k, ctx) {
                            r = Err(e);
                            break;
                        }
                    }
                }
                if r.is_ok() && last_progress.elapsed() > STALL_LIMIT {
                    r = Err(WorkloadError::Other(format!(
                        "net.tcp_cps: no connection completed for {STALL_LIMIT:?}: the peer or the path stalled"
                    )));
                }
            }
        }
        self.marker.end();
        for c in &mut conns {
            if let Some(mut s) = c.s.take() {
                let _ = sys::set_linger_zero(s.as_raw_fd());
                let _ = poll.registry().deregister(&mut s);
            }
        }
        drop(poll);
        r?;
        Ok(Box::new(NetOutput::here(
            TcpInfoSum::default(),
            CpsCounts { timeouts },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_index_bounds() {
        assert!((jain(&[5.0; 10]) - 1.0).abs() < 1e-12);
        let mut one = vec![0.0; 10];
        one[3] = 7.0;
        assert!((jain(&one) - 0.1).abs() < 1e-12);
        assert_eq!(jain(&[]), 0.0);
        assert_eq!(jain(&[0.0, 0.0]), 0.0);
        let j = jain(&[1.0, 2.0, 3.0]);
        assert!(j > 1.0 / 3.0 && j < 1.0, "{j}");
    }
}
