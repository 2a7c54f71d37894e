//! The control protocol between a client workload and `skubench serve`.
//!
//! Frames are a 4-byte big-endian length followed by one JSON-encoded
//! [`Msg`] of at most [`MAX_MSG`] bytes. JSON keeps the protocol readable in
//! a packet capture and lets later versions add fields; the control channel
//! carries a handful of messages per test, so its cost does not matter.
//!
//! Authentication is a mutual HMAC-SHA256 challenge-response over two fresh
//! nonces, so the shared token never crosses the wire and a recorded
//! exchange cannot be replayed against a new challenge.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use bench_core::error::ValueError;

/// Protocol version; a peer refuses any other.
pub const PROTO_VERSION: u32 = 1;
/// Largest control message accepted, bytes.
pub const MAX_MSG: usize = 64 * 1024;
/// Bytes of the per-test cookie that data connections present.
pub const COOKIE_LEN: usize = 16;

/// Role of the peer on one data connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The peer receives and discards (client sends).
    Sink,
    /// The peer sends (client receives).
    Source,
    /// The peer answers each request of `req_size` with `resp_size` bytes.
    Echo,
}

/// What kind of test the client asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestKind {
    /// Bulk TCP streams.
    TcpStream,
    /// TCP request/response on persistent connections.
    TcpRr,
    /// Connect/request/response/close.
    TcpCrr,
    /// UDP datagrams at a rate.
    UdpStream,
    /// Many persistent TCP flows (stream or request/response), served by
    /// `threads` event-loop threads on the peer, never a thread per flow.
    TcpFlows,
    /// Connections per second: connect, request, response, client close,
    /// served by `threads` event-loop threads on the peer.
    TcpCps,
}

/// Parameters of one test, sent by the client in [`Msg::Start`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSpec {
    /// Kind of test.
    pub kind: TestKind,
    /// Peer role of each persistent data connection, in the order the client
    /// opens them (TCP stream and RR). Empty for CRR and UDP.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Peer threads accepting connections (CRR) or receiving datagrams (UDP).
    #[serde(default)]
    pub threads: u32,
    /// Send/receive call size for streams, bytes.
    #[serde(default)]
    pub msg_size: u32,
    /// Request size (RR/CRR), bytes.
    #[serde(default)]
    pub req_size: u32,
    /// Response size (RR/CRR), bytes.
    #[serde(default)]
    pub resp_size: u32,
    /// SO_SNDBUF for the peer's sockets, if set.
    #[serde(default)]
    pub sndbuf: Option<u32>,
    /// SO_RCVBUF for the peer's sockets, if set.
    #[serde(default)]
    pub rcvbuf: Option<u32>,
    /// TCP congestion control algorithm for the peer's sockets.
    #[serde(default)]
    pub congestion: Option<String>,
    /// TCP_NODELAY on the peer's sockets.
    #[serde(default)]
    pub nodelay: bool,
    /// vCPUs to pin the peer's data threads to, round-robin.
    #[serde(default)]
    pub pin: Option<Vec<usize>>,
    /// CRR: the client closes first and the peer waits for it (netperf's
    /// order); else the peer closes right after its response.
    #[serde(default)]
    pub client_closes: bool,
    /// UDP with `roles = [source; threads]`: the peer sends to the client at
    /// this rate, bits/s over all flows (0 = as fast as it can). Left out
    /// of the message otherwise, so peers without it still accept the
    /// other tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate: Option<f64>,
    /// `tcp_flows`: the number of flows, each taking the one role in
    /// `roles`; `tcp_cps`: the client's concurrent connectors (the peer holds
    /// at most this many connections at once, plus its handshake budget).
    /// Left out of the message when zero, so older peers accept the rest.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub flows: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// Largest data-connection count or thread count a peer accepts in one test.
pub const MAX_CONNS: usize = 1024;
/// Largest message/request/response size a peer accepts, bytes.
pub const MAX_IO_SIZE: u32 = 16 << 20;
/// Largest flow count (or concurrent connector count) of one test.
pub const MAX_FLOWS: u32 = 65536;

impl TestSpec {
    /// A test of `kind` with nothing else set: no connections, threads,
    /// sizes, socket options, pinning or rate.
    pub fn new(kind: TestKind) -> Self {
        Self {
            kind,
            roles: Vec::new(),
            threads: 0,
            msg_size: 0,
            req_size: 0,
            resp_size: 0,
            sndbuf: None,
            rcvbuf: None,
            congestion: None,
            nodelay: false,
            pin: None,
            client_closes: false,
            bitrate: None,
            flows: 0,
        }
    }

    /// Checks the spec's bounds; the message names the field.
    pub fn validate(&self) -> Result<(), ValueError> {
        if self.roles.len() > MAX_CONNS {
            return Err(format!(
                "roles: {} connections, at most {MAX_CONNS}",
                self.roles.len()
            )
            .into());
        }
        if self.threads as usize > MAX_CONNS {
            return Err(format!("threads: {}, at most {MAX_CONNS}", self.threads).into());
        }
        for (name, v) in [
            ("msg_size", self.msg_size),
            ("req_size", self.req_size),
            ("resp_size", self.resp_size),
        ] {
            if v > MAX_IO_SIZE {
                return Err(format!("{name}: {v} bytes, at most {MAX_IO_SIZE}").into());
            }
        }
        for (name, v) in [("sndbuf", self.sndbuf), ("rcvbuf", self.rcvbuf)] {
            if let Some(v) = v {
                if v == 0 || v > 1 << 30 {
                    return Err(format!("{name}: {v} bytes, expected 1..=1 GiB").into());
                }
            }
        }
        if let Some(cc) = &self.congestion {
            valid_congestion(cc)?;
        }
        if let Some(pin) = &self.pin {
            if pin.len() > 4096 || pin.iter().any(|&c| c >= 4096) {
                return Err("pin: vCPU numbers must be below 4096".into());
            }
        }
        match self.kind {
            TestKind::TcpStream | TestKind::TcpRr => {
                if self.roles.is_empty() {
                    return Err("roles: at least one data connection".into());
                }
                if self.kind == TestKind::TcpRr && self.roles.iter().any(|r| *r != Role::Echo) {
                    return Err("roles: a request/response test uses `echo` only".into());
                }
                if self.kind == TestKind::TcpStream && self.roles.contains(&Role::Echo) {
                    return Err("roles: a stream test uses `sink` or `source`".into());
                }
            }
            TestKind::TcpCrr | TestKind::UdpStream => {
                if self.threads == 0 {
                    return Err("threads: at least 1".into());
                }
            }
            TestKind::TcpFlows | TestKind::TcpCps => {
                if self.threads == 0 {
                    return Err("threads: at least 1".into());
                }
                if self.flows == 0 || self.flows > MAX_FLOWS {
                    return Err(format!("flows: {}, expected 1..={MAX_FLOWS}", self.flows).into());
                }
                let want: &[Role] = if self.kind == TestKind::TcpFlows {
                    &[Role::Sink, Role::Echo]
                } else {
                    &[]
                };
                let ok = match self.roles.as_slice() {
                    [] => self.kind == TestKind::TcpCps,
                    [r] => want.contains(r),
                    _ => false,
                };
                if !ok {
                    return Err(if self.kind == TestKind::TcpFlows {
                        "roles: a flows test names one role, `sink` or `echo`, for every flow"
                    } else {
                        "roles: a connection-rate test has none"
                    }
                    .into());
                }
            }
        }
        if self.flows != 0 && !matches!(self.kind, TestKind::TcpFlows | TestKind::TcpCps) {
            return Err("flows: only for tcp_flows and tcp_cps tests".into());
        }
        if self.kind == TestKind::UdpStream && !self.roles.is_empty() {
            if self.roles.len() != self.threads as usize
                || self.roles.iter().any(|r| *r != Role::Source)
            {
                return Err("roles: a UDP test is empty (the peer receives) or `source` once per thread (the peer sends)".into());
            }
            if !(32..=65507).contains(&self.msg_size) {
                return Err(format!(
                    "msg_size: {} bytes, expected 32..=65507 for UDP",
                    self.msg_size
                )
                .into());
            }
            match self.bitrate {
                Some(b) if b.is_finite() && (0.0..=1e13).contains(&b) => {}
                _ => {
                    return Err(
                        "bitrate: a sending UDP peer needs a rate in 0..=1e13 bits/s".into(),
                    )
                }
            }
        } else if self.bitrate.is_some() {
            return Err("bitrate: only for a UDP test where the peer sends".into());
        }
        let rr = matches!(
            self.kind,
            TestKind::TcpRr | TestKind::TcpCrr | TestKind::TcpCps
        ) || (self.kind == TestKind::TcpFlows && self.roles == [Role::Echo]);
        if rr && (self.req_size == 0 || self.resp_size == 0) {
            return Err("req_size/resp_size: at least 1 byte".into());
        }
        let stream = self.kind == TestKind::TcpStream
            || (self.kind == TestKind::TcpFlows && self.roles == [Role::Sink]);
        if stream && self.msg_size == 0 {
            return Err("msg_size: at least 1 byte".into());
        }
        Ok(())
    }
}

/// Checks a congestion-control name: what Linux accepts (≤ 15 bytes of
/// `[A-Za-z0-9_-]`), so nothing odd reaches `setsockopt`.
pub fn valid_congestion(cc: &str) -> Result<(), ValueError> {
    if cc.is_empty()
        || cc.len() > 15
        || !cc
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "congestion control `{cc}`: expected 1-15 characters of A-Z a-z 0-9 _ -"
        )
        .into());
    }
    Ok(())
}

/// Which edge of the client's measured phase a [`Msg::Mark`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkPhase {
    /// The measured phase began (warm-up over).
    Start,
    /// The measured phase ended.
    End,
}

/// CPU time spent over a window, from `/proc/stat`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUsage {
    /// Window length, s.
    pub secs: f64,
    /// Online vCPUs.
    pub vcpus: u32,
    /// Busy share of all vCPUs' time (everything but idle and iowait), 0–1.
    pub busy_ratio: f64,
    /// User (incl. nice) share.
    pub user_ratio: f64,
    /// System share.
    pub system_ratio: f64,
    /// Hard-IRQ share.
    pub irq_ratio: f64,
    /// Soft-IRQ share (where most of the network stack's receive work runs).
    pub softirq_ratio: f64,
    /// Busy CPU time summed over vCPUs, s.
    pub busy_cpu_s: f64,
}

/// Per-socket `TCP_INFO` figures, summed or merged over sockets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TcpInfoSum {
    /// Sockets read.
    pub sockets: u32,
    /// Sum of `tcpi_total_retrans`.
    pub retransmits: u64,
    /// Mean smoothed RTT, µs.
    pub rtt_us_mean: f64,
    /// Largest smoothed RTT, µs.
    pub rtt_us_max: u32,
    /// Mean `tcpi_snd_cwnd`, segments.
    pub snd_cwnd_mean: f64,
}

impl TcpInfoSum {
    /// Merges another set of sockets into this one.
    pub fn merge(&mut self, o: &TcpInfoSum) {
        // The peer's figures are untrusted: saturate rather than wrap.
        let n = self.sockets.saturating_add(o.sockets);
        if n > 0 {
            let w = |a: f64, an: u32, b: f64, bn: u32| (a * an as f64 + b * bn as f64) / n as f64;
            self.rtt_us_mean = w(self.rtt_us_mean, self.sockets, o.rtt_us_mean, o.sockets);
            self.snd_cwnd_mean = w(self.snd_cwnd_mean, self.sockets, o.snd_cwnd_mean, o.sockets);
        }
        self.sockets = n;
        self.retransmits = self.retransmits.saturating_add(o.retransmits);
        self.rtt_us_max = self.rtt_us_max.max(o.rtt_us_max);
    }
}

/// What the peer's UDP receiver saw.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UdpRecv {
    /// Datagrams received (valid cookie, from the client).
    pub datagrams: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Datagrams that arrived with a lower sequence number than one seen before.
    pub reordered: u64,
    /// Datagrams seen twice (same sequence number as the previous highest).
    pub duplicates: u64,
    /// Interarrival jitter per RFC 3550, averaged over sender threads, ns.
    pub jitter_ns: f64,
    /// Datagrams dropped as foreign (wrong source or cookie).
    pub foreign: u64,
}

/// The peer's figures for one test, sent in [`Msg::Results`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerResults {
    /// Bytes the peer received over the whole test.
    pub rx_bytes: u64,
    /// Bytes the peer sent over the whole test.
    pub tx_bytes: u64,
    /// Requests answered (RR) or connections served (CRR) over the whole test.
    pub transactions: u64,
    /// Bytes received between the client's measured-phase marks.
    pub measured_rx_bytes: Option<u64>,
    /// Bytes sent between the marks.
    pub measured_tx_bytes: Option<u64>,
    /// Length between the marks as the peer saw it, s.
    pub measured_s: Option<f64>,
    /// The peer host's CPU use between the marks.
    pub cpu: Option<CpuUsage>,
    /// TCP_INFO over the peer's data sockets, read at the end.
    pub tcp: TcpInfoSum,
    /// UDP receiver figures.
    pub udp: Option<UdpRecv>,
    /// The vCPU each peer data thread last ran on.
    pub placement: Vec<Option<usize>>,
    /// Whether the peer's data threads were pinned.
    pub pinned: bool,
    /// Unexpected errors on the peer's side (at most a few).
    pub errors: Vec<String>,
}

/// Limits a peer enforces, told to the client after authentication.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Longest test, s.
    pub max_duration_s: u64,
    /// Longest silence on the control connection outside a test, s.
    pub idle_timeout_s: u64,
    /// Largest control message, bytes.
    pub max_msg: u32,
}

/// One control message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Msg {
    /// Client → peer, first message.
    Hello {
        /// Protocol version.
        proto: u32,
        /// 32 random bytes, hex.
        client_nonce: String,
        /// Client software, for the peer's log.
        software: String,
    },
    /// Peer → client: the challenge.
    Challenge {
        /// Protocol version.
        proto: u32,
        /// 32 random bytes, hex.
        server_nonce: String,
        /// Peer software.
        software: String,
    },
    /// Client → peer: proof of the token.
    Auth {
        /// HMAC-SHA256(token, "client" ‖ server_nonce ‖ client_nonce), hex.
        mac: String,
    },
    /// Peer → client: accepted, with the peer's own proof.
    AuthOk {
        /// HMAC-SHA256(token, "server" ‖ client_nonce ‖ server_nonce), hex.
        mac: String,
        /// The peer's limits.
        limits: Limits,
        /// Online vCPUs of the peer.
        vcpus: u32,
    },
    /// Client → peer: set up a test.
    Start {
        /// What to run.
        spec: TestSpec,
    },
    /// Peer → client: the test's data endpoint is listening.
    Ready {
        /// Port of the data listener (TCP) or socket (UDP) on the peer's address.
        data_port: u16,
        /// Cookie every data connection or datagram presents, hex.
        cookie: String,
    },
    /// Client → peer: an edge of the measured phase.
    Mark {
        /// Which edge.
        phase: MarkPhase,
    },
    /// Client → peer: end the test and report.
    Stop,
    /// Peer → client: the peer's figures.
    Results {
        /// Figures.
        results: Box<PeerResults>,
    },
    /// Client → peer: the session is over.
    Bye,
    /// Either way: a refusal or failure; the sender closes afterwards.
    Error {
        /// What went wrong.
        message: String,
    },
}

/// A failure of a control session or data connection, at either end; the
/// message names the peer or the step, and what went wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PeerError(String);

impl From<String> for PeerError {
    fn from(message: String) -> Self {
        Self(message)
    }
}

impl From<&str> for PeerError {
    fn from(message: &str) -> Self {
        Self(message.to_string())
    }
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The connection failed or timed out.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The other side closed the connection between frames.
    #[error("connection closed")]
    Closed,
    /// The length prefix exceeds the limit.
    #[error("message of {0} bytes exceeds the limit of {MAX_MSG} bytes")]
    TooLarge(u64),
    /// The body is not a valid message.
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Writes one message as a frame.
pub fn write_msg(w: &mut impl Write, m: &Msg) -> std::io::Result<()> {
    let body = serde_json::to_vec(m).map_err(std::io::Error::other)?;
    if body.len() > MAX_MSG {
        return Err(std::io::Error::other(format!(
            "message of {} bytes exceeds the limit of {MAX_MSG} bytes",
            body.len()
        )));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    // One write so the frame goes out in one segment.
    w.write_all(&frame)?;
    w.flush()
}

/// Reads one frame and decodes it; never allocates more than [`MAX_MSG`].
pub fn read_msg(r: &mut impl Read) -> Result<Msg, FrameError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Err(FrameError::Closed),
            Ok(0) => {
                return Err(FrameError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed inside a length prefix",
                )))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    let n = u32::from_be_bytes(len) as u64;
    if n as usize > MAX_MSG {
        return Err(FrameError::TooLarge(n));
    }
    let mut body = vec![0u8; n as usize];
    r.read_exact(&mut body)?;
    serde_json::from_slice(&body).map_err(|e| FrameError::Malformed(e.to_string()))
}

/// HMAC-SHA256 (RFC 2104) of `parts` concatenated, under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    const B: usize = 64;
    let mut k = [0u8; B];
    if key.len() > B {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|x| x ^ 0x36));
    for p in parts {
        inner.update(p);
    }
    let ih = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|x| x ^ 0x5c));
    outer.update(ih);
    outer.finalize().into()
}

/// Length of a [`UdpHeader`] on the wire: the smallest test datagram.
pub const UDP_HEADER: usize = 32;

/// The header of a UDP test datagram, all big-endian: the first 8 bytes of
/// the session cookie, the sender's flow (thread) number u32, 4 reserved
/// bytes, the sequence number u64 and the send time u64 (ns since the
/// sender started). A client's hello is a header whose sequence and time
/// are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpHeader {
    /// The sender's flow number.
    pub flow: u32,
    /// Sequence number within the flow, from 0.
    pub seq: u64,
    /// Send time, ns since the sender started.
    pub sent_ns: u64,
}

impl UdpHeader {
    const FLOW: std::ops::Range<usize> = 8..12;
    const SEQ: std::ops::Range<usize> = 16..24;
    const SENT: std::ops::Range<usize> = 24..32;

    /// Writes the parts that stay the same in every datagram of a flow
    /// (cookie, flow number) at the start of `buf`, which must hold at
    /// least [`UDP_HEADER`] bytes; `cookie` at least 8.
    pub fn init(buf: &mut [u8], cookie: &[u8], flow: u32) {
        buf[..8].copy_from_slice(&cookie[..8]);
        buf[Self::FLOW].copy_from_slice(&flow.to_be_bytes());
    }

    /// Writes the per-datagram parts into a buffer set up by [`UdpHeader::init`].
    #[inline]
    pub fn stamp(buf: &mut [u8], seq: u64, sent_ns: u64) {
        buf[Self::SEQ].copy_from_slice(&seq.to_be_bytes());
        buf[Self::SENT].copy_from_slice(&sent_ns.to_be_bytes());
    }

    /// The flow number of a datagram (or hello) that carries `cookie`;
    /// `None` for one too short for the flow number or of another session.
    pub fn flow_of(datagram: &[u8], cookie: &[u8]) -> Option<u32> {
        let flow = datagram.get(Self::FLOW)?;
        if !ct_eq(&datagram[..8], cookie.get(..8)?) {
            return None;
        }
        Some(u32::from_be_bytes(flow.try_into().ok()?))
    }

    /// The header of a test datagram that carries `cookie`; `None` for one
    /// shorter than [`UDP_HEADER`] or of another session.
    pub fn parse(datagram: &[u8], cookie: &[u8]) -> Option<Self> {
        if datagram.len() < UDP_HEADER {
            return None;
        }
        let flow = Self::flow_of(datagram, cookie)?;
        let be64 = |r: std::ops::Range<usize>| {
            u64::from_be_bytes(datagram[r].try_into().unwrap_or_default())
        };
        Some(Self {
            flow,
            seq: be64(Self::SEQ),
            sent_ns: be64(Self::SENT),
        })
    }
}

/// Compares two byte strings in time independent of where they differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The client's proof of the token for a pair of nonces.
pub fn client_mac(token: &[u8], server_nonce: &[u8], client_nonce: &[u8]) -> [u8; 32] {
    hmac_sha256(token, &[b"skubench-v1 client", server_nonce, client_nonce])
}

/// The peer's proof of the token for a pair of nonces.
pub fn server_mac(token: &[u8], client_nonce: &[u8], server_nonce: &[u8]) -> [u8; 32] {
    hmac_sha256(token, &[b"skubench-v1 server", client_nonce, server_nonce])
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Parses hex of exactly `len` bytes.
pub fn unhex(s: &str, len: usize) -> Option<Vec<u8>> {
    if s.len() != 2 * len || !s.is_ascii() {
        return None;
    }
    (0..len)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// `n` bytes from the kernel's CSPRNG.
pub fn random_bytes(n: usize) -> std::io::Result<Vec<u8>> {
    let mut v = vec![0u8; n];
    let mut got = 0;
    while got < n {
        // SAFETY: the pointer and length describe the unfilled tail of `v`,
        // which getrandom writes at most `n - got` bytes into.
        let r = unsafe { libc::getrandom(v[got..].as_mut_ptr().cast(), n - got, 0) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        got += r as usize;
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_and_cps_specs_are_bounded() {
        let flows = |roles: Vec<Role>, flows: u32| TestSpec {
            roles,
            threads: 2,
            flows,
            msg_size: 1024,
            req_size: 1,
            resp_size: 1,
            ..TestSpec::new(TestKind::TcpFlows)
        };
        assert!(flows(vec![Role::Sink], 1000).validate().is_ok());
        assert!(flows(vec![Role::Echo], MAX_FLOWS).validate().is_ok());
        let err = |s: TestSpec| s.validate().unwrap_err().to_string();
        assert!(err(flows(vec![Role::Sink], 0)).contains("flows"));
        assert!(err(flows(vec![Role::Sink], MAX_FLOWS + 1)).contains("flows"));
        assert!(err(flows(vec![], 10)).contains("roles"));
        assert!(err(flows(vec![Role::Source], 10)).contains("roles"));
        assert!(err(flows(vec![Role::Sink, Role::Sink], 10)).contains("roles"));
        assert!(err(TestSpec {
            threads: 0,
            ..flows(vec![Role::Sink], 10)
        })
        .contains("threads"));
        assert!(err(TestSpec {
            msg_size: 0,
            ..flows(vec![Role::Sink], 10)
        })
        .contains("msg_size"));
        assert!(err(TestSpec {
            req_size: 0,
            ..flows(vec![Role::Echo], 10)
        })
        .contains("req_size"));
        let cps = TestSpec {
            threads: 2,
            flows: 64,
            req_size: 1,
            resp_size: 1,
            ..TestSpec::new(TestKind::TcpCps)
        };
        assert!(cps.validate().is_ok());
        assert!(err(TestSpec {
            roles: vec![Role::Echo],
            ..cps.clone()
        })
        .contains("roles"));
        // `flows` belongs to these two kinds only, and is left off the
        // wire when zero, so older peers still read the other tests.
        let rr = TestSpec {
            roles: vec![Role::Echo],
            req_size: 1,
            resp_size: 1,
            ..TestSpec::new(TestKind::TcpRr)
        };
        assert!(!serde_json::to_string(&rr).unwrap().contains("flows"));
        assert!(err(TestSpec { flows: 3, ..rr }).contains("flows"));
        let json = serde_json::to_string(&cps).unwrap();
        assert!(
            json.contains("\"kind\":\"tcp_cps\"") && json.contains("\"flows\":64"),
            "{json}"
        );
    }

    #[test]
    fn udp_headers_round_trip_and_refuse_strangers() {
        let cookie = [7u8; 32];
        let mut d = vec![0u8; 100];
        UdpHeader::init(&mut d, &cookie, 3);
        UdpHeader::stamp(&mut d, 42, 1_000_000_007);
        let h = UdpHeader::parse(&d, &cookie).unwrap();
        assert_eq!(
            h,
            UdpHeader {
                flow: 3,
                seq: 42,
                sent_ns: 1_000_000_007
            }
        );
        // The wire layout is the documented one.
        assert_eq!(d[8..12], 3u32.to_be_bytes());
        assert_eq!(d[16..24], 42u64.to_be_bytes());
        assert_eq!(UdpHeader::flow_of(&d[..12], &cookie), Some(3));
        assert_eq!(UdpHeader::parse(&d[..UDP_HEADER - 1], &cookie), None);
        assert_eq!(UdpHeader::flow_of(&d[..11], &cookie), None);
        assert_eq!(UdpHeader::parse(&d, &[8u8; 32]), None);
        assert_eq!(UdpHeader::flow_of(&d, &[7u8; 4]), None);
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Case 6: a key longer than the block is hashed first.
        let key = [0xaau8; 131];
        let mac = hmac_sha256(
            &key,
            &[b"Test Using Larger Than Block-Size Key - Hash Key First"],
        );
        assert_eq!(
            hex(&mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn udp_specs_are_checked_in_both_directions() {
        let base = TestSpec {
            threads: 2,
            msg_size: 1472,
            ..TestSpec::new(TestKind::UdpStream)
        };
        assert_eq!(base.validate(), Ok(()));
        // The rate stays out of the message unless the peer sends, so
        // older peers still take the other tests.
        let mut buf = Vec::new();
        write_msg(&mut buf, &Msg::Start { spec: base.clone() }).unwrap();
        assert!(!String::from_utf8_lossy(&buf).contains("bitrate"));
        let rev = TestSpec {
            roles: vec![Role::Source; 2],
            bitrate: Some(1e9),
            ..base.clone()
        };
        assert_eq!(rev.validate(), Ok(()));
        let bad = |f: &dyn Fn(&mut TestSpec), want: &str| {
            let mut t = rev.clone();
            f(&mut t);
            let e = t.validate().unwrap_err().to_string();
            assert!(e.starts_with(want), "{e}");
        };
        bad(&|t| t.roles = vec![Role::Source], "roles");
        bad(&|t| t.roles = vec![Role::Sink; 2], "roles");
        bad(&|t| t.bitrate = None, "bitrate");
        bad(&|t| t.bitrate = Some(f64::NAN), "bitrate");
        bad(&|t| t.bitrate = Some(-1.0), "bitrate");
        bad(&|t| t.msg_size = 8, "msg_size");
        bad(
            &|t| {
                t.roles.clear();
                t.bitrate = Some(1e6);
            },
            "bitrate",
        );
    }

    #[test]
    fn frames_round_trip_and_bad_frames_are_errors() {
        let m = Msg::Start {
            spec: TestSpec {
                roles: vec![Role::Echo],
                req_size: 1,
                resp_size: 1,
                congestion: Some("cubic".into()),
                nodelay: true,
                ..TestSpec::new(TestKind::TcpRr)
            },
        };
        let mut buf = Vec::new();
        write_msg(&mut buf, &m).unwrap();
        assert_eq!(read_msg(&mut buf.as_slice()).unwrap(), m);

        let huge = (u32::MAX).to_be_bytes();
        assert!(matches!(
            read_msg(&mut huge.as_slice()),
            Err(FrameError::TooLarge(_))
        ));
        let mut garbage = 5u32.to_be_bytes().to_vec();
        garbage.extend_from_slice(b"\xff\x00{[x");
        assert!(matches!(
            read_msg(&mut garbage.as_slice()),
            Err(FrameError::Malformed(_))
        ));
        let unknown = br#"{"type":"launch_missiles"}"#;
        let mut f = (unknown.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(unknown);
        assert!(matches!(
            read_msg(&mut f.as_slice()),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            read_msg(&mut [0u8, 0].as_slice()),
            Err(FrameError::Io(_))
        ));
        assert!(matches!(
            read_msg(&mut [].as_slice()),
            Err(FrameError::Closed)
        ));
    }

    #[test]
    fn hex_and_specs() {
        assert_eq!(unhex(&hex(&[0, 1, 254]), 3).unwrap(), vec![0, 1, 254]);
        assert!(unhex("zz", 1).is_none());
        assert!(unhex("00", 2).is_none());
        assert!(valid_congestion("cubic").is_ok());
        assert!(valid_congestion("bbr; rm").is_err());
        assert!(valid_congestion("").is_err());
        assert!(ct_eq(b"abc", b"abc") && !ct_eq(b"abc", b"abd") && !ct_eq(b"a", b"ab"));
        assert_eq!(random_bytes(32).unwrap().len(), 32);
        assert_ne!(random_bytes(16).unwrap(), random_bytes(16).unwrap());
    }
}
