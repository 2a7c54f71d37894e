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

use bench_core::error::ValueError;
use bench_core::params::{ParamDef, ParamKind, Params};
use bench_core::result::Better;
use bench_core::workload::{
    RunOutput, Step, StepResult, Worker, WorkerCtx, WorkerOutput, Workload, WorkloadFactory,
};
use bench_core::{SpecError, Unit, WorkloadError};

use super::common::{
    bits_metric, client_cpu_metrics, common_notes, peer_flow_metrics, with_peer_params, Finished,
    Marker, NetCtl, NetOutput, NetTest, NetWorkload, NewWorker, Pins, Target,
};
use super::proto::{Role, TcpInfoSum, TestKind, TestSpec, UdpHeader, UDP_HEADER};
use super::server::UdpFlow;
use super::stream::sock_params;
use super::sys::{self, SockOpts};

const PARAMS: &[ParamDef] = with_peer_params![
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
];

/// Factory of `net.udp_stream`.
pub struct UdpStreamFactory;

/// Parses an SI bit rate: `1g` = 10⁹, `500m`, `64k`, or a plain number.
pub fn parse_bitrate(s: &str) -> Result<f64, ValueError> {
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
        return Err(format!("bit rate `{s}` is out of range 0..=10t").into());
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
            .map_err(|m| SpecError::key("bitrate", format!("key `bitrate`: {m}")))?;
        let size = p.u64("datagram_size")?;
        if !(UDP_HEADER as u64..=65507).contains(&size) {
            return Err(SpecError::key(
                "datagram_size",
                format!("key `datagram_size`: {size} bytes, expected {UDP_HEADER}..=65507"),
            ));
        }
        let threads = p.threads("threads")?.resolve(vcpus);
        if threads > 1024 {
            return Err(SpecError::key("threads", "key `threads`: at most 1024"));
        }
        let target = Target::from_params(p)?;
        let test = UdpTest {
            recv: p.str("direction")? == "recv",
            bitrate,
            size: size as usize,
            opts: sock_params(p, false)?,
        };
        Ok(NetWorkload::boxed(target, "net.udp_stream", threads, test))
    }
}

struct UdpTest {
    /// The peer sends, the client receives.
    recv: bool,
    bitrate: f64,
    size: usize,
    opts: SockOpts,
}

impl NetTest for UdpTest {
    fn pins(&self, target: &Target, threads: usize) -> Pins {
        target.pins(threads, 1, |_| 0)
    }
    fn spec(&self, step: &Step) -> TestSpec {
        TestSpec {
            roles: if self.recv {
                vec![Role::Source; step.threads]
            } else {
                Vec::new()
            },
            threads: step.threads as u32,
            msg_size: self.size as u32,
            rcvbuf: self.opts.rcvbuf,
            bitrate: self.recv.then_some(self.bitrate),
            ..TestSpec::new(TestKind::UdpStream)
        }
    }
    fn worker(&self, ctl: &Arc<NetCtl>, step: &Step, index: usize) -> NewWorker {
        let ready = ctl.ready()?;
        let local: std::net::SocketAddr = if ready.addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let opts = SockOpts {
            sndbuf: self.opts.sndbuf,
            rcvbuf: if self.recv { self.opts.rcvbuf } else { None },
            ..SockOpts::default()
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
                marker: Marker::new(ctl, index),
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
            marker: Marker::new(ctl, index),
        }))
    }
    fn metrics(&self, s: &StepResult, f: &Finished) -> Result<RunOutput, WorkloadError> {
        let mut out = RunOutput::default();
        let l = &s.step.label;
        let el = s.elapsed_s.max(1e-9);
        bits_metric(&mut out, format!("{l}.bits_per_s"), s.bytes as f64, el);
        out.metric(
            format!("{l}.datagrams_per_s"),
            s.ops_per_s(),
            Unit::DatagramsPerS,
            Better::Higher,
        );
        // A float each, as the figures have always been written.
        let (sent, dropped) = if self.recv {
            let outputs = s.outputs::<NetOutput<UdpRecvd>>()?;
            self.recv_metrics(&mut out, s, &outputs, f);
            common_notes(&mut out, s, &outputs, f);
            (0.0, 0.0)
        } else {
            let outputs = s.outputs::<NetOutput<UdpSent>>()?;
            common_notes(&mut out, s, &outputs, f);
            let total = |f: fn(&UdpSent) -> u64| outputs.iter().map(|o| f(&o.own)).sum::<u64>();
            (total(|u| u.sent) as f64, total(|u| u.dropped) as f64)
        };
        client_cpu_metrics(&mut out, l, f, s.bytes as f64, "byte");
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
            peer_flow_metrics(&mut out, l, p, "recv", p.measured_rx_bytes);
        }
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
}

impl UdpTest {
    /// Loss, reordering, jitter and the peer's send rate when the client
    /// receives. Loss counts from sequence numbers: per flow, highest seen
    /// + 1 datagrams were sent up to the last one that arrived.
    fn recv_metrics(
        &self,
        out: &mut RunOutput,
        s: &StepResult,
        outputs: &[&NetOutput<UdpRecvd>],
        f: &Finished,
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
            peer_flow_metrics(out, l, p, "send", p.measured_tx_bytes);
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
