//! The net workloads and the `serve` peer on 127.0.0.1: short runs of each
//! workload, authentication, protocol abuse, many sessions, a peer killed
//! mid-test, and (with SKUBENCH_PRIVILEGED_TESTS=1, as root) client and
//! peer in two network namespaces joined by a veth pair.
//!
//! Traffic only ever goes to 127.0.0.1 or to 192.0.2.0/24 inside namespaces
//! this file creates. Every loop is bounded in time and count.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use bench_core::result::{RunRecord, Status};
use common::{metric as m, run, run_ok, spec_error};
use workloads::net::client::{open_data, ClientSession};
use workloads::net::proto::{
    read_msg, write_msg, FrameError, Msg, PeerError, Role, TestKind, TestSpec,
};
use workloads::net::{ServeConfig, Server};

const LOOPBACK: ([u8; 4], u16) = ([127, 0, 0, 1], 0);

/// The flood test measures this process's RSS, so it runs alone: the
/// others (whose runs, as root with eBPF attribution, allocate tens of
/// MiB) share this lock and the flood test takes it exclusively.
static RSS_LOCK: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn beside() -> std::sync::RwLockReadGuard<'static, ()> {
    RSS_LOCK.read().unwrap_or_else(|p| p.into_inner())
}

fn alone() -> std::sync::RwLockWriteGuard<'static, ()> {
    RSS_LOCK.write().unwrap_or_else(|p| p.into_inner())
}

fn server(token: &str) -> Server {
    Server::start(ServeConfig::new(LOOPBACK.into(), token.as_bytes().to_vec())).unwrap()
}

// ---------------------------------------------------------------- workloads

#[test]
fn tcp_stream_send_and_both_ends_agree() {
    let _rss = beside();
    let recs = run_ok(
        "warmup = \"100ms\"\nduration = \"400ms\"\n[[workload]]\nkind = \"net.tcp_stream\"\n",
    );
    let r = &recs[0];
    let client = m(r, "net.tcp_stream.bits_per_s");
    assert!(client > 1e8, "loopback below 100 Mbit/s: {client}");
    assert_eq!(client, m(r, "net.tcp_stream.send.bits_per_s"));
    let peer = m(r, "net.tcp_stream.peer.recv.bits_per_s");
    assert!(
        peer > client * 0.5 && peer < client * 2.0,
        "client {client} vs peer {peer}"
    );
    // The headline is what the peer acknowledged; what `send` accepted is
    // beside it, and the two differ only by the send queue's change.
    let queued = m(r, "net.tcp_stream.send.queued_bits_per_s");
    assert!(
        queued > client * 0.8 && queued < client * 1.25,
        "delivered {client} vs queued {queued}"
    );
    assert!(m(r, "net.tcp_stream.client.cpu_busy_ratio") > 0.0);
    assert!(m(r, "net.tcp_stream.client.tcp.rtt_ns") > 0.0);
    assert!(r.metric("net.tcp_stream.tcp.retransmits").is_some());
    // Default placement with the in-process peer: client worker and its peer
    // thread colocated on one vCPU.
    let client_cpu = &r.notes["placement.client"][0]["pinned"];
    assert!(client_cpu.is_u64(), "{:?}", r.notes);
    assert_eq!(r.notes["placement.peer"]["pinned"], true);
    assert_eq!(&r.notes["placement.peer"]["vcpus"][0], client_cpu);
    assert!(!r.series.is_empty());
}

#[test]
fn tcp_stream_bidir_and_multiplexed_recv() {
    let _rss = beside();
    let recs = run_ok(
        "warmup = \"100ms\"\nduration = \"400ms\"\n\
         [[workload]]\nkind = \"net.tcp_stream\"\ndirection = \"bidir\"\nmsg_size = \"64k\"\n\
         [[workload]]\nkind = \"net.tcp_stream\"\nname = \"mux\"\ndirection = \"recv\"\nstreams = 3\nthreads = 1\nplacement = \"none\"\n\
         [[workload]]\nkind = \"net.tcp_stream\"\nname = \"zc\"\nzerocopy = true\nstreams = 2\nthreads = 1\n",
    );
    let b = &recs[0];
    let (tx, rx) = (
        m(b, "net.tcp_stream.send.bits_per_s"),
        m(b, "net.tcp_stream.recv.bits_per_s"),
    );
    assert!(tx > 1e7 && rx > 1e7, "bidir send {tx} recv {rx}");
    assert!((m(b, "net.tcp_stream.bits_per_s") - (tx + rx)).abs() < 1e-3 * (tx + rx));
    assert!(m(b, "net.tcp_stream.peer.send.bits_per_s") > 0.0);
    let x = &recs[1];
    assert!(m(x, "net.tcp_stream.recv.bits_per_s") > 1e8);
    assert!(x.metric("net.tcp_stream.send.bits_per_s").is_none());
    assert_eq!(x.notes["placement.peer"]["pinned"], false);
    assert!(x.notes["placement.client"][0]["pinned"].is_null());
    let z = &recs[2];
    assert!(m(z, "net.tcp_stream.send.bits_per_s") > 1e8);
    let zc = &z.notes["zerocopy"];
    let (sends, done) = (
        zc["sends"].as_f64().unwrap(),
        zc["completed"].as_f64().unwrap(),
    );
    assert!(sends > 0.0 && done > 0.0 && done <= sends, "{zc}");
}

#[test]
fn tcp_rr_closed_and_open_loop() {
    let _rss = beside();
    let recs = run_ok(
        "warmup = \"100ms\"\nduration = \"400ms\"\n\
         [[workload]]\nkind = \"net.tcp_rr\"\n\
         [[workload]]\nkind = \"net.tcp_rr\"\nname = \"open\"\nrate = 1000\nreq_size = 64\nresp_size = 256\n",
    );
    let c = &recs[0];
    let tps = m(c, "net.tcp_rr.transactions_per_s");
    assert!(tps > 500.0, "closed loop {tps}/s");
    let p50 = m(c, "net.tcp_rr.lat_ns.p50");
    assert!(p50 > 1_000.0 && p50 < 50e6, "p50 {p50}");
    assert!(m(c, "net.tcp_rr.lat_ns.p99") >= p50);
    assert!(c.histograms.contains_key("net.tcp_rr.lat_ns"));
    let served = c.notes["peer.transactions_total"].as_f64().unwrap();
    assert!(served >= tps * 0.4, "peer served {served}");

    let o = &recs[1];
    let tps = m(o, "net.tcp_rr.transactions_per_s");
    assert!(
        (500.0..1500.0).contains(&tps),
        "open loop at 1000/s did {tps}/s"
    );
    assert!(o.histograms.contains_key("net.tcp_rr.service_lat_ns"));
    assert!(m(o, "net.tcp_rr.lat_ns.p50") >= m(o, "net.tcp_rr.service_lat_ns.p50") * 0.9);
}

#[test]
fn tcp_crr_counts_connections() {
    let _rss = beside();
    let recs = run_ok(
        "warmup = \"100ms\"\nduration = \"400ms\"\n[[workload]]\nkind = \"net.tcp_crr\"\n\
         [[workload]]\nkind = \"net.tcp_crr\"\nname = \"cc\"\ncloser = \"client\"\nthreads = 2\n",
    );
    for (r, closer) in recs.iter().zip(["peer", "client"]) {
        let cps = m(r, "net.tcp_crr.connections_per_s");
        assert!(cps > 100.0, "{cps} connections/s");
        let p50 = m(r, "net.tcp_crr.lat_ns.p50");
        assert!(p50 > 1_000.0 && p50 < 50e6, "p50 {p50}");
        let served = r.notes["peer.transactions_total"].as_f64().unwrap();
        assert!(served >= cps * 0.4, "peer served {served}");
        assert_eq!(r.notes["closer"], closer);
    }
}

/// A 500 ms run of `net.udp_stream` paced at 20 Mbit/s in 1000-byte
/// datagrams, with the parameters `extra` too.
fn udp_at_20m(extra: &str) -> RunRecord {
    run_ok(&format!(
        "warmup = \"100ms\"\nduration = \"500ms\"\n[[workload]]\nkind = \"net.udp_stream\"\n\
         {extra}bitrate = \"20m\"\ndatagram_size = 1000\n"
    ))
    .remove(0)
}

#[test]
fn udp_stream_paces_and_reports_loss_and_jitter() {
    let _rss = beside();
    let r = &udp_at_20m("");
    let bps = m(r, "net.udp_stream.bits_per_s");
    assert!((10e6..30e6).contains(&bps), "paced at 20 Mbit/s: {bps}");
    let loss = m(r, "net.udp_stream.loss_ratio");
    assert!((0.0..0.5).contains(&loss), "loss {loss}");
    let j = m(r, "net.udp_stream.jitter_ns");
    assert!(j.is_finite() && j >= 0.0, "jitter {j}");
    assert!(m(r, "net.udp_stream.peer.recv.bits_per_s") > 1e6);
    let received = r.notes["udp"]["received"].as_f64().unwrap();
    let sent = r.notes["udp"]["sent"].as_f64().unwrap();
    assert!(received > 0.0 && received <= sent, "{received} of {sent}");
}

#[test]
fn udp_stream_recv_the_peer_sends_at_the_rate() {
    let _rss = beside();
    let r = &udp_at_20m("direction = \"recv\"\nthreads = 2\n");
    assert_eq!(r.notes["direction"], "recv");
    let bps = m(r, "net.udp_stream.bits_per_s");
    assert!((10e6..30e6).contains(&bps), "received at 20 Mbit/s: {bps}");
    let sent = m(r, "net.udp_stream.peer.send.bits_per_s");
    assert!(
        (10e6..30e6).contains(&sent),
        "the peer paced at 20 Mbit/s: {sent}"
    );
    let loss = m(r, "net.udp_stream.loss_ratio");
    assert!((0.0..0.5).contains(&loss), "loss {loss}");
    let j = m(r, "net.udp_stream.jitter_ns");
    assert!(j.is_finite() && j >= 0.0, "jitter {j}");
    // Both flows arrived, each with its own sequence numbers.
    let u = &r.notes["udp"];
    let (expected, received) = (
        u["expected"].as_f64().unwrap(),
        u["received"].as_f64().unwrap(),
    );
    assert!(
        received > 100.0 && received <= expected + u["duplicates"].as_f64().unwrap(),
        "{u}"
    );
    assert_eq!(u["foreign"], 0.0);
    assert!(r.metric("net.udp_stream.peer.recv.bits_per_s").is_none());
}

#[test]
fn bad_parameters_are_spec_errors() {
    let _rss = beside();
    for (text, key) in [
        (
            "kind = \"net.tcp_stream\"\npeer = \"192.0.2.1:5201\"",
            "token",
        ),
        (
            "kind = \"net.tcp_stream\"\npeer = \"nope\"\ntoken = \"x\"",
            "peer",
        ),
        (
            "kind = \"net.tcp_stream\"\ncongestion = \"cubic; reboot\"",
            "congestion",
        ),
        ("kind = \"net.tcp_stream\"\nmsg_size = 0", "msg_size"),
        ("kind = \"net.udp_stream\"\nbitrate = \"lots\"", "bitrate"),
        (
            "kind = \"net.udp_stream\"\ndatagram_size = 8",
            "datagram_size",
        ),
        ("kind = \"net.tcp_rr\"\nreq_size = 0", "req_size"),
    ] {
        let e = spec_error(&format!("[[workload]]\n{text}\n"));
        assert!(e.to_string().contains(key), "{text}: {e}");
    }
}

// ------------------------------------------------------- the peer, abused

/// Connects raw and completes nothing: the caller speaks the protocol.
fn raw(srv: &Server) -> TcpStream {
    let s = TcpStream::connect(srv.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads until an `error` message (returned) and then the close.
fn expect_error(s: &mut TcpStream) -> String {
    let msg = match read_msg(s) {
        Ok(Msg::Error { message }) => message,
        other => panic!("expected an error message, got {other:?}"),
    };
    match read_msg(s) {
        Err(FrameError::Closed) | Err(FrameError::Io(_)) => {}
        other => panic!("expected the peer to close, got {other:?}"),
    }
    msg
}

fn hello(s: &mut TcpStream) {
    write_msg(
        s,
        &Msg::Hello {
            proto: 1,
            client_nonce: "00".repeat(32),
            software: "test".into(),
        },
    )
    .unwrap();
    assert!(matches!(read_msg(s), Ok(Msg::Challenge { .. })));
}

fn wait_idle(srv: &Server) {
    let t = Instant::now();
    while srv.active_sessions() > 0 && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(srv.active_sessions(), 0, "sessions left behind");
}

fn rr_spec() -> TestSpec {
    TestSpec {
        roles: vec![Role::Echo],
        req_size: 1,
        resp_size: 1,
        nodelay: true,
        ..TestSpec::new(TestKind::TcpRr)
    }
}

/// A full session: start an RR test, do `n` transactions, stop, check the
/// peer counted them.
fn rr_session(addr: SocketAddr, token: &[u8], n: u64) -> Result<(), PeerError> {
    let mut c = ClientSession::connect(addr, token)?;
    let ready = c.start(&rr_spec())?;
    let mut d = open_data(&ready, 0, &Default::default())?;
    d.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut b = [7u8];
    for _ in 0..n {
        d.write_all(&b).map_err(|e| e.to_string())?;
        d.read_exact(&mut b).map_err(|e| e.to_string())?;
    }
    drop(d);
    let r = c.stop()?;
    if r.transactions != n {
        return Err(format!("peer counted {} transactions, want {n}", r.transactions).into());
    }
    c.bye();
    Ok(())
}

#[test]
fn wrong_token_is_refused_and_right_token_still_served() {
    let _rss = beside();
    let srv = server("right token");
    let e = ClientSession::connect(srv.local_addr(), b"wrong token")
        .unwrap_err()
        .to_string();
    assert!(e.contains("authentication failed"), "{e}");
    rr_session(srv.local_addr(), b"right token", 10).unwrap();
    wait_idle(&srv);
}

#[test]
fn skipping_authentication_is_refused() {
    let _rss = beside();
    let srv = server("t");
    // No hello at all.
    let mut s = raw(&srv);
    write_msg(&mut s, &Msg::Start { spec: rr_spec() }).unwrap();
    assert!(expect_error(&mut s).contains("expected `hello`"));
    // Hello, then straight to a test without proving the token.
    let mut s = raw(&srv);
    hello(&mut s);
    write_msg(&mut s, &Msg::Start { spec: rr_spec() }).unwrap();
    assert!(expect_error(&mut s).contains("expected `auth`"));
    // An empty proof.
    let mut s = raw(&srv);
    hello(&mut s);
    write_msg(&mut s, &Msg::Auth { mac: String::new() }).unwrap();
    assert!(expect_error(&mut s).contains("authentication failed"));
    // A peer that does not know the token cannot pass itself off either:
    // the client checks the peer's proof (covered by using a wrong token on
    // the peer's side here).
    let other = server("other");
    let e = ClientSession::connect(other.local_addr(), b"t")
        .unwrap_err()
        .to_string();
    assert!(e.contains("authentication failed"), "{e}");
    wait_idle(&srv);
}

#[test]
fn garbage_and_oversized_frames_are_refused() {
    let _rss = beside();
    let srv = server("t");
    // A 4 GiB length prefix.
    let mut s = raw(&srv);
    s.write_all(&[0xff, 0xff, 0xff, 0xff]).unwrap();
    let e = expect_error(&mut s);
    assert!(e.contains("exceeds the limit"), "{e}");
    // An HTTP request: "GET " read as a length is ~1.2 GB.
    let mut s = raw(&srv);
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(expect_error(&mut s).contains("exceeds the limit"));
    // A small frame of binary garbage.
    let mut s = raw(&srv);
    s.write_all(&[0, 0, 0, 6, 0xde, 0xad, 0xbe, 0xef, 0, 1])
        .unwrap();
    assert!(expect_error(&mut s).contains("malformed"));
    // Valid JSON, unknown message type, after authenticating.
    let mut c = ClientSession::connect(srv.local_addr(), b"t").unwrap();
    let body = br#"{"type":"format_disk"}"#;
    let s = c.raw();
    s.write_all(&(body.len() as u32).to_be_bytes()).unwrap();
    s.write_all(body).unwrap();
    assert!(expect_error(s).contains("malformed"));
    // A test spec out of bounds.
    let mut c = ClientSession::connect(srv.local_addr(), b"t").unwrap();
    let mut spec = rr_spec();
    spec.roles = Vec::new();
    let e = c.start(&spec).unwrap_err().to_string();
    assert!(e.contains("roles"), "{e}");
    spec = rr_spec();
    spec.req_size = u32::MAX;
    let mut c = ClientSession::connect(srv.local_addr(), b"t").unwrap();
    assert!(c.start(&spec).unwrap_err().to_string().contains("req_size"));
    // The peer still serves.
    rr_session(srv.local_addr(), b"t", 5).unwrap();
    wait_idle(&srv);
}

#[test]
fn a_stalled_client_is_dropped_and_does_not_block_others() {
    let _rss = beside();
    let mut cfg = ServeConfig::new(LOOPBACK.into(), b"t".to_vec());
    cfg.handshake_timeout = Duration::from_millis(300);
    let srv = Server::start(cfg).unwrap();
    let mut stalled = raw(&srv);
    let half = raw(&srv);
    // Half a length prefix, then nothing.
    (&half).write_all(&[0, 0]).unwrap();
    // Others are served meanwhile.
    rr_session(srv.local_addr(), b"t", 5).unwrap();
    let t = Instant::now();
    let e = expect_error(&mut stalled);
    assert!(e.contains("timed out"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5));
    drop(half);
    wait_idle(&srv);
}

#[test]
fn sixty_four_concurrent_sessions_and_the_65th_is_refused() {
    let _rss = beside();
    const N: usize = 64;
    let srv = server("t");
    assert_eq!(ServeConfig::new(LOOPBACK.into(), vec![1]).max_sessions, N);
    let addr = srv.local_addr();
    let all_in = Arc::new(Barrier::new(N + 1));
    let go = Arc::new(Barrier::new(N + 1));
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let (all_in, go) = (all_in.clone(), go.clone());
            std::thread::spawn(move || -> Result<(), PeerError> {
                let c = ClientSession::connect(addr, b"t");
                all_in.wait();
                go.wait();
                let mut c = c?;
                let ready = c.start(&rr_spec())?;
                let mut d = open_data(&ready, 0, &Default::default())?;
                d.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut b = [1u8];
                for _ in 0..50 {
                    d.write_all(&b).map_err(|e| e.to_string())?;
                    d.read_exact(&mut b).map_err(|e| e.to_string())?;
                }
                drop(d);
                let r = c.stop()?;
                if r.transactions != 50 {
                    return Err(format!("{} transactions", r.transactions).into());
                }
                c.bye();
                Ok(())
            })
        })
        .collect();
    all_in.wait();
    assert_eq!(srv.active_sessions(), N);
    let e = ClientSession::connect(addr, b"t").unwrap_err().to_string();
    assert!(e.contains("busy"), "{e}");
    go.wait();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    wait_idle(&srv);
    rr_session(addr, b"t", 3).unwrap();
}

/// A TCP connection to `to` from the loopback address `from` (the tests'
/// attackers use 127.0.0.2 and .3, the legitimate client 127.0.0.1).
fn connect_from(from: [u8; 4], to: SocketAddr) -> std::io::Result<TcpStream> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a descriptor created and owned here;
    // the sockaddr_in is fully initialised before use.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let s = TcpStream::from_raw_fd(fd);
        let sa = |ip: [u8; 4], port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(ip),
            },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let local = sa(from, 0);
        if libc::bind(fd, &local as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let SocketAddr::V4(v4) = to else {
            return Err(std::io::Error::other("IPv4 only"));
        };
        let remote = sa(v4.ip().octets(), v4.port());
        if libc::connect(fd, &remote as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(s)
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The lockout of issue 18: 256 connections that never say a word, plus
/// 64 new ones a second for 10 s, from two other addresses, while a real
/// client runs RR sessions to completion with normal figures. They only
/// hold handshake slots (64 per address, 3 s each), never sessions.
#[test]
fn idle_and_flooding_connections_cannot_lock_out_a_real_client() {
    let _rss = alone();
    let srv = server("t");
    let addr = srv.local_addr();
    let rss0 = rss_kib();
    let idle: Vec<TcpStream> = (0..256)
        .filter_map(|_| connect_from([127, 0, 0, 2], addr).ok())
        .collect();
    assert_eq!(idle.len(), 256, "the attacker's connections");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut held = std::collections::VecDeque::new();
            let t = Instant::now();
            let mut n = 0u32;
            // 64 a second, for 10 s at most, each kept open for a while.
            while !stop.load(std::sync::atomic::Ordering::Relaxed)
                && t.elapsed() < Duration::from_secs(10)
            {
                if let Ok(c) = connect_from([127, 0, 0, 3], addr) {
                    held.push_back(c);
                    if held.len() > 128 {
                        held.pop_front();
                    }
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(1000 / 64));
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    // At most MAX_PENDING_PER_SOURCE per source are in their handshake;
    // none is a session.
    let cap = 2 * workloads::net::server::MAX_PENDING_PER_SOURCE;
    assert!(
        srv.pending_handshakes() <= cap,
        "{} pending",
        srv.pending_handshakes()
    );
    assert_eq!(srv.active_sessions(), 0);
    let t = Instant::now();
    let mut sessions = 0;
    let mut peak_rss = 0;
    while t.elapsed() < Duration::from_secs(8) {
        let s = Instant::now();
        rr_session(addr, b"t", 200).unwrap();
        // 200 loopback transactions take milliseconds, not the handshake
        // deadline: the session was not queued behind the attackers.
        assert!(s.elapsed() < Duration::from_secs(2), "{:?}", s.elapsed());
        sessions += 1;
        peak_rss = peak_rss.max(rss_kib());
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let attempts = flood.join().unwrap();
    assert!(attempts >= 300, "{attempts} flood attempts");
    assert!(sessions >= 10, "{sessions} sessions");
    // The peer's memory under the load: a thread per handshake slot (128
    // at most here) and nothing per refused connection.
    let grew = peak_rss.saturating_sub(rss0);
    eprintln!("RSS grew {grew} KiB under the flood ({attempts} attempts, {sessions} sessions)");
    assert!(grew < 64 * 1024, "RSS grew {grew} KiB");
    drop(idle);
    wait_idle(&srv);
}

/// An authenticated client that stops reading: the peer's source blocks
/// once the socket buffers fill, and after `stall_timeout` without
/// progress the session ends, its control connection closed and its data
/// threads gone; the peer serves the next client.
#[test]
fn an_authenticated_client_that_stops_reading_loses_its_session() {
    let _rss = beside();
    let mut cfg = ServeConfig::new(LOOPBACK.into(), b"t".to_vec());
    cfg.stall_timeout = Duration::from_millis(800);
    let srv = Server::start(cfg).unwrap();
    let mut c = ClientSession::connect(srv.local_addr(), b"t").unwrap();
    let spec = TestSpec {
        roles: vec![Role::Source],
        msg_size: 128 * 1024,
        ..TestSpec::new(TestKind::TcpStream)
    };
    let ready = c.start(&spec).unwrap();
    // Open the data connection the peer sends on, then never read it.
    let d = open_data(&ready, 0, &Default::default()).unwrap();
    assert_eq!(srv.active_sessions(), 1);
    let t = Instant::now();
    while srv.active_sessions() > 0 && t.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(srv.active_sessions(), 0, "the stalled session was kept");
    // Ended within the stall timeout plus a few poll ticks of the peer.
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
    drop(d);
    rr_session(srv.local_addr(), b"t", 5).unwrap();
    wait_idle(&srv);
}

#[test]
fn a_session_the_peer_closed_when_idle_is_reopened_between_repetitions() {
    let _rss = beside();
    let mut cfg = ServeConfig::new(LOOPBACK.into(), b"t".to_vec());
    cfg.idle_timeout = Duration::from_millis(300);
    let srv = Server::start(cfg).unwrap();
    let port = srv.local_addr().port();
    // Runs interleave: rr #1, null #1 (longer than the idle timeout), rr #2.
    let recs = run_ok(&format!(
        "repetitions = 2\nwarmup = 0\nduration = \"200ms\"\n\
         [[workload]]\nkind = \"net.tcp_rr\"\npeer = \"127.0.0.1:{port}\"\ntoken = \"t\"\n\
         [[workload]]\nkind = \"null\"\nduration = \"800ms\"\n"
    ));
    let rr: Vec<_> = recs.iter().filter(|r| r.workload == "net.tcp_rr").collect();
    assert_eq!(rr.len(), 2);
    for r in rr {
        assert!(m(r, "net.tcp_rr.transactions_per_s") > 100.0);
    }
}

// ------------------------------------------------------ child processes

/// Not a test of its own: the entry point of the child processes other
/// tests start (a peer to kill, or a peer/client inside a namespace).
/// Without SKUBENCH_NET_CHILD set it does nothing.
#[test]
fn child_process_entry() {
    let Ok(role) = std::env::var("SKUBENCH_NET_CHILD") else {
        return;
    };
    let token = std::env::var("SKUBENCH_NET_TOKEN").unwrap();
    match role.as_str() {
        "peer" => {
            let bind: std::net::IpAddr =
                std::env::var("SKUBENCH_NET_BIND").unwrap().parse().unwrap();
            let srv =
                Server::start(ServeConfig::new((bind, 0).into(), token.into_bytes())).unwrap();
            // A newline first: libtest has already printed "test … " on this line.
            println!("\nPORT {}", srv.local_addr().port());
            std::io::stdout().flush().unwrap();
            // Serve until the parent kills us or closes stdin; bounded anyway.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = std::io::stdin().read(&mut [0u8; 1]);
                let _ = tx.send(());
            });
            let _ = rx.recv_timeout(Duration::from_secs(120));
        }
        "client" => {
            let peer = std::env::var("SKUBENCH_NET_PEER").unwrap();
            let common = format!("peer = \"{peer}\"\ntoken = \"{token}\"\n");
            let (recs, status) = run(&format!(
                "warmup = \"100ms\"\nduration = \"500ms\"\n\
                 [[workload]]\nkind = \"net.tcp_stream\"\n{common}\
                 [[workload]]\nkind = \"net.tcp_rr\"\n{common}\
                 [[workload]]\nkind = \"net.tcp_crr\"\n{common}\
                 [[workload]]\nkind = \"net.udp_stream\"\nbitrate = \"50m\"\n{common}\
                 [[workload]]\nkind = \"net.udp_stream\"\nname = \"udp-recv\"\ndirection = \"recv\"\n\
                 bitrate = \"50m\"\n{common}"
            ));
            println!();
            for r in &recs {
                for m in &r.metrics {
                    println!("METRIC {} {}", m.name, m.value);
                }
                if let Some(e) = &r.error {
                    println!("ERROR {e}");
                }
            }
            println!("STATUS {status:?}");
        }
        other => panic!("unknown child role {other}"),
    }
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn child(prefix: &[&str], env: &[(&str, String)]) -> Command {
    let exe = std::env::current_exe().unwrap();
    let mut c = Command::new(prefix.first().copied().unwrap_or(exe.to_str().unwrap()));
    if !prefix.is_empty() {
        c.args(&prefix[1..]).arg(&exe);
    }
    c.args([
        "--exact",
        "child_process_entry",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    c
}

/// Starts a peer child and returns it with its port.
fn peer_child(prefix: &[&str], bind: &str, token: &str) -> (Kill, u16) {
    let mut ch = Kill(
        child(
            prefix,
            &[
                ("SKUBENCH_NET_CHILD", "peer".into()),
                ("SKUBENCH_NET_BIND", bind.into()),
                ("SKUBENCH_NET_TOKEN", token.into()),
            ],
        )
        .spawn()
        .unwrap(),
    );
    let port = common::reported_port(ch.0.stdout.take().unwrap());
    (ch, port)
}

#[test]
fn peer_killed_mid_test_fails_the_run_with_a_clear_error() {
    let _rss = beside();
    let (mut peer, port) = peer_child(&[], "127.0.0.1", "tok");
    let text = format!(
        "warmup = 0\nduration = \"20s\"\n[[workload]]\nkind = \"net.tcp_stream\"\n\
         peer = \"127.0.0.1:{port}\"\ntoken = \"tok\"\n"
    );
    let t = Instant::now();
    let h = std::thread::spawn(move || run(&text));
    std::thread::sleep(Duration::from_millis(700));
    peer.0.kill().unwrap();
    let (recs, status) = h.join().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "the run did not notice"
    );
    assert_eq!(status, Status::Failed);
    let e = recs[0].error.clone().unwrap();
    assert!(e.contains("data connection") && e.contains("peer"), "{e}");
    assert_eq!(recs[0].status, Status::Failed);
}

// ------------------------------------------------- network namespaces

struct Netns(Vec<String>);
impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting a namespace removes its end of the veth pair, and with it the pair.
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().unwrap();
    assert!(st.success(), "ip {args:?} failed");
}

#[test]
fn client_and_peer_in_two_namespaces_over_veth() {
    let _rss = beside();
    if std::env::var("SKUBENCH_PRIVILEGED_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set SKUBENCH_PRIVILEGED_TESTS=1 (as root) to run");
        return;
    }
    let id = std::process::id();
    let (a, b) = (format!("skbn-a-{id}"), format!("skbn-b-{id}"));
    // Guard first, so a failure half-way still removes what was made.
    let _guard = Netns(vec![a.clone(), b.clone()]);
    let (va, vb) = (format!("skva{id}"), format!("skvb{id}"));
    let (va, vb) = (&va[..va.len().min(15)], &vb[..vb.len().min(15)]);
    ip(&["netns", "add", &a]);
    ip(&["netns", "add", &b]);
    ip(&[
        "link", "add", va, "netns", &a, "type", "veth", "peer", "name", vb, "netns", &b,
    ]);
    ip(&["-n", &a, "addr", "add", "192.0.2.1/24", "dev", va]);
    ip(&["-n", &b, "addr", "add", "192.0.2.2/24", "dev", vb]);
    for (ns, dev) in [(&a, va), (&b, vb)] {
        ip(&["-n", ns, "link", "set", dev, "up"]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }
    let (_peer, port) = peer_child(&["ip", "netns", "exec", &b], "192.0.2.2", "nstok");
    let out = child(
        &["ip", "netns", "exec", &a],
        &[
            ("SKUBENCH_NET_CHILD", "client".into()),
            ("SKUBENCH_NET_PEER", format!("192.0.2.2:{port}")),
            ("SKUBENCH_NET_TOKEN", "nstok".into()),
        ],
    )
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("STATUS Ok"), "{text}");
    let metric = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("METRIC {name} ")))
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
            .parse()
            .unwrap()
    };
    assert!(metric("net.tcp_stream.bits_per_s") > 1e8);
    assert!(metric("net.tcp_stream.peer.recv.bits_per_s") > 1e8);
    assert!(metric("net.tcp_rr.transactions_per_s") > 100.0);
    assert!(metric("net.tcp_crr.connections_per_s") > 10.0);
    assert!(metric("net.udp_stream.loss_ratio") < 0.5);
    // The peer sent to the client through the veth pair too.
    assert_eq!(
        text.matches("METRIC net.udp_stream.loss_ratio ").count(),
        2,
        "{text}"
    );
    assert!(metric("net.udp_stream.peer.send.bits_per_s") > 1e6);
}

/// A port that was free a moment ago (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn data_ports_stay_in_the_configured_range_and_run_out_clearly() {
    let _rss = beside();
    let p = free_port();
    let mut cfg = ServeConfig::new(LOOPBACK.into(), b"t".to_vec());
    cfg.data_ports = Some((p, p));
    let srv = Server::start(cfg).unwrap();
    let addr = srv.local_addr();

    // The one data port is given to the first test …
    let mut a = ClientSession::connect(addr, b"t").unwrap();
    let ready = a.start(&rr_spec()).unwrap();
    assert_eq!(ready.addr.port(), p, "data port outside --data-ports");
    // … so a second test at the same time is refused, naming the range.
    let mut b = ClientSession::connect(addr, b"t").unwrap();
    let e = b.start(&rr_spec()).unwrap_err().to_string();
    assert!(
        e.contains("in use") && e.contains(&format!("{p}-{p}")),
        "{e}"
    );
    drop(b);
    // The first test still works, and once it ends the port is free again.
    let mut d = open_data(&ready, 0, &Default::default()).unwrap();
    d.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut x = [7u8];
    d.write_all(&x).unwrap();
    d.read_exact(&mut x).unwrap();
    drop(d);
    assert_eq!(a.stop().unwrap().transactions, 1);
    drop(a);
    rr_session(addr, b"t", 3).unwrap();

    // A whole workload run against the peer uses the range too.
    let recs = run_ok(&format!(
        "warmup = \"50ms\"\nduration = \"200ms\"\n[[workload]]\nkind = \"net.tcp_rr\"\n\
         peer = \"{addr}\"\ntoken = \"t\"\n"
    ));
    assert!(m(&recs[0], "net.tcp_rr.transactions_per_s") > 0.0);
    wait_idle(&srv);
}
