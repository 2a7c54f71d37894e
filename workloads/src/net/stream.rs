//! `net.tcp_stream`: bulk TCP streams, iperf3-class.
//!
//! One operation is one `send` or `recv` call; bytes are counted as the
//! calls return them, so the client-side figure is goodput at the socket
//! API. A thread that owns one socket uses plain blocking calls (the fastest
//! path); a thread with several sockets multiplexes them with `poll`.

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

use super::client::open_data;
use super::common::{
    client_tcp, common_notes, cpu_metrics, share, tcp_metrics, Marker, NetCtl, NetOutput, Target,
    PEER_PARAMS,
};
use super::proto::{
    valid_congestion, Role, TcpInfoSum, TestKind, TestSpec, MAX_CONNS, MAX_IO_SIZE,
};
use super::sys::{self, is_timeout, SockOpts, ZcStats};

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "streams",
        kind: ParamKind::U64 { min: 1, max: 512 },
        default: Some("1"),
        help: "TCP connections (per direction with `bidir`)",
    },
    ParamDef {
        name: "threads",
        kind: ParamKind::Threads,
        default: None,
        help: "client threads the connections are spread over (default: one per connection)",
    },
    ParamDef {
        name: "direction",
        kind: ParamKind::Choice(&["send", "recv", "bidir"]),
        default: Some("send"),
        help: "send: client → peer; recv: peer → client; bidir: both at once, `streams` each way",
    },
    ParamDef {
        name: "msg_size",
        kind: ParamKind::Size,
        default: Some("256k"),
        help: "bytes per send call (iperf3 -l)",
    },
    ParamDef {
        name: "sndbuf",
        kind: ParamKind::Size,
        default: None,
        help: "SO_SNDBUF on both ends (default: kernel autotuning)",
    },
    ParamDef {
        name: "rcvbuf",
        kind: ParamKind::Size,
        default: None,
        help: "SO_RCVBUF on both ends (default: kernel autotuning)",
    },
    ParamDef {
        name: "congestion",
        kind: ParamKind::Str,
        default: None,
        help: "TCP congestion control on both ends, e.g. cubic or bbr (iperf3 -C)",
    },
    ParamDef {
        name: "zerocopy",
        kind: ParamKind::Bool,
        default: Some("false"),
        help: "send with MSG_ZEROCOPY (iperf3 -Z); the kernel copies anyway on loopback",
    },
    PEER_PARAMS[0],
    PEER_PARAMS[1],
    PEER_PARAMS[2],
    PEER_PARAMS[3],
    PEER_PARAMS[4],
    PEER_PARAMS[5],
];

/// Factory of `net.tcp_stream`.
pub struct TcpStreamFactory;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Send,
    Recv,
}

/// Socket buffer/congestion parameters shared by the stream-like workloads.
pub fn sock_params(p: &Params, nodelay: bool) -> Result<SockOpts, SpecError> {
    let size = |k: &str| -> Result<Option<u32>, SpecError> {
        match p.u64(k) {
            Ok(v) if v == 0 || v > 1 << 30 => Err(SpecError::new(
                k,
                format!("key `{k}`: {v} bytes, expected 1 byte to 1 GiB"),
            )),
            Ok(v) => Ok(Some(v as u32)),
            Err(_) => Ok(None),
        }
    };
    let congestion = p.str("congestion").ok().map(str::to_string);
    if let Some(cc) = &congestion {
        valid_congestion(cc)
            .map_err(|m| SpecError::new("congestion", format!("key `congestion`: {m}")))?;
    }
    Ok(SockOpts {
        sndbuf: size("sndbuf")?,
        rcvbuf: size("rcvbuf")?,
        congestion,
        nodelay,
    })
}

impl WorkloadFactory for TcpStreamFactory {
    fn kind(&self) -> &'static str {
        "net.tcp_stream"
    }
    fn about(&self) -> &'static str {
        "TCP bulk streams to a `skubench serve` peer: bits/s per direction, TCP_INFO, CPU per byte"
    }
    fn params(&self) -> &'static [ParamDef] {
        PARAMS
    }
    fn build(&self, p: &Params, vcpus: usize) -> Result<Box<dyn Workload>, SpecError> {
        let target = Target::from_params(p)?;
        let streams = p.u64("streams")? as usize;
        let dirs: Vec<Dir> = match p.str("direction")? {
            "recv" => vec![Dir::Recv; streams],
            "bidir" => [vec![Dir::Send; streams], vec![Dir::Recv; streams]].concat(),
            _ => vec![Dir::Send; streams],
        };
        if dirs.len() > MAX_CONNS {
            return Err(SpecError::new(
                "streams",
                format!("key `streams`: at most {MAX_CONNS} connections in all"),
            ));
        }
        let threads = match p.threads("threads") {
            Ok(t) => t.resolve(vcpus).min(dirs.len()),
            Err(_) => dirs.len(),
        };
        let msg = p.u64("msg_size")?;
        if msg == 0 || msg > MAX_IO_SIZE as u64 {
            return Err(SpecError::new(
                "msg_size",
                format!("key `msg_size`: {msg} bytes, expected 1 byte to 16 MiB"),
            ));
        }
        Ok(Box::new(StreamWorkload {
            ctl: NetCtl::new("net.tcp_stream", target),
            dirs,
            threads,
            msg_size: msg as usize,
            opts: sock_params(p, false)?,
            zerocopy: p.bool("zerocopy")?,
        }))
    }
}

struct StreamWorkload {
    ctl: Arc<NetCtl>,
    dirs: Vec<Dir>,
    threads: usize,
    msg_size: usize,
    opts: SockOpts,
    zerocopy: bool,
}

/// How long a data socket may make no progress before the run fails.
pub const STALL_LIMIT: Duration = Duration::from_secs(10);
/// Timeout of each blocking data-socket call, so workers notice the end.
pub const DATA_TICK: Duration = Duration::from_millis(200);

impl StreamWorkload {
    fn pins(&self) -> (Option<Vec<usize>>, Option<Vec<usize>>) {
        let t = self.threads.max(1);
        self.ctl.target.pins(t, self.dirs.len(), |j| j % t)
    }
}

impl Workload for StreamWorkload {
    fn resources(&self) -> Resources {
        super::common::net_resources(self.threads)
    }
    fn steps(&self) -> Vec<Step> {
        vec![Step::new("net.tcp_stream", self.threads, self.pins().0)]
    }
    fn prepare(&mut self, _env: &bench_core::workload::PrepareEnv) -> Result<(), WorkloadError> {
        self.ctl.prepare()
    }
    fn worker(&self, step: &Step, index: usize) -> Result<Box<dyn Worker>, WorkloadError> {
        if index == 0 {
            let spec = TestSpec {
                kind: TestKind::TcpStream,
                roles: self
                    .dirs
                    .iter()
                    .map(|d| {
                        if *d == Dir::Send {
                            Role::Sink
                        } else {
                            Role::Source
                        }
                    })
                    .collect(),
                threads: 0,
                msg_size: self.msg_size as u32,
                req_size: 0,
                resp_size: 0,
                sndbuf: self.opts.sndbuf,
                rcvbuf: self.opts.rcvbuf,
                congestion: self.opts.congestion.clone(),
                nodelay: false,
                pin: self.pins().1,
                client_closes: false,
                bitrate: None,
            };
            let opts = self.opts.clone();
            let dirs = self.dirs.clone();
            let zc = self.zerocopy;
            self.ctl.begin(&spec, |ready| {
                (0..dirs.len())
                    .map(|i| {
                        let s = open_data(ready, i as u32, &opts)?;
                        sys::set_timeouts(s.as_raw_fd(), DATA_TICK)
                            .map_err(|e| format!("data connection {i}: {e}"))?;
                        if zc && dirs[i] == Dir::Send {
                            sys::enable_zerocopy(s.as_raw_fd())
                                .map_err(|e| format!("data connection {i}: {e}"))?;
                        }
                        Ok(s)
                    })
                    .collect()
            })?;
        }
        let idx = share(self.dirs.len(), step.threads, index);
        let socks = self.ctl.take(&idx)?;
        Ok(Box::new(StreamWorker {
            conns: socks
                .into_iter()
                .zip(idx.iter().map(|&i| (i, self.dirs[i])))
                .map(|(s, (i, d))| Conn { s, i, dir: d })
                .collect(),
            buf: vec![
                0u8;
                self.msg_size.max(if self.dirs.contains(&Dir::Recv) {
                    256 << 10
                } else {
                    0
                })
            ],
            msg_size: self.msg_size,
            marker: Marker::new(&self.ctl, index),
            zc: self.zerocopy.then(ZcStats::default),
        }))
    }
    fn metrics(&self, steps: &[StepResult]) -> Result<RunOutput, WorkloadError> {
        let f = self.ctl.finish();
        let mut out = RunOutput::default();
        let Some(s) = steps.first() else {
            return Ok(out);
        };
        let outputs = s.outputs::<NetOutput<StreamCounts>>()?;
        let total = |f: fn(&StreamCounts) -> u64| outputs.iter().map(|o| f(&o.own)).sum::<u64>();
        let l = &s.step.label;
        let el = s.elapsed_s.max(1e-9);
        out.metric(
            format!("{l}.bits_per_s"),
            s.bytes as f64 * 8.0 / el,
            Unit::BitsPerS,
            Better::Higher,
        );
        let has_send = self.dirs.contains(&Dir::Send);
        let has_recv = self.dirs.contains(&Dir::Recv);
        if has_send {
            out.metric(
                format!("{l}.send.bits_per_s"),
                total(|c| c.send_bytes) as f64 * 8.0 / el,
                Unit::BitsPerS,
                Better::Higher,
            );
        }
        if has_recv {
            out.metric(
                format!("{l}.recv.bits_per_s"),
                total(|c| c.recv_bytes) as f64 * 8.0 / el,
                Unit::BitsPerS,
                Better::Higher,
            );
        }
        let ctcp = client_tcp(&outputs);
        tcp_metrics(&mut out, &format!("{l}.client"), &ctcp);
        if let Some(c) = &f.client_cpu {
            cpu_metrics(
                &mut out,
                &format!("{l}.client"),
                c,
                Some((s.bytes as f64, "byte")),
            );
        }
        let mut all = ctcp;
        if let Some(p) = &f.peer {
            if let (Some(ms), Some(rx), Some(tx)) =
                (p.measured_s, p.measured_rx_bytes, p.measured_tx_bytes)
            {
                if ms > 0.0 {
                    if has_send {
                        out.metric(
                            format!("{l}.peer.recv.bits_per_s"),
                            rx as f64 * 8.0 / ms,
                            Unit::BitsPerS,
                            Better::Higher,
                        );
                    }
                    if has_recv {
                        out.metric(
                            format!("{l}.peer.send.bits_per_s"),
                            tx as f64 * 8.0 / ms,
                            Unit::BitsPerS,
                            Better::Higher,
                        );
                    }
                }
                if let Some(c) = &p.cpu {
                    cpu_metrics(
                        &mut out,
                        &format!("{l}.peer"),
                        c,
                        Some(((rx + tx) as f64, "byte")),
                    );
                }
            }
            tcp_metrics(&mut out, &format!("{l}.peer"), &p.tcp);
            all.merge(&p.tcp);
        }
        if all.sockets > 0 {
            out.metric(
                format!("{l}.tcp.retransmits"),
                all.retransmits as f64,
                Unit::Count,
                Better::Lower,
            );
        }
        out.series.push(Series {
            name: l.clone(),
            points: s.series.clone(),
        });
        common_notes(&mut out, s, &outputs, &f, self.ctl.target.local());
        out.notes.insert(
            "convention".into(),
            serde_json::json!("bits/s = 8 × payload bytes returned by send/recv calls in the measured phase ÷ its length (goodput, no headers); series are bytes/s; peer.* figures span the peer's view of the measured phase"),
        );
        out.notes
            .insert("msg_size".into(), serde_json::json!(self.msg_size));
        if self.zerocopy {
            out.notes.insert(
                "zerocopy".into(),
                // Floats, as the figures have always been written.
                serde_json::json!({"sends": total(|c| c.zc.sends) as f64,
                    "completed": total(|c| c.zc.completed) as f64,
                    "copied_by_kernel": total(|c| c.zc.copied) as f64}),
            );
        }
        Ok(out)
    }
    fn teardown(&mut self) -> Result<(), WorkloadError> {
        self.ctl.teardown();
        Ok(())
    }
}

struct Conn {
    s: TcpStream,
    i: usize,
    dir: Dir,
}

struct StreamWorker {
    conns: Vec<Conn>,
    buf: Vec<u8>,
    msg_size: usize,
    marker: Marker,
    /// Zero-copy sends and their completions, when on.
    zc: Option<ZcStats>,
}

impl StreamWorker {
    /// One send: plain, or with MSG_ZEROCOPY (reaping completions every 16
    /// sends and whenever the error queue is full).
    #[inline(always)]
    fn send(c: &mut Conn, buf: &[u8], zc: &mut Option<ZcStats>) -> io::Result<usize> {
        let Some(z) = zc.as_mut() else {
            return c.s.write(buf);
        };
        let fd = c.s.as_raw_fd();
        z.sends += 1;
        if z.sends.is_multiple_of(16) {
            sys::reap_zerocopy(fd, z);
        }
        // ENOBUFS: the error queue (optmem) is full; reaping frees it.
        for _ in 0..1000 {
            match sys::send_zerocopy(fd, buf) {
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    sys::reap_zerocopy(fd, z);
                    std::thread::yield_now();
                }
                r => return r,
            }
        }
        Err(io::Error::other(
            "MSG_ZEROCOPY: the error queue stays full (ENOBUFS)",
        ))
    }
}

fn data_err(c: &Conn, e: io::Error) -> WorkloadError {
    let hint = if sys::is_disconnect(&e) {
        " (the peer closed the connection: did it stop or crash?)"
    } else {
        ""
    };
    WorkloadError::Other(format!(
        "net.tcp_stream: data connection {} ({}): {e}{hint}",
        c.i,
        if c.dir == Dir::Send { "send" } else { "recv" }
    ))
}

fn stall_err() -> WorkloadError {
    WorkloadError::Other(format!(
        "net.tcp_stream: no data moved for {STALL_LIMIT:?}: the peer or the path stalled"
    ))
}

impl StreamWorker {
    fn one(
        &mut self,
        ctx: &mut WorkerCtx,
        tx: &mut u64,
        rx: &mut u64,
    ) -> Result<(), WorkloadError> {
        let c = &mut self.conns[0];
        let send = c.dir == Dir::Send;
        let msg = self.msg_size;
        let mut idle = 0u32;
        let stall = (STALL_LIMIT.as_millis() / DATA_TICK.as_millis()) as u32;
        ctx.restart();
        while ctx.running() {
            self.marker.poll(ctx);
            let r = if send {
                Self::send(c, &self.buf[..msg], &mut self.zc)
            } else {
                c.s.read(&mut self.buf)
            };
            match r {
                Ok(0) if !send => return Err(data_err(c, io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => {
                    idle = 0;
                    ctx.op_done(n as u64);
                    if ctx.measuring() {
                        if send {
                            *tx += n as u64;
                        } else {
                            *rx += n as u64;
                        }
                    }
                }
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                    ctx.tick();
                    idle += 1;
                    if idle > stall {
                        return Err(stall_err());
                    }
                }
                Err(e) => return Err(data_err(c, e)),
            }
        }
        Ok(())
    }

    fn many(
        &mut self,
        ctx: &mut WorkerCtx,
        tx: &mut u64,
        rx: &mut u64,
    ) -> Result<(), WorkloadError> {
        for c in &self.conns {
            c.s.set_nonblocking(true)
                .map_err(|e| WorkloadError::io("set_nonblocking", e))?;
        }
        let mut fds: Vec<libc::pollfd> = self
            .conns
            .iter()
            .map(|c| libc::pollfd {
                fd: c.s.as_raw_fd(),
                events: if c.dir == Dir::Send {
                    libc::POLLOUT
                } else {
                    libc::POLLIN
                },
                revents: 0,
            })
            .collect();
        let msg = self.msg_size;
        let mut idle = 0u32;
        let stall = (STALL_LIMIT.as_millis() / DATA_TICK.as_millis()) as u32;
        ctx.restart();
        while ctx.running() {
            self.marker.poll(ctx);
            // SAFETY: `fds` is a live array of pollfd of the given length.
            let n = unsafe {
                libc::poll(
                    fds.as_mut_ptr(),
                    fds.len() as libc::nfds_t,
                    DATA_TICK.as_millis() as i32,
                )
            };
            if n <= 0 {
                ctx.tick();
                idle += 1;
                if idle > stall {
                    return Err(stall_err());
                }
                continue;
            }
            idle = 0;
            for (k, fd) in fds.iter().enumerate() {
                if fd.revents == 0 {
                    continue;
                }
                let c = &mut self.conns[k];
                let send = c.dir == Dir::Send;
                let r = if send {
                    Self::send(c, &self.buf[..msg], &mut self.zc)
                } else {
                    c.s.read(&mut self.buf)
                };
                match r {
                    Ok(0) if !send => return Err(data_err(c, io::ErrorKind::UnexpectedEof.into())),
                    Ok(n) => {
                        ctx.op_done(n as u64);
                        if ctx.measuring() {
                            if send {
                                *tx += n as u64;
                            } else {
                                *rx += n as u64;
                            }
                        }
                    }
                    Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(data_err(c, e)),
                }
            }
        }
        Ok(())
    }
}

/// A stream worker's payload bytes by direction and its zero-copy counts
/// (zero without `zerocopy`).
#[derive(Clone, Debug, Default)]
struct StreamCounts {
    send_bytes: u64,
    recv_bytes: u64,
    zc: ZcStats,
}

impl Worker for StreamWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        let (mut tx, mut rx) = (0u64, 0u64);
        let r = if self.conns.len() == 1 {
            self.one(ctx, &mut tx, &mut rx)
        } else {
            self.many(ctx, &mut tx, &mut rx)
        };
        self.marker.end();
        let mut tcp = TcpInfoSum::default();
        for c in &self.conns {
            if let Some(t) = sys::tcp_info(&c.s) {
                tcp.merge(&t);
            }
            if let (Some(z), Dir::Send) = (self.zc.as_mut(), c.dir) {
                sys::reap_zerocopy(c.s.as_raw_fd(), z);
            }
            if c.dir == Dir::Send {
                // EOF tells the peer's receiver the stream is over.
                let _ = c.s.shutdown(std::net::Shutdown::Write);
            }
        }
        r?;
        Ok(Box::new(NetOutput::here(
            tcp,
            StreamCounts {
                send_bytes: tx,
                recv_bytes: rx,
                zc: self.zc.unwrap_or_default(),
            },
        )))
    }
}
