//! Attribution without privileges: where the time of a measured phase went.
//!
//! A regression report that says "p99 +40%" is only half an answer; the other
//! half is whether the device, the scheduler or the network stack moved. Every
//! figure here comes from files any user can read, read twice per step (at the
//! start and the end of the measured phase), so the cost is a few hundred
//! microseconds per step, not a sampling thread:
//!
//! - run-queue wait of the workers' own threads (`/proc/thread-self/schedstat`:
//!   time runnable but not running), the contention signal on a VM where steal
//!   reads 0, and their context switches (`/proc/thread-self/status`);
//! - pressure stall information (`/proc/pressure/{cpu,io,memory}`);
//! - interrupt and softirq time of the busiest CPU (`/proc/stat`), and which
//!   interrupt and softirq counters changed, per CPU (`/proc/interrupts`,
//!   `/proc/softirqs`);
//! - for network runs, the stack's retransmits and drops (`/proc/net/snmp`,
//!   `/proc/net/netstat`) and the NICs' drop counters (`/proc/net/dev`).
//!
//! Every metric is explanatory (see [`crate::result::Role::of`]): it explains
//! a headline that moved and never decides a comparison on its own.
//! Parsers take text, so each is tested on fixtures from real kernels.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::json;

/// How many changed interrupt or softirq lines a run's notes list at most.
const MAX_CHANGED_LINES: usize = 16;

/// Scheduler statistics of one thread (`/proc/<pid>/task/<tid>/schedstat`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedStat {
    /// Time spent on a CPU, ns.
    pub run_ns: u64,
    /// Time spent runnable on a run queue, waiting for a CPU, ns.
    pub wait_ns: u64,
    /// Timeslices run.
    pub slices: u64,
}

/// Parses a `schedstat` line: `run_ns wait_ns slices`.
pub fn parse_schedstat(text: &str) -> Option<SchedStat> {
    let mut it = text.split_whitespace().map(|x| x.parse::<u64>().ok());
    Some(SchedStat {
        run_ns: it.next()??,
        wait_ns: it.next()??,
        slices: it.next()??,
    })
}

/// Context switches of one thread (`/proc/<pid>/task/<tid>/status`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtxSwitches {
    /// The thread gave up the CPU (it blocked or slept).
    pub voluntary: u64,
    /// The scheduler took the CPU away (preempted by another task).
    pub involuntary: u64,
}

/// Parses the context-switch lines of a `status` file.
pub fn parse_ctx_switches(text: &str) -> Option<CtxSwitches> {
    let (mut v, mut n) = (None, None);
    for line in text.lines() {
        if let Some(x) = line.strip_prefix("voluntary_ctxt_switches:") {
            v = x.trim().parse().ok();
        } else if let Some(x) = line.strip_prefix("nonvoluntary_ctxt_switches:") {
            n = x.trim().parse().ok();
        }
    }
    Some(CtxSwitches {
        voluntary: v?,
        involuntary: n?,
    })
}

/// The calling thread's scheduler figures at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadSample {
    /// From `schedstat` (absent when the kernel has no `CONFIG_SCHED_INFO`).
    pub sched: Option<SchedStat>,
    /// From `status`.
    pub ctx: Option<CtxSwitches>,
}

impl ThreadSample {
    /// Reads the calling thread's figures (two small procfs reads).
    pub fn read() -> Self {
        let read = |f: &str| std::fs::read_to_string(format!("/proc/thread-self/{f}")).ok();
        Self {
            sched: read("schedstat").as_deref().and_then(parse_schedstat),
            ctx: read("status").as_deref().and_then(parse_ctx_switches),
        }
    }

    /// What happened between `self` (earlier) and `later`.
    pub fn delta(&self, later: &ThreadSample) -> ThreadDelta {
        let sched = self.sched.zip(later.sched).map(|(a, b)| SchedStat {
            run_ns: b.run_ns.saturating_sub(a.run_ns),
            wait_ns: b.wait_ns.saturating_sub(a.wait_ns),
            slices: b.slices.saturating_sub(a.slices),
        });
        let ctx = self.ctx.zip(later.ctx).map(|(a, b)| CtxSwitches {
            voluntary: b.voluntary.saturating_sub(a.voluntary),
            involuntary: b.involuntary.saturating_sub(a.involuntary),
        });
        ThreadDelta { sched, ctx }
    }
}

/// One thread's scheduler figures over a measured phase; they add up over
/// the workers of a step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadDelta {
    /// Run and wait time, timeslices.
    pub sched: Option<SchedStat>,
    /// Context switches.
    pub ctx: Option<CtxSwitches>,
}

impl ThreadDelta {
    /// Adds `other` (another worker of the same step).
    pub fn add(&mut self, other: &ThreadDelta) {
        fn sum<T: Copy>(a: Option<T>, b: Option<T>, f: impl Fn(T, T) -> T) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(f(a, b)),
                (a, b) => a.or(b),
            }
        }
        self.sched = sum(self.sched, other.sched, |a, b| SchedStat {
            run_ns: a.run_ns + b.run_ns,
            wait_ns: a.wait_ns + b.wait_ns,
            slices: a.slices + b.slices,
        });
        self.ctx = sum(self.ctx, other.ctx, |a, b| CtxSwitches {
            voluntary: a.voluntary + b.voluntary,
            involuntary: a.involuntary + b.involuntary,
        });
    }

    /// Metrics (`sched.*`) over a phase of `wall_s` seconds.
    pub fn metrics(&self, wall_s: f64) -> Vec<AttrMetric> {
        let mut out = Vec::new();
        if let Some(s) = self.sched {
            if s.run_ns > 0 {
                out.push(AttrMetric::new(
                    "sched.runq_wait_ratio",
                    s.wait_ns as f64 / s.run_ns as f64,
                    "ratio",
                ));
            }
            if wall_s > 0.0 {
                out.push(AttrMetric::new(
                    "sched.runq_wait_ms_per_s",
                    s.wait_ns as f64 / 1e6 / wall_s,
                    "ms/s",
                ));
            }
        }
        if let (Some(c), true) = (self.ctx, wall_s > 0.0) {
            out.push(AttrMetric::new(
                "sched.voluntary_switches_per_s",
                c.voluntary as f64 / wall_s,
                "1/s",
            ));
            out.push(AttrMetric::new(
                "sched.involuntary_switches_per_s",
                c.involuntary as f64 / wall_s,
                "1/s",
            ));
        }
        out
    }
}

/// One attribution figure: its name below the step's prefix, value and unit.
#[derive(Clone, Debug, PartialEq)]
pub struct AttrMetric {
    /// Name below the step's prefix, e.g. `sched.runq_wait_ratio`.
    pub name: String,
    /// Value.
    pub value: f64,
    /// Unit string as in the result file.
    pub unit: &'static str,
}

impl AttrMetric {
    fn new(name: impl Into<String>, value: f64, unit: &'static str) -> Self {
        Self {
            name: name.into(),
            value,
            unit,
        }
    }
}

/// Cumulative stall time of one PSI resource, µs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Psi {
    /// Some task stalled on the resource.
    pub some_us: u64,
    /// All non-idle tasks stalled at once (absent for cpu on older kernels).
    pub full_us: Option<u64>,
}

/// Parses a `/proc/pressure/*` file.
pub fn parse_psi(text: &str) -> Option<Psi> {
    let total = |line: &str| {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix("total="))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let (mut some, mut full) = (None, None);
    for line in text.lines() {
        if line.starts_with("some ") {
            some = total(line);
        } else if line.starts_with("full ") {
            full = total(line);
        }
    }
    Some(Psi {
        some_us: some?,
        full_us: full,
    })
}

/// Interrupt and softirq time of one CPU, in ticks (`/proc/stat` `cpuN`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuIrqTicks {
    /// CPU number.
    pub cpu: u32,
    /// Hard interrupt ticks.
    pub irq: u64,
    /// Softirq ticks.
    pub softirq: u64,
    /// All ticks.
    pub total: u64,
}

/// Parses the per-CPU lines of `/proc/stat`.
pub fn parse_stat_per_cpu(text: &str) -> Vec<CpuIrqTicks> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let Some(cpu) = it
            .next()
            .and_then(|h| h.strip_prefix("cpu"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let f: Vec<u64> = it.take(8).map(|x| x.parse().unwrap_or(0)).collect();
        if f.len() < 7 {
            continue;
        }
        // user nice system idle iowait irq softirq steal
        out.push(CpuIrqTicks {
            cpu,
            irq: f[5],
            softirq: f[6],
            total: f.iter().sum(),
        });
    }
    out
}

/// A per-CPU counter table (`/proc/interrupts`, `/proc/softirqs`): line
/// name → count per CPU, in the order of the header's CPU columns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CounterTable {
    /// The CPU numbers of the columns (offline CPUs are absent).
    pub cpus: Vec<u32>,
    /// Line name (with the description, for interrupts) → counts.
    pub rows: BTreeMap<String, Vec<u64>>,
}

/// Parses `/proc/interrupts` or `/proc/softirqs`. Lines with fewer counts
/// than CPUs (`ERR:`, `MIS:`) keep what they have.
pub fn parse_counter_table(text: &str) -> CounterTable {
    let mut lines = text.lines();
    let cpus: Vec<u32> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|c| c.strip_prefix("CPU").and_then(|n| n.parse().ok()))
        .collect();
    let mut rows = BTreeMap::new();
    for line in lines {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let mut counts = Vec::with_capacity(cpus.len());
        let mut fields = rest.split_whitespace().peekable();
        while counts.len() < cpus.len() {
            match fields.peek().and_then(|f| f.parse::<u64>().ok()) {
                Some(v) => {
                    counts.push(v);
                    fields.next();
                }
                None => break,
            }
        }
        let desc: Vec<&str> = fields.collect();
        let name = name.trim();
        let key = if desc.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            name.to_string()
        } else {
            // Numbered lines: the number alone says nothing across machines.
            format!("{name} {}", desc.join(" "))
        };
        rows.insert(key, counts);
    }
    CounterTable { cpus, rows }
}

/// Parses `/proc/net/snmp` or `/proc/net/netstat`: pairs of header and
/// value lines (`Tcp: RtoAlgorithm …` then `Tcp: 1 …`) → `Tcp.RetransSegs`.
pub fn parse_snmp(text: &str) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    for pair in lines.chunks(2) {
        let [head, vals] = pair else { continue };
        let (Some((p1, names)), Some((p2, values))) = (head.split_once(':'), vals.split_once(':'))
        else {
            continue;
        };
        if p1 != p2 {
            continue;
        }
        for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
            if let Ok(v) = v.parse::<i64>() {
                out.insert(format!("{p1}.{n}"), v);
            }
        }
    }
    out
}

/// Error and drop counters of one interface (`/proc/net/dev`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NicCounters {
    /// Receive errors.
    pub rx_errs: u64,
    /// Receive drops.
    pub rx_drop: u64,
    /// Transmit errors.
    pub tx_errs: u64,
    /// Transmit drops.
    pub tx_drop: u64,
}

/// Parses `/proc/net/dev`.
pub fn parse_net_dev(text: &str) -> BTreeMap<String, NicCounters> {
    let mut out = BTreeMap::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        if f.len() < 12 {
            continue;
        }
        // rx: bytes packets errs drop fifo frame compressed multicast, tx: bytes packets errs drop …
        out.insert(
            name.trim().to_string(),
            NicCounters {
                rx_errs: f[2],
                rx_drop: f[3],
                tx_errs: f[10],
                tx_drop: f[11],
            },
        );
    }
    out
}

/// The stack counters a network run is explained by, `/proc/net/snmp` and
/// `/proc/net/netstat` names → metric names (all per second).
const NET_COUNTERS: &[(&str, &str)] = &[
    ("Tcp.RetransSegs", "netstack.tcp_retrans_segs_per_s"),
    ("Tcp.InErrs", "netstack.tcp_in_errs_per_s"),
    (
        "TcpExt.TCPLostRetransmit",
        "netstack.tcp_lost_retransmit_per_s",
    ),
    ("TcpExt.TCPTimeouts", "netstack.tcp_timeouts_per_s"),
    ("TcpExt.ListenOverflows", "netstack.listen_overflows_per_s"),
    ("TcpExt.ListenDrops", "netstack.listen_drops_per_s"),
    ("TcpExt.TCPBacklogDrop", "netstack.tcp_backlog_drops_per_s"),
    ("TcpExt.TCPRcvQDrop", "netstack.tcp_rcvq_drops_per_s"),
    ("Udp.InErrors", "netstack.udp_in_errors_per_s"),
    ("Udp.RcvbufErrors", "netstack.udp_rcvbuf_errors_per_s"),
    ("Udp.SndbufErrors", "netstack.udp_sndbuf_errors_per_s"),
    ("Ip.InDiscards", "netstack.ip_in_discards_per_s"),
];

/// What a snapshot reads besides the always-read files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// The network stack's and NICs' counters (network workloads).
    pub net: bool,
}

/// The system-wide counters at one instant.
#[derive(Clone, Debug)]
pub struct SystemSnapshot {
    at: Instant,
    /// cpu, io, memory.
    psi: [Option<Psi>; 3],
    cpus: Vec<CpuIrqTicks>,
    interrupts: CounterTable,
    softirqs: CounterTable,
    snmp: BTreeMap<String, i64>,
    nics: BTreeMap<String, NicCounters>,
}

const PSI_RESOURCES: [&str; 3] = ["cpu", "io", "memory"];

impl SystemSnapshot {
    /// Reads every counter `scope` asks for. A file that cannot be read
    /// (no PSI in the kernel, a container without /proc/net) leaves its
    /// part empty and its metrics out; it never fails a run.
    pub fn take(scope: Scope) -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let psi = PSI_RESOURCES.map(|r| parse_psi(&read(&format!("/proc/pressure/{r}"))));
        let (snmp, nics) = if scope.net {
            let mut m = parse_snmp(&read("/proc/net/snmp"));
            m.extend(parse_snmp(&read("/proc/net/netstat")));
            (m, parse_net_dev(&read("/proc/net/dev")))
        } else {
            Default::default()
        };
        Self {
            at: Instant::now(),
            psi,
            cpus: parse_stat_per_cpu(&read("/proc/stat")),
            interrupts: parse_counter_table(&read("/proc/interrupts")),
            softirqs: parse_counter_table(&read("/proc/softirqs")),
            snmp,
            nics,
        }
    }

    /// What changed from `self` (at the start of the measured phase) to
    /// `later` (at its end).
    pub fn delta(&self, later: &SystemSnapshot) -> SystemDelta {
        let wall_s = later.at.saturating_duration_since(self.at).as_secs_f64();
        let mut metrics = Vec::new();
        if wall_s <= 0.0 {
            return SystemDelta::default();
        }
        for (i, r) in PSI_RESOURCES.iter().enumerate() {
            let (Some(a), Some(b)) = (self.psi[i], later.psi[i]) else {
                continue;
            };
            let pct = |us: u64| 100.0 * us as f64 / 1e6 / wall_s;
            metrics.push(AttrMetric::new(
                format!("psi.{r}.some_pct"),
                pct(b.some_us.saturating_sub(a.some_us)),
                "%",
            ));
            if let (Some(fa), Some(fb)) = (a.full_us, b.full_us) {
                metrics.push(AttrMetric::new(
                    format!("psi.{r}.full_pct"),
                    pct(fb.saturating_sub(fa)),
                    "%",
                ));
            }
        }
        // The busiest CPU's interrupt + softirq share: one CPU taking every
        // NIC interrupt caps a network run long before the average moves.
        let busiest = later
            .cpus
            .iter()
            .filter_map(|b| {
                let a = self.cpus.iter().find(|a| a.cpu == b.cpu)?;
                let total = b.total.saturating_sub(a.total);
                let irq = b.irq.saturating_sub(a.irq) + b.softirq.saturating_sub(a.softirq);
                (total > 0).then(|| (b.cpu, 100.0 * irq as f64 / total as f64))
            })
            .max_by(|x, y| x.1.total_cmp(&y.1));
        let mut notes = serde_json::Map::new();
        if let Some((cpu, pct)) = busiest {
            metrics.push(AttrMetric::new("softirq.busiest_cpu_pct", pct, "%"));
            notes.insert("busiest_irq_cpu".into(), json!(cpu));
        }
        for (name, table_a, table_b) in [
            ("interrupts", &self.interrupts, &later.interrupts),
            ("softirqs", &self.softirqs, &later.softirqs),
        ] {
            let changed = changed_lines(table_a, table_b, wall_s);
            if !changed.is_empty() {
                notes.insert(format!("changed_{name}"), json!(changed));
            }
        }
        if !self.snmp.is_empty() && !later.snmp.is_empty() {
            for (key, metric) in NET_COUNTERS {
                if let (Some(a), Some(b)) = (self.snmp.get(*key), later.snmp.get(*key)) {
                    let d = (b - a).max(0) as f64;
                    metrics.push(AttrMetric::new(*metric, d / wall_s, "1/s"));
                }
            }
        }
        if !later.nics.is_empty() {
            let mut sum = NicCounters::default();
            for (name, b) in &later.nics {
                let a = self.nics.get(name).copied().unwrap_or(*b);
                sum.rx_drop += b.rx_drop.saturating_sub(a.rx_drop);
                sum.tx_drop += b.tx_drop.saturating_sub(a.tx_drop);
                sum.rx_errs += b.rx_errs.saturating_sub(a.rx_errs);
                sum.tx_errs += b.tx_errs.saturating_sub(a.tx_errs);
            }
            metrics.extend([
                AttrMetric::new("nic.rx_drops", sum.rx_drop as f64, "count"),
                AttrMetric::new("nic.tx_drops", sum.tx_drop as f64, "count"),
                AttrMetric::new("nic.rx_errors", sum.rx_errs as f64, "count"),
                AttrMetric::new("nic.tx_errors", sum.tx_errs as f64, "count"),
            ]);
        }
        SystemDelta {
            wall_s,
            metrics,
            notes,
        }
    }
}

/// The counter lines that changed most, as `{line, per_s, per_cpu}` with
/// only the CPUs whose count moved (the listing stays short on 400 vCPUs).
fn changed_lines(a: &CounterTable, b: &CounterTable, wall_s: f64) -> Vec<serde_json::Value> {
    let mut changed: Vec<(u64, serde_json::Value)> = Vec::new();
    for (name, after) in &b.rows {
        let before = a.rows.get(name);
        let mut total = 0u64;
        let mut per_cpu = serde_json::Map::new();
        for (i, v) in after.iter().enumerate() {
            let d = v.saturating_sub(before.and_then(|r| r.get(i)).copied().unwrap_or(*v));
            if d > 0 {
                total += d;
                let cpu = b.cpus.get(i).copied().unwrap_or(i as u32);
                per_cpu.insert(cpu.to_string(), json!(d));
            }
        }
        if total > 0 {
            changed.push((
                total,
                json!({"line": name, "per_s": total as f64 / wall_s, "per_cpu": per_cpu}),
            ));
        }
    }
    changed.sort_by_key(|x| std::cmp::Reverse(x.0));
    changed.truncate(MAX_CHANGED_LINES);
    changed.into_iter().map(|(_, v)| v).collect()
}

/// Everything attribution recorded for one step's measured phase.
#[derive(Clone, Debug, Default)]
pub struct StepAttribution {
    /// The workers' scheduler figures, summed.
    pub threads: ThreadDelta,
    /// System-wide counters.
    pub system: Option<SystemDelta>,
    /// eBPF histograms, when eBPF ran.
    pub ebpf: Option<crate::ebpf::EbpfHists>,
    /// Why there are no eBPF histograms, when there are none.
    pub ebpf_absent: Option<String>,
}

/// What the system counters say about one measured phase.
#[derive(Clone, Debug, Default)]
pub struct SystemDelta {
    /// Length of the phase, s.
    pub wall_s: f64,
    /// `psi.*`, `softirq.*`, `netstack.*`, `nic.*` figures.
    pub metrics: Vec<AttrMetric>,
    /// Which interrupt and softirq lines changed, per CPU; the busiest CPU.
    pub notes: serde_json::Map<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_and_status_parse() {
        assert_eq!(
            parse_schedstat("254321714 310469004 81\n"),
            Some(SchedStat {
                run_ns: 254321714,
                wait_ns: 310469004,
                slices: 81
            })
        );
        assert_eq!(parse_schedstat("12 x 3"), None);
        assert_eq!(parse_schedstat(""), None);
        let status = "Name:\tcat\nvoluntary_ctxt_switches:\t7\nnonvoluntary_ctxt_switches:\t2\n";
        assert_eq!(
            parse_ctx_switches(status),
            Some(CtxSwitches {
                voluntary: 7,
                involuntary: 2
            })
        );
        assert_eq!(parse_ctx_switches("Name: x\n"), None);
    }

    #[test]
    fn thread_deltas_add_up_and_give_the_wait_ratio() {
        let a = ThreadSample {
            sched: parse_schedstat("1000 0 1"),
            ctx: Some(CtxSwitches::default()),
        };
        let b = ThreadSample {
            sched: parse_schedstat("3000 1000 5"),
            ctx: Some(CtxSwitches {
                voluntary: 10,
                involuntary: 4,
            }),
        };
        let mut d = a.delta(&b);
        d.add(&a.delta(&b));
        let m = d.metrics(2.0);
        let get = |n: &str| m.iter().find(|x| x.name == n).unwrap().value;
        assert_eq!(get("sched.runq_wait_ratio"), 0.5);
        assert_eq!(get("sched.runq_wait_ms_per_s"), 2000.0 / 1e6 / 2.0);
        assert_eq!(get("sched.voluntary_switches_per_s"), 10.0);
        assert_eq!(get("sched.involuntary_switches_per_s"), 4.0);
        // A counter that went backwards (a reused thread id) is not negative.
        let back = b.delta(&a);
        assert_eq!(back.sched.unwrap().run_ns, 0);
    }

    #[test]
    fn the_calling_threads_figures_are_readable_and_grow() {
        let a = ThreadSample::read();
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed().as_millis() < 30 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let b = ThreadSample::read();
        // Linux always has the status lines; schedstat needs SCHED_INFO,
        // which every distribution kernel has.
        assert!(a.ctx.is_some() && b.ctx.is_some());
        if let Some(d) = a.delta(&b).sched {
            assert!(d.run_ns >= 10_000_000, "30 ms busy, {} ns run", d.run_ns);
        }
    }

    #[test]
    fn psi_parses_some_and_full() {
        let io = "some avg10=1.40 avg60=0.69 avg300=1.19 total=775291840\n\
                  full avg10=0.96 avg60=0.55 avg300=1.01 total=655467521\n";
        assert_eq!(
            parse_psi(io),
            Some(Psi {
                some_us: 775291840,
                full_us: Some(655467521)
            })
        );
        // Kernels before 5.13 have no `full` line for cpu.
        let cpu = "some avg10=0.00 avg60=0.00 avg300=0.00 total=42\n";
        assert_eq!(
            parse_psi(cpu),
            Some(Psi {
                some_us: 42,
                full_us: None
            })
        );
        assert_eq!(parse_psi("garbage"), None);
    }

    #[test]
    fn per_cpu_stat_lines_parse_and_skip_the_total() {
        let stat = "cpu  10 0 10 100 0 5 5 0 0 0\n\
                    cpu0 5 0 5 50 0 0 0 0 0 0\n\
                    cpu1 5 0 5 50 0 5 5 0 0 0\n\
                    intr 123\n";
        let c = parse_stat_per_cpu(stat);
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[1],
            CpuIrqTicks {
                cpu: 1,
                irq: 5,
                softirq: 5,
                total: 70
            }
        );
    }

    #[test]
    fn interrupt_and_softirq_tables_parse() {
        let ints = "           CPU0       CPU1       \n  \
                    0:         33          0   IO-APIC   2-edge      timer\n \
                    26:          0         13  IO-APIC   4-edge      ttyS0\n\
                    NMI:          0          0   Non-maskable interrupts\n\
                    ERR:          0\n";
        let t = parse_counter_table(ints);
        assert_eq!(t.cpus, vec![0, 1]);
        assert_eq!(t.rows["0 IO-APIC 2-edge timer"], vec![33, 0]);
        assert_eq!(t.rows["26 IO-APIC 4-edge ttyS0"], vec![0, 13]);
        assert_eq!(t.rows["NMI"], vec![0, 0]);
        assert_eq!(t.rows["ERR"], vec![0]);
        let soft =
            "                    CPU0       CPU2       \n          HI:          0          0\n\
                    NET_RX:     100     200\n";
        let s = parse_counter_table(soft);
        assert_eq!(s.cpus, vec![0, 2]);
        assert_eq!(s.rows["NET_RX"], vec![100, 200]);
        assert!(parse_counter_table("").rows.is_empty());
    }

    #[test]
    fn snmp_pairs_parse_with_signed_values() {
        let snmp = "Ip: Forwarding InDiscards\nIp: 1 3\n\
                    Tcp: RtoAlgorithm MaxConn RetransSegs\nTcp: 1 -1 638\n\
                    Udp: InErrors\n";
        let m = parse_snmp(snmp);
        assert_eq!(m["Tcp.MaxConn"], -1);
        assert_eq!(m["Tcp.RetransSegs"], 638);
        assert_eq!(m["Ip.InDiscards"], 3);
        // The unpaired header is ignored, not misread.
        assert!(!m.contains_key("Udp.InErrors"));
    }

    #[test]
    fn net_dev_parses_drop_and_error_columns() {
        let dev = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n\
                   \x20   lo: 424 269 1 2 0 0 0 0 424 269 3 4 0 0 0 0\n";
        let m = parse_net_dev(dev);
        assert_eq!(
            m["lo"],
            NicCounters {
                rx_errs: 1,
                rx_drop: 2,
                tx_errs: 3,
                tx_drop: 4
            }
        );
    }

    fn snap(psi_some: u64, softirq: u64, retrans: i64, net_rx: u64, drops: u64) -> SystemSnapshot {
        SystemSnapshot {
            at: Instant::now(),
            psi: [
                Some(Psi {
                    some_us: psi_some,
                    full_us: None,
                }),
                None,
                Some(Psi {
                    some_us: psi_some,
                    full_us: Some(psi_some / 2),
                }),
            ],
            cpus: vec![
                CpuIrqTicks {
                    cpu: 0,
                    irq: 0,
                    softirq: 0,
                    total: softirq * 10,
                },
                CpuIrqTicks {
                    cpu: 1,
                    irq: 0,
                    softirq,
                    total: softirq * 4,
                },
            ],
            interrupts: CounterTable::default(),
            softirqs: CounterTable {
                cpus: vec![0, 1],
                rows: [
                    ("NET_RX".to_string(), vec![0, net_rx]),
                    ("HI".into(), vec![0, 0]),
                ]
                .into_iter()
                .collect(),
            },
            snmp: [("Tcp.RetransSegs".to_string(), retrans)]
                .into_iter()
                .collect(),
            nics: [(
                "eth0".to_string(),
                NicCounters {
                    rx_drop: drops,
                    ..NicCounters::default()
                },
            )]
            .into_iter()
            .collect(),
        }
    }

    #[test]
    fn system_delta_gives_shares_rates_and_the_changed_lines() {
        let a = snap(0, 0, 10, 0, 1);
        let mut b = snap(500_000, 25, 30, 900, 6);
        b.at = a.at + std::time::Duration::from_secs(2);
        let d = a.delta(&b);
        let get = |n: &str| d.metrics.iter().find(|x| x.name == n).map(|x| x.value);
        assert_eq!(d.wall_s, 2.0);
        // 0.5 s of 2 s stalled.
        assert_eq!(get("psi.cpu.some_pct"), Some(25.0));
        assert_eq!(get("psi.cpu.full_pct"), None);
        assert_eq!(get("psi.memory.full_pct"), Some(12.5));
        assert_eq!(get("psi.io.some_pct"), None);
        assert_eq!(get("softirq.busiest_cpu_pct"), Some(25.0));
        assert_eq!(d.notes["busiest_irq_cpu"], json!(1));
        assert_eq!(get("netstack.tcp_retrans_segs_per_s"), Some(10.0));
        assert_eq!(get("nic.rx_drops"), Some(5.0));
        let changed = d.notes["changed_softirqs"].as_array().unwrap();
        assert_eq!(changed.len(), 1, "HI did not change: {changed:?}");
        assert_eq!(changed[0]["line"], "NET_RX");
        assert_eq!(changed[0]["per_cpu"], json!({"1": 900}));
        // The same instant twice measures nothing and says nothing.
        assert!(a.delta(&a).metrics.is_empty());
    }

    #[test]
    fn a_live_snapshot_reads_this_machine() {
        let a = SystemSnapshot::take(Scope { net: true });
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = SystemSnapshot::take(Scope { net: true });
        let d = a.delta(&b);
        assert!(d.wall_s > 0.0);
        assert!(!a.cpus.is_empty(), "/proc/stat has per-CPU lines");
        for m in &d.metrics {
            assert!(m.value.is_finite() && m.value >= 0.0, "{m:?}");
        }
    }
}
