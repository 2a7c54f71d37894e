//! What the four client workloads share: the peer (remote, or in-process on
//! loopback), the control session, per-test set-up, marks and results.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bench_core::params::{ParamDef, ParamKind, Params};
use bench_core::result::{Better, Series};
use bench_core::workload::{
    PrepareEnv, Resources, RunOutput, Step, StepResult, Worker, WorkerCtx, Workload,
};
use bench_core::{SpecError, Unit, WorkloadError};

use super::client::{open_data, ClientSession, Ready};
use super::proto::{
    hex, random_bytes, CpuUsage, MarkPhase, PeerError, PeerResults, TcpInfoSum, TestSpec,
};
use super::server::{ServeConfig, Server};
use super::sys::{self, CpuSnap, SockOpts};

/// How long a data socket may make no progress before the run fails.
pub const STALL_LIMIT: Duration = Duration::from_secs(10);
/// Timeout of each blocking data-socket call, so workers notice the end.
pub const DATA_TICK: Duration = Duration::from_millis(200);

/// Parameters every net workload takes.
pub const PEER_PARAMS: [ParamDef; 6] = [
    ParamDef {
        name: "peer",
        kind: ParamKind::Str,
        default: None,
        help: "HOST:PORT of a `skubench serve` peer; omitted: an in-process peer on loopback",
    },
    ParamDef {
        name: "token",
        kind: ParamKind::Str,
        default: None,
        help: "the peer's shared token (required with `peer`, or token_file)",
    },
    ParamDef {
        name: "token_file",
        kind: ParamKind::Str,
        default: None,
        help: "file holding the peer's token (first line)",
    },
    ParamDef {
        name: "pin",
        kind: ParamKind::CpuList,
        default: None,
        help: "vCPUs to pin client workers to, round-robin",
    },
    ParamDef {
        name: "peer_pin",
        kind: ParamKind::CpuList,
        default: None,
        help: "vCPUs to pin the peer's data threads to, round-robin",
    },
    ParamDef {
        name: "placement",
        kind: ParamKind::Choice(&["auto", "colocate", "spread", "none"]),
        default: Some("auto"),
        help: "in-process peer without pin/peer_pin: colocate puts each client worker and its peer thread on one vCPU, spread on neighbouring vCPUs; auto = colocate with the in-process peer, none with a remote one",
    },
];

/// A net workload's parameter list: the given ones of its own, then
/// [`PEER_PARAMS`].
macro_rules! with_peer_params {
    ($($own:expr),* $(,)?) => {
        &[
            $($own,)*
            $crate::net::common::PEER_PARAMS[0],
            $crate::net::common::PEER_PARAMS[1],
            $crate::net::common::PEER_PARAMS[2],
            $crate::net::common::PEER_PARAMS[3],
            $crate::net::common::PEER_PARAMS[4],
            $crate::net::common::PEER_PARAMS[5],
        ]
    };
}
pub(crate) use with_peer_params;

/// Where the peer is and how to authenticate; validated, not yet resolved.
#[derive(Clone, Debug)]
pub struct Target {
    peer: Option<String>,
    token: Option<String>,
    token_file: Option<String>,
    /// Client pinning.
    pub pin: Option<Vec<usize>>,
    /// Peer pinning.
    pub peer_pin: Option<Vec<usize>>,
    placement: Placement,
}

/// Where client workers and in-process peer threads go by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placement {
    None,
    Colocate,
    Spread,
}

impl Target {
    /// Reads and checks the common parameters (no I/O).
    pub fn from_params(p: &Params) -> Result<Self, SpecError> {
        let s = |k: &str| p.str(k).ok().map(str::to_string);
        let t = Target {
            peer: s("peer"),
            token: s("token"),
            token_file: s("token_file"),
            pin: bench_core::affinity::pin_param(p, &bench_core::affinity::allowed_cpus())?,
            peer_pin: p
                .list("peer_pin")
                .map(|l| l.into_iter().map(|c| c as usize).collect()),
            placement: match (p.str("placement").unwrap_or("auto"), p.is_set("peer")) {
                ("colocate", _) | ("auto", false) => Placement::Colocate,
                ("spread", _) => Placement::Spread,
                _ => Placement::None,
            },
        };
        if let Some(peer) = &t.peer {
            let ok = peer
                .rsplit_once(':')
                .is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
            if !ok {
                return Err(SpecError::key(
                    "peer",
                    format!("key `peer`: expected HOST:PORT (e.g. 10.0.0.5:5201 or [::1]:5201), got `{peer}`"),
                ));
            }
            if t.token.is_none() && t.token_file.is_none() {
                return Err(SpecError::key(
                    "token",
                    "key `token` (or `token_file`) is required when `peer` is set",
                ));
            }
        }
        if t.token.is_some() && t.token_file.is_some() {
            return Err(SpecError::key(
                "token",
                "keys `token` and `token_file` exclude each other",
            ));
        }
        if t.token.as_deref() == Some("") {
            return Err(SpecError::key("token", "key `token`: empty"));
        }
        Ok(t)
    }

    /// Whether the peer runs in this process.
    pub fn local(&self) -> bool {
        self.peer.is_none()
    }

    /// Explicit pinning, or the default placement (in-process peer only):
    /// the client workers' vCPUs, and the peer threads' where peer thread
    /// `j` serves client worker `owner(j)`, for `peer_threads` threads.
    ///
    /// Colocating is the default because on loopback a sender and its
    /// receiver on one vCPU share the cache the data is in (≈ +15–40% for
    /// a stream here) and a wake-up needs no IPI; left to the scheduler the
    /// pair lands together in some runs and apart in others, which doubles
    /// the run-to-run spread.
    pub fn pins(
        &self,
        workers: usize,
        peer_threads: usize,
        owner: impl Fn(usize) -> usize,
    ) -> (Option<Vec<usize>>, Option<Vec<usize>>) {
        if self.pin.is_some() || self.peer_pin.is_some() || !self.local() {
            return (self.pin.clone(), self.peer_pin.clone());
        }
        let cpus = bench_core::affinity::allowed_cpus();
        let n = cpus.len();
        let shift = match self.placement {
            Placement::None => return (None, None),
            Placement::Colocate => 0,
            Placement::Spread => 1,
        };
        if n == 0 {
            return (None, None);
        }
        let client = (0..workers.max(1)).map(|k| cpus[k % n]).collect();
        let peer = (0..peer_threads.max(1))
            .map(|j| cpus[(owner(j) + shift) % n])
            .collect();
        (Some(client), Some(peer))
    }
}

/// A client-side test in progress.
struct ActiveTest {
    ready: Ready,
    conns: Vec<Option<TcpStream>>,
    cpu_start: Option<CpuSnap>,
    cpu_end: Option<CpuSnap>,
}

#[derive(Default)]
struct State {
    server: Option<Server>,
    addr: Option<SocketAddr>,
    token: Vec<u8>,
    session: Option<ClientSession>,
    test: Option<ActiveTest>,
}

/// The control side of a net workload, shared with its workers.
pub struct NetCtl {
    /// The validated target.
    pub target: Target,
    kind: &'static str,
    state: Mutex<State>,
}

/// What the end of a test gathered for `metrics`.
#[derive(Default)]
pub struct Finished {
    /// The peer's figures.
    pub peer: Option<PeerResults>,
    /// Why the peer's figures are missing.
    pub peer_error: Option<String>,
    /// This host's CPU use between the marks.
    pub client_cpu: Option<CpuUsage>,
    /// The peer's address and software.
    pub peer_desc: String,
    /// Whether the peer ran in this process.
    pub local_peer: bool,
}

fn werr(kind: &str, e: impl std::fmt::Display) -> WorkloadError {
    WorkloadError::Other(format!("{kind}: {e}"))
}

impl NetCtl {
    /// A controller for workload `kind`.
    pub fn new(kind: &'static str, target: Target) -> Arc<Self> {
        Arc::new(Self {
            target,
            kind,
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A worker that panicked while holding the lock leaves plain data behind.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A second controller for workload `kind` on the same peer (its own
    /// control session and tests), for a workload that runs two tests at
    /// once. Call after [`NetCtl::prepare`]; the in-process peer stays
    /// owned (and stopped) by `self`.
    pub fn sibling(&self, kind: &'static str) -> Result<Arc<Self>, WorkloadError> {
        let st = self.lock();
        let addr = st.addr.ok_or_else(|| werr(self.kind, "not prepared"))?;
        let mut target = self.target.clone();
        // The sibling resolves nothing and starts no peer of its own.
        target.peer = Some(addr.to_string());
        let s = Arc::new(Self {
            target,
            kind,
            state: Mutex::new(State {
                addr: Some(addr),
                token: st.token.clone(),
                ..State::default()
            }),
        });
        drop(st);
        s.prepare()?;
        Ok(s)
    }

    /// Starts the in-process peer or resolves the remote one, then opens
    /// and authenticates the control session.
    pub fn prepare(&self) -> Result<(), WorkloadError> {
        let mut st = self.lock();
        if st.addr.is_none() {
            match &self.target.peer {
                None => {
                    let token = hex(&random_bytes(32).map_err(|e| werr(self.kind, e))?);
                    let mut cfg = ServeConfig::new(
                        SocketAddr::from(([127, 0, 0, 1], 0)),
                        token.clone().into_bytes(),
                    );
                    // Our own peer: other workloads may run for long between
                    // this one's repetitions.
                    cfg.idle_timeout = std::time::Duration::from_secs(7 * 24 * 3600);
                    let server = Server::start(cfg).map_err(|e| {
                        werr(self.kind, format!("starting the in-process peer: {e}"))
                    })?;
                    st.addr = Some(server.local_addr());
                    st.server = Some(server);
                    st.token = token.into_bytes();
                }
                Some(p) => {
                    let addr = p
                        .to_socket_addrs()
                        .map_err(|e| werr(self.kind, format!("peer `{p}`: {e}")))?
                        .next()
                        .ok_or_else(|| werr(self.kind, format!("peer `{p}`: no address")))?;
                    st.token = match (&self.target.token, &self.target.token_file) {
                        (Some(t), _) => t.clone().into_bytes(),
                        (None, Some(f)) => {
                            let text = std::fs::read_to_string(f)
                                .map_err(|e| werr(self.kind, format!("token_file {f}: {e}")))?;
                            let t = text.lines().next().unwrap_or("").trim().to_string();
                            if t.is_empty() {
                                return Err(werr(self.kind, format!("token_file {f}: empty")));
                            }
                            t.into_bytes()
                        }
                        (None, None) => return Err(werr(self.kind, "no token")),
                    };
                    st.addr = Some(addr);
                }
            }
        }
        self.ensure_session(&mut st)
    }

    fn ensure_session(&self, st: &mut State) -> Result<(), WorkloadError> {
        if st.session.is_none() {
            let addr = st.addr.ok_or_else(|| werr(self.kind, "not prepared"))?;
            st.session =
                Some(ClientSession::connect(addr, &st.token).map_err(|e| werr(self.kind, e))?);
        }
        Ok(())
    }

    /// Starts a test on the peer and opens its persistent data connections
    /// with `open` (called once, before any worker runs).
    pub fn begin(
        &self,
        spec: &TestSpec,
        open: impl FnOnce(&Ready) -> Result<Vec<TcpStream>, PeerError>,
    ) -> Result<Ready, WorkloadError> {
        let mut st = self.lock();
        st.test = None;
        let mut ready = None;
        let mut last = PeerError::from("");
        // Twice: between repetitions the peer may have closed an idle session
        // (other workloads ran meanwhile); a fresh one then succeeds.
        for _ in 0..2 {
            self.ensure_session(&mut st)?;
            let session = st
                .session
                .as_mut()
                .ok_or_else(|| werr(self.kind, "no session"))?;
            match session.start(spec) {
                Ok(r) => {
                    ready = Some(r);
                    break;
                }
                Err(e) => {
                    // The peer closes a session after an error.
                    st.session = None;
                    last = e;
                }
            }
        }
        let ready = ready.ok_or_else(|| werr(self.kind, last))?;
        let conns = open(&ready).map_err(|e| werr(self.kind, e))?;
        st.test = Some(ActiveTest {
            ready: ready.clone(),
            conns: conns.into_iter().map(Some).collect(),
            cpu_start: None,
            cpu_end: None,
        });
        Ok(ready)
    }

    /// The current test's data endpoint.
    pub fn ready(&self) -> Result<Ready, WorkloadError> {
        self.lock()
            .test
            .as_ref()
            .map(|t| t.ready.clone())
            .ok_or_else(|| werr(self.kind, "no test started"))
    }

    /// Takes the data connections with the given indices.
    pub fn take(&self, idx: &[usize]) -> Result<Vec<TcpStream>, WorkloadError> {
        let mut st = self.lock();
        let t = st
            .test
            .as_mut()
            .ok_or_else(|| werr(self.kind, "no test started"))?;
        idx.iter()
            .map(|&i| {
                t.conns
                    .get_mut(i)
                    .and_then(Option::take)
                    .ok_or_else(|| werr(self.kind, format!("data connection {i} is missing")))
            })
            .collect()
    }

    /// Records an edge of the measured phase here and on the peer.
    pub fn mark(&self, phase: MarkPhase) {
        let snap = CpuSnap::now();
        let mut st = self.lock();
        if let Some(t) = st.test.as_mut() {
            match phase {
                MarkPhase::Start => t.cpu_start = snap,
                MarkPhase::End => t.cpu_end = snap,
            }
        }
        if let Some(s) = st.session.as_mut() {
            // A failure here shows up again, with a clear message, at stop.
            let _ = s.mark(phase);
        }
    }

    /// Ends the test on the peer and gathers both ends' figures.
    pub fn finish(&self) -> Finished {
        let mut st = self.lock();
        let mut f = Finished {
            local_peer: self.target.local(),
            ..Finished::default()
        };
        let test = st.test.take();
        if let Some(t) = &test {
            if let (Some(a), Some(b)) = (&t.cpu_start, &t.cpu_end) {
                f.client_cpu = a.usage_until(b);
            }
        }
        if let Some(s) = st.session.as_mut() {
            f.peer_desc = format!("{} ({})", s.peer(), s.peer_software);
            if test.is_some() {
                match s.stop() {
                    Ok(r) => f.peer = Some(r),
                    Err(e) => {
                        f.peer_error = Some(e.to_string());
                        st.session = None;
                    }
                }
            }
        } else {
            f.peer_error = Some("no control session with the peer".into());
        }
        f
    }

    /// Says goodbye and stops the in-process peer.
    pub fn teardown(&self) {
        let mut st = self.lock();
        st.test = None;
        if let Some(s) = st.session.take() {
            s.bye();
        }
        if let Some(mut srv) = st.server.take() {
            srv.shutdown();
        }
        st.addr = None;
    }
}

/// Sends the measured-phase marks from worker 0.
pub struct Marker {
    ctl: Option<Arc<NetCtl>>,
    started: bool,
}

impl Marker {
    /// A marker that acts only for worker 0.
    pub fn new(ctl: &Arc<NetCtl>, index: usize) -> Self {
        Self {
            ctl: (index == 0).then(|| ctl.clone()),
            started: false,
        }
    }
    /// Call each loop iteration: marks the start once measuring begins.
    #[inline(always)]
    pub fn poll(&mut self, ctx: &WorkerCtx) {
        if !self.started && ctx.measuring() {
            self.started = true;
            if let Some(c) = &self.ctl {
                c.mark(MarkPhase::Start);
            }
        }
    }
    /// Call after the loop.
    pub fn end(&mut self) {
        if self.started {
            if let Some(c) = &self.ctl {
                c.mark(MarkPhase::End);
            }
        }
    }
}

/// What every net client worker returns: where it ran last, its sockets'
/// `TCP_INFO` (none read: zero sockets), and the workload's own figures.
#[derive(Clone, Debug, Default)]
pub struct NetOutput<T> {
    /// The vCPU the worker's thread was on when it finished.
    pub last_vcpu: Option<usize>,
    /// `TCP_INFO` of the worker's sockets.
    pub tcp: TcpInfoSum,
    /// Figures of the workload itself.
    pub own: T,
}

impl<T> NetOutput<T> {
    /// The output of the calling worker thread, its vCPU read now.
    pub fn here(tcp: TcpInfoSum, own: T) -> Self {
        Self {
            last_vcpu: bench_core::affinity::current_cpu(),
            tcp,
            own,
        }
    }
}

/// The client's TCP_INFO merged over a step's workers: socket-weighted
/// means, the largest RTT, summed retransmits.
pub fn client_tcp<T>(outputs: &[&NetOutput<T>]) -> TcpInfoSum {
    let n: f64 = outputs.iter().map(|o| o.tcp.sockets as f64).sum();
    let sum = |f: fn(&TcpInfoSum) -> f64| outputs.iter().map(|o| f(&o.tcp)).sum::<f64>();
    TcpInfoSum {
        sockets: n as u32,
        retransmits: outputs.iter().map(|o| o.tcp.retransmits).sum(),
        rtt_us_mean: if n > 0.0 {
            sum(|t| t.rtt_us_mean * t.sockets as f64) / n
        } else {
            0.0
        },
        rtt_us_max: outputs.iter().map(|o| o.tcp.rtt_us_max).max().unwrap_or(0),
        snd_cwnd_mean: if n > 0.0 {
            sum(|t| t.snd_cwnd_mean * t.sockets as f64) / n
        } else {
            0.0
        },
    }
}

/// Adds TCP_INFO metrics of one end under `prefix` (e.g. `net.tcp_stream.client`).
pub fn tcp_metrics(out: &mut RunOutput, prefix: &str, t: &TcpInfoSum) {
    if t.sockets == 0 {
        return;
    }
    out.metric(
        format!("{prefix}.tcp.retransmits"),
        t.retransmits as f64,
        Unit::Count,
        Better::Lower,
    );
    out.metric(
        format!("{prefix}.tcp.rtt_ns"),
        t.rtt_us_mean * 1e3,
        Unit::Ns,
        Better::Lower,
    );
    out.metric(
        format!("{prefix}.tcp.rtt_ns.max"),
        t.rtt_us_max as f64 * 1e3,
        Unit::Ns,
        Better::Lower,
    );
    out.metric(
        format!("{prefix}.tcp.snd_cwnd_segments"),
        t.snd_cwnd_mean,
        Unit::Segments,
        Better::Higher,
    );
}

/// Adds CPU metrics of one end; `per` is (work done, unit name) for the cost.
pub fn cpu_metrics(out: &mut RunOutput, prefix: &str, c: &CpuUsage, per: Option<(f64, &str)>) {
    out.metric(
        format!("{prefix}.cpu_busy_ratio"),
        c.busy_ratio,
        Unit::Ratio,
        Better::Lower,
    );
    out.metric(
        format!("{prefix}.cpu_softirq_ratio"),
        c.softirq_ratio,
        Unit::Ratio,
        Better::Lower,
    );
    if let Some((work, unit)) = per.filter(|(w, _)| *w > 0.0) {
        out.metric(
            format!("{prefix}.cpu_ns_per_{unit}"),
            c.busy_cpu_s * 1e9 / work,
            Unit::Ns,
            Better::Lower,
        );
    }
}

/// Records placement, peer identity and caveats in the notes.
pub fn common_notes<T>(
    out: &mut RunOutput,
    s: &StepResult,
    outputs: &[&NetOutput<T>],
    f: &Finished,
) {
    let local_peer = f.local_peer;
    let client: Vec<serde_json::Value> = s
        .workers
        .iter()
        .zip(outputs)
        .map(|(w, o)| {
            serde_json::json!({"worker": w.index, "pinned": w.cpu, "last_vcpu": o.last_vcpu})
        })
        .collect();
    out.notes
        .insert("placement.client".into(), serde_json::json!(client));
    if let Some(p) = &f.peer {
        out.notes.insert(
            "placement.peer".into(),
            serde_json::json!({"pinned": p.pinned, "vcpus": p.placement}),
        );
        if !p.errors.is_empty() {
            out.notes
                .insert("peer.errors".into(), serde_json::json!(p.errors));
        }
    }
    if let Some(e) = &f.peer_error {
        out.notes.insert("peer.error".into(), serde_json::json!(e));
    }
    out.notes.insert(
        "peer".into(),
        serde_json::json!(if local_peer {
            format!("in-process on loopback: {}", f.peer_desc)
        } else {
            f.peer_desc.clone()
        }),
    );
    if local_peer {
        out.notes.insert(
            "cpu.note".into(),
            serde_json::json!("peer on the same host: client and peer CPU figures are the same host-wide /proc/stat counters"),
        );
    }
}

/// Splits `n` items over `threads` workers: worker `i` gets `i, i+threads, …`.
pub fn share(n: usize, threads: usize, i: usize) -> Vec<usize> {
    (i..n).step_by(threads.max(1)).collect()
}

/// What every network workload declares: its threads, network use, and
/// exclusivity (other load on the vCPUs would distort throughput and latency).
pub(crate) fn net_resources(threads: usize) -> Resources {
    Resources {
        threads,
        uses_network: true,
        exclusive: true,
        ..Resources::default()
    }
}

/// Pins of the client workers and of the peer's threads.
pub type Pins = (Option<Vec<usize>>, Option<Vec<usize>>);

/// A new client worker, or why there is none.
pub type NewWorker = Result<Box<dyn Worker>, WorkloadError>;

/// What one net client workload adds to the part every one shares (the
/// peer's life cycle, the one step, the test start by worker 0, the series),
/// which [`NetWorkload`] supplies.
pub(crate) trait NetTest: Send + 'static {
    /// Client and peer pinning for `threads` client workers, from the
    /// target's placement.
    fn pins(&self, target: &Target, threads: usize) -> Pins;
    /// The test to ask the peer for; [`NetWorkload`] fills in the peer's pins.
    fn spec(&self, step: &Step) -> TestSpec;
    /// Opens the test's persistent data connections, before any worker runs.
    fn open(&self, _ready: &Ready, _step: &Step) -> Result<Vec<TcpStream>, PeerError> {
        Ok(Vec::new())
    }
    /// Client worker `index` of `step`, once the test has started.
    fn worker(&self, ctl: &Arc<NetCtl>, step: &Step, index: usize) -> NewWorker;
    /// The workload's figures and notes for the step `s`, whose test ended
    /// with `f` (the frame adds the step's series).
    fn metrics(&self, s: &StepResult, f: &Finished) -> Result<RunOutput, WorkloadError>;
}

/// A net client workload: the shared frame around its [`NetTest`].
pub(crate) struct NetWorkload<T> {
    ctl: Arc<NetCtl>,
    /// The workload's kind, also its step's label.
    label: &'static str,
    /// Client worker threads.
    threads: usize,
    test: T,
}

impl<T: NetTest> NetWorkload<T> {
    /// Workload `label` running `test` on `threads` client workers against
    /// `target`.
    pub fn boxed(
        target: Target,
        label: &'static str,
        threads: usize,
        test: T,
    ) -> Box<dyn Workload> {
        Box::new(Self {
            ctl: NetCtl::new(label, target),
            label,
            threads,
            test,
        })
    }

    fn pins(&self) -> Pins {
        self.test.pins(&self.ctl.target, self.threads)
    }
}

impl<T: NetTest> Workload for NetWorkload<T> {
    fn resources(&self) -> Resources {
        net_resources(self.threads)
    }
    fn steps(&self) -> Vec<Step> {
        vec![Step::new(self.label, self.threads, self.pins().0)]
    }
    fn prepare(&mut self, _env: &PrepareEnv) -> Result<(), WorkloadError> {
        self.ctl.prepare()
    }
    fn worker(&self, step: &Step, index: usize) -> NewWorker {
        if index == 0 {
            let spec = TestSpec {
                pin: self.pins().1,
                ..self.test.spec(step)
            };
            self.ctl.begin(&spec, |ready| self.test.open(ready, step))?;
        }
        self.test.worker(&self.ctl, step, index)
    }
    fn metrics(&self, steps: &[StepResult]) -> Result<RunOutput, WorkloadError> {
        let f = self.ctl.finish();
        let Some(s) = steps.first() else {
            return Ok(RunOutput::default());
        };
        let mut out = self.test.metrics(s, &f)?;
        out.series.push(Series {
            name: s.step.label.clone(),
            points: s.series.clone(),
        });
        Ok(out)
    }
    fn teardown(&mut self) -> Result<(), WorkloadError> {
        self.ctl.teardown();
        Ok(())
    }
}

/// Opens data connection `i` of a test with blocking calls that time out
/// every [`DATA_TICK`], so its worker keeps an eye on the clock.
pub fn open_ticking(ready: &Ready, i: usize, opts: &SockOpts) -> Result<TcpStream, PeerError> {
    let s = open_data(ready, i as u32, opts)?;
    sys::set_timeouts(s.as_raw_fd(), DATA_TICK).map_err(|e| format!("data connection {i}: {e}"))?;
    Ok(s)
}

/// Counts data-socket timeouts in a row: past [`STALL_LIMIT`] without
/// progress the peer or the path has stalled.
#[derive(Default)]
pub struct Stall(u32);

impl Stall {
    /// Data moved.
    #[inline(always)]
    pub fn progress(&mut self) {
        self.0 = 0;
    }
    /// One more [`DATA_TICK`] without progress; true once that makes more
    /// than [`STALL_LIMIT`].
    #[inline(always)]
    pub fn stalled(&mut self) -> bool {
        self.0 += 1;
        self.0 > (STALL_LIMIT.as_millis() / DATA_TICK.as_millis()) as u32
    }
}

/// Adds `name` in bits/s: `bytes` over `secs`.
pub fn bits_metric(out: &mut RunOutput, name: String, bytes: f64, secs: f64) {
    out.metric(name, bytes * 8.0 / secs, Unit::BitsPerS, Better::Higher);
}

/// Adds the client's CPU metrics under `{label}.client`, the cost per `unit`
/// of `work`, when both marks read the CPU counters.
pub fn client_cpu_metrics(out: &mut RunOutput, label: &str, f: &Finished, work: f64, unit: &str) {
    if let Some(c) = &f.client_cpu {
        cpu_metrics(out, &format!("{label}.client"), c, Some((work, unit)));
    }
}

/// Adds the peer's one-way rate `{label}.peer.{dir}.bits_per_s` over its
/// view of the measured phase, and its CPU cost per byte of `bytes`, when the
/// peer reported them.
pub fn peer_flow_metrics(
    out: &mut RunOutput,
    label: &str,
    p: &PeerResults,
    dir: &str,
    bytes: Option<u64>,
) {
    if let (Some(ms), Some(b)) = (p.measured_s, bytes) {
        if ms > 0.0 {
            bits_metric(out, format!("{label}.peer.{dir}.bits_per_s"), b as f64, ms);
        }
        if let Some(c) = &p.cpu {
            cpu_metrics(out, &format!("{label}.peer"), c, Some((b as f64, "byte")));
        }
    }
}
