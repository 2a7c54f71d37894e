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
use std::sync::Arc;
use std::time::Duration;

use bench_core::params::{ParamDef, ParamKind, Params};
use bench_core::result::Better;
use bench_core::workload::{
    RunOutput, Step, StepResult, Worker, WorkerCtx, WorkerOutput, Workload, WorkloadFactory,
};
use bench_core::{SpecError, Unit, WorkloadError};

use super::client::Ready;
use super::common::{
    client_cpu_metrics, client_tcp, common_notes, cpu_metrics, open_ticking, tcp_metrics,
    with_peer_params, Finished, Marker, NetCtl, NetOutput, NetTest, NetWorkload, NewWorker, Pins,
    Stall, Target, STALL_LIMIT,
};
use super::proto::{PeerError, Role, TcpInfoSum, TestKind, TestSpec, COOKIE_LEN, MAX_IO_SIZE};
use super::sys::{self, is_timeout, SockOpts};

const RR_PARAMS: &[ParamDef] = with_peer_params![
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
];

const CRR_PARAMS: &[ParamDef] = with_peer_params![
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
];

/// Factory of `net.tcp_rr` ([`RrFactory::RR`]) or `net.tcp_crr`
/// ([`RrFactory::CRR`]).
pub struct RrFactory {
    mode: Mode,
}

impl RrFactory {
    /// The factory of `net.tcp_rr`.
    pub const RR: Self = Self { mode: Mode::Rr };
    /// The factory of `net.tcp_crr`.
    pub const CRR: Self = Self { mode: Mode::Crr };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Rr,
    Crr,
}

impl Mode {
    /// The workload's kind, also its step's label.
    fn kind(self) -> &'static str {
        match self {
            Mode::Rr => "net.tcp_rr",
            Mode::Crr => "net.tcp_crr",
        }
    }
}

/// The RR test (`net.tcp_rr`'s), for workloads that run it beside others.
pub(super) struct RrTest {
    mode: Mode,
    req: usize,
    resp: usize,
    nodelay: bool,
    rate: f64,
    client_closes: bool,
}

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

fn build(mode: Mode, p: &Params, vcpus: usize) -> Result<Box<dyn Workload>, SpecError> {
    let threads = p.threads("threads")?.resolve(vcpus);
    if threads > 1024 {
        return Err(SpecError::key("threads", "key `threads`: at most 1024"));
    }
    let target = Target::from_params(p)?;
    let test = RrTest {
        mode,
        req: size(p, "req_size")?,
        resp: size(p, "resp_size")?,
        nodelay: p.bool("nodelay")?,
        rate: if mode == Mode::Rr {
            p.f64("rate")?
        } else {
            0.0
        },
        client_closes: mode == Mode::Crr && p.str("closer")? == "client",
    };
    Ok(NetWorkload::boxed(target, mode.kind(), threads, test))
}

impl WorkloadFactory for RrFactory {
    fn kind(&self) -> &'static str {
        self.mode.kind()
    }
    fn about(&self) -> &'static str {
        match self.mode {
            Mode::Rr => "TCP request/response (netperf TCP_RR): transactions/s and round-trip latency, closed or open loop",
            Mode::Crr => "TCP connect/request/response/close (netperf TCP_CRR): connections/s and latency",
        }
    }
    fn params(&self) -> &'static [ParamDef] {
        match self.mode {
            Mode::Rr => RR_PARAMS,
            Mode::Crr => CRR_PARAMS,
        }
    }
    fn build(&self, p: &Params, vcpus: usize) -> Result<Box<dyn Workload>, SpecError> {
        build(self.mode, p, vcpus)
    }
}

impl RrTest {
    /// A `net.tcp_rr` test: `req`/`resp` bytes, closed loop (`rate` 0) or
    /// open loop at `rate` transactions/s in all.
    pub(super) fn rr(req: usize, resp: usize, nodelay: bool, rate: f64) -> Self {
        Self {
            mode: Mode::Rr,
            req,
            resp,
            nodelay,
            rate,
            client_closes: false,
        }
    }

    fn opts(&self) -> SockOpts {
        SockOpts {
            nodelay: self.nodelay,
            ..SockOpts::default()
        }
    }
}

impl NetTest for RrTest {
    fn pins(&self, target: &Target, threads: usize) -> Pins {
        target.pins(threads, threads, |j| j)
    }
    fn spec(&self, step: &Step) -> TestSpec {
        let n = step.threads;
        TestSpec {
            roles: if self.mode == Mode::Rr {
                vec![Role::Echo; n]
            } else {
                Vec::new()
            },
            threads: if self.mode == Mode::Crr { n as u32 } else { 0 },
            req_size: self.req as u32,
            resp_size: self.resp as u32,
            nodelay: self.nodelay,
            client_closes: self.client_closes,
            ..TestSpec::new(if self.mode == Mode::Rr {
                TestKind::TcpRr
            } else {
                TestKind::TcpCrr
            })
        }
    }
    fn open(&self, ready: &Ready, step: &Step) -> Result<Vec<TcpStream>, PeerError> {
        if self.mode == Mode::Crr {
            return Ok(Vec::new());
        }
        let opts = self.opts();
        (0..step.threads)
            .map(|i| open_ticking(ready, i, &opts))
            .collect()
    }
    fn worker(&self, ctl: &Arc<NetCtl>, step: &Step, index: usize) -> NewWorker {
        let marker = Marker::new(ctl, index);
        match self.mode {
            Mode::Rr => {
                let s = ctl.take(&[index])?.pop();
                Ok(Box::new(RrWorker {
                    s,
                    req: vec![0u8; self.req],
                    resp: vec![0u8; self.resp],
                    interval_ns: if self.rate > 0.0 {
                        step.threads as f64 * 1e9 / self.rate
                    } else {
                        0.0
                    },
                    marker,
                }))
            }
            Mode::Crr => {
                let ready = ctl.ready()?;
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
    fn metrics(&self, s: &StepResult, f: &Finished) -> Result<RunOutput, WorkloadError> {
        let mut out = RunOutput::default();
        let outputs = s.outputs::<NetOutput<()>>()?;
        let l = &s.step.label;
        let (unit, per_s) = if self.mode == Mode::Rr {
            ("transactions", Unit::TransactionsPerS)
        } else {
            ("connections", Unit::ConnectionsPerS)
        };
        // The cost is per transaction or connection.
        let one = &unit[..unit.len() - 1];
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
        client_cpu_metrics(&mut out, l, f, s.ops as f64, one);
        if let Some(p) = &f.peer {
            if let (Some(c), Some(ms)) = (&p.cpu, p.measured_s) {
                // The peer counts no transactions between marks; the client's
                // rate over the peer's window is the work it did.
                cpu_metrics(
                    &mut out,
                    &format!("{l}.peer"),
                    c,
                    Some((s.ops_per_s() * ms, one)),
                );
            }
            tcp_metrics(&mut out, &format!("{l}.peer"), &p.tcp);
            out.notes.insert(
                "peer.transactions_total".into(),
                serde_json::json!(p.transactions),
            );
        }
        common_notes(&mut out, s, &outputs, f);
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
}

fn rr_err(what: &str, e: io::Error) -> WorkloadError {
    let hint = if sys::is_disconnect(&e) {
        " (the peer closed the connection: did it stop or crash?)"
    } else {
        ""
    };
    WorkloadError::Other(format!("net.tcp_rr: {what}: {e}{hint}"))
}

/// Repeats `call` (a read or write at an offset, returning the bytes it
/// moved) until `len` bytes have moved, ticking the context while the socket
/// waits; `stalled` says what failed to come after [`STALL_LIMIT`].
fn transfer_all(
    len: usize,
    ctx: &mut WorkerCtx,
    stalled: &str,
    mut call: impl FnMut(usize) -> io::Result<usize>,
) -> io::Result<()> {
    let mut off = 0;
    let mut stall = Stall::default();
    while off < len {
        match call(off) {
            Ok(n) => off += n,
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                ctx.tick();
                if stall.stalled() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("{stalled} for {STALL_LIMIT:?}"),
                    ));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes all of `buf`, ticking the context while the socket is full.
fn write_all(s: &mut TcpStream, buf: &[u8], ctx: &mut WorkerCtx) -> io::Result<()> {
    transfer_all(buf.len(), ctx, "no progress", |off| s.write(&buf[off..]))
}

/// Reads exactly `buf.len()` bytes, ticking the context while waiting.
fn read_all(s: &mut TcpStream, buf: &mut [u8], ctx: &mut WorkerCtx) -> io::Result<()> {
    transfer_all(buf.len(), ctx, "no response", |off| {
        match s.read(&mut buf[off..]) {
            Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
            r => r,
        }
    })
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
