//! `net.tcp_rr` and `net.tcp_crr`: request/response latency and connection
//! rate, netperf-class.
//!
//! TCP_RR: each thread owns one connection and does write-request,
//! read-response. Closed loop by default (the next request goes out when
//! the response is in); with `rate` set, open loop: requests are due on a
//! fixed schedule and latency is measured from the *intended* send time,
//! so a stall is charged to every request it delays (no coordinated
//! omission). TCP_CRR: connect, request, response, close, per operation.
//! By default the peer closes first, so TIME-WAIT piles up on the peer (as
//! it does on netperf's netserver) and the client's ephemeral ports last;
//! with `closer = "client"` the client holds TIME-WAIT.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use bench_core::params::{ParamDef, ParamKind, Params};
use bench_core::result::{Better, Series};
use bench_core::workload::{
    Resources, RunOutput, Step, StepResult, Worker, WorkerCtx, WorkerOutput, Workload,
    WorkloadFactory,
};
use bench_core::{SpecError, Unit, WorkloadError};

use super::client::{open_data, Ready};
use super::common::{
    client_tcp, common_notes, cpu_metrics, tcp_metrics, Marker, NetCtl, NetOutput, Target,
    PEER_PARAMS,
};
use super::proto::{Role, TcpInfoSum, TestKind, TestSpec, COOKIE_LEN, MAX_IO_SIZE};
use super::stream::{DATA_TICK, STALL_LIMIT};
use super::sys::{self, is_timeout, SockOpts};

const RR_PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "threads",
        kind: ParamKind::Threads,
        default: Some("1"),
        help: "client threads, one connection each",
    },
    ParamDef {
        name: "req_size",
        kind: ParamKind::Size,
        default: Some("1"),
        help: "request bytes (netperf -r REQ,RESP)",
    },
    ParamDef {
        name: "resp_size",
        kind: ParamKind::Size,
        default: Some("1"),
        help: "response bytes",
    },
    ParamDef {
        name: "nodelay",
        kind: ParamKind::Bool,
        default: Some("true"),
        help: "TCP_NODELAY on both ends",
    },
    ParamDef {
        name: "rate",
        kind: ParamKind::F64 { min: 0.0, max: 1e9 },
        default: Some("0"),
        help: "0: closed loop; else open loop at this many transactions/s in all, latency from the intended send time",
    },
    PEER_PARAMS[0],
    PEER_PARAMS[1],
    PEER_PARAMS[2],
    PEER_PARAMS[3],
    PEER_PARAMS[4],
    PEER_PARAMS[5],
];

const CRR_PARAMS: &[ParamDef] = &[
    RR_PARAMS[0],
    RR_PARAMS[1],
    RR_PARAMS[2],
    RR_PARAMS[3],
    ParamDef {
        name: "closer",
        kind: ParamKind::Choice(&["peer", "client"]),
        default: Some("peer"),
        help: "who closes first: peer (TIME-WAIT on the peer, as with netperf's netserver) or client (TIME-WAIT here; on loopback the kernel's port reuse caps the rate near half the ephemeral range per second)",
    },
    PEER_PARAMS[0],
    PEER_PARAMS[1],
    PEER_PARAMS[2],
    PEER_PARAMS[3],
    PEER_PARAMS[4],
    PEER_PARAMS[5],
];

/// Factory of `net.tcp_rr`.
pub struct TcpRrFactory;
/// Factory of `net.tcp_crr`.
pub struct TcpCrrFactory;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Rr,
    Crr,
}

struct RrWorkload {
    mode: Mode,
    ctl: Arc<NetCtl>,
    threads: usize,
    req: usize,
    resp: usize,
    nodelay: bool,
    rate: f64,
    client_closes: bool,
}

fn size(p: &Params, k: &str) -> Result<usize, SpecError> {
    let v = p.u64(k)?;
    if v == 0 || v > MAX_IO_SIZE as u64 {
        return Err(SpecError::new(
            k,
            format!("key `{k}`: {v} bytes, expected 1 byte to 16 MiB"),
        ));
    }
    Ok(v as usize)
}

fn build(mode: Mode, p: &Params, vcpus: usize) -> Result<Box<dyn Workload>, SpecError> {
    let kind = if mode == Mode::Rr {
        "net.tcp_rr"
    } else {
        "net.tcp_crr"
    };
    let threads = p.threads("threads")?.resolve(vcpus);
    if threads > 1024 {
        return Err(SpecError::new("threads", "key `threads`: at most 1024"));
    }
    Ok(Box::new(RrWorkload {
        mode,
        ctl: NetCtl::new(kind, Target::from_params(p)?),
        threads,
        req: size(p, "req_size")?,
        resp: size(p, "resp_size")?,
        nodelay: p.bool("nodelay")?,
        rate: if mode == Mode::Rr {
            p.f64("rate")?
        } else {
            0.0
        },
        client_closes: mode == Mode::Crr && p.str("closer")? == "client",
    }))
}

impl WorkloadFactory for TcpRrFactory {
    fn kind(&self) -> &'static str {
        "net.tcp_rr"
    }
    fn about(&self) -> &'static str {
        "TCP request/response (netperf TCP_RR): transactions/s and round-trip latency, closed or open loop"
    }
    fn params(&self) -> &'static [ParamDef] {
        RR_PARAMS
    }
    fn build(&self, p: &Params, vcpus: usize) -> Result<Box<dyn Workload>, SpecError> {
        build(Mode::Rr, p, vcpus)
    }
}

impl WorkloadFactory for TcpCrrFactory {
    fn kind(&self) -> &'static str {
        "net.tcp_crr"
    }
    fn about(&self) -> &'static str {
        "TCP connect/request/response/close (netperf TCP_CRR): connections/s and latency"
    }
    fn params(&self) -> &'static [ParamDef] {
        CRR_PARAMS
    }
    fn build(&self, p: &Params, vcpus: usize) -> Result<Box<dyn Workload>, SpecError> {
        build(Mode::Crr, p, vcpus)
    }
}

impl RrWorkload {
    fn label(&self) -> &'static str {
        if self.mode == Mode::Rr {
            "net.tcp_rr"
        } else {
            "net.tcp_crr"
        }
    }
    fn opts(&self) -> SockOpts {
        SockOpts {
            nodelay: self.nodelay,
            ..SockOpts::default()
        }
    }
}

impl RrWorkload {
    fn pins(&self) -> (Option<Vec<usize>>, Option<Vec<usize>>) {
        self.ctl.target.pins(self.threads, self.threads, |j| j)
    }
}

impl Workload for RrWorkload {
    fn resources(&self) -> Resources {
        super::common::net_resources(self.threads)
    }
    fn steps(&self) -> Vec<Step> {
        vec![Step::new(self.label(), self.threads, self.pins().0)]
    }
    fn prepare(&mut self, _env: &bench_core::workload::PrepareEnv) -> Result<(), WorkloadError> {
        self.ctl.prepare()
    }
    fn worker(&self, step: &Step, index: usize) -> Result<Box<dyn Worker>, WorkloadError> {
        let n = step.threads;
        if index == 0 {
            let spec = TestSpec {
                kind: if self.mode == Mode::Rr {
                    TestKind::TcpRr
                } else {
                    TestKind::TcpCrr
                },
                roles: if self.mode == Mode::Rr {
                    vec![Role::Echo; n]
                } else {
                    Vec::new()
                },
                threads: if self.mode == Mode::Crr { n as u32 } else { 0 },
                msg_size: 0,
                req_size: self.req as u32,
                resp_size: self.resp as u32,
                sndbuf: None,
                rcvbuf: None,
                congestion: None,
                nodelay: self.nodelay,
                pin: self.pins().1,
                client_closes: self.client_closes,
                bitrate: None,
            };
            let (mode, opts) = (self.mode, self.opts());
            self.ctl.begin(&spec, |ready| {
                if mode == Mode::Crr {
                    return Ok(Vec::new());
                }
                (0..n)
                    .map(|i| {
                        let s = open_data(ready, i as u32, &opts)?;
                        sys::set_timeouts(s.as_raw_fd(), DATA_TICK)
                            .map_err(|e| format!("data connection {i}: {e}"))?;
                        Ok(s)
                    })
                    .collect()
            })?;
        }
        let marker = Marker::new(&self.ctl, index);
        match self.mode {
            Mode::Rr => {
                let s = self.ctl.take(&[index])?.pop();
                Ok(Box::new(RrWorker {
                    s,
                    req: vec![0u8; self.req],
                    resp: vec![0u8; self.resp],
                    interval_ns: if self.rate > 0.0 {
                        n as f64 * 1e9 / self.rate
                    } else {
                        0.0
                    },
                    marker,
                }))
            }
            Mode::Crr => {
                let ready = self.ctl.ready()?;
                let mut req = ready.cookie.clone();
                req.resize(COOKIE_LEN + self.req, 0);
                Ok(Box::new(CrrWorker {
                    ready,
                    req,
                    resp: vec![0u8; self.resp],
                    opts: self.opts(),
                    marker,
                }))
            }
        }
    }
    fn metrics(&self, steps: &[StepResult]) -> Result<RunOutput, WorkloadError> {
        let f = self.ctl.finish();
        let mut out = RunOutput::default();
        let Some(s) = steps.first() else {
            return Ok(out);
        };
        let outputs = s.outputs::<NetOutput<()>>()?;
        let l = &s.step.label;
        let (unit, per_s) = if self.mode == Mode::Rr {
            ("transactions", Unit::TransactionsPerS)
        } else {
            ("connections", Unit::ConnectionsPerS)
        };
        out.metric(
            format!("{l}.{unit}_per_s"),
            s.ops_per_s(),
            per_s,
            Better::Higher,
        );
        out.latency(&format!("{l}.lat_ns"), &s.merged);
        if let Some(h) = s.merged_aux("service_lat_ns") {
            out.latency(&format!("{l}.service_lat_ns"), &h);
        }
        let ctcp = client_tcp(&outputs);
        tcp_metrics(&mut out, &format!("{l}.client"), &ctcp);
        if let Some(c) = &f.client_cpu {
            cpu_metrics(
                &mut out,
                &format!("{l}.client"),
                c,
                Some((s.ops as f64, &unit[..unit.len() - 1])),
            );
        }
        if let Some(p) = &f.peer {
            if let (Some(c), Some(ms)) = (&p.cpu, p.measured_s) {
                // The peer counts no transactions between marks; the client's
                // rate over the peer's window is the work it did.
                cpu_metrics(
                    &mut out,
                    &format!("{l}.peer"),
                    c,
                    Some((s.ops_per_s() * ms, &unit[..unit.len() - 1])),
                );
            }
            tcp_metrics(&mut out, &format!("{l}.peer"), &p.tcp);
            out.notes.insert(
                "peer.transactions_total".into(),
                serde_json::json!(p.transactions),
            );
        }
        out.series.push(Series {
            name: l.clone(),
            points: s.series.clone(),
        });
        common_notes(&mut out, s, &outputs, &f, self.ctl.target.local());
        out.notes.insert(
            "convention".into(),
            serde_json::json!(if self.rate > 0.0 {
                "open loop: lat_ns is the full round trip from the intended send time (coordinated-omission corrected); service_lat_ns from the actual send"
            } else {
                "closed loop: lat_ns is the full round trip (not RTT/2)"
            }),
        );
        out.notes.insert(
            "sizes".into(),
            serde_json::json!({"request": self.req, "response": self.resp}),
        );
        if self.mode == Mode::Crr {
            out.notes.insert(
                "closer".into(),
                serde_json::json!(if self.client_closes { "client" } else { "peer" }),
            );
        }
        if self.rate > 0.0 {
            out.notes
                .insert("rate_target_per_s".into(), serde_json::json!(self.rate));
        }
        Ok(out)
    }
    fn teardown(&mut self) -> Result<(), WorkloadError> {
        self.ctl.teardown();
        Ok(())
    }
}

fn rr_err(what: &str, e: io::Error) -> WorkloadError {
    let hint = if sys::is_disconnect(&e) {
        " (the peer closed the connection: did it stop or crash?)"
    } else {
        ""
    };
    WorkloadError::Other(format!("net.tcp_rr: {what}: {e}{hint}"))
}

/// Writes all of `buf`, ticking the context while the socket is full.
fn write_all(s: &mut TcpStream, buf: &[u8], ctx: &mut WorkerCtx) -> io::Result<()> {
    let mut off = 0;
    let mut idle = Duration::ZERO;
    while off < buf.len() {
        match s.write(&buf[off..]) {
            Ok(n) => off += n,
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                ctx.tick();
                idle += DATA_TICK;
                if idle > STALL_LIMIT {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no progress for {STALL_LIMIT:?}"),
                    ));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads exactly `buf.len()` bytes, ticking the context while waiting.
fn read_all(s: &mut TcpStream, buf: &mut [u8], ctx: &mut WorkerCtx) -> io::Result<()> {
    let mut off = 0;
    let mut idle = Duration::ZERO;
    while off < buf.len() {
        match s.read(&mut buf[off..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => off += n,
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                ctx.tick();
                idle += DATA_TICK;
                if idle > STALL_LIMIT {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no response for {STALL_LIMIT:?}"),
                    ));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

struct RrWorker {
    s: Option<TcpStream>,
    req: Vec<u8>,
    resp: Vec<u8>,
    interval_ns: f64,
    marker: Marker,
}

impl Worker for RrWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        let mut s = self
            .s
            .take()
            .ok_or_else(|| WorkloadError::Other("net.tcp_rr: no data connection".into()))?;
        let bytes = (self.req.len() + self.resp.len()) as u64;
        let r = if self.interval_ns > 0.0 {
            self.open_loop(&mut s, ctx, bytes)
        } else {
            ctx.restart();
            let mut r = Ok(());
            while ctx.running() {
                self.marker.poll(ctx);
                if let Err(e) = write_all(&mut s, &self.req, ctx) {
                    r = Err(rr_err("sending a request", e));
                    break;
                }
                if let Err(e) = read_all(&mut s, &mut self.resp, ctx) {
                    r = Err(rr_err("waiting for a response", e));
                    break;
                }
                ctx.op_done(bytes);
            }
            r
        };
        self.marker.end();
        let tcp = sys::tcp_info(&s).unwrap_or_default();
        r?;
        Ok(Box::new(NetOutput::here(tcp, ())))
    }
}

impl RrWorker {
    fn open_loop(
        &mut self,
        s: &mut TcpStream,
        ctx: &mut WorkerCtx,
        bytes: u64,
    ) -> Result<(), WorkloadError> {
        let service = ctx.aux_hist("service_lat_ns");
        let start = ctx.now();
        let mut k: u64 = 0;
        while ctx.running() {
            self.marker.poll(ctx);
            let due = (k as f64 * self.interval_ns) as u64;
            let now = ctx.clock().delta_ns(start, ctx.now());
            if now < due {
                let wait = due - now;
                super::sys::pace_wait(wait);
                ctx.tick();
                continue;
            }
            let sent = now;
            write_all(s, &self.req, ctx).map_err(|e| rr_err("sending a request", e))?;
            read_all(s, &mut self.resp, ctx).map_err(|e| rr_err("waiting for a response", e))?;
            let done = ctx.clock().delta_ns(start, ctx.now());
            ctx.record_aux(service, done.saturating_sub(sent));
            ctx.record(done.saturating_sub(due), bytes);
            k += 1;
        }
        Ok(())
    }
}

struct CrrWorker {
    ready: Ready,
    req: Vec<u8>,
    resp: Vec<u8>,
    opts: SockOpts,
    marker: Marker,
}

fn crr_err(what: &str, e: io::Error) -> WorkloadError {
    let hint = match e.raw_os_error() {
        Some(libc::EADDRNOTAVAIL) => {
            " (out of local ports: connections in TIME-WAIT; wait, widen net.ipv4.ip_local_port_range or set net.ipv4.tcp_tw_reuse=1)"
        }
        Some(libc::ECONNREFUSED) => " (the peer is not listening: did it stop?)",
        _ if sys::is_disconnect(&e) => " (the peer closed the connection: did it stop or crash?)",
        _ => "",
    };
    WorkloadError::Other(format!("net.tcp_crr: {what}: {e}{hint}"))
}

impl Worker for CrrWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        let bytes = (self.req.len() - COOKIE_LEN + self.resp.len()) as u64;
        let addr = self.ready.addr;
        let mut r = Ok(());
        ctx.restart();
        while ctx.running() {
            self.marker.poll(ctx);
            let mut s = match sys::tcp_connect(&addr, &self.opts, Duration::from_secs(5)) {
                Ok(s) => s,
                Err(e) => {
                    r = Err(crr_err(&format!("connect to {addr}"), e));
                    break;
                }
            };
            if let Err(e) = s.write_all(&self.req) {
                r = Err(crr_err("sending a request", e));
                break;
            }
            if let Err(e) = s.read_exact(&mut self.resp) {
                r = Err(crr_err("waiting for a response", e));
                break;
            }
            drop(s);
            ctx.op_done(bytes);
        }
        self.marker.end();
        r?;
        // Each connection is closed before its TCP_INFO could tell much.
        Ok(Box::new(NetOutput::here(TcpInfoSum::default(), ())))
    }
}
