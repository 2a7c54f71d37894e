//! Thousands of flows, connection rate and latency under load, on
//! 127.0.0.1 and (with SKUBENCH_PRIVILEGED_TESTS=1, as root) between two
//! network namespaces over a veth pair (192.0.2.0/24).
//!
//! Its own test binary: the checks count this process's descriptors
//! before and after, which tests running beside them in one process would
//! disturb. The flow count scales down from 1,000 when the host's
//! open-file hard limit is lower (each flow is two descriptors here, with
//! the peer in-process). Every loop is bounded in time and count.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{metric as m, run_ok};
use workloads::net::{ServeConfig, Server};

/// The tests that count descriptors, and every test that opens sockets, run
/// one at a time: a count taken while another test holds descriptors never
/// comes back to its start (the namespace test holds pipes to its children
/// meanwhile).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Descriptors process `pid` (or `self`) has open now.
fn fds(pid: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Sockets (any state, TIME-WAIT included) in the calling process's
/// network namespace with `port` at either end, from /proc/net/tcp{,6}.
fn sockets_on(port: u16, tables: &[String]) -> usize {
    sockets_in(port, tables, |_| true)
}

/// Like [`sockets_on`], counting only sockets whose state (hex, `06` is
/// TIME-WAIT) passes `state`.
fn sockets_in(port: u16, tables: &[String], state: impl Fn(&str) -> bool) -> usize {
    let want = format!(":{port:04X}");
    tables
        .iter()
        .flat_map(|t| t.lines().skip(1))
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && (f[1].ends_with(&want) || f[2].ends_with(&want)) && state(f[3])
        })
        .count()
}

fn tcp_tables() -> Vec<String> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect()
}

/// A port that was free a moment ago, below the ephemeral range: a port
/// from that range can be taken by any outgoing connection (this test's own
/// control connections included) between two tests that bind it.
fn free_port() -> u16 {
    let lo: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let (from, span) = (
        lo.saturating_sub(8000).max(1024),
        lo.saturating_sub(1024).min(8000),
    );
    let start = std::process::id() as u16 % span.max(1);
    (0..span)
        .map(|i| from + (start + i) % span)
        .find(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        .unwrap_or_else(|| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        })
}

/// 1,000 flows, or what the open-file hard limit allows for both ends in
/// one process.
fn flow_count() -> usize {
    let (_, hard) = workloads::net::sys::nofile_limits().unwrap();
    let n = ((hard.saturating_sub(512)) / 2).min(1000) as usize;
    assert!(
        n >= 100,
        "the open-file hard limit ({hard}) leaves room for {n} flows"
    );
    if n < 1000 {
        eprintln!("open-file hard limit {hard}: {n} flows instead of 1000");
    }
    n
}

/// Waits (bounded) until `f` holds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(10), "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn thousand_flows_cps_and_under_load_on_loopback_close_every_socket() {
    let _serial = serial();
    let flows = flow_count();
    let dport = free_port();
    let mut cfg = ServeConfig::new(([127, 0, 0, 1], 0).into(), b"ft".to_vec());
    cfg.data_ports = Some((dport, dport));
    let srv = Server::start(cfg).unwrap();
    let addr = srv.local_addr();
    let fds0 = fds("self");
    assert_eq!(sockets_on(dport, &tcp_tables()), 0);
    let peer = format!("peer = \"{addr}\"\ntoken = \"ft\"\n");
    let run = |body: &str| {
        run_ok(&format!(
            "warmup = \"200ms\"\nduration = \"1s\"\n[[workload]]\n{body}\n{peer}"
        ))
        .remove(0)
    };

    // The single-flow ceiling, then the same path shared by `flows` flows.
    let one = run("kind = \"net.tcp_flows\"\nflows = 1");
    let r = run(&format!("kind = \"net.tcp_flows\"\nflows = {flows}"));
    let single = m(&one, "net.tcp_flows.bits_per_s");
    let agg = m(&r, "net.tcp_flows.bits_per_s");
    assert!(single > 1e8, "one flow: {single}");
    assert!(
        agg > single * 0.3,
        "{flows} flows: {agg} bit/s against one flow's {single}"
    );
    assert_eq!(m(&r, "net.tcp_flows.flows_starved"), 0.0);
    assert!(m(&r, "net.tcp_flows.flow.bits_per_s.min") > 0.0);
    let jain = m(&r, "net.tcp_flows.fairness.jain_ratio");
    assert!(jain > 0.3 && jain <= 1.0 + 1e-9, "Jain {jain}");
    let peer_rx = m(&r, "net.tcp_flows.peer.recv.bits_per_s");
    assert!(
        peer_rx > agg * 0.5 && peer_rx < agg * 2.0,
        "{agg} vs {peer_rx}"
    );
    assert_eq!(r.notes["flows"]["flows"], flows as u64);
    // The headline counts acknowledged bytes; what send queued stays beside it.
    assert_eq!(r.notes["bits_per_s_counts"], "acknowledged");
    let queued = m(&r, "net.tcp_flows.queued_bits_per_s");
    assert!(
        agg > queued * 0.5 && agg < queued * 1.5,
        "acknowledged {agg} vs queued {queued}"
    );

    let r = run(&format!(
        "kind = \"net.tcp_flows\"\nflows = {flows}\nmode = \"rr\""
    ));
    assert!(m(&r, "net.tcp_flows.transactions_per_s") > 1000.0);
    assert_eq!(m(&r, "net.tcp_flows.flows_starved"), 0.0);
    assert!(m(&r, "net.tcp_flows.flow.transactions_per_s.min") > 0.0);
    assert!(m(&r, "net.tcp_flows.lat_ns.p50") > 0.0);
    assert!(r.histograms.contains_key("net.tcp_flows.lat_ns"));

    let r = run("kind = \"net.tcp_cps\"\nconnectors = 100");
    assert!(m(&r, "net.tcp_cps.connections_per_s") > 100.0);
    let (p50, p99) = (
        m(&r, "net.tcp_cps.connect_ns.p50"),
        m(&r, "net.tcp_cps.connect_ns.p99"),
    );
    assert!(p50 > 0.0 && p99 >= p50, "{p50} {p99}");
    // Connecting is part of the whole connection's time.
    assert!(m(&r, "net.tcp_cps.lat_ns.p50") >= p50);
    assert!(r.histograms.contains_key("net.tcp_cps.connect_ns"));

    // Every socket of the event-loop tests is gone: no descriptor left in
    // this process (client and peer), nothing on the data port in any
    // state, TIME-WAIT included (both close with a reset).
    eventually("sessions did not end", || srv.active_sessions() == 0);
    eventually("descriptors left open", || fds("self") == fds0);
    let left = sockets_on(dport, &tcp_tables());
    assert_eq!(left, 0, "sockets left on data port {dport}");

    let r = run("kind = \"net.rr_under_load\"");
    let (un, lo) = (
        m(&r, "net.rr_under_load.unloaded.lat_ns.p99"),
        m(&r, "net.rr_under_load.lat_ns.p99"),
    );
    assert!(un > 0.0 && lo > 0.0);
    let d = m(&r, "net.rr_under_load.lat_ns.p99_delta");
    assert!((d - (lo - un)).abs() <= 1.0, "{d} vs {lo} − {un}");
    assert!((m(&r, "net.rr_under_load.lat_ns.p99_ratio") - lo / un).abs() < 1e-9);
    assert!(m(&r, "net.rr_under_load.load.bits_per_s") > 1e8);
    assert!(m(&r, "net.rr_under_load.load.peer.recv.bits_per_s") > 1e8);
    assert!(m(&r, "net.rr_under_load.transactions_per_s") > 100.0);

    // Its RR and stream connections are net.tcp_rr's and net.tcp_stream's,
    // closed with a FIN: TIME-WAIT may stay, nothing else.
    eventually("sessions did not end", || srv.active_sessions() == 0);
    eventually("descriptors left open", || fds("self") == fds0);
    let open = sockets_in(dport, &tcp_tables(), |st| st != "06");
    assert_eq!(open, 0, "open sockets left on data port {dport}");
}

#[test]
fn flows_over_the_limits_are_refused_clearly() {
    let e = common::spec_error("[[workload]]\nkind = \"net.tcp_flows\"\nflows = 70000\n");
    assert!(e.to_string().contains("flows"), "{e}");
    let e = common::spec_error("[[workload]]\nkind = \"net.tcp_cps\"\nconnectors = 0\n");
    assert!(e.to_string().contains("connectors"), "{e}");
    let e = common::spec_error("[[workload]]\nkind = \"net.tcp_flows\"\nmode = \"udp\"\n");
    assert!(e.to_string().contains("mode"), "{e}");
}

// ------------------------------------------------------ network namespaces

/// The entry point of the child processes of the namespace test; without
/// SKUBENCH_NET_CHILD it does nothing.
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
            let dport: u16 = std::env::var("SKUBENCH_NET_DPORT")
                .unwrap()
                .parse()
                .unwrap();
            let mut cfg = ServeConfig::new((bind, 0).into(), token.into_bytes());
            cfg.data_ports = Some((dport, dport));
            let srv = Server::start(cfg).unwrap();
            println!("\nPORT {}", srv.local_addr().port());
            std::io::stdout().flush().unwrap();
            let _ = std::io::stdin().read(&mut [0u8; 1]);
        }
        "client" => {
            let peer = std::env::var("SKUBENCH_NET_PEER").unwrap();
            let flows = flow_count();
            let common = format!("peer = \"{peer}\"\ntoken = \"{token}\"\n");
            let dport: u16 = std::env::var("SKUBENCH_NET_DPORT")
                .unwrap()
                .parse()
                .unwrap();
            let fds0 = fds("self");
            let mut recs = run_ok(&format!(
                "warmup = \"200ms\"\nduration = \"1s\"\n\
                 [[workload]]\nkind = \"net.tcp_flows\"\nflows = 1\nname = \"one\"\n{common}\
                 [[workload]]\nkind = \"net.tcp_flows\"\nflows = {flows}\n{common}\
                 [[workload]]\nkind = \"net.tcp_flows\"\nflows = {flows}\nmode = \"rr\"\nname = \"rr\"\n{common}\
                 [[workload]]\nkind = \"net.tcp_cps\"\nconnectors = 100\n{common}"
            ));
            eventually("client descriptors left open", || fds("self") == fds0);
            // The event-loop tests close with a reset: nothing is left on
            // the data port here, in any state.
            println!("\nSOCKS {}", sockets_on(dport, &tcp_tables()));
            recs.extend(run_ok(&format!(
                "warmup = \"200ms\"\nduration = \"1s\"\n\
                 [[workload]]\nkind = \"net.rr_under_load\"\n{common}"
            )));
            print_metrics(&recs);
            eventually("client descriptors left open", || fds("self") == fds0);
            println!("FDS {fds0} {}", fds("self"));
            println!("STATUS Ok");
        }
        "capped" => {
            // A few flows through the 20 Mbit/s cap the parent put on the
            // client's side: long enough for the send queues to grow.
            let peer = std::env::var("SKUBENCH_NET_PEER").unwrap();
            let recs = run_ok(&format!(
                "warmup = \"500ms\"\nduration = \"2s\"\n\
                 [[workload]]\nkind = \"net.tcp_flows\"\nflows = 8\nthreads = 1\n\
                 peer = \"{peer}\"\ntoken = \"{token}\"\n"
            ));
            print_metrics(&recs);
            println!("STATUS Ok");
        }
        other => panic!("unknown child role {other}"),
    }
}

/// A child's records as `METRIC label name value` lines for the parent
/// ([`metric_in`]).
fn print_metrics(recs: &[bench_core::result::RunRecord]) {
    println!();
    for r in recs {
        for m in &r.metrics {
            println!("METRIC {} {} {}", r.label, m.name, m.value);
        }
    }
}

/// Runs the namespace test's child `cmd` to its end and returns what it
/// printed; fails unless it reported `STATUS Ok`.
fn child_output(mut cmd: Command) -> String {
    let o = cmd.stderr(Stdio::piped()).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(text.contains("STATUS Ok"), "{text}\n{err}");
    text
}

/// The value of metric `name` of run `run` in a child's output.
fn metric_in(text: &str, run: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("METRIC {run} {name} ")))
        .unwrap_or_else(|| panic!("{run} {name} missing:\n{text}"))
        .parse()
        .unwrap()
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Netns(Vec<String>);
impl Drop for Netns {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().unwrap();
    assert!(st.success(), "ip {args:?} failed");
}

fn child(ns: &str, env: &[(&str, String)]) -> Command {
    let exe = std::env::current_exe().unwrap();
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).arg(&exe).args([
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

fn ns_tables(ns: &str) -> Vec<String> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .map(|p| {
            let o = Command::new("ip")
                .args(["netns", "exec", ns, "cat", p])
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).into_owned()
        })
        .collect()
}

#[test]
fn thousand_flows_between_two_namespaces_close_every_socket() {
    if std::env::var("SKUBENCH_PRIVILEGED_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set SKUBENCH_PRIVILEGED_TESTS=1 (as root) to run");
        return;
    }
    let _serial = serial();
    let id = std::process::id();
    let (a, b) = (format!("skfl-a-{id}"), format!("skfl-b-{id}"));
    let _guard = Netns(vec![a.clone(), b.clone()]);
    let (va, vb) = (format!("skfa{id}"), format!("skfb{id}"));
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
    // A fresh namespace: every port is free, so a fixed data port is safe.
    let dport = 5301u16;
    let mut peer = Kill(
        child(
            &b,
            &[
                ("SKUBENCH_NET_CHILD", "peer".into()),
                ("SKUBENCH_NET_BIND", "192.0.2.2".into()),
                ("SKUBENCH_NET_TOKEN", "nstok".into()),
                ("SKUBENCH_NET_DPORT", dport.to_string()),
            ],
        )
        .spawn()
        .unwrap(),
    );
    let port = common::reported_port(peer.0.stdout.take().unwrap());
    let peer_pid = peer.0.id().to_string();
    let peer_fds0 = fds(&peer_pid);
    assert_eq!(sockets_on(dport, &ns_tables(&b)), 0);
    let addr: SocketAddr = format!("192.0.2.2:{port}").parse().unwrap();
    let text = child_output(child(
        &a,
        &[
            ("SKUBENCH_NET_CHILD", "client".into()),
            ("SKUBENCH_NET_PEER", addr.to_string()),
            ("SKUBENCH_NET_TOKEN", "nstok".into()),
            ("SKUBENCH_NET_DPORT", dport.to_string()),
        ],
    ));
    let metric = |run: &str, name: &str| metric_in(&text, run, name);
    let single = metric("one", "net.tcp_flows.bits_per_s");
    let agg = metric("net.tcp_flows", "net.tcp_flows.bits_per_s");
    assert!(single > 1e8 && agg > single * 0.3, "{single} {agg}");
    assert_eq!(metric("net.tcp_flows", "net.tcp_flows.flows_starved"), 0.0);
    assert_eq!(metric("rr", "net.tcp_flows.flows_starved"), 0.0);
    assert!(metric("rr", "net.tcp_flows.transactions_per_s") > 1000.0);
    assert!(metric("net.tcp_cps", "net.tcp_cps.connections_per_s") > 100.0);
    assert!(metric("net.tcp_cps", "net.tcp_cps.connect_ns.p99") > 0.0);
    assert!(metric("net.rr_under_load", "net.rr_under_load.load.bits_per_s") > 1e8);
    let fl = text.lines().find_map(|l| l.strip_prefix("FDS ")).unwrap();
    let (c0, c1) = fl.split_once(' ').unwrap();
    assert_eq!(c0, c1, "client descriptors before/after");
    // Both ends: nothing left on the data port after the event-loop tests
    // (the client's namespace; its RR-under-load connections close with a
    // FIN and may leave TIME-WAIT there), nothing at all on the peer's
    // side, and the peer is back to the descriptors it had before.
    assert!(text.contains("\nSOCKS 0\n"), "{text}");
    let open = sockets_in(dport, &ns_tables(&a), |st| st != "06");
    assert_eq!(open, 0, "open sockets left in the client's namespace");
    eventually("sockets left on the peer's data port", || {
        sockets_on(dport, &ns_tables(&b)) == 0
    });
    eventually("peer descriptors left open", || fds(&peer_pid) == peer_fds0);

    // At a 20 Mbit/s cap (tbf on the client's egress) the headline counts
    // what the peer acknowledged, so it matches what the peer received;
    // bytes `send` accepted would also count the send queues' growth.
    let tc = Command::new("tc")
        .args(["-n", &a, "qdisc", "add", "dev", va, "root", "tbf"])
        .args(["rate", "20mbit", "burst", "32kbit", "latency", "50ms"])
        .status();
    if !matches!(tc, Ok(st) if st.success()) {
        eprintln!("capped case skipped: tc tbf unavailable ({tc:?})");
        return;
    }
    let text = child_output(child(
        &a,
        &[
            ("SKUBENCH_NET_CHILD", "capped".into()),
            ("SKUBENCH_NET_PEER", addr.to_string()),
            ("SKUBENCH_NET_TOKEN", "nstok".into()),
        ],
    ));
    let metric = |name: &str| metric_in(&text, "net.tcp_flows", name);
    let (head, queued, peer_rx) = (
        metric("net.tcp_flows.bits_per_s"),
        metric("net.tcp_flows.queued_bits_per_s"),
        metric("net.tcp_flows.peer.recv.bits_per_s"),
    );
    eprintln!(
        "capped: acknowledged {head:.0}, queued {queued:.0}, peer received {peer_rx:.0} bit/s"
    );
    assert!(
        head > 10e6 && head < 20e6,
        "headline {head} at a 20 Mbit/s cap"
    );
    assert!(
        (head / peer_rx - 1.0).abs() < 0.04,
        "headline {head} vs the peer's {peer_rx} (queued {queued})"
    );
}

/// Reads until the peer closes `s` (end of stream or a reset); false if
/// it is still open after `within`.
fn closed_by_peer(s: &mut std::net::TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 64];
    loop {
        match s.read(&mut b) {
            Ok(0) | Err(_) => return true,
            Ok(_) => {}
        }
    }
}

#[test]
fn the_flows_peer_closes_strangers_duplicates_and_the_silent() {
    // Opens sockets: the descriptor-counting tests must not see them.
    let _serial = serial();
    use workloads::net::client::{open_data, ClientSession};
    use workloads::net::proto::{Role, TestKind, TestSpec};
    let srv = Server::start(ServeConfig::new(([127, 0, 0, 1], 0).into(), b"u".to_vec())).unwrap();
    let mut c = ClientSession::connect(srv.local_addr(), b"u").unwrap();
    let ready = c
        .start(&TestSpec {
            roles: vec![Role::Sink],
            threads: 1,
            flows: 2,
            msg_size: 1024,
            ..TestSpec::new(TestKind::TcpFlows)
        })
        .unwrap();
    let mut bad_cookie = ready.clone();
    bad_cookie.cookie = vec![0u8; bad_cookie.cookie.len()];
    let mut stranger = open_data(&bad_cookie, 0, &Default::default()).unwrap();
    let mut out_of_range = open_data(&ready, 5, &Default::default()).unwrap();
    let mut silent = std::net::TcpStream::connect(ready.addr).unwrap();
    let mut f0 = open_data(&ready, 0, &Default::default()).unwrap();
    let mut dup = open_data(&ready, 0, &Default::default()).unwrap();
    let mut f1 = open_data(&ready, 1, &Default::default()).unwrap();
    for s in [&mut f0, &mut f1] {
        s.write_all(&[1u8; 4096]).unwrap();
    }
    for (what, s) in [
        ("wrong cookie", &mut stranger),
        ("index out of range", &mut out_of_range),
        ("duplicate index", &mut dup),
    ] {
        assert!(
            closed_by_peer(s, Duration::from_secs(5)),
            "{what} kept open"
        );
    }
    // Nothing presented: closed at the handshake deadline.
    assert!(
        closed_by_peer(&mut silent, Duration::from_secs(6)),
        "silent kept open"
    );
    // The real flows are still served.
    f0.write_all(&[2u8; 4096]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let r = c.stop().unwrap();
    assert_eq!(r.rx_bytes, 3 * 4096, "{r:?}");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
}

#[test]
fn under_load_places_the_load_apart_or_on_the_rr_vcpus() {
    // Opens sockets: the descriptor-counting tests must not see them.
    let _serial = serial();
    let cpus = bench_core::affinity::allowed_cpus();
    let steps = |placement: &str| {
        let s = common::suite(
            &format!(
                "[[workload]]\nkind = \"net.rr_under_load\"\nload_placement = \"{placement}\"\n"
            ),
            cpus.len(),
        );
        s.workloads[0].workload.steps()
    };
    let apart = steps("apart");
    assert_eq!(apart.len(), 2);
    assert_eq!(apart[0].label, "net.rr_under_load.unloaded");
    assert_eq!((apart[0].threads, apart[1].threads), (1, 2));
    let pins = apart[1].pin.clone().unwrap();
    // RR worker first, then the load worker: on the next vCPU when there is one.
    assert_eq!(pins, vec![cpus[0], cpus[1 % cpus.len()]]);
    assert_eq!(apart[0].pin.clone().unwrap(), vec![cpus[0]]);
    let shared = steps("shared");
    assert_eq!(shared[1].pin.clone().unwrap(), vec![cpus[0], cpus[0]]);
}
