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
use std::time::Instant;

use bench_core::params::{ParamDef, ParamKind, Params};
use bench_core::result::Better;
use bench_core::workload::{
    RunOutput, Step, StepResult, Worker, WorkerCtx, WorkerOutput, Workload, WorkloadFactory,
};
use bench_core::{SpecError, Unit, WorkloadError};

use super::client::Ready;
use super::common::{
    bits_metric, client_cpu_metrics, client_tcp, common_notes, cpu_metrics, open_ticking, share,
    tcp_metrics, with_peer_params, Finished, Marker, NetCtl, NetOutput, NetTest, NetWorkload,
    NewWorker, Pins, Stall, Target, DATA_TICK, STALL_LIMIT,
};
use super::proto::{
    valid_congestion, PeerError, Role, TcpInfoSum, TestKind, TestSpec, MAX_CONNS, MAX_IO_SIZE,
};
use super::sys::{self, is_timeout, SockOpts, ZcStats};

const PARAMS: &[ParamDef] = with_peer_params![
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
            Ok(v) if v == 0 || v > 1 << 30 => Err(SpecError::key(
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
            .map_err(|m| SpecError::key("congestion", format!("key `congestion`: {m}")))?;
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
            return Err(SpecError::key(
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
            return Err(SpecError::key(
                "msg_size",
                format!("key `msg_size`: {msg} bytes, expected 1 byte to 16 MiB"),
            ));
        }
        Ok(NetWorkload::boxed(
            target,
            "net.tcp_stream",
            threads,
            StreamTest {
                dirs,
                msg_size: msg as usize,
                opts: sock_params(p, false)?,
                zerocopy: p.bool("zerocopy")?,
                quiet: false,
            },
        ))
    }
}

/// The stream test (`net.tcp_stream`'s), also the load of other workloads.
pub(super) struct StreamTest {
    dirs: Vec<Dir>,
    msg_size: usize,
    opts: SockOpts,
    zerocopy: bool,
    /// Load for another measurement: the workers count their bytes but
    /// record no operations, so the step's histogram is the other
    /// workload's alone.
    quiet: bool,
}

impl StreamTest {
    /// `streams` client → peer streams of `msg_size` calls, as quiet load.
    pub(super) fn load(streams: usize, msg_size: usize) -> Self {
        Self {
            dirs: vec![Dir::Send; streams],
            msg_size,
            opts: SockOpts::default(),
            zerocopy: false,
            quiet: true,
        }
    }
}

/// Payload bytes the stream workers of `s` sent in the measured phase.
pub(super) fn sent_bytes(s: &StepResult) -> Result<u64, WorkloadError> {
    Ok(s.outputs::<NetOutput<StreamCounts>>()?
        .iter()
        .map(|o| o.own.send_bytes)
        .sum())
}

impl NetTest for StreamTest {
    fn pins(&self, target: &Target, threads: usize) -> Pins {
        let t = threads.max(1);
        target.pins(t, self.dirs.len(), |j| j % t)
    }
    fn spec(&self, _step: &Step) -> TestSpec {
        TestSpec {
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
            msg_size: self.msg_size as u32,
            sndbuf: self.opts.sndbuf,
            rcvbuf: self.opts.rcvbuf,
            congestion: self.opts.congestion.clone(),
            ..TestSpec::new(TestKind::TcpStream)
        }
    }
    fn open(&self, ready: &Ready, _step: &Step) -> Result<Vec<TcpStream>, PeerError> {
        (0..self.dirs.len())
            .map(|i| {
                let s = open_ticking(ready, i, &self.opts)?;
                if self.zerocopy && self.dirs[i] == Dir::Send {
                    sys::enable_zerocopy(s.as_raw_fd())
                        .map_err(|e| format!("data connection {i}: {e}"))?;
                }
                Ok(s)
            })
            .collect()
    }
    fn worker(&self, ctl: &Arc<NetCtl>, step: &Step, index: usize) -> NewWorker {
        let idx = share(self.dirs.len(), step.threads, index);
        let socks = ctl.take(&idx)?;
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
            marker: Marker::new(ctl, index),
            zc: self.zerocopy.then(ZcStats::default),
            sent: 0,
            received: 0,
            quiet: self.quiet,
            acked_start: None,
        }))
    }
    fn metrics(&self, s: &StepResult, f: &Finished) -> Result<RunOutput, WorkloadError> {
        let mut out = RunOutput::default();
        let outputs = s.outputs::<NetOutput<StreamCounts>>()?;
        let total = |f: fn(&StreamCounts) -> u64| outputs.iter().map(|o| f(&o.own)).sum::<u64>();
        let l = &s.step.label;
        let el = s.elapsed_s.max(1e-9);
        let has_send = self.dirs.contains(&Dir::Send);
        let has_recv = self.dirs.contains(&Dir::Recv);
        let queued = total(|c| c.send_bytes) as f64 * 8.0 / el;
        let received = total(|c| c.recv_bytes) as f64 * 8.0 / el;
        // What reached the peer: each sending worker's acknowledged bytes
        // over its own window. `send` returning counts bytes queued in the
        // socket, and the send queue's growth over a phase is several
        // percent of a slow link's rate (docs/lab.md).
        let senders: Vec<_> = outputs
            .iter()
            .filter(|o| o.own.send_bytes > 0 || o.own.acked.is_some())
            .collect();
        let delivered = senders
            .iter()
            .map(|o| match o.own.acked {
                Some((b, t)) if t > 0.0 => Some(b as f64 * 8.0 / t),
                _ => None,
            })
            .sum::<Option<f64>>();
        let sent = match delivered {
            Some(d) if has_send => d,
            _ => queued,
        };
        let mut rate = |name: String, v: f64| out.metric(name, v, Unit::BitsPerS, Better::Higher);
        rate(
            format!("{l}.bits_per_s"),
            if has_send { sent } else { 0.0 } + if has_recv { received } else { 0.0 },
        );
        if has_send {
            rate(format!("{l}.send.bits_per_s"), sent);
            rate(format!("{l}.send.queued_bits_per_s"), queued);
        }
        if has_recv {
            rate(format!("{l}.recv.bits_per_s"), received);
        }
        let ctcp = client_tcp(&outputs);
        tcp_metrics(&mut out, &format!("{l}.client"), &ctcp);
        client_cpu_metrics(&mut out, l, f, s.bytes as f64, "byte");
        let mut all = ctcp;
        if let Some(p) = &f.peer {
            if let (Some(ms), Some(rx), Some(tx)) =
                (p.measured_s, p.measured_rx_bytes, p.measured_tx_bytes)
            {
                if ms > 0.0 {
                    if has_send {
                        bits_metric(&mut out, format!("{l}.peer.recv.bits_per_s"), rx as f64, ms);
                    }
                    if has_recv {
                        bits_metric(&mut out, format!("{l}.peer.send.bits_per_s"), tx as f64, ms);
                    }
                }
                if let Some(c) = &p.cpu {
                    let bytes = rx as f64 + tx as f64;
                    cpu_metrics(&mut out, &format!("{l}.peer"), c, Some((bytes, "byte")));
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
        common_notes(&mut out, s, &outputs, f);
        out.notes.insert(
            "convention".into(),
            serde_json::json!("bits/s = 8 × payload bytes delivered in the measured phase ÷ its length (goodput, no headers): sent bytes the peer acknowledged (tcpi_bytes_acked), received bytes as recv returned them; send.queued_bits_per_s counts what send calls accepted instead; series are bytes/s of the calls; peer.* figures span the peer's view of the measured phase"),
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
    /// Payload bytes sent in the measured phase.
    sent: u64,
    /// Payload bytes received in the measured phase.
    received: u64,
    /// Count bytes only (see [`StreamTest::quiet`]).
    quiet: bool,
    /// The send connections' acknowledged bytes when the worker first saw
    /// the measured phase, and when: the start of the delivered-rate window.
    acked_start: Option<(Instant, Option<u64>)>,
}

impl StreamWorker {
    /// The send connections' `tcpi_bytes_acked`, summed; `None` when there
    /// are none or one cannot be read.
    fn acked(&self) -> Option<u64> {
        let mut send = self.conns.iter().filter(|c| c.dir == Dir::Send).peekable();
        send.peek()?;
        send.map(|c| sys::bytes_acked(&c.s)).sum()
    }

    /// Call each loop iteration: the first time the phase is measured,
    /// reads where the acknowledged-bytes window starts.
    #[inline(always)]
    fn poll_acked(&mut self, ctx: &WorkerCtx) {
        if self.acked_start.is_none() && ctx.measuring() {
            self.acked_start = Some((Instant::now(), self.acked()));
        }
    }

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

    /// One call on connection `k` in its direction: `Some(bytes)` moved,
    /// `None` when the call timed out or was interrupted, an error (an end of
    /// stream included) that ends the run.
    #[inline(always)]
    fn transfer(&mut self, k: usize, ctx: &mut WorkerCtx) -> Result<Option<u64>, WorkloadError> {
        let c = &mut self.conns[k];
        let send = c.dir == Dir::Send;
        let r = if send {
            Self::send(c, &self.buf[..self.msg_size], &mut self.zc)
        } else {
            c.s.read(&mut self.buf)
        };
        match r {
            Ok(0) if !send => Err(data_err(c, io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => {
                let n = n as u64;
                if self.quiet {
                    ctx.tick();
                } else {
                    ctx.op_done(n);
                }
                if ctx.measuring() {
                    if send {
                        self.sent += n;
                    } else {
                        self.received += n;
                    }
                }
                Ok(Some(n))
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(data_err(c, e)),
        }
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
    /// One connection: blocking calls that time out every [`DATA_TICK`].
    fn one(&mut self, ctx: &mut WorkerCtx) -> Result<(), WorkloadError> {
        let mut stall = Stall::default();
        ctx.restart();
        while ctx.running() {
            self.marker.poll(ctx);
            self.poll_acked(ctx);
            if self.transfer(0, ctx)?.is_some() {
                stall.progress();
            } else {
                ctx.tick();
                if stall.stalled() {
                    return Err(stall_err());
                }
            }
        }
        Ok(())
    }

    /// Several connections, multiplexed with `poll`.
    fn many(&mut self, ctx: &mut WorkerCtx) -> Result<(), WorkloadError> {
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
        let mut stall = Stall::default();
        ctx.restart();
        while ctx.running() {
            self.marker.poll(ctx);
            self.poll_acked(ctx);
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
                if stall.stalled() {
                    return Err(stall_err());
                }
                continue;
            }
            stall.progress();
            for (k, fd) in fds.iter().enumerate() {
                if fd.revents != 0 {
                    self.transfer(k, ctx)?;
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
    /// Bytes of the send connections the peer acknowledged, and over how
    /// many seconds, from the worker's first measured iteration to its end;
    /// `None` without send connections or `tcpi_bytes_acked`.
    acked: Option<(u64, f64)>,
    zc: ZcStats,
}

impl Worker for StreamWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        (self.sent, self.received, self.acked_start) = (0, 0, None);
        let r = if self.conns.len() == 1 {
            self.one(ctx)
        } else {
            self.many(ctx)
        };
        // Read as the worker leaves its loop: before the end mark, which
        // can stop the peer reading (no acknowledgements after it), and
        // before the shutdown below, which would let the last bytes drain
        // outside the window.
        let acked = match (self.acked_start, self.acked()) {
            (Some((t0, Some(a0))), Some(a1)) => {
                Some((a1.saturating_sub(a0), t0.elapsed().as_secs_f64()))
            }
            _ => None,
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
                send_bytes: self.sent,
                recv_bytes: self.received,
                acked,
                zc: self.zc.unwrap_or_default(),
            },
        )))
    }
}
