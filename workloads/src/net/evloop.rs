//! The peer's side of `tcp_flows` and `tcp_cps`: a few event-loop threads
//! (mio, i.e. epoll, edge-triggered) that each own a share of the test's
//! connections, as neper's `-T threads -F flows` does; never a thread per
//! connection.
//!
//! Every loop registers the test's one listener and accepts what it can
//! (the kernel wakes them all; the losers see `WouldBlock`), so the flows
//! spread over the loops by who is free. A connection first presents the
//! test's cookie (and, for a flow, its index) within [`HANDSHAKE_TIMEOUT`];
//! until then it holds a slot of [`MAX_PENDING_DATA`]. The test holds at
//! most `flows` + [`MAX_PENDING_DATA`] connections at once; more are closed
//! on accept. A flow that makes no progress for the stall timeout ends the
//! session, as the thread-per-connection tests do.

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener as MioListener, TcpStream as MioStream};
use mio::{Events, Interest, Poll, Token};

use super::proto::{ct_eq, PeerError, Role, TcpInfoSum, TestKind, COOKIE_LEN, MAX_IO_SIZE};
use super::server::{
    push, spawn, TestShared, ThreadOut, DATA_CONNECT_TIMEOUT, HANDSHAKE_TIMEOUT, POLL_TICK,
};
use super::sys::{self, is_disconnect};

/// Connections of one test still presenting their cookie, at most.
pub const MAX_PENDING_DATA: usize = 256;
/// Calls on one connection per turn before the others get theirs: bounds
/// how long one busy flow can keep a loop from the rest.
const BURST: usize = 16;
const LISTENER: Token = Token(usize::MAX);

/// State shared by the loops of one test.
struct Loops {
    /// Connections the test holds now (all loops).
    live: AtomicUsize,
    /// Connections presenting their cookie now (all loops).
    pending: AtomicUsize,
    /// Flows that presented a valid cookie and index.
    flows_in: AtomicUsize,
    /// Which flow indices have arrived.
    taken: Vec<AtomicBool>,
    /// Whether the missing-flows error was recorded.
    late_reported: AtomicBool,
    started: Instant,
}

/// Starts `spec.threads` loops on listener `l` for the test `sh`.
pub(super) fn start(sh: &Arc<TestShared>, l: TcpListener) -> Result<(), PeerError> {
    l.set_nonblocking(true)
        .map_err(|e| format!("data listener: {e}"))?;
    let flows = sh.spec.flows as usize;
    let shared = Arc::new(Loops {
        live: AtomicUsize::new(0),
        pending: AtomicUsize::new(0),
        flows_in: AtomicUsize::new(0),
        taken: if sh.spec.kind == TestKind::TcpFlows {
            (0..flows).map(|_| AtomicBool::new(false)).collect()
        } else {
            Vec::new()
        },
        late_reported: AtomicBool::new(false),
        started: Instant::now(),
    });
    for i in 0..sh.spec.threads as usize {
        let l2 = l.try_clone().map_err(|e| format!("data listener: {e}"))?;
        let (sh2, lp) = (sh.clone(), shared.clone());
        let h = spawn(&format!("skubench-ev{i}"), move || {
            let cpu = sh2.pin(i);
            let r = run_loop(&sh2, &lp, l2, i);
            let (error, tcp) = match r {
                Ok(t) => (None, Some(t)),
                Err(e) => (Some(format!("event loop {i}: {e}")), None),
            };
            ThreadOut {
                cpu: cpu.or_else(bench_core::affinity::current_cpu),
                error,
                udp: None,
                tcp,
            }
        })?;
        push(&sh.threads, h);
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Reading the cookie (and a flow's 4-byte index).
    Hello,
    /// A stream flow: read and discard.
    Sink,
    /// A request/response flow, or a connection of the rate test after
    /// its cookie: requests in, responses out.
    Echo,
    /// A rate-test connection that has had its response: waits for the
    /// client's close (a reset, with SO_LINGER 0) and is then dropped.
    Closing,
}

struct Conn {
    s: MioStream,
    phase: Phase,
    hdr: [u8; COOKIE_LEN + 4],
    got: usize,
    /// Request bytes received towards the current request.
    req_got: u64,
    /// Response bytes still to send.
    out_left: u64,
    /// Requests whose response is not fully sent yet.
    owed: u64,
    /// Last progress (data moved).
    since: Instant,
    /// Handshake (and rate-test connection) deadline.
    deadline: Instant,
}

/// Connections by token, with a free list (the token is the index).
#[derive(Default)]
struct Table {
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
}

impl Table {
    fn insert(&mut self, c: Conn) -> usize {
        match self.free.pop() {
            Some(k) => {
                self.conns[k] = Some(c);
                k
            }
            None => {
                self.conns.push(Some(c));
                self.conns.len() - 1
            }
        }
    }
    fn remove(&mut self, k: usize) -> Option<Conn> {
        let c = self.conns.get_mut(k)?.take();
        if c.is_some() {
            self.free.push(k);
        }
        c
    }
}

/// What one turn on a connection ended in.
enum Turn {
    /// Blocked (`WouldBlock`): wait for the next readiness edge.
    Blocked,
    /// Used its burst: more to do, after the others.
    More,
    /// Close it (done, refused, or the client went away).
    Close,
}

fn run_loop(sh: &TestShared, lp: &Loops, l: TcpListener, me: usize) -> io::Result<TcpInfoSum> {
    let mut poll = Poll::new()?;
    let mut listener = MioListener::from_std(l);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut t = Table::default();
    let mut again: Vec<usize> = Vec::new();
    let mut scratch = vec![0u8; 256 << 10];
    let resp = vec![0u8; (sh.spec.resp_size as usize).clamp(1, 256 << 10)];
    let flows_test = sh.spec.kind == TestKind::TcpFlows;
    let role = sh.spec.roles.first().copied().unwrap_or(Role::Echo);
    let cap = sh.spec.flows as usize + MAX_PENDING_DATA;
    let slot = &sh.slots[me];
    let mut accepting = true;
    // The backlog may hold more than the handshake budget let us take.
    let mut backlog = false;
    let mut next_scan = Instant::now() + POLL_TICK;
    let mut result = Ok(());
    while !sh.done() {
        let timeout = if !again.is_empty() {
            Duration::ZERO
        } else if backlog {
            Duration::from_millis(1)
        } else {
            POLL_TICK
        };
        if let Err(e) = poll.poll(&mut events, Some(timeout)) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            result = Err(e);
            break;
        }
        let mut turn: Vec<usize> = std::mem::take(&mut again);
        let mut listener_ready = backlog;
        for ev in events.iter() {
            if ev.token() == LISTENER {
                listener_ready = true;
            } else {
                turn.push(ev.token().0);
            }
        }
        if listener_ready && accepting {
            backlog = accept_all(sh, lp, &listener, &poll, &mut t, cap)?;
        }
        turn.sort_unstable();
        turn.dedup();
        for k in turn {
            let Some(c) = t.conns.get_mut(k).and_then(Option::as_mut) else {
                continue;
            };
            let r = step(sh, lp, c, &mut scratch, &resp, role, flows_test, slot);
            match r {
                Ok(Turn::Blocked) => {}
                Ok(Turn::More) => again.push(k),
                Ok(Turn::Close) | Err(_) => close(lp, &mut t, k),
            }
        }
        let now = Instant::now();
        if now >= next_scan {
            next_scan = now + POLL_TICK;
            if flows_test && accepting && now.duration_since(lp.started) >= DATA_CONNECT_TIMEOUT {
                let n = lp.flows_in.load(Ordering::Relaxed);
                if n < sh.spec.flows as usize {
                    accepting = false;
                    let _ = poll.registry().deregister(&mut listener);
                    if !lp.late_reported.swap(true, Ordering::Relaxed) {
                        sh.error(format!(
                            "{} of {} flows did not arrive within {DATA_CONNECT_TIMEOUT:?}",
                            sh.spec.flows as usize - n,
                            sh.spec.flows
                        ));
                    }
                }
            }
            if let Some(e) = scan(sh, lp, &mut t, now) {
                result = Err(e);
                break;
            }
        }
    }
    let mut tcp = TcpInfoSum::default();
    for c in t.conns.iter().flatten() {
        if matches!(c.phase, Phase::Sink | Phase::Echo) {
            if let Some(i) = sys::tcp_info(&c.s) {
                tcp.merge(&i);
            }
        }
    }
    for k in 0..t.conns.len() {
        close(lp, &mut t, k);
    }
    result.map(|()| tcp)
}

/// Accepts until `WouldBlock` (returns false) or until the handshake
/// budget is full (returns true: the rest wait in the backlog, and the
/// loop comes back for them once handshakes have finished). Connections
/// from anyone but the session's client, and those over the test's
/// budget, are closed at once.
fn accept_all(
    sh: &TestShared,
    lp: &Loops,
    l: &MioListener,
    poll: &Poll,
    t: &mut Table,
    cap: usize,
) -> io::Result<bool> {
    loop {
        if lp.pending.load(Ordering::Relaxed) >= MAX_PENDING_DATA {
            return Ok(true);
        }
        let (s, from) = match l.accept() {
            Ok(x) => x,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
            // EMFILE and the like: leave the rest in the backlog for a while.
            Err(_) => return Ok(false),
        };
        if from.ip() != sh.client_ip || lp.live.load(Ordering::Relaxed) >= cap {
            continue;
        }
        if sh.spec.nodelay {
            let _ = s.set_nodelay(true);
        }
        let now = Instant::now();
        let c = Conn {
            s,
            phase: Phase::Hello,
            hdr: [0; COOKIE_LEN + 4],
            got: 0,
            req_got: 0,
            out_left: 0,
            owed: 0,
            since: now,
            deadline: now + HANDSHAKE_TIMEOUT,
        };
        lp.live.fetch_add(1, Ordering::Relaxed);
        lp.pending.fetch_add(1, Ordering::Relaxed);
        let k = t.insert(c);
        let Some(c) = t.conns[k].as_mut() else {
            continue;
        };
        if poll
            .registry()
            .register(&mut c.s, Token(k), Interest::READABLE | Interest::WRITABLE)
            .is_err()
        {
            close(lp, t, k);
        }
    }
}

fn close(lp: &Loops, t: &mut Table, k: usize) {
    if let Some(c) = t.remove(k) {
        lp.live.fetch_sub(1, Ordering::Relaxed);
        if c.phase == Phase::Hello {
            lp.pending.fetch_sub(1, Ordering::Relaxed);
        }
        // Dropping the stream closes it (and takes it out of the epoll set).
    }
}

/// Closes handshakes and rate-test connections past their deadline, and
/// ends the test when a flow has stalled.
fn scan(sh: &TestShared, lp: &Loops, t: &mut Table, now: Instant) -> Option<io::Error> {
    for k in 0..t.conns.len() {
        let Some(c) = t.conns[k].as_ref() else {
            continue;
        };
        let cps = sh.spec.kind == TestKind::TcpCps;
        if (c.phase == Phase::Hello || cps) && now >= c.deadline {
            close(lp, t, k);
        } else if !cps && matches!(c.phase, Phase::Sink | Phase::Echo) {
            if let Some(e) = sh.stalled(c.since) {
                return Some(e);
            }
        }
    }
    None
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// One turn on connection `c`: at most [`BURST`] calls.
#[allow(clippy::too_many_arguments)]
fn step(
    sh: &TestShared,
    lp: &Loops,
    c: &mut Conn,
    scratch: &mut [u8],
    resp: &[u8],
    role: Role,
    flows_test: bool,
    slot: &super::server::Slot,
) -> io::Result<Turn> {
    let req = u64::from(sh.spec.req_size.clamp(1, MAX_IO_SIZE));
    let resp_size = u64::from(sh.spec.resp_size.clamp(1, MAX_IO_SIZE));
    for _ in 0..BURST {
        match c.phase {
            Phase::Hello => {
                let need = if flows_test {
                    COOKIE_LEN + 4
                } else {
                    COOKIE_LEN
                };
                match c.s.read(&mut c.hdr[c.got..need]) {
                    Ok(0) => return Ok(Turn::Close),
                    Ok(n) => c.got += n,
                    Err(e) if would_block(&e) => return Ok(Turn::Blocked),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return Ok(Turn::Close),
                }
                if c.got < need {
                    continue;
                }
                if !ct_eq(&c.hdr[..COOKIE_LEN], &sh.cookie) {
                    return Ok(Turn::Close);
                }
                if flows_test {
                    let idx = u32::from_be_bytes([c.hdr[16], c.hdr[17], c.hdr[18], c.hdr[19]]);
                    let fresh = lp
                        .taken
                        .get(idx as usize)
                        .is_some_and(|f| !f.swap(true, Ordering::Relaxed));
                    if !fresh {
                        return Ok(Turn::Close);
                    }
                    lp.flows_in.fetch_add(1, Ordering::Relaxed);
                }
                lp.pending.fetch_sub(1, Ordering::Relaxed);
                c.phase = if flows_test && role == Role::Sink {
                    Phase::Sink
                } else {
                    Phase::Echo
                };
                c.since = Instant::now();
            }
            Phase::Sink => match c.s.read(scratch) {
                Ok(0) => return Ok(Turn::Close),
                Ok(n) => {
                    slot.rx.fetch_add(n as u64, Ordering::Relaxed);
                    c.since = Instant::now();
                }
                Err(e) if would_block(&e) => return Ok(Turn::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_disconnect(&e) || sh.done() => return Ok(Turn::Close),
                Err(e) => return Err(e),
            },
            Phase::Echo | Phase::Closing if c.out_left > 0 => {
                let n = (c.out_left as usize).min(resp.len());
                match c.s.write(&resp[..n]) {
                    Ok(n) => {
                        c.out_left -= n as u64;
                        slot.tx.fetch_add(n as u64, Ordering::Relaxed);
                        c.since = Instant::now();
                        if c.out_left == 0 {
                            slot.n.fetch_add(c.owed, Ordering::Relaxed);
                            c.owed = 0;
                        }
                    }
                    Err(e) if would_block(&e) => return Ok(Turn::Blocked),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Ok(Turn::Close),
                }
            }
            Phase::Echo => {
                // Count requests without keeping them: memory per flow
                // stays a few words whatever the request size.
                let want = (req - c.req_got).min(scratch.len() as u64) as usize;
                let want = if flows_test { scratch.len() } else { want };
                match c.s.read(&mut scratch[..want]) {
                    Ok(0) => return Ok(Turn::Close),
                    Ok(n) => {
                        slot.rx.fetch_add(n as u64, Ordering::Relaxed);
                        c.since = Instant::now();
                        c.req_got += n as u64;
                        while c.req_got >= req {
                            c.req_got -= req;
                            c.out_left += resp_size;
                            c.owed += 1;
                        }
                        if !flows_test && c.owed > 0 {
                            // A rate-test connection has one request.
                            c.phase = Phase::Closing;
                        }
                    }
                    Err(e) if would_block(&e) => return Ok(Turn::Blocked),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if is_disconnect(&e) || sh.done() => return Ok(Turn::Close),
                    Err(e) => return Err(e),
                }
            }
            Phase::Closing => match c.s.read(scratch) {
                // The client's close: reset or FIN, either way done.
                Ok(0) => return Ok(Turn::Close),
                Ok(_) => {}
                Err(e) if would_block(&e) => return Ok(Turn::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Ok(Turn::Close),
            },
        }
    }
    Ok(Turn::More)
}
