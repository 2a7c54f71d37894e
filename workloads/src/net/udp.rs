//! `net.udp_stream`: UDP datagrams at a target rate, iperf3 -u class.
//!
//! Each datagram carries a header (cookie, sender thread, sequence number,
//! send time) so the peer can count loss, reordering and RFC 3550 jitter.
//! Pacing follows a schedule from the start of the run: a sender that falls
//! behind catches up in a burst, as iperf3 does, so the average rate holds.
//! With `direction = "recv"` (iperf3 -u -R) the peer sends: each client
//! thread sends hello datagrams until data arrives, the peer answers to the
//! address they came from, and the client counts loss from the sequence
//! numbers (highest seen + 1 − received, per flow, as iperf3 does).

use std::io;
use std::net::UdpSocket;
use std::sync::Arc;

use bench_core::params::{ParamDef, ParamKind, Params};
use bench_core::result::{Better, Series};
use bench_core::workload::{
    Resources, RunOutput, Step, StepResult, Worker, WorkerCtx, WorkerOutput, Workload,
    WorkloadFactory,
};
use bench_core::{SpecError, Unit, WorkloadError};

use super::common::{common_notes, cpu_metrics, Marker, NetCtl, NetOutput, Target, PEER_PARAMS};
use super::proto::{Role, TcpInfoSum, TestKind, TestSpec, UdpHeader, UDP_HEADER};
use super::server::UdpFlow;
use super::stream::sock_params;
use super::sys::{self, SockOpts};

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "direction",
        kind: ParamKind::Choice(&["send", "recv"]),
        default: Some("send"),
        help: "send: client → peer; recv: peer → client (the peer paces, the client counts loss and jitter)",
    },
    ParamDef {
        name: "bitrate",
        kind: ParamKind::Str,
        default: Some("1g"),
        help: "target rate in bits/s, all threads together (SI: 500m, 1g, 10g); 0: as fast as possible",
    },
    ParamDef {
        name: "datagram_size",
        kind: ParamKind::Size,
        default: Some("1472"),
        help: "UDP payload bytes per datagram (32..=65507)",
    },
    ParamDef {
        name: "threads",
        kind: ParamKind::Threads,
        default: Some("1"),
        help: "sender threads, one socket each",
    },
    ParamDef {
        name: "sndbuf",
        kind: ParamKind::Size,
        default: None,
        help: "SO_SNDBUF of the senders",
    },
    ParamDef {
        name: "rcvbuf",
        kind: ParamKind::Size,
        default: None,
        help: "SO_RCVBUF of the peer's receiver",
    },
    PEER_PARAMS[0],
    PEER_PARAMS[1],
    PEER_PARAMS[2],
    PEER_PARAMS[3],
    PEER_PARAMS[4],
    PEER_PARAMS[5],
];

/// Factory of `net.udp_stream`.
pub struct UdpStreamFactory;

/// Parses an SI bit rate: `1g` = 10⁹, `500m`, `64k`, or a plain number.
pub fn parse_bitrate(s: &str) -> Result<f64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix("bps")
        .or_else(|| t.strip_suffix("bit/s"))
        .unwrap_or(&t);
    let (num, mul) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1e3),
        Some('m') => (&t[..t.len() - 1], 1e6),
        Some('g') => (&t[..t.len() - 1], 1e9),
        Some('t') => (&t[..t.len() - 1], 1e12),
        _ => (t, 1.0),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("expected a bit rate like 500m or 1g, got `{s}`"))?;
    let v = v * mul;
    if !v.is_finite() || !(0.0..=1e13).contains(&v) {
        return Err(format!("bit rate `{s}` is out of range 0..=10t"));
    }
    Ok(v)
}

impl WorkloadFactory for UdpStreamFactory {
    fn kind(&self) -> &'static str {
        "net.udp_stream"
    }
    fn about(&self) -> &'static str {
        "UDP datagrams at a target bit rate: loss, RFC 3550 jitter, reordering"
    }
    fn params(&self) -> &'static [ParamDef] {
        PARAMS
    }
    fn build(&self, p: &Params, vcpus: usize) -> Result<Box<dyn Workload>, SpecError> {
        let bitrate = parse_bitrate(p.str("bitrate")?)
            .map_err(|m| SpecError::new("bitrate", format!("key `bitrate`: {m}")))?;
        let size = p.u64("datagram_size")?;
        if !(UDP_HEADER as u64..=65507).contains(&size) {
            return Err(SpecError::new(
                "datagram_size",
                format!("key `datagram_size`: {size} bytes, expected {UDP_HEADER}..=65507"),
            ));
        }
        let threads = p.threads("threads")?.resolve(vcpus);
        if threads > 1024 {
            return Err(SpecError::new("threads", "key `threads`: at most 1024"));
        }
        Ok(Box::new(UdpWorkload {
            ctl: NetCtl::new("net.udp_stream", Target::from_params(p)?),
            recv: p.str("direction")? == "recv",
            bitrate,
            size: size as usize,
            threads,
            opts: sock_params(p, false)?,
        }))
    }
}

struct UdpWorkload {
    ctl: Arc<NetCtl>,
    /// The peer sends, the client receives.
    recv: bool,
    bitrate: f64,
    size: usize,
    threads: usize,
    opts: SockOpts,
}

impl UdpWorkload {
    fn pins(&self) -> (Option<Vec<usize>>, Option<Vec<usize>>) {
        self.ctl.target.pins(self.threads, 1, |_| 0)
    }
}

impl Workload for UdpWorkload {
    fn resources(&self) -> Resources {
        super::common::net_resources(self.threads)
    }
    fn steps(&self) -> Vec<Step> {
        vec![Step::new("net.udp_stream", self.threads, self.pins().0)]
    }
    fn prepare(&mut self, _env: &bench_core::workload::PrepareEnv) -> Result<(), WorkloadError> {
        self.ctl.prepare()
    }
    fn worker(&self, step: &Step, index: usize) -> Result<Box<dyn Worker>, WorkloadError> {
        if index == 0 {
            let spec = TestSpec {
                kind: TestKind::UdpStream,
                roles: if self.recv {
                    vec![Role::Source; step.threads]
                } else {
                    Vec::new()
                },
                threads: step.threads as u32,
                msg_size: self.size as u32,
                req_size: 0,
                resp_size: 0,
                sndbuf: None,
                rcvbuf: self.opts.rcvbuf,
                congestion: None,
                nodelay: false,
                pin: self.pins().1,
                client_closes: false,
                bitrate: self.recv.then_some(self.bitrate),
            };
            self.ctl.begin(&spec, |_| Ok(Vec::new()))?;
        }
        let ready = self.ctl.ready()?;
        let local: std::net::SocketAddr = if ready.addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let opts = SockOpts {
            sndbuf: self.opts.sndbuf,
            ..SockOpts::default()
        };
        let opts = SockOpts {
            rcvbuf: if self.recv { self.opts.rcvbuf } else { None },
            ..opts
        };
        let sock = sys::udp_bind(&local, &opts)
            .map_err(|e| WorkloadError::io("net.udp_stream: UDP socket", e))?;
        sock.connect(ready.addr).map_err(|e| {
            WorkloadError::io(format!("net.udp_stream: connect to {}", ready.addr), e)
        })?;
        if self.recv {
            // Short receive timeouts keep the worker on the phase clock.
            sock.set_read_timeout(Some(std::time::Duration::from_millis(20)))
                .map_err(|e| WorkloadError::io("net.udp_stream: SO_RCVTIMEO", e))?;
            let mut hello = [0u8; UDP_HEADER];
            UdpHeader::init(&mut hello, &ready.cookie, index as u32);
            return Ok(Box::new(UdpRecvWorker {
                sock,
                hello,
                index: index as u32,
                marker: Marker::new(&self.ctl, index),
            }));
        }
        let mut buf = vec![0u8; self.size];
        UdpHeader::init(&mut buf, &ready.cookie, index as u32);
        Ok(Box::new(UdpWorker {
            sock,
            buf,
            interval_ns: if self.bitrate > 0.0 {
                self.size as f64 * 8.0 * step.threads as f64 * 1e9 / self.bitrate
            } else {
                0.0
            },
            marker: Marker::new(&self.ctl, index),
        }))
    }
    fn metrics(&self, steps: &[StepResult]) -> Result<RunOutput, WorkloadError> {
        let f = self.ctl.finish();
        let mut out = RunOutput::default();
        let Some(s) = steps.first() else {
            return Ok(out);
        };
        let l = &s.step.label;
        let el = s.elapsed_s.max(1e-9);
        out.metric(
            format!("{l}.bits_per_s"),
            s.bytes as f64 * 8.0 / el,
            Unit::BitsPerS,
            Better::Higher,
        );
        out.metric(
            format!("{l}.datagrams_per_s"),
            s.ops_per_s(),
            Unit::DatagramsPerS,
            Better::Higher,
        );
        // A float each, as the figures have always been written.
        let (sent, dropped) = if self.recv {
            let outputs = s.outputs::<NetOutput<UdpRecvd>>()?;
            self.recv_metrics(&mut out, s, &outputs, &f);
            common_notes(&mut out, s, &outputs, &f, self.ctl.target.local());
            (0.0, 0.0)
        } else {
            let outputs = s.outputs::<NetOutput<UdpSent>>()?;
            common_notes(&mut out, s, &outputs, &f, self.ctl.target.local());
            let total = |f: fn(&UdpSent) -> u64| outputs.iter().map(|o| f(&o.own)).sum::<u64>();
            (total(|u| u.sent) as f64, total(|u| u.dropped) as f64)
        };
        if let Some(c) = &f.client_cpu {
            cpu_metrics(
                &mut out,
                &format!("{l}.client"),
                c,
                Some((s.bytes as f64, "byte")),
            );
        }
        if let Some(p) = f.peer.as_ref().filter(|_| !self.recv) {
            if let Some(u) = &p.udp {
                if sent > 0.0 {
                    let lost = (sent - u.datagrams as f64).max(0.0);
                    out.metric(
                        format!("{l}.loss_ratio"),
                        lost / sent,
                        Unit::Ratio,
                        Better::Lower,
                    );
                    out.metric(
                        format!("{l}.reordered_ratio"),
                        u.reordered as f64 / sent,
                        Unit::Ratio,
                        Better::Lower,
                    );
                }
                out.metric(
                    format!("{l}.jitter_ns"),
                    u.jitter_ns,
                    Unit::Ns,
                    Better::Lower,
                );
                out.notes.insert(
                    "udp".into(),
                    serde_json::json!({"sent": sent, "send_dropped": dropped, "received": u.datagrams,
                        "reordered": u.reordered, "duplicates": u.duplicates, "foreign": u.foreign}),
                );
            }
            if let (Some(ms), Some(rx)) = (p.measured_s, p.measured_rx_bytes) {
                if ms > 0.0 {
                    out.metric(
                        format!("{l}.peer.recv.bits_per_s"),
                        rx as f64 * 8.0 / ms,
                        Unit::BitsPerS,
                        Better::Higher,
                    );
                }
                if let Some(c) = &p.cpu {
                    cpu_metrics(&mut out, &format!("{l}.peer"), c, Some((rx as f64, "byte")));
                }
            }
        }
        out.series.push(Series {
            name: l.clone(),
            points: s.series.clone(),
        });
        out.notes.insert(
            "convention".into(),
            serde_json::json!("bits/s counts UDP payload bytes (header of 32 bytes included, IP/UDP headers not); loss, reordering and jitter (RFC 3550, mean over sender threads) span the whole run including warm-up"),
        );
        out.notes.insert(
            "direction".into(),
            serde_json::json!(if self.recv { "recv" } else { "send" }),
        );
        out.notes
            .insert("bitrate_target".into(), serde_json::json!(self.bitrate));
        Ok(out)
    }
    fn teardown(&mut self) -> Result<(), WorkloadError> {
        self.ctl.teardown();
        Ok(())
    }
}

impl UdpWorkload {
    /// Loss, reordering, jitter and the peer's send rate when the client
    /// receives. Loss counts from sequence numbers: per flow, highest seen
    /// + 1 datagrams were sent up to the last one that arrived.
    fn recv_metrics(
        &self,
        out: &mut RunOutput,
        s: &StepResult,
        outputs: &[&NetOutput<UdpRecvd>],
        f: &super::common::Finished,
    ) {
        let l = &s.step.label;
        // Sums as floats, as the figures have always been written.
        let total = |f: fn(&UdpRecvd) -> u64| outputs.iter().map(|o| f(&o.own)).sum::<u64>() as f64;
        let expected = total(|u| u.expected);
        let received = total(|u| u.received);
        let dups = total(|u| u.duplicates);
        let reordered = total(|u| u.reordered);
        if expected > 0.0 {
            out.metric(
                format!("{l}.loss_ratio"),
                ((expected - (received - dups)) / expected).max(0.0),
                Unit::Ratio,
                Better::Lower,
            );
            out.metric(
                format!("{l}.reordered_ratio"),
                reordered / expected,
                Unit::Ratio,
                Better::Lower,
            );
        }
        // One flow per receiving worker.
        let flows = outputs.len() as f64;
        if flows > 0.0 {
            out.metric(
                format!("{l}.jitter_ns"),
                outputs.iter().map(|o| o.own.jitter_ns).sum::<f64>() / flows,
                Unit::Ns,
                Better::Lower,
            );
        }
        if let Some(p) = &f.peer {
            if let (Some(ms), Some(tx)) = (p.measured_s, p.measured_tx_bytes) {
                if ms > 0.0 {
                    out.metric(
                        format!("{l}.peer.send.bits_per_s"),
                        tx as f64 * 8.0 / ms,
                        Unit::BitsPerS,
                        Better::Higher,
                    );
                }
                if let Some(c) = &p.cpu {
                    cpu_metrics(out, &format!("{l}.peer"), c, Some((tx as f64, "byte")));
                }
            }
        }
        out.notes.insert(
            "udp".into(),
            serde_json::json!({"expected": expected, "received": received, "reordered": reordered,
                "duplicates": dups, "foreign": total(|u| u.foreign),
                "peer_sent_bytes": f.peer.as_ref().map(|p| p.tx_bytes)}),
        );
    }
}

/// A UDP socket error as the run's error; a refused port names the likely
/// cause.
fn udp_error(call: &str, e: &io::Error) -> WorkloadError {
    let hint = if e.kind() == io::ErrorKind::ConnectionRefused {
        " (the peer's UDP port is closed: did it stop?)"
    } else {
        ""
    };
    WorkloadError::Other(format!("net.udp_stream: {call}: {e}{hint}"))
}

/// What a receiving worker saw of its flow (warm-up included).
#[derive(Clone, Debug, Default)]
struct UdpRecvd {
    /// Datagrams received.
    received: u64,
    /// Highest sequence number seen + 1: datagrams the peer sent.
    expected: u64,
    /// Datagrams that arrived after a later one.
    reordered: u64,
    /// Datagrams seen twice.
    duplicates: u64,
    /// RFC 3550 interarrival jitter at the end, ns.
    jitter_ns: f64,
    /// Datagrams of another flow or run.
    foreign: u64,
}

/// What a sending worker sent (warm-up included).
#[derive(Clone, Debug, Default)]
struct UdpSent {
    /// Datagrams sent, those dropped by the local queue included.
    sent: u64,
    /// Datagrams the local queue refused.
    dropped: u64,
}

/// A client thread receiving one flow from a sending peer.
struct UdpRecvWorker {
    sock: UdpSocket,
    hello: [u8; UDP_HEADER],
    index: u32,
    marker: Marker,
}

impl Worker for UdpRecvWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        let start = ctx.now();
        let mut buf = vec![0u8; 65536];
        let mut flow = UdpFlow::default();
        let (mut received, mut foreign) = (0u64, 0u64);
        let mut last_hello: Option<u64> = None;
        let mut r = Ok(());
        ctx.restart();
        while ctx.running() {
            self.marker.poll(ctx);
            let now = ctx.clock().delta_ns(start, ctx.now());
            // Hello until data flows (a hello can be lost too).
            if received == 0 && last_hello.is_none_or(|t| now - t > 100_000_000) {
                last_hello = Some(now);
                if let Err(e) = self.sock.send(&self.hello) {
                    if e.kind() != io::ErrorKind::Interrupted {
                        r = Err(WorkloadError::Other(format!(
                            "net.udp_stream: hello to the peer: {e}"
                        )));
                        break;
                    }
                }
            }
            match self.sock.recv(&mut buf) {
                Ok(n) => {
                    let arrival = ctx.clock().delta_ns(start, ctx.now()) as i64;
                    // The hello starts with this flow's cookie.
                    let Some(h) =
                        UdpHeader::parse(&buf[..n], &self.hello).filter(|h| h.flow == self.index)
                    else {
                        foreign += 1;
                        ctx.tick();
                        continue;
                    };
                    received += 1;
                    flow.observe(h.seq, h.sent_ns as i64, arrival);
                    ctx.op_done(n as u64);
                }
                Err(e) if super::sys::is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                    ctx.tick();
                }
                Err(e) => {
                    r = Err(udp_error("receive", &e));
                    break;
                }
            }
        }
        self.marker.end();
        r?;
        if received == 0 {
            return Err(WorkloadError::Other(
                "net.udp_stream: no datagram arrived from the peer (UDP blocked between the hosts? the peer's data port must be open for UDP)".into(),
            ));
        }
        Ok(Box::new(NetOutput::here(
            TcpInfoSum::default(),
            UdpRecvd {
                received,
                expected: flow.max_seq.map_or(0, |m| m + 1),
                reordered: flow.reordered,
                duplicates: flow.duplicates,
                jitter_ns: flow.jitter,
                foreign,
            },
        )))
    }
}

struct UdpWorker {
    sock: UdpSocket,
    buf: Vec<u8>,
    interval_ns: f64,
    marker: Marker,
}

impl Worker for UdpWorker {
    fn run(&mut self, ctx: &mut WorkerCtx) -> Result<Box<dyn WorkerOutput>, WorkloadError> {
        let start = ctx.now();
        let (mut seq, mut dropped) = (0u64, 0u64);
        let mut r = Ok(());
        ctx.restart();
        while ctx.running() {
            self.marker.poll(ctx);
            let now = ctx.clock().delta_ns(start, ctx.now());
            if self.interval_ns > 0.0 {
                let due = (seq as f64 * self.interval_ns) as u64;
                if now < due {
                    let wait = due - now;
                    super::sys::pace_wait(wait);
                    ctx.tick();
                    continue;
                }
            }
            UdpHeader::stamp(&mut self.buf, seq, now);
            match self.sock.send(&self.buf) {
                Ok(n) => {
                    seq += 1;
                    ctx.op_done(n as u64);
                }
                Err(e)
                    if e.raw_os_error() == Some(libc::ENOBUFS)
                        || e.kind() == io::ErrorKind::WouldBlock =>
                {
                    // The local queue is full: the datagram is lost here, count it as sent.
                    seq += 1;
                    dropped += 1;
                    ctx.tick();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    r = Err(udp_error("send", &e));
                    break;
                }
            }
        }
        self.marker.end();
        r?;
        Ok(Box::new(NetOutput::here(
            TcpInfoSum::default(),
            UdpSent { sent: seq, dropped },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bitrate;

    #[test]
    fn bitrates() {
        assert_eq!(parse_bitrate("1g").unwrap(), 1e9);
        assert_eq!(parse_bitrate("500M").unwrap(), 5e8);
        assert_eq!(parse_bitrate("64k").unwrap(), 64e3);
        assert_eq!(parse_bitrate("1234").unwrap(), 1234.0);
        assert_eq!(parse_bitrate("0").unwrap(), 0.0);
        assert!(parse_bitrate("fast").is_err());
        assert!(parse_bitrate("-1g").is_err());
    }
}
