//! eBPF attribution: block-layer latency per device (biolatency), run-queue
//! latency (runqlat) and TCP smoothed RTT (tcprtt), as HDR histograms of the
//! measured phase.
//!
//! The programs (`bench-core/ebpf/attrib.bpf.c`, built into the committed
//! `attrib.bpf.o`) attach to classic tracepoints and read each field at the
//! offset this module takes from tracefs (`events/*/format`) and sets as a
//! read-only global before load. So they need neither kernel headers nor
//! CO-RE, and one object runs on every kernel whose tracepoints carry the
//! fields. The loader is aya (pure Rust, no libbpf or libelf to build); see
//! ARCHITECTURE.md for why not libbpf-rs.
//!
//! Programs are loaded (verified) once, attached at the start of a step's
//! measured phase and detached at its end, so nothing is traced outside
//! measured phases. In-kernel histograms are log-linear (32 sub-buckets per
//! power of two); each bucket goes into the HDR histogram at its midpoint,
//! so a percentile read from it is within 1.6% of the exact one.
//!
//! Where eBPF cannot run (not root, no tracefs, a locked-down kernel, a
//! tracepoint without the fields), [`Ebpf::open`] says why in one line; the
//! run goes on without the section and records that line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray, PerCpuHashMap};
use aya::programs::raw_trace_point::RawTracePointLinkId;
use aya::programs::trace_point::TracePointLinkId;
use aya::programs::{RawTracePoint, TracePoint};
use aya::{EbpfLoader, Pod};

use crate::hist::{new_hist, Hist};

/// The compiled programs (see `bench-core/ebpf/build.sh`).
// Aligned: the ELF parser reads the headers in place.
static OBJECT: &[u8] = aya::include_bytes_aligned!("../ebpf/attrib.bpf.o");

/// What to trace in one step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Probes {
    /// Block I/O latency, issue to completion, per device.
    pub block: bool,
    /// Run-queue latency.
    pub runq: bool,
    /// TCP smoothed RTT per received segment.
    pub tcp_rtt: bool,
}

/// The histograms of one measured phase.
#[derive(Clone, Debug, Default)]
pub struct EbpfHists {
    /// Block-layer latency per device name (`vda`, `nvme0n1`), ns.
    pub block: Vec<(String, Hist)>,
    /// Run-queue latency, ns.
    pub runq: Option<Hist>,
    /// TCP smoothed RTT, ns.
    pub tcp_rtt: Option<Hist>,
    /// The block histograms came from raw tracepoints (else classic ones).
    pub block_raw: bool,
    /// The block probe was the one program at completion that reads the
    /// block layer's own issue time (`request.io_start_time_ns`).
    pub block_stamped: bool,
    /// Why the block probe switched from that program to the two-program
    /// form during this step, or how many completions it could not time.
    pub block_fallback: Option<String>,
    /// The programs' own cost in the measured phase, where it was measured
    /// (`SKUBENCH_EBPF_STATS=1`).
    pub cost: Vec<ProgCost>,
}

/// What one program cost in a measured phase, from the kernel's BPF run-time
/// statistics (`BPF_ENABLE_STATS`).
#[derive(Clone, Debug, PartialEq)]
pub struct ProgCost {
    /// Program name.
    pub prog: &'static str,
    /// Times it ran.
    pub calls: u64,
    /// Time it ran, ns (CPU time inside the program, all CPUs).
    pub run_ns: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct HistKey {
    id: u32,
    bucket: u32,
}

// SAFETY: plain-old-data, `repr(C)`, no padding (two u32), as the program's
// `struct hist_key`.
unsafe impl Pod for HistKey {}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct BioKey {
    dev: u32,
    pad: u32,
    sector: u64,
}

// SAFETY: `repr(C)`, no implicit padding (u32, u32, u64), as `struct bio_key`.
unsafe impl Pod for BioKey {}

/// The histogram maps of the programs.
const HIST_MAPS: [&str; 4] = ["bio_hist", "rq_hist", "runq_hist", "rtt_hist"];

/// Those of them that are per-CPU hashes keyed like `bio_hist`.
const PERCPU_HASH_MAPS: [&str; 1] = ["rq_hist"];

/// Those of them that are per-CPU arrays indexed by bucket (the hot paths).
const PERCPU_MAPS: [&str; 2] = ["runq_hist", "rtt_hist"];

/// Whether a program belongs to the probes asked for.
type Wanted = fn(&Probes) -> bool;

/// How a program attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attach {
    /// A classic tracepoint: the kernel builds the record, the program
    /// reads fields at offsets from tracefs.
    Classic,
    /// A raw tracepoint: the program gets the tracepoint's arguments.
    Raw,
    /// A raw tracepoint at completion only, the issue time read from the
    /// request (one program per I/O, no map of requests in flight).
    Stamp,
}

impl Attach {
    /// Attached as a raw tracepoint.
    fn is_raw(self) -> bool {
        self != Attach::Classic
    }
}

/// (program, tracepoint category, tracepoint name, probe it belongs to, how).
///
/// The block probe has three forms: one raw program at completion where
/// kernel BTF gives the member offsets it needs and the queue stamps its
/// requests' issue time; else two raw programs and a map of requests in
/// flight (no record is built per I/O: cheaper at high IOPS); classic
/// tracepoints where there is no BTF.
const PROGRAMS: &[(&str, &str, &str, Wanted, Attach)] = &[
    (
        "bio_issue",
        "block",
        "block_rq_issue",
        |p| p.block,
        Attach::Classic,
    ),
    (
        "bio_done",
        "block",
        "block_rq_complete",
        |p| p.block,
        Attach::Classic,
    ),
    (
        "rq_issue_raw",
        "block",
        "block_rq_issue",
        |p| p.block,
        Attach::Raw,
    ),
    (
        "rq_done_raw",
        "block",
        "block_rq_complete",
        |p| p.block,
        Attach::Raw,
    ),
    (
        "rq_done_stamp",
        "block",
        "block_rq_complete",
        |p| p.block,
        Attach::Stamp,
    ),
    (
        "runq_wakeup",
        "sched",
        "sched_wakeup",
        |p| p.runq,
        Attach::Classic,
    ),
    (
        "runq_wakeup_new",
        "sched",
        "sched_wakeup_new",
        |p| p.runq,
        Attach::Classic,
    ),
    (
        "runq_switch",
        "sched",
        "sched_switch",
        |p| p.runq,
        Attach::Classic,
    ),
    (
        "tcp_rtt",
        "tcp",
        "tcp_probe",
        |p| p.tcp_rtt,
        Attach::Classic,
    ),
];

/// The raw block programs' member offsets (globals `rq_hop1`, `rq_hop2`,
/// `disk_major`, `disk_minor`) from kernel BTF: `request.q` →
/// `request_queue.disk` (5.16 and later) or `request.rq_disk` (before);
/// and `request.io_start_time_ns` (global `rq_io_start`) where it exists.
type BlockOffsets = ([u32; 4], Option<u32>);

fn block_offsets(s: &crate::btf::Structs) -> Result<BlockOffsets, crate::btf::BtfError> {
    Ok((
        path_offsets(s)?,
        s.offset("request", "io_start_time_ns").ok(),
    ))
}

fn path_offsets(s: &crate::btf::Structs) -> Result<[u32; 4], crate::btf::BtfError> {
    const NO_HOP: u32 = u32::MAX;
    let (hop1, hop2) = match (s.offset("request", "q"), s.offset("request_queue", "disk")) {
        (Ok(q), Ok(d)) => (q, d),
        _ => (s.offset("request", "rq_disk")?, NO_HOP),
    };
    Ok([
        hop1,
        hop2,
        s.offset("gendisk", "major")?,
        s.offset("gendisk", "first_minor")?,
    ])
}

/// An attached program's link.
enum Link {
    Classic(TracePointLinkId),
    Raw(RawTracePointLinkId),
}

/// (global in the program, tracepoint, field, size the program reads).
const FIELDS: &[(&str, &str, &str, u32)] = &[
    ("bio_issue_dev", "block/block_rq_issue", "dev", 4),
    ("bio_issue_sector", "block/block_rq_issue", "sector", 8),
    ("bio_done_dev", "block/block_rq_complete", "dev", 4),
    ("bio_done_sector", "block/block_rq_complete", "sector", 8),
    ("sw_prev_pid", "sched/sched_switch", "prev_pid", 4),
    ("sw_prev_state", "sched/sched_switch", "prev_state", 8),
    ("sw_next_pid", "sched/sched_switch", "next_pid", 4),
    ("wake_pid", "sched/sched_wakeup", "pid", 4),
    ("probe_srtt", "tcp/tcp_probe", "srtt", 4),
];

/// A field of a tracepoint record: offset and size, bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// Offset in the record.
    pub offset: u32,
    /// Size.
    pub size: u32,
}

/// Why eBPF attribution cannot run, or a step has no histograms.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EbpfError {
    /// Tracing needs root.
    #[error("not running as root (eBPF tracing needs CAP_BPF and CAP_PERFMON)")]
    NotRoot,
    /// No tracefs, and mounting it failed.
    #[error("tracefs is not mounted and cannot be ({0})")]
    Tracefs(String),
    /// The object did not load (lockdown, an old kernel, no BPF).
    #[error("the kernel refused the eBPF object: {0}")]
    Object(String),
    /// A program is not in the object or is not a tracepoint program.
    #[error("program {prog}: {msg}")]
    Program {
        /// Program name.
        prog: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// The verifier refused a program.
    #[error("the verifier refused {prog}: {msg}")]
    Verifier {
        /// Program name.
        prog: &'static str,
        /// The verifier's words.
        msg: String,
    },
    /// Attaching to a tracepoint failed.
    #[error("cannot attach to {tracepoint}: {msg}")]
    Attach {
        /// `category/name`.
        tracepoint: String,
        /// Why.
        msg: String,
    },
    /// A map is missing or could not be read.
    #[error("map {map}: {msg}")]
    Map {
        /// Map name.
        map: String,
        /// Why.
        msg: String,
    },
    /// Turned off (`--no-ebpf`, or a runner without it).
    #[error("{0}")]
    Off(String),
    /// Another run of a concurrent group holds the tracer.
    #[error("another run of its concurrent group held the tracer")]
    Busy,
    /// Marked or ended without a begin.
    #[error("the tracer was not attached")]
    NotAttached,
    /// A thread panicked while holding the tracer.
    #[error("the tracer's lock is poisoned")]
    Poisoned,
}

fn map_err(map: &str, e: impl std::fmt::Display) -> EbpfError {
    EbpfError::Map {
        map: map.to_string(),
        msg: e.to_string(),
    }
}

/// Parses a tracepoint `format` file into field name → offset and size.
pub fn parse_format(text: &str) -> BTreeMap<String, Field> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut name = None;
        let (mut offset, mut size) = (None, None);
        for part in line.split(';') {
            let part = part.trim();
            if let Some(decl) = part.strip_prefix("field:") {
                // `unsigned int nr_sector`, `char rwbs[10]`: the last word,
                // without an array suffix.
                name = decl
                    .split_whitespace()
                    .last()
                    .map(|n| n.split('[').next().unwrap_or(n).to_string());
            } else if let Some(v) = part.strip_prefix("offset:") {
                offset = v.parse().ok();
            } else if let Some(v) = part.strip_prefix("size:") {
                size = v.parse().ok();
            }
        }
        if let (Some(n), Some(offset), Some(size)) = (name, offset, size) {
            out.insert(n, Field { offset, size });
        }
    }
    out
}

/// Where tracefs is mounted; mounts it at its standard place when it is
/// not (root only: a pseudo-filesystem, nothing on disk changes).
fn tracefs() -> Result<PathBuf, EbpfError> {
    for p in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        if Path::new(p).join("events").is_dir() {
            return Ok(PathBuf::from(p));
        }
    }
    let target = c"/sys/kernel/tracing";
    // SAFETY: constant NUL-terminated strings; mount does not keep them.
    let r = unsafe {
        libc::mount(
            c"nodev".as_ptr(),
            target.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if r == 0 && Path::new("/sys/kernel/tracing/events").is_dir() {
        return Ok(PathBuf::from("/sys/kernel/tracing"));
    }
    Err(EbpfError::Tracefs(
        std::io::Error::last_os_error().to_string(),
    ))
}

/// Loaded programs, ready to attach for one step at a time.
pub struct Ebpf {
    bpf: aya::Ebpf,
    /// Probes whose tracepoints exist with the fields the programs read.
    available: Probes,
    /// Probes left out, and why.
    missing: Vec<String>,
    /// How the block probe attaches (raw where kernel BTF allows).
    block_attach: Attach,
    /// What the last [`Ebpf::attach`] asked for.
    want: Probes,
    /// Unstamped completions counted at the last attach or mark.
    unstamped_base: u64,
    /// Set when the block probe left the stamp form in this step.
    block_fallback: Option<String>,
    /// Held while the kernel keeps BPF run-time statistics for skubench
    /// (`SKUBENCH_EBPF_STATS=1`): the statistics cost two clock reads per
    /// program run, so they are opt-in.
    stats: Option<std::os::fd::OwnedFd>,
    /// Each attached program's (run count, run time ns) at the mark.
    cost_base: BTreeMap<&'static str, (u64, u64)>,
    links: Vec<(&'static str, Link)>,
    /// Bucket counts at [`Ebpf::mark`] (map → key → count), subtracted on
    /// collect: the programs attach before the measured phase (attaching
    /// and clearing take tens of ms) and the phase starts at the mark.
    base: BTreeMap<&'static str, BTreeMap<HistKey, u64>>,
}

impl Ebpf {
    /// Loads and verifies the programs. `Err` says in one line why eBPF
    /// attribution cannot run here.
    ///
    /// `SKUBENCH_EBPF_BLOCK=pair` or `=classic` chooses the block probe's
    /// two-program raw form or its classic form where the one-program
    /// stamp form could run (to compare their cost and their figures);
    /// `=unstamped` is [`Ebpf::open_unstamped`].
    pub fn open() -> Result<Self, EbpfError> {
        match std::env::var("SKUBENCH_EBPF_BLOCK").as_deref() {
            Ok("pair") => Self::open_pair(),
            Ok("classic") => Self::open_with(false, false),
            Ok("unstamped") => Self::open_unstamped(),
            _ => Self::open_with(true, false),
        }
    }

    /// As [`Ebpf::open`] on a kernel without BTF: the block probe on
    /// classic tracepoints (to test and measure that fallback).
    pub fn open_without_btf() -> Result<Self, EbpfError> {
        Self::open_with(false, false)
    }

    /// As [`Ebpf::open`], with the stamp form taking every request as
    /// unstamped, as on a queue that keeps no I/O statistics: the warm-up
    /// then switches the block probe to the issue + completion pair at
    /// [`Ebpf::mark`], which this lets a test see on any kernel with the
    /// stamp form (most kernels keep the statistics on every queue).
    pub fn open_unstamped() -> Result<Self, EbpfError> {
        Self::open_with(true, true)
    }

    fn open_with(use_btf: bool, ignore_stamps: bool) -> Result<Self, EbpfError> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(EbpfError::NotRoot);
        }
        let tfs = tracefs()?;
        let mut formats: BTreeMap<&str, BTreeMap<String, Field>> = BTreeMap::new();
        for (_, tp, _, _) in FIELDS {
            if !formats.contains_key(tp) {
                let text = std::fs::read_to_string(tfs.join("events").join(tp).join("format"))
                    .unwrap_or_default();
                formats.insert(tp, parse_format(&text));
            }
        }
        let mut offsets: Vec<(&str, u32)> = Vec::new();
        let mut broken: Vec<(&str, String)> = Vec::new();
        for (global, tp, field, size) in FIELDS {
            match formats.get(tp).and_then(|f| f.get(*field)) {
                Some(f) if f.size == *size => offsets.push((global, f.offset)),
                Some(f) => broken.push((
                    tp,
                    format!("{tp}: field {field} is {} bytes, not {size}", f.size),
                )),
                None => broken.push((tp, format!("{tp}: no tracepoint with field {field}"))),
            }
        }
        let bad = |cat: &str| broken.iter().any(|(tp, _)| tp.starts_with(cat));
        let available = Probes {
            block: !bad("block/"),
            runq: !bad("sched/"),
            tcp_rtt: !bad("tcp/"),
        };
        let raw_offsets = if use_btf {
            crate::btf::Structs::from_kernel().and_then(|s| block_offsets(&s))
        } else {
            Err(crate::btf::BtfError::Format("not used".into()))
        };
        let block_attach = match &raw_offsets {
            Ok((_, Some(_))) => Attach::Stamp,
            Ok((_, None)) => Attach::Raw,
            Err(_) => Attach::Classic,
        };
        let missing: Vec<String> = broken
            .into_iter()
            .filter(|(tp, _)| !(block_attach.is_raw() && tp.starts_with("block/")))
            .map(|(_, m)| m)
            .collect();
        let mut loader = EbpfLoader::new();
        // No CO-RE relocations: the offsets are set as globals.
        loader.btf(None);
        for (g, off) in &offsets {
            loader.set_global(g, off, true);
        }
        if let Ok((o, stamp)) = &raw_offsets {
            for (g, off) in ["rq_hop1", "rq_hop2", "disk_major", "disk_minor"]
                .iter()
                .zip(o)
            {
                loader.set_global(g, off, true);
            }
            if let Some(off) = stamp {
                loader.set_global("rq_io_start", off, true);
                if ignore_stamps {
                    loader.set_global("stamp_ignored", &1u32, true);
                }
            }
        }
        let mut bpf = loader
            .load(OBJECT)
            .map_err(|e| EbpfError::Object(e.to_string()))?;
        // The raw block programs need no tracepoint fields, only BTF.
        let available = Probes {
            block: available.block || block_attach.is_raw(),
            ..available
        };
        for (prog, cat, _, _, how) in PROGRAMS {
            let usable = match *cat {
                // Both raw forms where one is: the stamp form falls back
                // to the pair at run time.
                "block" => {
                    available.block
                        && (*how == block_attach
                            || (block_attach == Attach::Stamp && *how == Attach::Raw))
                }
                "sched" => available.runq,
                _ => available.tcp_rtt,
            };
            if !usable {
                continue;
            }
            let p = bpf.program_mut(prog).ok_or_else(|| EbpfError::Program {
                prog,
                msg: "missing from the object".into(),
            })?;
            let wrong = |e: aya::programs::ProgramError| EbpfError::Program {
                prog,
                msg: e.to_string(),
            };
            let loaded = match how {
                Attach::Classic => <&mut TracePoint>::try_from(p).map_err(wrong)?.load(),
                Attach::Raw | Attach::Stamp => {
                    <&mut RawTracePoint>::try_from(p).map_err(wrong)?.load()
                }
            };
            loaded.map_err(|e| EbpfError::Verifier {
                prog,
                msg: e.to_string(),
            })?;
        }
        Ok(Self {
            bpf,
            available,
            missing,
            block_attach,
            want: Probes::default(),
            unstamped_base: 0,
            block_fallback: None,
            stats: if std::env::var_os("SKUBENCH_EBPF_STATS").is_some_and(|v| v == "1") {
                aya::sys::enable_stats(aya::sys::Stats::RunTime).ok()
            } else {
                None
            },
            cost_base: BTreeMap::new(),
            links: Vec::new(),
            base: BTreeMap::new(),
        })
    }

    /// The probes that can run here.
    pub fn available(&self) -> Probes {
        self.available
    }

    /// Tracepoints left out (with the reason), for the result's notes.
    pub fn missing(&self) -> &[String] {
        &self.missing
    }

    /// Whether the block probe uses raw tracepoints (kernel BTF present)
    /// rather than classic ones.
    pub fn block_is_raw(&self) -> bool {
        self.block_attach.is_raw()
    }

    /// Whether the block probe is the one program at completion that reads
    /// the request's own issue time.
    pub fn block_is_stamped(&self) -> bool {
        self.block_attach == Attach::Stamp
    }

    /// As [`Ebpf::open`], with the block probe in its two-program raw form
    /// even where the stamp form could run (to test and measure it).
    pub fn open_pair() -> Result<Self, EbpfError> {
        let mut e = Self::open_with(true, false)?;
        if e.block_attach == Attach::Stamp {
            e.block_attach = Attach::Raw;
        }
        Ok(e)
    }

    /// Empties the histograms and attaches the programs `want` asks for.
    pub fn attach(&mut self, want: Probes) -> Result<(), EbpfError> {
        self.detach();
        self.base.clear();
        // Histograms are not cleared: `mark` subtracts what was there.
        // The block one is keyed by device: emptied so it cannot fill up.
        self.clear::<HistKey>("bio_hist")?;
        self.clear_percpu("rq_hist")?;
        self.block_fallback = None;
        self.unstamped_base = self.unstamped()?;
        // Start stamps left from the last step would time the gap between
        // steps as one huge latency.
        self.clear::<BioKey>("bio_start")?;
        self.clear::<u64>("rq_start")?;
        self.clear::<u32>("runq_start")?;
        let a = self.available;
        let want = Probes {
            block: want.block && a.block,
            runq: want.runq && a.runq,
            tcp_rtt: want.tcp_rtt && a.tcp_rtt,
        };
        self.want = want;
        self.attach_programs(want, |_| true)
    }

    /// Attaches the programs of `want` that `pick` selects by name.
    fn attach_programs(
        &mut self,
        want: Probes,
        pick: impl Fn(&str) -> bool,
    ) -> Result<(), EbpfError> {
        for (prog, cat, name, on, how) in PROGRAMS {
            if !on(&want) || (*cat == "block" && *how != self.block_attach) || !pick(prog) {
                continue;
            }
            let Some(p) = self.bpf.program_mut(prog) else {
                continue;
            };
            let attached = match how {
                Attach::Classic => match <&mut TracePoint>::try_from(p) {
                    Ok(p) => p.attach(cat, name).map(Link::Classic),
                    Err(_) => continue,
                },
                Attach::Raw | Attach::Stamp => match <&mut RawTracePoint>::try_from(p) {
                    Ok(p) => p.attach(name).map(Link::Raw),
                    Err(_) => continue,
                },
            };
            match attached {
                Ok(id) => self.links.push((prog, id)),
                Err(e) => {
                    self.detach();
                    return Err(EbpfError::Attach {
                        tracepoint: format!("{cat}/{name}"),
                        msg: e.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Detaches every program (nothing is traced afterwards).
    pub fn detach(&mut self) {
        self.detach_programs(|_| true);
    }

    /// Detaches the attached programs that `pick` selects by name.
    fn detach_programs(&mut self, pick: impl Fn(&str) -> bool) {
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.links)
            .into_iter()
            .partition(|(prog, _)| pick(prog));
        self.links = kept;
        for (prog, link) in gone {
            let Some(p) = self.bpf.program_mut(prog) else {
                continue;
            };
            match link {
                Link::Classic(id) => {
                    if let Ok(p) = <&mut TracePoint>::try_from(p) {
                        let _ = p.detach(id);
                    }
                }
                Link::Raw(id) => {
                    if let Ok(p) = <&mut RawTracePoint>::try_from(p) {
                        let _ = p.detach(id);
                    }
                }
            }
        }
    }

    /// Detaches and reads what was traced since [`Ebpf::attach`].
    pub fn collect(&mut self, probes: Probes) -> Result<EbpfHists, EbpfError> {
        // Read while attached: a detached program's statistics stay, but
        // only the attached ones are this step's.
        let now = self.run_stats();
        self.detach();
        let mut out = EbpfHists::default();
        for (prog, (calls, ns)) in now {
            let (c0, n0) = self.cost_base.get(prog).copied().unwrap_or((0, 0));
            out.cost.push(ProgCost {
                prog,
                calls: calls.saturating_sub(c0),
                run_ns: ns.saturating_sub(n0),
            });
        }
        if probes.block && self.available.block {
            // One of the two is filled: bio_hist by the classic programs,
            // rq_hist by the raw ones.
            let mut by_dev = self.read("bio_hist")?;
            for (dev, h) in self.read("rq_hist")? {
                match by_dev.get_mut(&dev) {
                    Some(o) => o.add(&h).map_err(|e| map_err("rq_hist", e))?,
                    None => {
                        by_dev.insert(dev, h);
                    }
                }
            }
            for (dev, h) in by_dev {
                out.block.push((device_name(dev), h));
            }
            out.block.sort_by(|a, b| a.0.cmp(&b.0));
            out.block_raw = self.block_attach.is_raw();
            out.block_stamped = self.block_attach == Attach::Stamp;
            out.block_fallback = self.block_fallback.take();
            if out.block_stamped {
                let lost = self.unstamped()?.saturating_sub(self.unstamped_base);
                if lost > 0 {
                    out.block_fallback = Some(format!(
                        "{lost} completions had no issue time (passthrough commands, or a queue without I/O statistics) and are not in the histogram"
                    ));
                }
            }
        }
        if probes.runq && self.available.runq {
            out.runq = self.read("runq_hist")?.remove(&0);
        }
        if probes.tcp_rtt && self.available.tcp_rtt {
            out.tcp_rtt = self.read("rtt_hist")?.remove(&0);
        }
        Ok(out)
    }

    fn map(&self, name: &str) -> Result<BpfHashMap<&MapData, HistKey, u64>, EbpfError> {
        let m = self.bpf.map(name).ok_or_else(|| map_err(name, "missing"))?;
        BpfHashMap::try_from(m).map_err(|e| map_err(name, e))
    }

    /// Starts the measured phase: what was counted so far (warm-up) is
    /// left out of [`Ebpf::collect`].
    ///
    /// Where the warm-up's completions came without an issue time (a
    /// device whose queue keeps no I/O statistics), the block probe
    /// switches to the two-program form here, for the rest of the run.
    pub fn mark(&mut self) -> Result<(), EbpfError> {
        if self.block_attach == Attach::Stamp && self.want.block {
            // A few passthrough commands (a disk's serial number read, say)
            // never carry the stamp; a queue without I/O statistics leaves
            // it off every request. Only the latter is worth the pair's
            // cost: more than 1% of the warm-up's completions.
            let n = self.unstamped()?.saturating_sub(self.unstamped_base);
            let stamped: u64 = self.counts("rq_hist")?.values().sum();
            if n > 0 && n * 100 > n + stamped {
                self.detach_programs(|p| p == "rq_done_stamp");
                self.block_attach = Attach::Raw;
                self.attach_programs(self.want, |p| p == "rq_issue_raw" || p == "rq_done_raw")?;
                self.block_fallback = Some(format!(
                    "{n} of {} warm-up completions had no issue time (a queue without I/O statistics): switched to the issue + completion programs",
                    n + stamped
                ));
            }
        }
        self.unstamped_base = self.unstamped()?;
        self.cost_base = self.run_stats();
        self.base.clear();
        for name in HIST_MAPS {
            let counts = self.counts(name)?;
            self.base.insert(name, counts);
        }
        Ok(())
    }

    /// Each attached program's (run count, run time ns), where statistics
    /// are on.
    fn run_stats(&self) -> BTreeMap<&'static str, (u64, u64)> {
        let mut out = BTreeMap::new();
        if self.stats.is_none() {
            return out;
        }
        for (prog, _) in &self.links {
            let info = self.bpf.program(prog).and_then(|p| p.info().ok());
            if let Some(i) = info {
                out.insert(*prog, (i.run_count(), i.run_time().as_nanos() as u64));
            }
        }
        out
    }

    /// Completions the stamp program saw without an issue time, summed
    /// over CPUs, since the object was loaded.
    fn unstamped(&self) -> Result<u64, EbpfError> {
        let name = "rq_unstamped";
        let m = self.bpf.map(name).ok_or_else(|| map_err(name, "missing"))?;
        let a: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(m).map_err(|e| map_err(name, e))?;
        let v = a.get(&0, 0).map_err(|e| map_err(name, e))?;
        Ok(v.iter().sum())
    }

    fn counts(&self, name: &str) -> Result<BTreeMap<HistKey, u64>, EbpfError> {
        if PERCPU_HASH_MAPS.contains(&name) {
            let m = self.bpf.map(name).ok_or_else(|| map_err(name, "missing"))?;
            let h: PerCpuHashMap<&MapData, HistKey, u64> =
                PerCpuHashMap::try_from(m).map_err(|e| map_err(name, e))?;
            let mut out = BTreeMap::new();
            for item in h.iter() {
                let (k, v) = item.map_err(|e| map_err(name, e))?;
                out.insert(k, v.iter().sum());
            }
            return Ok(out);
        }
        if PERCPU_MAPS.contains(&name) {
            // Per-CPU arrays indexed by bucket: summed over CPUs, one
            // series (id 0).
            let m = self.bpf.map(name).ok_or_else(|| map_err(name, "missing"))?;
            let a: PerCpuArray<&MapData, u64> =
                PerCpuArray::try_from(m).map_err(|e| map_err(name, e))?;
            let mut out = BTreeMap::new();
            for bucket in 0..a.len() {
                let v = a.get(&bucket, 0).map_err(|e| map_err(name, e))?;
                let n: u64 = v.iter().sum();
                if n > 0 {
                    out.insert(HistKey { id: 0, bucket }, n);
                }
            }
            return Ok(out);
        }
        self.map(name)?
            .iter()
            .map(|item| item.map_err(|e| map_err(name, e)))
            .collect()
    }

    fn read(&self, name: &str) -> Result<BTreeMap<u32, Hist>, EbpfError> {
        let mut out: BTreeMap<u32, Hist> = BTreeMap::new();
        let base = self.base.get(name);
        for (k, n) in self.counts(name)? {
            let n = n.saturating_sub(base.and_then(|b| b.get(&k)).copied().unwrap_or(0));
            if n == 0 {
                continue;
            }
            let h = out.entry(k.id).or_insert_with(new_hist);
            let (lo, width) = bucket_bounds(k.bucket);
            h.saturating_record_n(lo + width / 2, n);
        }
        Ok(out)
    }

    fn clear_percpu(&mut self, name: &str) -> Result<(), EbpfError> {
        let m = self
            .bpf
            .map_mut(name)
            .ok_or_else(|| map_err(name, "missing"))?;
        let mut m: PerCpuHashMap<&mut MapData, HistKey, u64> =
            PerCpuHashMap::try_from(m).map_err(|e| map_err(name, e))?;
        let keys: Vec<HistKey> = m.keys().filter_map(Result::ok).collect();
        for k in keys {
            let _ = m.remove(&k);
        }
        Ok(())
    }

    fn clear<K: Pod>(&mut self, name: &str) -> Result<(), EbpfError> {
        let m = self
            .bpf
            .map_mut(name)
            .ok_or_else(|| map_err(name, "missing"))?;
        let mut m: BpfHashMap<&mut MapData, K, u64> =
            BpfHashMap::try_from(m).map_err(|e| map_err(name, e))?;
        let keys: Vec<K> = m.keys().filter_map(Result::ok).collect();
        for k in keys {
            let _ = m.remove(&k);
        }
        Ok(())
    }
}

impl Drop for Ebpf {
    fn drop(&mut self) {
        self.detach();
    }
}

/// The runner's tracer: opened on first use (so commands that run nothing
/// never load it), then shared by every step of the invocation, one step
/// at a time (two runs of a concurrent group would mix their histograms).
pub struct EbpfSlot(Mutex<SlotState>);

enum SlotState {
    Off(String),
    Unopened,
    Open { ebpf: Box<Ebpf>, busy: bool },
    Failed(EbpfError),
}

impl Default for EbpfSlot {
    /// Off: tests and library users opt in with [`EbpfSlot::on`].
    fn default() -> Self {
        Self::off("turned off")
    }
}

impl EbpfSlot {
    /// Opened on first use where it can run.
    pub fn on() -> Self {
        Self(Mutex::new(SlotState::Unopened))
    }

    /// Never opened; `reason` is what results record.
    pub fn off(reason: impl Into<String>) -> Self {
        Self(Mutex::new(SlotState::Off(reason.into())))
    }

    /// Empties the histograms and attaches `probes` for one step; `Err`
    /// says why this step has none.
    pub fn begin(&self, probes: Probes) -> Result<(), EbpfError> {
        let mut st = self.0.lock().map_err(|_| EbpfError::Poisoned)?;
        if matches!(*st, SlotState::Unopened) {
            *st = match Ebpf::open() {
                Ok(e) => SlotState::Open {
                    ebpf: Box::new(e),
                    busy: false,
                },
                Err(e) => SlotState::Failed(e),
            };
        }
        match &mut *st {
            SlotState::Off(r) => Err(EbpfError::Off(r.clone())),
            SlotState::Failed(e) => Err(e.clone()),
            SlotState::Unopened => Err(EbpfError::NotAttached),
            SlotState::Open { busy: true, .. } => Err(EbpfError::Busy),
            SlotState::Open { ebpf, busy } => {
                ebpf.attach(probes)?;
                *busy = true;
                Ok(())
            }
        }
    }

    /// The measured phase starts now (see [`Ebpf::mark`]).
    pub fn mark(&self) -> Result<(), EbpfError> {
        let mut st = self.0.lock().map_err(|_| EbpfError::Poisoned)?;
        match &mut *st {
            SlotState::Open { ebpf, busy: true } => ebpf.mark(),
            _ => Err(EbpfError::NotAttached),
        }
    }

    /// Detaches and reads what the step traced since [`EbpfSlot::mark`].
    pub fn end(&self, probes: Probes) -> Result<EbpfHists, EbpfError> {
        let mut st = self.0.lock().map_err(|_| EbpfError::Poisoned)?;
        match &mut *st {
            SlotState::Open {
                ebpf,
                busy: b @ true,
            } => {
                *b = false;
                ebpf.collect(probes)
            }
            _ => Err(EbpfError::NotAttached),
        }
    }
}

/// The lowest value and the width of a log-linear bucket (the inverse of
/// `bucket_of` in the program: exact below 32, then 32 per power of two).
pub fn bucket_bounds(b: u32) -> (u64, u64) {
    if b < 32 {
        return (b as u64, 1);
    }
    let m = (b / 32 + 4).min(63);
    let sub = (b % 32) as u64;
    let shift = m - 5;
    ((32 + sub) << shift, 1u64 << shift)
}

/// The bucket of `v`, as the program computes it (for tests and docs).
pub fn bucket_of(v: u64) -> u32 {
    if v < 32 {
        return v as u32;
    }
    let m = 63 - v.leading_zeros();
    (m - 4) * 32 + ((v >> (m - 5)) & 31) as u32
}

/// The block device name of a kernel-internal `dev_t` (major << 20 | minor)
/// from sysfs, or `MAJ:MIN` when there is none.
fn device_name(dev: u32) -> String {
    let (maj, min) = (dev >> 20, dev & 0xfffff);
    let uevent =
        std::fs::read_to_string(format!("/sys/dev/block/{maj}:{min}/uevent")).unwrap_or_default();
    uevent
        .lines()
        .find_map(|l| l.strip_prefix("DEVNAME="))
        .map(str::to_string)
        .unwrap_or_else(|| format!("{maj}:{min}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_files_parse_offsets_and_sizes() {
        let f = "name: block_rq_issue\nID: 1180\nformat:\n\
                 \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
                 \tfield:dev_t dev;\toffset:8;\tsize:4;\tsigned:0;\n\
                 \tfield:sector_t sector;\toffset:16;\tsize:8;\tsigned:0;\n\
                 \tfield:char rwbs[10];\toffset:34;\tsize:10;\tsigned:0;\n\
                 \tfield:__data_loc char[] cmd;\toffset:60;\tsize:4;\tsigned:0;\n\n\
                 print fmt: \"%d,%d\", REC->dev\n";
        let m = parse_format(f);
        assert_eq!(m["dev"], Field { offset: 8, size: 4 });
        assert_eq!(
            m["sector"],
            Field {
                offset: 16,
                size: 8
            }
        );
        assert_eq!(
            m["rwbs"],
            Field {
                offset: 34,
                size: 10
            }
        );
        assert_eq!(
            m["cmd"],
            Field {
                offset: 60,
                size: 4
            }
        );
        assert!(!m.contains_key("print"));
    }

    #[test]
    fn buckets_invert_and_stay_within_one_thirtysecond() {
        let mut v = 1u64;
        while v < u64::MAX / 3 {
            for x in [v, v + v / 3, v * 2 - 1] {
                let (lo, w) = bucket_bounds(bucket_of(x));
                assert!(lo <= x && x < lo + w, "{x} not in [{lo}, {})", lo + w);
                let mid = lo + w / 2;
                assert!(
                    (mid as f64 - x as f64).abs() <= x as f64 / 32.0 + 1.0,
                    "{x}: midpoint {mid}"
                );
            }
            v = v * 3 / 2 + 1;
        }
        assert_eq!(bucket_of(31), 31);
        assert_eq!(bucket_bounds(bucket_of(32)), (32, 1));
    }

    /// Loads the committed object, traces a second of this process's own
    /// context switches and checks the run-queue histogram is filled.
    /// Needs root; gated like the other privileged tests.
    /// Held by each test that attaches programs. Attaching or detaching a
    /// program on a tracepoint while another instance's program counts
    /// there lost that instance 2–19 of 200 block completions (whole-lib
    /// runs, 2 of 10 failed with the fallback test beside the others, 0
    /// of 10 without it), so these tests never overlap. skubench itself
    /// holds one instance, and switches forms only at a mark.
    static ATTACH: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// The fewest of 200 reads a block probe must count. Not all 200: the
    /// runner's tests in this binary attach and detach their own programs
    /// (eBPF is on in `Runner::new`), and completions were lost meanwhile
    /// (181, 190, 195, 198 and 199 of 200 seen here; 1 of 15 runs lost one
    /// beside a process that only attached and detached). A broken probe
    /// counts none of them; the serialised attribution tests
    /// (workloads/tests/attribution.rs) hold the count to 97%.
    const MOST_OF_200: u64 = 170;

    #[test]
    fn the_programs_load_attach_and_count_where_root() {
        if std::env::var_os("SKUBENCH_PRIVILEGED_TESTS").is_none() {
            return;
        }
        let _g = ATTACH.lock().unwrap_or_else(|e| e.into_inner());
        let mut e = Ebpf::open().expect("eBPF opens as root");
        let all = Probes {
            block: true,
            runq: true,
            tcp_rtt: true,
        };
        e.attach(all).expect("attach");
        for _ in 0..200 {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        let h = e.collect(all).expect("collect");
        let runq = h.runq.expect("run-queue histogram");
        assert!(runq.len() >= 100, "{} run-queue samples", runq.len());
        // Detached: nothing more is counted.
        for _ in 0..50 {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        let again = e.collect(all).expect("collect");
        assert_eq!(again.runq.map_or(0, |h| h.len()), runq.len());
    }

    /// A 1 MiB file in the crate's own directory (a real disk: O_DIRECT,
    /// not a tmpfs), open for O_DIRECT reads.
    struct DirectFile {
        _dir: tempfile::TempDir,
        f: std::fs::File,
        buf: Vec<u8>,
    }

    impl DirectFile {
        fn new() -> Self {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
            let path = dir.path().join("f");
            std::fs::File::create(&path)
                .unwrap()
                .write_all(&vec![7u8; 1 << 20])
                .unwrap();
            let f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECT)
                .open(&path)
                .unwrap();
            Self {
                _dir: dir,
                f,
                buf: vec![0u8; 8192],
            }
        }

        /// `n` 4 KiB reads, each of a block of the file in turn.
        fn reads(&mut self, n: u64) {
            use std::os::unix::fs::FileExt;
            // A 4 KiB-aligned slice of the buffer: O_DIRECT needs it.
            let off = self.buf.as_ptr().align_offset(4096);
            for i in 0..n {
                self.f
                    .read_at(&mut self.buf[off..off + 4096], (i % 256) * 4096)
                    .unwrap();
            }
        }
    }

    /// Both forms of the block probe (raw tracepoints where kernel BTF is,
    /// classic otherwise) count this process's own O_DIRECT reads on the
    /// build disk, under the same device. Root only.
    #[test]
    fn both_block_probes_count_direct_reads_where_root() {
        if std::env::var_os("SKUBENCH_PRIVILEGED_TESTS").is_none() {
            return;
        }
        let _g = ATTACH.lock().unwrap_or_else(|e| e.into_inner());
        let mut f = DirectFile::new();
        let block = Probes {
            block: true,
            ..Probes::default()
        };
        let mut devices = Vec::new();
        let mut p50s = Vec::new();
        for (raw, stamped, mut e) in [
            (true, true, Ebpf::open().unwrap()),
            (true, false, Ebpf::open_pair().unwrap()),
            (false, false, Ebpf::open_without_btf().unwrap()),
        ] {
            if raw && !e.block_is_raw() || stamped && !e.block_is_stamped() {
                continue; // no kernel BTF (or no issue stamp) here
            }
            assert_eq!(e.block_is_raw(), raw);
            assert_eq!(e.block_is_stamped(), stamped);
            e.attach(block).unwrap();
            e.mark().unwrap();
            f.reads(200);
            let h = e.collect(block).unwrap();
            assert_eq!(h.block_raw, raw);
            assert_eq!(h.block_stamped, stamped);
            let n: u64 = h.block.iter().map(|(_, h)| h.len()).sum();
            assert!(
                n >= MOST_OF_200,
                "raw={raw} stamped={stamped}: {n} requests traced for 200 reads"
            );
            let busiest = h.block.iter().max_by_key(|(_, h)| h.len()).unwrap();
            devices.push(busiest.0.clone());
            p50s.push(busiest.1.value_at_quantile(0.5) as f64);
        }
        devices.dedup();
        assert_eq!(devices.len(), 1, "the forms name different devices");
        // The forms time the same span: their medians agree within a factor
        // that leaves room for a shared, noisy build machine.
        let (lo, hi) = p50s
            .iter()
            .fold((f64::MAX, 0f64), |(l, h), &v| (l.min(v), h.max(v)));
        assert!(hi <= 2.0 * lo, "block p50 per form (ns): {p50s:?}");
    }

    /// A warm-up whose completions carry no issue time (forced: most
    /// kernels stamp every request) switches the stamp form to the pair at
    /// the mark; the measured phase is then counted by the pair, whole,
    /// and the result says why. Root only.
    #[test]
    fn the_stamp_form_falls_back_to_the_pair_when_completions_are_unstamped() {
        if std::env::var_os("SKUBENCH_PRIVILEGED_TESTS").is_none() {
            return;
        }
        let _g = ATTACH.lock().unwrap_or_else(|e| e.into_inner());
        let mut e = Ebpf::open_unstamped().unwrap();
        if !e.block_is_stamped() {
            eprintln!("no stamp form here (no kernel BTF or no io_start_time_ns): nothing to fall back from");
            return;
        }
        let mut f = DirectFile::new();
        let block = Probes {
            block: true,
            ..Probes::default()
        };
        e.attach(block).unwrap();
        f.reads(100); // the warm-up: every completion unstamped
        e.mark().unwrap();
        assert!(
            !e.block_is_stamped() && e.block_is_raw(),
            "still the stamp form after an unstamped warm-up"
        );
        f.reads(200);
        let h = e.collect(block).unwrap();
        assert!(!h.block_stamped && h.block_raw);
        let why = h.block_fallback.expect("the fallback is reported");
        assert!(
            why.contains("no issue time") && why.contains("switched"),
            "{why}"
        );
        let n: u64 = h.block.iter().map(|(_, h)| h.len()).sum();
        assert!(
            n >= MOST_OF_200,
            "{n} requests traced by the pair for 200 reads"
        );
    }
}
