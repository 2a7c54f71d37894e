//! The peer: `skubench serve`.
//!
//! Blocking sockets and one thread per session and per data connection, not
//! an async runtime: a data thread that owns its socket and does nothing but
//! `recv`/`send` is the fastest way to move bytes (no readiness round-trip
//! per call), thread placement is explicit and can be pinned, and the peer
//! serves tens of sessions, not tens of thousands. Every blocking call has a
//! timeout, so every thread notices a stop or a deadline within
//! [`POLL_TICK`].

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::proto::{
    self, ct_eq, hex, random_bytes, read_msg, server_mac, unhex, write_msg, FrameError, Limits,
    MarkPhase, Msg, PeerError, PeerResults, Role, TcpInfoSum, TestKind, TestSpec, UdpHeader,
    UdpRecv, COOKIE_LEN, PROTO_VERSION,
};
use super::sys::{self, is_disconnect, is_timeout, CpuSnap, SockOpts};

/// How often blocked peer threads wake to check for a stop or a deadline.
pub const POLL_TICK: Duration = Duration::from_millis(200);
/// Time a client has to complete the whole handshake, from its connect to
/// its `auth` (and a data connection to present its cookie). Short: until
/// then a connection holds a slot of the unauthenticated budget.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// Connections still in their handshake, at most, in all.
pub const MAX_PENDING: usize = 256;
/// Connections still in their handshake, at most, from one address: as
/// many as the sessions, so one client host may open all of them at once.
pub const MAX_PENDING_PER_SOURCE: usize = 64;
/// Time a client has to open a test's data connections after `Ready`.
pub const DATA_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most errors kept per test.
const MAX_ERRORS: usize = 8;

/// Settings of a peer.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Address of the control listener; data listeners use its IP.
    pub bind: SocketAddr,
    /// The shared token.
    pub token: Vec<u8>,
    /// Authenticated sessions served at once; more are refused.
    pub max_sessions: usize,
    /// Connections in their handshake at once, in all; more are closed at
    /// once. They have their own budget so that connections that never
    /// authenticate cannot take the sessions of those that do.
    pub max_pending: usize,
    /// Connections in their handshake at once from one address.
    pub max_pending_per_source: usize,
    /// Longest test; data threads stop by themselves after it.
    pub max_duration: Duration,
    /// Longest silence on a control connection outside a test.
    pub idle_timeout: Duration,
    /// Time a client has to complete the handshake.
    pub handshake_timeout: Duration,
    /// Longest time a data connection may make no progress (the client
    /// stopped reading or sending) before the whole session is ended and
    /// its threads and ports freed.
    pub stall_timeout: Duration,
    /// Log sessions to stderr.
    pub log: bool,
    /// Ports data listeners may use (both ends inclusive), for firewalls
    /// that open a fixed range; `None`: ephemeral ports.
    pub data_ports: Option<(u16, u16)>,
}

impl ServeConfig {
    /// Defaults: 64 sessions, tests of at most an hour, 60 s idle timeout.
    pub fn new(bind: SocketAddr, token: Vec<u8>) -> Self {
        Self {
            bind,
            token,
            max_sessions: 64,
            max_pending: MAX_PENDING,
            max_pending_per_source: MAX_PENDING_PER_SOURCE,
            max_duration: Duration::from_secs(3600),
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: HANDSHAKE_TIMEOUT,
            stall_timeout: super::common::STALL_LIMIT,
            log: false,
            data_ports: None,
        }
    }
}

struct Shared {
    cfg: ServeConfig,
    stop: AtomicBool,
    /// Authenticated sessions.
    sessions: AtomicUsize,
    /// Connections in their handshake, by source address, and in all.
    pending: Mutex<(HashMap<IpAddr, usize>, usize)>,
    next_id: AtomicU64,
    /// Clones of the live control sockets, so shutdown can wake their threads.
    ctrl: Mutex<HashMap<u64, TcpStream>>,
}

impl Shared {
    fn log(&self, m: std::fmt::Arguments) {
        if self.cfg.log {
            eprintln!("skubench serve: {m}");
        }
    }

    /// Takes a handshake slot for `ip`; `Err` says which budget is full.
    fn admit(&self, ip: IpAddr) -> Result<(), String> {
        let mut g = self
            .pending
            .lock()
            .map_err(|_| "the peer is failing".to_string())?;
        let (by_ip, total) = &mut *g;
        if *total >= self.cfg.max_pending {
            return Err(format!(
                "the peer is busy: {total} connections in their handshake, the limit is {}",
                self.cfg.max_pending
            ));
        }
        let n = by_ip.entry(ip).or_insert(0);
        if *n >= self.cfg.max_pending_per_source {
            return Err(format!(
                "the peer is busy: {n} connections from {ip} in their handshake, the limit is {}",
                self.cfg.max_pending_per_source
            ));
        }
        *n += 1;
        *total += 1;
        Ok(())
    }

    fn release(&self, ip: IpAddr) {
        if let Ok(mut g) = self.pending.lock() {
            let (by_ip, total) = &mut *g;
            *total = total.saturating_sub(1);
            if let Some(n) = by_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    by_ip.remove(&ip);
                }
            }
        }
    }

    fn pending_total(&self) -> usize {
        self.pending.lock().map_or(0, |g| g.1)
    }
}

/// A connection's handshake slot, given back when the handshake ends
/// (authenticated or not).
struct Pending<'a> {
    sh: &'a Shared,
    ip: IpAddr,
    held: bool,
}

impl Pending<'_> {
    fn release(&mut self) {
        if std::mem::take(&mut self.held) {
            self.sh.release(self.ip);
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

/// An authenticated session's slot.
struct SessionSlot<'a>(&'a Shared);

impl Drop for SessionSlot<'_> {
    fn drop(&mut self) {
        self.0.sessions.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A running peer; stops (and waits for its sessions) when dropped.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds the control listener and starts accepting sessions.
    pub fn start(cfg: ServeConfig) -> io::Result<Server> {
        if cfg.token.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the token is empty",
            ));
        }
        let listener = sys::tcp_listen(&cfg.bind, &SockOpts::default())?;
        sys::set_timeouts(listener.as_raw_fd(), POLL_TICK)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            cfg,
            stop: AtomicBool::new(false),
            sessions: AtomicUsize::new(0),
            pending: Mutex::new((HashMap::new(), 0)),
            next_id: AtomicU64::new(1),
            ctrl: Mutex::new(HashMap::new()),
        });
        let sh = shared.clone();
        let accept = std::thread::Builder::new()
            .name("skubench-serve".into())
            .spawn(move || accept_loop(&sh, listener))?;
        Ok(Server {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// The address the control listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Authenticated sessions being served now.
    pub fn active_sessions(&self) -> usize {
        self.shared.sessions.load(Ordering::Relaxed)
    }

    /// Connections in their handshake now.
    pub fn pending_handshakes(&self) -> usize {
        self.shared.pending_total()
    }

    /// Stops accepting, ends every session and waits (bounded) for them.
    pub fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        if let Ok(m) = self.shared.ctrl.lock() {
            for s in m.values() {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
        let t = Instant::now();
        while (self.shared.sessions.load(Ordering::Relaxed) > 0 || self.shared.pending_total() > 0)
            && t.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Serves until `stop` is set (the CLI's `skubench serve`).
pub fn serve(cfg: ServeConfig, stop: &AtomicBool) -> io::Result<()> {
    let log = cfg.log;
    let mut s = Server::start(cfg)?;
    if log {
        eprintln!("skubench serve: listening on {}", s.local_addr());
    }
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    s.shutdown();
    if log {
        eprintln!("skubench serve: stopped");
    }
    Ok(())
}

fn accept_loop(sh: &Arc<Shared>, listener: TcpListener) {
    while !sh.stop.load(Ordering::Relaxed) {
        let (s, from) = match listener.accept() {
            Ok(x) => x,
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // EMFILE and the like: back off rather than spin.
                sh.log(format_args!("accept: {e}"));
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        // Unauthenticated connections get their own budget (in all and per
        // source) and a short deadline; only authenticated ones count as
        // sessions, so idle connections cannot lock real users out.
        let ip = from.ip();
        if let Err(why) = sh.admit(ip) {
            sh.log(format_args!("{from}: refused: {why}"));
            let mut s = s;
            let _ = s.set_write_timeout(Some(Duration::from_millis(100)));
            let _ = write_msg(&mut s, &Msg::Error { message: why });
            continue;
        }
        let id = sh.next_id.fetch_add(1, Ordering::Relaxed);
        if let (Ok(c), Ok(mut m)) = (s.try_clone(), sh.ctrl.lock()) {
            m.insert(id, c);
        }
        let sh2 = sh.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("skubench-s{id}"))
            .spawn(move || {
                let pending = Pending {
                    sh: &sh2,
                    ip,
                    held: true,
                };
                match session(&sh2, s, from, pending) {
                    Ok(()) => sh2.log(format_args!("{from}: session {id} ended")),
                    Err(e) => sh2.log(format_args!("{from}: session {id} closed: {e}")),
                }
                if let Ok(mut m) = sh2.ctrl.lock() {
                    m.remove(&id);
                }
            });
        if spawned.is_err() {
            if let Ok(mut m) = sh.ctrl.lock() {
                m.remove(&id);
            }
            sh.release(ip);
        }
    }
}

/// Sends an error message (best effort) and returns it as the session's error.
fn refuse(s: &mut TcpStream, message: String) -> Result<(), PeerError> {
    let _ = write_msg(
        s,
        &Msg::Error {
            message: message.clone(),
        },
    );
    Err(message.into())
}

fn frame_err(s: &mut TcpStream, what: &str, e: FrameError) -> Result<(), PeerError> {
    match e {
        FrameError::Closed => Err(format!("{what}: the client closed the connection").into()),
        FrameError::Io(e) if is_timeout(&e) => {
            refuse(s, format!("{what}: timed out waiting for the client"))
        }
        FrameError::Io(e) => Err(format!("{what}: {e}").into()),
        e @ (FrameError::TooLarge(_) | FrameError::Malformed(_)) => {
            refuse(s, format!("{what}: {e}"))
        }
    }
}

fn msg_name(m: &Msg) -> &'static str {
    match m {
        Msg::Hello { .. } => "hello",
        Msg::Challenge { .. } => "challenge",
        Msg::Auth { .. } => "auth",
        Msg::AuthOk { .. } => "auth_ok",
        Msg::Start { .. } => "start",
        Msg::Ready { .. } => "ready",
        Msg::Mark { .. } => "mark",
        Msg::Stop => "stop",
        Msg::Results { .. } => "results",
        Msg::Bye => "bye",
        Msg::Error { .. } => "error",
    }
}

fn session(
    sh: &Shared,
    mut s: TcpStream,
    from: SocketAddr,
    mut pending: Pending<'_>,
) -> Result<(), PeerError> {
    let _ = s.set_nodelay(true);
    let io = |e: io::Error| e.to_string();
    // One deadline for the whole handshake, not one per read: a client
    // that drips a byte now and then is cut off all the same.
    let deadline = Instant::now() + sh.cfg.handshake_timeout;
    let until_deadline = |s: &TcpStream| {
        let left = deadline.saturating_duration_since(Instant::now());
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
    };
    until_deadline(&s).map_err(io)?;
    s.set_write_timeout(Some(sh.cfg.handshake_timeout))
        .map_err(io)?;
    let client_nonce = match read_msg(&mut s) {
        Ok(Msg::Hello {
            proto,
            client_nonce,
            ..
        }) => {
            if proto != PROTO_VERSION {
                return refuse(
                    &mut s,
                    format!("protocol version {proto} is not supported (this peer speaks {PROTO_VERSION})"),
                );
            }
            match unhex(&client_nonce, 32) {
                Some(n) => n,
                None => return refuse(&mut s, "hello: client_nonce is not 32 bytes of hex".into()),
            }
        }
        Ok(m) => {
            return refuse(
                &mut s,
                format!("expected `hello` first, got `{}`", msg_name(&m)),
            )
        }
        Err(e) => return frame_err(&mut s, "hello", e),
    };
    let server_nonce = random_bytes(32).map_err(io)?;
    write_msg(
        &mut s,
        &Msg::Challenge {
            proto: PROTO_VERSION,
            server_nonce: hex(&server_nonce),
            software: software(),
        },
    )
    .map_err(io)?;
    until_deadline(&s).map_err(io)?;
    match read_msg(&mut s) {
        Ok(Msg::Auth { mac }) => {
            let want = proto::client_mac(&sh.cfg.token, &server_nonce, &client_nonce);
            let ok = unhex(&mac, 32).is_some_and(|m| ct_eq(&m, &want));
            if !ok {
                // Slow down guessing.
                std::thread::sleep(Duration::from_millis(200));
                return refuse(&mut s, "authentication failed: wrong token".into());
            }
        }
        Ok(m) => return refuse(&mut s, format!("expected `auth`, got `{}`", msg_name(&m))),
        Err(e) => return frame_err(&mut s, "auth", e),
    }
    if Instant::now() > deadline {
        return refuse(&mut s, "auth: timed out waiting for the client".into());
    }
    // Authenticated: out of the handshake budget, into the sessions.
    pending.release();
    let n = sh.sessions.fetch_add(1, Ordering::AcqRel);
    let _slot = SessionSlot(sh);
    if n >= sh.cfg.max_sessions {
        sh.log(format_args!("{from}: refused, {n} sessions already"));
        return refuse(
            &mut s,
            format!(
                "the peer is busy: {n} sessions, the limit is {}",
                sh.cfg.max_sessions
            ),
        );
    }
    write_msg(
        &mut s,
        &Msg::AuthOk {
            mac: hex(&server_mac(&sh.cfg.token, &client_nonce, &server_nonce)),
            limits: Limits {
                max_duration_s: sh.cfg.max_duration.as_secs(),
                idle_timeout_s: sh.cfg.idle_timeout.as_secs(),
                max_msg: proto::MAX_MSG as u32,
            },
            vcpus: bench_core::affinity::online_vcpus() as u32,
        },
    )
    .map_err(io)?;
    sh.log(format_args!("{from}: authenticated"));

    let mut test: Option<PeerTest> = None;
    let result = loop {
        if sh.stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        let wait = if test.is_some() {
            sh.cfg.max_duration + sh.cfg.idle_timeout
        } else {
            sh.cfg.idle_timeout
        };
        if let Err(e) = s.set_read_timeout(Some(wait)) {
            break Err(e.to_string().into());
        }
        let m = match read_msg(&mut s) {
            Ok(m) => m,
            Err(FrameError::Closed) => break Ok(()),
            Err(e) => break frame_err(&mut s, "control", e),
        };
        match m {
            Msg::Start { spec } => {
                if let Some(t) = test.take() {
                    t.stop();
                }
                if let Err(e) = spec.validate() {
                    break refuse(&mut s, format!("start: {e}"));
                }
                match PeerTest::start(sh, spec, from.ip(), s.try_clone().ok()) {
                    Ok((t, port)) => {
                        let cookie = hex(&t.cookie);
                        test = Some(t);
                        if let Err(e) = write_msg(
                            &mut s,
                            &Msg::Ready {
                                data_port: port,
                                cookie,
                            },
                        ) {
                            break Err(e.to_string().into());
                        }
                    }
                    Err(e) => break refuse(&mut s, format!("start: {e}")),
                }
            }
            Msg::Mark { phase } => {
                if let Some(t) = test.as_mut() {
                    t.mark(phase);
                }
            }
            Msg::Stop => {
                let Some(t) = test.take() else {
                    break refuse(&mut s, "stop: no test is running".into());
                };
                let r = t.stop();
                if let Err(e) = write_msg(
                    &mut s,
                    &Msg::Results {
                        results: Box::new(r),
                    },
                ) {
                    break Err(e.to_string().into());
                }
            }
            Msg::Bye => break Ok(()),
            other => {
                break refuse(
                    &mut s,
                    format!("unexpected message `{}` in a session", msg_name(&other)),
                )
            }
        }
    };
    if let Some(t) = test.take() {
        t.stop();
    }
    result
}

/// The peer software string.
pub fn software() -> String {
    format!("skubench {}", env!("CARGO_PKG_VERSION"))
}

/// Byte and transaction counters of one data thread, on its own cache line.
#[repr(align(128))]
#[derive(Default)]
pub(super) struct Slot {
    pub(super) rx: AtomicU64,
    pub(super) tx: AtomicU64,
    pub(super) n: AtomicU64,
}

#[derive(Default)]
pub(super) struct ThreadOut {
    pub(super) cpu: Option<usize>,
    pub(super) error: Option<String>,
    pub(super) udp: Option<UdpRecv>,
    /// TCP_INFO over the sockets the thread owned (event-loop threads,
    /// whose flows are not in `TestShared::socks`).
    pub(super) tcp: Option<TcpInfoSum>,
}

pub(super) struct TestShared {
    pub(super) spec: TestSpec,
    stop: AtomicBool,
    deadline: Instant,
    pub(super) client_ip: IpAddr,
    pub(super) cookie: Vec<u8>,
    pub(super) slots: Vec<Slot>,
    /// Clones of the data sockets: read for TCP_INFO and shut down at the end.
    socks: Mutex<Vec<TcpStream>>,
    pub(super) threads: Mutex<Vec<JoinHandle<ThreadOut>>>,
    errors: Mutex<Vec<String>>,
    pinned: AtomicBool,
    /// Longest time without progress on a data connection.
    pub(super) stall: Duration,
    /// The session's control connection: a stalled client loses it.
    ctrl: Option<TcpStream>,
}

impl TestShared {
    pub(super) fn done(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || Instant::now() >= self.deadline
    }

    /// `since` is the last progress of a data connection; past the stall
    /// timeout the client has stopped reading (or sending): the test
    /// stops and the control connection is shut, which ends the session
    /// and frees its threads and ports. Returns the error to end with.
    pub(super) fn stalled(&self, since: Instant) -> Option<io::Error> {
        if since.elapsed() < self.stall {
            return None;
        }
        let m = format!(
            "the client made no progress for {} s: session ended",
            self.stall.as_secs_f64()
        );
        self.error(m.clone());
        self.stop.store(true, Ordering::Relaxed);
        if let Some(c) = &self.ctrl {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        Some(io::Error::new(io::ErrorKind::TimedOut, m))
    }
    pub(super) fn error(&self, e: String) {
        if let Ok(mut v) = self.errors.lock() {
            if v.len() < MAX_ERRORS {
                v.push(e);
            }
        }
    }
    pub(super) fn pin(&self, i: usize) -> Option<usize> {
        let pin = self.spec.pin.as_ref().filter(|p| !p.is_empty())?;
        let c = pin[i % pin.len()];
        match bench_core::affinity::pin_current_thread(c) {
            Ok(()) => {
                self.pinned.store(true, Ordering::Relaxed);
                Some(c)
            }
            Err(e) => {
                self.error(format!("pinning data thread {i} to vCPU {c}: {e}"));
                None
            }
        }
    }
    fn sum(&self) -> (u64, u64) {
        self.slots.iter().fold((0, 0), |(r, t), s| {
            (
                r + s.rx.load(Ordering::Relaxed),
                t + s.tx.load(Ordering::Relaxed),
            )
        })
    }
    fn opts(&self) -> SockOpts {
        SockOpts {
            sndbuf: self.spec.sndbuf,
            rcvbuf: self.spec.rcvbuf,
            congestion: self.spec.congestion.clone(),
            nodelay: self.spec.nodelay,
        }
    }
}

struct MarkSnap {
    at: Instant,
    rx: u64,
    tx: u64,
    cpu: Option<CpuSnap>,
}

/// One test on the peer's side.
struct PeerTest {
    sh: Arc<TestShared>,
    cookie: Vec<u8>,
    acceptor: Option<JoinHandle<()>>,
    start: Option<MarkSnap>,
    end: Option<MarkSnap>,
}

impl PeerTest {
    fn start(
        sv: &Shared,
        spec: TestSpec,
        client_ip: IpAddr,
        ctrl: Option<TcpStream>,
    ) -> Result<(PeerTest, u16), PeerError> {
        let cookie = random_bytes(COOKIE_LEN).map_err(|e| e.to_string())?;
        let nslots = match spec.kind {
            TestKind::TcpStream | TestKind::TcpRr => spec.roles.len(),
            _ => spec.threads as usize,
        };
        if matches!(spec.kind, TestKind::TcpFlows | TestKind::TcpCps) {
            // Every flow is a descriptor here: say so now rather than fail
            // half-way through the accepts with EMFILE.
            let need = spec.flows as u64 + super::evloop::MAX_PENDING_DATA as u64 + 64;
            sys::ensure_nofile(need).map_err(|e| format!("flows: {e}"))?;
        }
        let sh = Arc::new(TestShared {
            stop: AtomicBool::new(false),
            deadline: Instant::now() + sv.cfg.max_duration,
            client_ip,
            cookie: cookie.clone(),
            slots: (0..nslots).map(|_| Slot::default()).collect(),
            socks: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
            errors: Mutex::new(Vec::new()),
            pinned: AtomicBool::new(false),
            stall: sv.cfg.stall_timeout,
            ctrl,
            spec,
        });
        let ip = sv.cfg.bind.ip();
        let ports = sv.cfg.data_ports;
        let opts = sh.opts();
        let (port, acceptor) = match sh.spec.kind {
            TestKind::UdpStream => {
                let sock = bind_data(ip, ports, |a| sys::udp_bind(a, &opts))
                    .map_err(|e| format!("UDP socket: {e}"))?;
                sys::set_timeouts(sock.as_raw_fd(), POLL_TICK).map_err(|e| e.to_string())?;
                let port = sock.local_addr().map_err(|e| e.to_string())?.port();
                if sh.spec.roles.is_empty() {
                    let sh2 = sh.clone();
                    let h = spawn("skubench-udp", move || udp_receiver(&sh2, sock))?;
                    push(&sh.threads, h);
                } else {
                    // The peer sends: each flow's address comes from the
                    // client's hello datagrams (so NAT and firewalls that
                    // allow replies let the data through).
                    let addrs: Arc<Vec<OnceLock<SocketAddr>>> =
                        Arc::new((0..sh.spec.threads).map(|_| OnceLock::new()).collect());
                    for i in 0..sh.spec.threads as usize {
                        let s = sock.try_clone().map_err(|e| format!("UDP socket: {e}"))?;
                        let (sh2, a2) = (sh.clone(), addrs.clone());
                        let h = spawn(&format!("skubench-udpsrc{i}"), move || {
                            udp_source(&sh2, s, &a2, i)
                        })?;
                        push(&sh.threads, h);
                    }
                }
                (port, None)
            }
            TestKind::TcpCrr => {
                let l = bind_data(ip, ports, |a| sys::tcp_listen(a, &opts))
                    .map_err(|e| format!("data listener: {e}"))?;
                sys::set_timeouts(l.as_raw_fd(), POLL_TICK).map_err(|e| e.to_string())?;
                // accept() returns once the request is in, saving a wake-up
                // per connection (as web servers do); best effort.
                let _ = sys::defer_accept(l.as_raw_fd());
                let port = l.local_addr().map_err(|e| e.to_string())?.port();
                let l = Arc::new(l);
                for i in 0..sh.spec.threads as usize {
                    let (sh2, l2) = (sh.clone(), l.clone());
                    let h = spawn(&format!("skubench-crr{i}"), move || {
                        crr_acceptor(&sh2, &l2, i)
                    })?;
                    push(&sh.threads, h);
                }
                (port, None)
            }
            TestKind::TcpFlows | TestKind::TcpCps => {
                let l = bind_data(ip, ports, |a| sys::tcp_listen(a, &opts))
                    .map_err(|e| format!("data listener: {e}"))?;
                let port = l.local_addr().map_err(|e| e.to_string())?.port();
                super::evloop::start(&sh, l)?;
                (port, None)
            }
            TestKind::TcpStream | TestKind::TcpRr => {
                let l = bind_data(ip, ports, |a| sys::tcp_listen(a, &opts))
                    .map_err(|e| format!("data listener: {e}"))?;
                sys::set_timeouts(l.as_raw_fd(), POLL_TICK).map_err(|e| e.to_string())?;
                let port = l.local_addr().map_err(|e| e.to_string())?.port();
                let sh2 = sh.clone();
                let h = std::thread::Builder::new()
                    .name("skubench-accept".into())
                    .spawn(move || conn_acceptor(&sh2, l))
                    .map_err(|e| format!("spawning a thread: {e}"))?;
                (port, Some(h))
            }
        };
        Ok((
            PeerTest {
                sh,
                cookie,
                acceptor,
                start: None,
                end: None,
            },
            port,
        ))
    }

    fn mark(&mut self, phase: MarkPhase) {
        let (rx, tx) = self.sh.sum();
        let snap = MarkSnap {
            at: Instant::now(),
            rx,
            tx,
            cpu: CpuSnap::now(),
        };
        match phase {
            MarkPhase::Start => self.start = Some(snap),
            MarkPhase::End => self.end = Some(snap),
        }
    }

    fn stop(mut self) -> PeerResults {
        if self.sh.spec.kind == TestKind::UdpStream {
            // Datagrams still in flight when the client stopped count as received.
            std::thread::sleep(Duration::from_millis(100));
        }
        if self.end.is_none() && self.start.is_some() {
            self.mark(MarkPhase::End);
        }
        let mut tcp = TcpInfoSum::default();
        if let Ok(socks) = self.sh.socks.lock() {
            for s in socks.iter() {
                if let Some(t) = sys::tcp_info(s) {
                    tcp.merge(&t);
                }
            }
        }
        self.sh.stop.store(true, Ordering::Relaxed);
        if let Ok(socks) = self.sh.socks.lock() {
            for s in socks.iter() {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        let handles = self
            .sh
            .threads
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        let mut placement = Vec::new();
        let mut udp = None;
        for h in handles {
            match h.join() {
                Ok(o) => {
                    placement.push(o.cpu);
                    if let Some(e) = o.error {
                        self.sh.error(e);
                    }
                    if o.udp.is_some() {
                        udp = o.udp;
                    }
                    if let Some(t) = &o.tcp {
                        tcp.merge(t);
                    }
                }
                Err(_) => self.sh.error("a data thread panicked".into()),
            }
        }
        let (rx, tx) = self.sh.sum();
        let transactions = self
            .sh
            .slots
            .iter()
            .map(|s| s.n.load(Ordering::Relaxed))
            .sum();
        let (mrx, mtx, ms, cpu) = match (&self.start, &self.end) {
            (Some(a), Some(b)) => (
                Some(b.rx - a.rx),
                Some(b.tx - a.tx),
                Some(b.at.duration_since(a.at).as_secs_f64()),
                match (&a.cpu, &b.cpu) {
                    (Some(x), Some(y)) => x.usage_until(y),
                    _ => None,
                },
            ),
            _ => (None, None, None, None),
        };
        PeerResults {
            rx_bytes: rx,
            tx_bytes: tx,
            transactions,
            measured_rx_bytes: mrx,
            measured_tx_bytes: mtx,
            measured_s: ms,
            cpu,
            tcp,
            udp,
            placement,
            pinned: self.sh.pinned.load(Ordering::Relaxed),
            errors: self.sh.errors.lock().map(|v| v.clone()).unwrap_or_default(),
        }
    }
}

impl Drop for PeerTest {
    fn drop(&mut self) {
        // Threads notice the flag within POLL_TICK; they are not joined here
        // (stop() joins them) so a session can end promptly.
        self.sh.stop.store(true, Ordering::Relaxed);
    }
}

pub(super) fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>, PeerError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| format!("spawning a thread: {e}").into())
}

pub(super) fn push<T>(m: &Mutex<Vec<T>>, v: T) {
    if let Ok(mut g) = m.lock() {
        g.push(v);
    }
}

/// Reads exactly `buf.len()` bytes, waiting at most `timeout` in all.
fn read_full(s: &mut TcpStream, buf: &mut [u8], sh: &TestShared) -> io::Result<bool> {
    let mut got = 0;
    let mut since = Instant::now();
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                got += n;
                since = Instant::now();
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                if sh.done() {
                    return Ok(false);
                }
                if let Some(e) = sh.stalled(since) {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Accepts the test's persistent data connections, checks each one's
/// source and cookie, and starts its data thread.
fn conn_acceptor(sh: &Arc<TestShared>, l: TcpListener) {
    let n = sh.spec.roles.len();
    let mut taken = vec![false; n];
    let mut left = n;
    let until = Instant::now() + DATA_CONNECT_TIMEOUT;
    while left > 0 && !sh.done() {
        if Instant::now() >= until {
            sh.error(format!(
                "{left} of {n} data connections did not arrive within {DATA_CONNECT_TIMEOUT:?}"
            ));
            return;
        }
        let (mut s, from) = match l.accept() {
            Ok(x) => x,
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                sh.error(format!("data accept: {e}"));
                return;
            }
        };
        if from.ip() != sh.client_ip {
            // Never talk to anyone but the session's client.
            continue;
        }
        let _ = s.set_read_timeout(Some(HANDSHAKE_TIMEOUT));
        let mut hdr = [0u8; COOKIE_LEN + 4];
        if s.read_exact(&mut hdr).is_err() || !ct_eq(&hdr[..COOKIE_LEN], &sh.cookie) {
            continue;
        }
        let idx = u32::from_be_bytes([hdr[16], hdr[17], hdr[18], hdr[19]]) as usize;
        if idx >= n || taken[idx] {
            continue;
        }
        taken[idx] = true;
        left -= 1;
        if sys::set_timeouts(s.as_raw_fd(), POLL_TICK).is_err() {
            continue;
        }
        if sh.spec.nodelay {
            let _ = s.set_nodelay(true);
        }
        if let Ok(c) = s.try_clone() {
            push(&sh.socks, c);
        }
        let sh2 = sh.clone();
        let role = sh.spec.roles[idx];
        match spawn(&format!("skubench-d{idx}"), move || {
            let cpu = sh2.pin(idx);
            let r = match role {
                Role::Sink => sink(&sh2, &mut s, idx),
                Role::Source => source(&sh2, &mut s, idx),
                Role::Echo => echo(&sh2, &mut s, idx),
            };
            ThreadOut {
                cpu: cpu.or_else(bench_core::affinity::current_cpu),
                error: r.err().map(|e| format!("data connection {idx}: {e}")),
                udp: None,
                tcp: None,
            }
        }) {
            Ok(h) => push(&sh.threads, h),
            Err(e) => sh.error(e.to_string()),
        }
    }
}

fn io_size(sh: &TestShared) -> usize {
    (sh.spec.msg_size as usize).clamp(1, proto::MAX_IO_SIZE as usize)
}

fn sink(sh: &TestShared, s: &mut TcpStream, idx: usize) -> io::Result<()> {
    // Receive in large calls whatever the sender's message size: fewer
    // wake-ups, and the receiver is never the bottleneck.
    let mut buf = vec![0u8; io_size(sh).max(256 << 10)];
    pump(sh, &sh.slots[idx].rx, || s.read(&mut buf))
}

fn source(sh: &TestShared, s: &mut TcpStream, idx: usize) -> io::Result<()> {
    let buf = vec![0u8; io_size(sh)];
    pump(sh, &sh.slots[idx].tx, || s.write(&buf))
}

/// Repeats `call` (one read or one write of a non-empty buffer), adding the
/// bytes it moved to `bytes`, until the test is done or the client has gone
/// (0 bytes: end of stream).
fn pump(
    sh: &TestShared,
    bytes: &AtomicU64,
    mut call: impl FnMut() -> io::Result<usize>,
) -> io::Result<()> {
    let mut k = 0u32;
    let mut since = Instant::now();
    loop {
        match call() {
            Ok(0) => return Ok(()),
            Ok(n) => {
                bytes.fetch_add(n as u64, Ordering::Relaxed);
                since = Instant::now();
                k = k.wrapping_add(1);
                if k.is_multiple_of(64) && sh.done() {
                    return Ok(());
                }
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                if sh.done() {
                    return Ok(());
                }
                if let Some(e) = sh.stalled(since) {
                    return Err(e);
                }
            }
            // The client closes its sockets when its run ends.
            Err(e) if is_disconnect(&e) || sh.done() => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

fn echo(sh: &TestShared, s: &mut TcpStream, idx: usize) -> io::Result<()> {
    let mut req = vec![0u8; sh.spec.req_size as usize];
    let resp = vec![0u8; sh.spec.resp_size as usize];
    let slot = &sh.slots[idx];
    let mut k = 0u32;
    loop {
        match read_full(s, &mut req, sh) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) if is_disconnect(&e) || sh.done() => return Ok(()),
            Err(e) => return Err(e),
        }
        match s.write_all(&resp) {
            Ok(()) => {}
            Err(e) if is_disconnect(&e) || sh.done() => return Ok(()),
            Err(e) => return Err(e),
        }
        slot.n.fetch_add(1, Ordering::Relaxed);
        k = k.wrapping_add(1);
        if k.is_multiple_of(256) && sh.done() {
            return Ok(());
        }
    }
}

/// One of the CRR test's acceptor threads: accept, read cookie + request,
/// answer, close (first, or after the client's close when it asked so).
fn crr_acceptor(sh: &TestShared, l: &TcpListener, i: usize) -> ThreadOut {
    let cpu = sh.pin(i);
    let slot = &sh.slots[i];
    let mut req = vec![0u8; COOKIE_LEN + sh.spec.req_size as usize];
    let resp = vec![0u8; sh.spec.resp_size as usize];
    let mut eof = [0u8; 64];
    let mut error = None;
    while !sh.done() {
        let (mut s, from) = match l.accept() {
            Ok(x) => x,
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
            Err(e) => {
                error = Some(format!("CRR accept: {e}"));
                break;
            }
        };
        if from.ip() != sh.client_ip {
            continue;
        }
        let _ = sys::set_timeouts(s.as_raw_fd(), HANDSHAKE_TIMEOUT);
        if sh.spec.nodelay {
            let _ = s.set_nodelay(true);
        }
        match read_full(&mut s, &mut req, sh) {
            Ok(true) if ct_eq(&req[..COOKIE_LEN], &sh.cookie) => {}
            _ => continue,
        }
        if s.write_all(&resp).is_err() {
            continue;
        }
        slot.rx.fetch_add(req.len() as u64, Ordering::Relaxed);
        slot.tx.fetch_add(resp.len() as u64, Ordering::Relaxed);
        slot.n.fetch_add(1, Ordering::Relaxed);
        // With `client_closes`, wait for the client's FIN so the client, not
        // the peer, holds TIME-WAIT; else close at once (netserver's side
        // ends up holding TIME-WAIT in netperf's TCP_CRR too).
        if sh.spec.client_closes {
            while let Ok(n) = s.read(&mut eof) {
                if n == 0 {
                    break;
                }
            }
        }
    }
    ThreadOut {
        cpu: cpu.or_else(bench_core::affinity::current_cpu),
        error,
        udp: None,
        tcp: None,
    }
}

/// Sequence and RFC 3550 jitter tracking of one UDP flow, for whichever
/// end receives (the peer, or the client when the peer sends).
#[derive(Clone, Debug, Default)]
pub struct UdpFlow {
    /// Highest sequence number seen.
    pub max_seq: Option<u64>,
    prev_transit: Option<i64>,
    /// Interarrival jitter, ns (RFC 3550 §6.4.1).
    pub jitter: f64,
    /// Datagrams below the highest sequence number seen before.
    pub reordered: u64,
    /// Datagrams with the highest sequence number seen again.
    pub duplicates: u64,
}

impl UdpFlow {
    /// Accounts one datagram: its sequence number, the sender's send time
    /// and the arrival time (each on its own host's clock, ns).
    pub fn observe(&mut self, seq: u64, sent_ns: i64, arrival_ns: i64) {
        match self.max_seq {
            Some(m) if seq < m => self.reordered += 1,
            Some(m) if seq == m => self.duplicates += 1,
            _ => self.max_seq = Some(seq),
        }
        // RFC 3550 §6.4.1: D = (Rj − Ri) − (Sj − Si); J += (|D| − J) / 16.
        // The clocks need not agree: only transit-time differences matter.
        let transit = arrival_ns.wrapping_sub(sent_ns);
        if let Some(p) = self.prev_transit {
            let d = transit.wrapping_sub(p).unsigned_abs() as f64;
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.prev_transit = Some(transit);
    }

    /// Whether any datagram of the flow arrived.
    pub fn seen(&self) -> bool {
        self.prev_transit.is_some()
    }
}

/// A sending peer's flow `i`: waits for the client's hello (any flow's
/// hello it receives is recorded for that flow), then sends datagrams at the
/// test's rate until the test ends.
fn udp_source(
    sh: &TestShared,
    sock: UdpSocket,
    addrs: &[OnceLock<SocketAddr>],
    i: usize,
) -> ThreadOut {
    let cpu = sh.pin(i);
    let out = |error| ThreadOut {
        cpu: cpu.or_else(bench_core::affinity::current_cpu),
        error,
        udp: None,
        tcp: None,
    };
    let mut hello = [0u8; 64];
    let dest = loop {
        if let Some(a) = addrs.get(i).and_then(|a| a.get()) {
            break *a;
        }
        if sh.done() {
            return out(None);
        }
        match sock.recv_from(&mut hello) {
            Ok((n, from)) => {
                let flow = UdpHeader::flow_of(&hello[..n], &sh.cookie);
                if let Some(f) = flow.filter(|_| from.ip() == sh.client_ip) {
                    if let Some(slot) = addrs.get(f as usize) {
                        let _ = slot.set(from);
                    }
                }
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return out(Some(format!("UDP receive (hello): {e}"))),
        }
    };
    let size = sh.spec.msg_size as usize;
    let mut buf = vec![0u8; size];
    UdpHeader::init(&mut buf, &sh.cookie, i as u32);
    let rate = sh.spec.bitrate.unwrap_or(0.0);
    let interval_ns = if rate > 0.0 {
        size as f64 * 8.0 * f64::from(sh.spec.threads) * 1e9 / rate
    } else {
        0.0
    };
    let slot = &sh.slots[i];
    let t0 = Instant::now();
    let mut seq = 0u64;
    while !sh.done() {
        let now = t0.elapsed().as_nanos() as u64;
        if interval_ns > 0.0 {
            // A schedule from the start: a late sender catches up in a burst.
            let due = (seq as f64 * interval_ns) as u64;
            if now < due {
                sys::pace_wait(due - now);
                continue;
            }
        }
        UdpHeader::stamp(&mut buf, seq, now);
        match sock.send_to(&buf, dest) {
            Ok(n) => {
                seq += 1;
                slot.tx.fetch_add(n as u64, Ordering::Relaxed);
            }
            // The local queue is full: the datagram is lost here, and the
            // client sees the gap in the sequence numbers.
            Err(e)
                if e.raw_os_error() == Some(libc::ENOBUFS)
                    || e.kind() == io::ErrorKind::WouldBlock =>
            {
                seq += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted || is_timeout(&e) => {}
            Err(e) => return out(Some(format!("UDP send to {dest}: {e}"))),
        }
    }
    out(None)
}

fn udp_receiver(sh: &TestShared, sock: UdpSocket) -> ThreadOut {
    let cpu = sh.pin(0);
    let mut buf = vec![0u8; 65536];
    let mut flows: Vec<UdpFlow> = vec![UdpFlow::default(); sh.spec.threads as usize];
    let mut r = UdpRecv::default();
    let t0 = Instant::now();
    let slot = &sh.slots[0];
    loop {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                if sh.done() {
                    break;
                }
                continue;
            }
            Err(e) => {
                sh.error(format!("UDP receive: {e}"));
                break;
            }
        };
        let arrival = t0.elapsed().as_nanos() as i64;
        let header = UdpHeader::parse(&buf[..n], &sh.cookie).filter(|_| from.ip() == sh.client_ip);
        let Some((h, f)) = header.and_then(|h| Some((h, flows.get_mut(h.flow as usize)?))) else {
            r.foreign += 1;
            continue;
        };
        r.datagrams += 1;
        r.bytes += n as u64;
        slot.rx.fetch_add(n as u64, Ordering::Relaxed);
        f.observe(h.seq, h.sent_ns as i64, arrival);
        if r.datagrams.is_multiple_of(256) && sh.done() {
            break;
        }
    }
    r.reordered = flows.iter().map(|f| f.reordered).sum();
    r.duplicates = flows.iter().map(|f| f.duplicates).sum();
    let seen: Vec<f64> = flows
        .iter()
        .filter(|f| f.seen())
        .map(|f| f.jitter)
        .collect();
    if !seen.is_empty() {
        r.jitter_ns = seen.iter().sum::<f64>() / seen.len() as f64;
    }
    ThreadOut {
        cpu: cpu.or_else(bench_core::affinity::current_cpu),
        error: None,
        udp: Some(r),
        tcp: None,
    }
}

/// How long a test waits for a data port of `--data-ports` to come free.
/// A test's listener closes once its acceptor has taken every connection,
/// a moment after the client's connects return: a client that starts its
/// next test at once (`net.rr_under_load` starts its load streams as soon
/// as the RR connections are up) found the only port of a one-port range
/// still held, once in a CI run.
const DATA_PORT_WAIT: Duration = Duration::from_secs(1);

/// Binds a data socket on `ip`: an ephemeral port, or the first free port
/// of `range` (a port another test holds is skipped; any other error
/// stops). When every port is held, the sweep is retried for up to
/// [`DATA_PORT_WAIT`].
fn bind_data<T>(
    ip: IpAddr,
    range: Option<(u16, u16)>,
    mut bind: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let Some((lo, hi)) = range else {
        return bind(&SocketAddr::new(ip, 0));
    };
    let deadline = Instant::now() + DATA_PORT_WAIT;
    loop {
        for port in lo..=hi {
            match bind(&SocketAddr::new(ip, port)) {
                Ok(t) => return Ok(t),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(e),
            }
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!(
            "every data port in {lo}-{hi} is in use (`skubench serve --data-ports` \
             needs one free port per running test)"
        ),
    ))
}
