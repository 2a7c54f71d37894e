//! Socket options, `TCP_INFO` and `/proc/stat` CPU accounting.
//!
//! Sockets are created with libc rather than `std::net` because buffer sizes
//! must be set *before* `connect`/`listen` (the window-scale option is fixed
//! in the handshake) and because `SO_SNDTIMEO` bounds a blocking `connect`.

use std::io;
use std::mem::size_of;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::proto::{CpuUsage, TcpInfoSum};

/// Options applied to a socket before it connects or listens.
#[derive(Clone, Debug, Default)]
pub struct SockOpts {
    /// SO_SNDBUF, bytes.
    pub sndbuf: Option<u32>,
    /// SO_RCVBUF, bytes.
    pub rcvbuf: Option<u32>,
    /// TCP_CONGESTION name.
    pub congestion: Option<String>,
    /// TCP_NODELAY.
    pub nodelay: bool,
}

fn setsockopt_raw<T>(fd: RawFd, level: i32, name: i32, v: &T) -> io::Result<()> {
    // SAFETY: `v` points to a live T of the size passed; the kernel copies it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (v as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn timeval(d: Duration) -> libc::timeval {
    libc::timeval {
        tv_sec: d.as_secs() as libc::time_t,
        tv_usec: d.subsec_micros() as libc::suseconds_t,
    }
}

/// Sets SO_RCVTIMEO and SO_SNDTIMEO (also bounds `connect` and `accept`).
pub fn set_timeouts(fd: RawFd, d: Duration) -> io::Result<()> {
    let tv = timeval(d);
    setsockopt_raw(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
    setsockopt_raw(fd, libc::SOL_SOCKET, libc::SO_SNDTIMEO, &tv)
}

/// Applies `o` to a socket; names the option that failed.
pub fn apply(fd: RawFd, o: &SockOpts, tcp: bool) -> io::Result<()> {
    let ctx = |what: &str, e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    if let Some(b) = o.sndbuf {
        setsockopt_raw(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, &(b as libc::c_int))
            .map_err(|e| ctx("SO_SNDBUF", e))?;
    }
    if let Some(b) = o.rcvbuf {
        setsockopt_raw(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &(b as libc::c_int))
            .map_err(|e| ctx("SO_RCVBUF", e))?;
    }
    if tcp {
        if let Some(cc) = &o.congestion {
            let b = cc.as_bytes();
            // SAFETY: pointer and length describe `b`.
            let r = unsafe {
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_CONGESTION,
                    b.as_ptr().cast(),
                    b.len() as libc::socklen_t,
                )
            };
            if r != 0 {
                return Err(ctx(
                    &format!("TCP_CONGESTION `{cc}` (see /proc/sys/net/ipv4/tcp_allowed_congestion_control)"),
                    io::Error::last_os_error(),
                ));
            }
        }
        if o.nodelay {
            setsockopt_raw(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                &(1 as libc::c_int),
            )
            .map_err(|e| ctx("TCP_NODELAY", e))?;
        }
    }
    Ok(())
}

fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// A new socket for `addr`'s family, closed on drop until a std socket
/// type takes it over (`From<OwnedFd>`).
fn socket(addr: &SocketAddr, ty: i32) -> io::Result<OwnedFd> {
    let fam = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain syscall; the result is checked.
    let fd = unsafe { libc::socket(fam, ty | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new, valid descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Connects a TCP socket with `o` applied first; `timeout` bounds the connect.
pub fn tcp_connect(addr: &SocketAddr, o: &SockOpts, timeout: Duration) -> io::Result<TcpStream> {
    let fd = socket(addr, libc::SOCK_STREAM)?;
    apply(fd.as_raw_fd(), o, true)?;
    set_timeouts(fd.as_raw_fd(), timeout)?;
    let (ss, len) = sockaddr(addr);
    loop {
        // SAFETY: `ss`/`len` describe a valid socket address.
        let r = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&ss as *const libc::sockaddr_storage).cast(),
                len,
            )
        };
        if r == 0 {
            break;
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EINPROGRESS) | Some(libc::EAGAIN) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connect to {addr} timed out after {timeout:?}"),
                ))
            }
            _ => return Err(e),
        }
    }
    Ok(TcpStream::from(fd))
}

/// A TCP listener on `addr` with `o` applied (accepted sockets inherit the
/// buffer sizes) and a deep accept queue for connection-rate tests.
pub fn tcp_listen(addr: &SocketAddr, o: &SockOpts) -> io::Result<TcpListener> {
    let fd = socket(addr, libc::SOCK_STREAM)?;
    setsockopt_raw(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_REUSEADDR,
        &(1 as libc::c_int),
    )?;
    apply(fd.as_raw_fd(), o, true)?;
    bind(&fd, addr)?;
    // SAFETY: plain syscall on our socket.
    if unsafe { libc::listen(fd.as_raw_fd(), 4096) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpListener::from(fd))
}

/// A UDP socket bound to `addr` with `o` applied.
pub fn udp_bind(addr: &SocketAddr, o: &SockOpts) -> io::Result<UdpSocket> {
    let fd = socket(addr, libc::SOCK_DGRAM)?;
    apply(fd.as_raw_fd(), o, false)?;
    bind(&fd, addr)?;
    Ok(UdpSocket::from(fd))
}

/// Binds `fd` to `addr`; the error names the address.
fn bind(fd: &OwnedFd, addr: &SocketAddr) -> io::Result<()> {
    let (ss, len) = sockaddr(addr);
    // SAFETY: `ss`/`len` describe a valid socket address.
    if unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&ss as *const libc::sockaddr_storage).cast(),
            len,
        )
    } != 0
    {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("bind {addr}: {e}")));
    }
    Ok(())
}

/// Sets TCP_DEFER_ACCEPT (1 s) on a listener.
pub fn defer_accept(fd: RawFd) -> io::Result<()> {
    setsockopt_raw(
        fd,
        libc::IPPROTO_TCP,
        libc::TCP_DEFER_ACCEPT,
        &(1 as libc::c_int),
    )
}

/// `TCP_INFO` of one socket and how many bytes of it the kernel filled
/// (a kernel older than a field returns a shorter struct).
fn raw_tcp_info(s: &impl AsRawFd) -> Option<(libc::tcp_info, usize)> {
    // SAFETY: tcp_info is plain data; the kernel writes at most `len` bytes.
    let mut ti: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: pointer and length describe `ti`.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut ti as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    (r == 0).then_some((ti, len as usize))
}

/// Reads `TCP_INFO` of one socket into a one-socket sum.
pub fn tcp_info(s: &impl AsRawFd) -> Option<TcpInfoSum> {
    let (ti, len) = raw_tcp_info(s)?;
    if len < size_of::<libc::tcp_info>() {
        return None;
    }
    Some(TcpInfoSum {
        sockets: 1,
        retransmits: ti.tcpi_total_retrans as u64,
        rtt_us_mean: ti.tcpi_rtt as f64,
        rtt_us_max: ti.tcpi_rtt,
        snd_cwnd_mean: ti.tcpi_snd_cwnd as f64,
    })
}

/// Bytes of one socket's stream the peer has acknowledged
/// (`tcpi_bytes_acked`, Linux 4.1+): what was delivered, as opposed to what
/// `send` queued. `None` where `TCP_INFO` cannot be read.
pub fn bytes_acked(s: &impl AsRawFd) -> Option<u64> {
    let (ti, len) = raw_tcp_info(s)?;
    let end = std::mem::offset_of!(libc::tcp_info, tcpi_bytes_acked) + size_of::<u64>();
    (len >= end).then_some(ti.tcpi_bytes_acked)
}

/// One reading of the aggregate `cpu` line of `/proc/stat`, in clock ticks.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuSnap {
    user: u64,
    system: u64,
    idle: u64,
    iowait: u64,
    irq: u64,
    softirq: u64,
    other: u64,
    at: Option<std::time::Instant>,
}

impl CpuSnap {
    /// Reads `/proc/stat` now; `None` where it is unavailable.
    pub fn now() -> Option<Self> {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        let line = text.lines().find(|l| l.starts_with("cpu "))?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() < 7 {
            return None;
        }
        // Fields: user nice system idle iowait irq softirq steal guest guest_nice;
        // guest time is already inside user, so it is not added again.
        Some(Self {
            user: v[0] + v[1],
            system: v[2],
            idle: v[3],
            iowait: v[4],
            irq: v[5],
            softirq: v[6],
            other: v.get(7).copied().unwrap_or(0),
            at: Some(std::time::Instant::now()),
        })
    }

    fn total(&self) -> u64 {
        self.user + self.system + self.idle + self.iowait + self.irq + self.softirq + self.other
    }

    /// Usage between `self` (earlier) and `later`.
    pub fn usage_until(&self, later: &CpuSnap) -> Option<CpuUsage> {
        let total = later.total().checked_sub(self.total())? as f64;
        if total <= 0.0 {
            return None;
        }
        let d = |a: u64, b: u64| b.saturating_sub(a) as f64;
        let idle = d(self.idle, later.idle) + d(self.iowait, later.iowait);
        let busy = (total - idle).max(0.0);
        // SAFETY: sysconf has no memory-safety preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let secs = match (self.at, later.at) {
            (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
            _ => 0.0,
        };
        Some(CpuUsage {
            secs,
            vcpus: bench_core::affinity::online_vcpus() as u32,
            busy_ratio: busy / total,
            user_ratio: d(self.user, later.user) / total,
            system_ratio: d(self.system, later.system) / total,
            irq_ratio: d(self.irq, later.irq) / total,
            softirq_ratio: d(self.softirq, later.softirq) / total,
            busy_cpu_s: busy / hz,
        })
    }
}

/// Whether an I/O error is a receive/send timeout (SO_RCVTIMEO/SO_SNDTIMEO).
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Whether an I/O error means the other end went away.
pub fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
    )
}

/// Waits part of `wait_ns` for a paced sender: sleeps when the wait is long
/// enough for a timer, else yields. Callers loop until their due time, so
/// the final approach is by yielding rather than spinning, which would
/// starve a peer sharing the vCPU.
pub fn pace_wait(wait_ns: u64) {
    thread_local! {
        // PR_SET_TIMERSLACK to 1 ns once per thread: the default 50 µs slack
        // would make every short sleep late by that much.
        static SLACK: () = {
            // SAFETY: prctl with PR_SET_TIMERSLACK takes a plain integer.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
        };
    }
    SLACK.with(|_| ());
    if wait_ns > 30_000 {
        std::thread::sleep(Duration::from_nanos(wait_ns - 15_000));
    } else {
        std::thread::yield_now();
    }
}

/// SO_ZEROCOPY from asm-generic/socket.h (the same on x86-64 and arm64);
/// libc does not export it.
const SO_ZEROCOPY: libc::c_int = 60;
const SO_EE_ORIGIN_ZEROCOPY: u8 = 5;
const SO_EE_CODE_ZEROCOPY_COPIED: u8 = 1;

/// Turns on `SO_ZEROCOPY` so sends may pass `MSG_ZEROCOPY`.
pub fn enable_zerocopy(fd: RawFd) -> io::Result<()> {
    setsockopt_raw(fd, libc::SOL_SOCKET, SO_ZEROCOPY, &(1 as libc::c_int))
        .map_err(|e| io::Error::new(e.kind(), format!("SO_ZEROCOPY (needs Linux 4.14+): {e}")))
}

/// Counts of a zero-copy sender.
#[derive(Clone, Copy, Debug, Default)]
pub struct ZcStats {
    /// Sends issued with MSG_ZEROCOPY.
    pub sends: u64,
    /// Completion notifications reaped (one per send).
    pub completed: u64,
    /// Of those, sends the kernel copied after all (always so on loopback).
    pub copied: u64,
}

/// One `send` with `MSG_ZEROCOPY`. The payload's content does not matter to
/// a throughput test, so the buffer is reused without waiting for the
/// completion; completions are still reaped (see [`reap_zerocopy`]) so the
/// socket's error queue does not fill.
pub fn send_zerocopy(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: pointer and length describe `buf`, which outlives the call.
    let r = unsafe {
        libc::send(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_ZEROCOPY | libc::MSG_NOSIGNAL,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Drains zero-copy completion notifications from the socket's error queue.
pub fn reap_zerocopy(fd: RawFd, st: &mut ZcStats) {
    // Bounded: a queue holds at most a few thousand notifications.
    for _ in 0..100_000 {
        let mut ctrl = [0u64; 16];
        // SAFETY: msghdr is plain data; all-zero is valid (no iovecs).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_control = ctrl.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&ctrl) as _;
        // SAFETY: `msg` points to a live control buffer of the stated size.
        let r = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
        if r < 0 {
            return;
        }
        // SAFETY: the CMSG_* walk stays inside `ctrl` as the kernel filled it.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let h = &*c;
                let is_err = (h.cmsg_level == libc::SOL_IP && h.cmsg_type == libc::IP_RECVERR)
                    || (h.cmsg_level == libc::SOL_IPV6 && h.cmsg_type == libc::IPV6_RECVERR);
                if is_err {
                    let ee: libc::sock_extended_err =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    if ee.ee_origin == SO_EE_ORIGIN_ZEROCOPY {
                        // Notifications cover the inclusive range [ee_info, ee_data].
                        let n = ee.ee_data.wrapping_sub(ee.ee_info) as u64 + 1;
                        st.completed += n;
                        if ee.ee_code & SO_EE_CODE_ZEROCOPY_COPIED != 0 {
                            st.copied += n;
                        }
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
    }
}

/// Makes sure this process may hold `need` open descriptors: raises the
/// soft `RLIMIT_NOFILE` (up to the hard limit) when it is lower, and says
/// what the limit is when even the hard one is too low. Returns the soft
/// limit now in force.
// `rlim_t` is 32 bits on some targets: the casts are not no-ops there.
#[allow(clippy::unnecessary_cast)]
pub fn ensure_nofile(need: u64) -> Result<u64, String> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a live rlimit the kernel fills in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(format!("getrlimit: {}", io::Error::last_os_error()));
    }
    if r.rlim_cur as u64 >= need {
        return Ok(r.rlim_cur as u64);
    }
    if (r.rlim_max as u64) < need {
        return Err(format!(
            "about {need} open files are needed, the hard limit here is {} (raise `ulimit -Hn` / LimitNOFILE, or use fewer flows)",
            r.rlim_max
        ));
    }
    let want = libc::rlimit {
        rlim_cur: need as libc::rlim_t,
        rlim_max: r.rlim_max,
    };
    // SAFETY: plain syscall with a live struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } != 0 {
        return Err(format!(
            "raising the open-file limit from {} to {need}: {}",
            r.rlim_cur,
            io::Error::last_os_error()
        ));
    }
    Ok(need)
}

/// The soft and hard `RLIMIT_NOFILE` of this process.
#[allow(clippy::unnecessary_cast)]
pub fn nofile_limits() -> Option<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a live rlimit the kernel fills in.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0)
        .then_some((r.rlim_cur as u64, r.rlim_max as u64))
}

/// The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`),
/// both ends inclusive; the count of local ports one destination can take.
pub fn ephemeral_ports() -> Option<(u16, u16)> {
    let t = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    parse_port_range_sysctl(&t)
}

/// Parses the two numbers of `ip_local_port_range`.
pub fn parse_port_range_sysctl(t: &str) -> Option<(u16, u16)> {
    let mut it = t.split_whitespace().map(|x| x.parse::<u16>().ok());
    let (lo, hi) = (it.next()??, it.next()??);
    (lo <= hi).then_some((lo, hi))
}

/// SO_LINGER {on, 0 s}: `close` then resets the connection instead of the
/// FIN handshake, so neither end keeps the port in TIME-WAIT.
pub fn set_linger_zero(fd: RawFd) -> io::Result<()> {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    setsockopt_raw(fd, libc::SOL_SOCKET, libc::SO_LINGER, &l)
}

#[cfg(test)]
mod flow_limit_tests {
    use super::*;

    #[test]
    fn fd_budget_and_port_range() {
        let (soft, hard) = nofile_limits().unwrap();
        assert!(soft <= hard);
        // Within the soft limit nothing changes.
        assert_eq!(ensure_nofile(1).unwrap(), soft);
        // Past the hard limit: refused, naming the limit, nothing raised.
        // (RLIM_INFINITY is u64::MAX: nothing is past it.)
        if hard < u64::MAX {
            let m = ensure_nofile(hard + 1).unwrap_err();
            assert!(
                m.contains("hard limit") && m.contains(&hard.to_string()),
                "{m}"
            );
            assert_eq!(nofile_limits().unwrap().0, soft);
        }
        assert_eq!(
            parse_port_range_sysctl("32768\t60999\n"),
            Some((32768, 60999))
        );
        assert_eq!(parse_port_range_sysctl("1024 1024"), Some((1024, 1024)));
        assert_eq!(parse_port_range_sysctl("60999 32768"), None);
        assert_eq!(parse_port_range_sysctl("x 1"), None);
        assert_eq!(parse_port_range_sysctl("70000 80000"), None);
        assert_eq!(parse_port_range_sysctl(""), None);
        assert!(ephemeral_ports().is_some());
    }
}
