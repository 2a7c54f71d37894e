//! The `disk` workload: a fio-class I/O generator that is exact and safe.
//!
//! One workload is one fio job: `rw`, `bs`/`bssplit`, `iodepth`, `numjobs`
//! worker threads, `direct`, a region (`offset`, `size`) of a file, an
//! engine (`sync` pread/pwrite, `io_uring`, `null`, `auto`), optional rate
//! limit, fsync, verification and steady-state detection. See
//! `docs/bench/disk.md` for the metric names and the comparison with fio.
//!
//! Safety: it never writes to a block device or to a file it did not
//! create unless `allow_destructive` is set; a file it creates is removed
//! at teardown (also after a failure or Ctrl-C).

pub mod engine;
pub mod fio;
pub mod pattern;
pub mod sla;
mod sla_run;
pub mod steady;
pub mod target;
pub mod verify;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bench_core::error::ValueError;
use bench_core::hist::{Hist, FIO_PERCENTILES};
use bench_core::params::{ParamDef, ParamKind, Params};
use bench_core::result::{Better, Series};
use bench_core::workload::{
    PrepareEnv, Resources, RunOutput, Step, StepResult, Worker, Workload, WorkloadFactory,
};
use bench_core::{SpecError, Unit, WorkloadError};

use pattern::{BlockSizes, Distribution, Rw};
use steady::SteadyState;
use target::TargetKind;

/// Size of the file skubench creates when `size` is not given.
pub const DEFAULT_SIZE: u64 = 1 << 30;

/// Largest block size accepted.
pub const MAX_BS: u64 = 256 << 20;

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "rw",
        kind: ParamKind::Choice(&[
            "read",
            "write",
            "randread",
            "randwrite",
            "randrw",
            "rw",
            "readwrite",
        ]),
        default: Some("randread"),
        help: "I/O pattern: sequential read/write/rw, random randread/randwrite/randrw",
    },
    ParamDef {
        name: "rwmixread",
        kind: ParamKind::U64 { min: 0, max: 100 },
        default: Some("50"),
        help: "percent of reads in rw/randrw",
    },
    ParamDef {
        name: "bs",
        kind: ParamKind::Size,
        default: Some("4k"),
        help: "block size (base 1024)",
    },
    ParamDef {
        name: "bssplit",
        kind: ParamKind::Str,
        default: None,
        help: "block-size mix as fio writes it: 4k/50:64k/40:1m/10 (overrides bs)",
    },
    ParamDef {
        name: "iodepth",
        kind: ParamKind::U64 { min: 1, max: 4096 },
        default: Some("1"),
        help: "I/Os in flight per job (io_uring); sync does one at a time",
    },
    ParamDef {
        name: "iodepth_batch",
        kind: ParamKind::U64 { min: 1, max: 4096 },
        default: Some("1"),
        help: "io_uring: submit after this many I/Os are queued (fio's iodepth_batch_submit; 1 = each at once)",
    },
    ParamDef {
        name: "iodepth_batch_complete",
        kind: ParamKind::U64 { min: 0, max: 4096 },
        default: Some("1"),
        help: "io_uring: reap at most this many completions before refilling (fio's iodepth_batch_complete_max; 0 = all that are there)",
    },
    ParamDef {
        name: "numjobs",
        kind: ParamKind::Threads,
        default: Some("1"),
        help: "jobs (worker threads), each with its own file descriptor and ring",
    },
    ParamDef {
        name: "pin",
        kind: ParamKind::CpuList,
        default: None,
        help: "vCPUs to pin jobs to, round-robin",
    },
    ParamDef {
        name: "direct",
        kind: ParamKind::Bool,
        default: Some("false"),
        help: "O_DIRECT: bypass the page cache",
    },
    ParamDef {
        name: "size",
        kind: ParamKind::Size,
        default: None,
        help: "bytes of the region used (default: 1g for a file skubench creates, else the file's length minus offset)",
    },
    ParamDef {
        name: "offset",
        kind: ParamKind::Size,
        default: Some("0"),
        help: "first byte of the region",
    },
    ParamDef {
        name: "io_size",
        kind: ParamKind::Size,
        default: None,
        help: "stop each job after this many measured bytes (fio's io_size; else time-based)",
    },
    ParamDef {
        name: "filename",
        kind: ParamKind::Str,
        default: None,
        help: "file or block device to use (default: a new file in `dir`, removed afterwards)",
    },
    ParamDef {
        name: "dir",
        kind: ParamKind::Str,
        default: None,
        help: "directory of the file skubench creates (default: the current directory, as fio)",
    },
    ParamDef {
        name: "allow_destructive",
        kind: ParamKind::Bool,
        default: Some("false"),
        help: "allow writes to a block device or an existing file (--allow-destructive)",
    },
    ParamDef {
        name: "engine",
        kind: ParamKind::Choice(&["auto", "sync", "io_uring", "null"]),
        default: Some("auto"),
        help: "auto (io_uring if it works, else sync), sync (pread/pwrite), io_uring, null (no I/O: measures skubench)",
    },
    ParamDef {
        name: "rate_iops",
        kind: ParamKind::U64 {
            min: 1,
            max: 1_000_000_000,
        },
        default: None,
        help: "cap per job, I/Os per second; latency is also measured from each I/O's intended start",
    },
    ParamDef {
        name: "fsync",
        kind: ParamKind::U64 {
            min: 0,
            max: u32::MAX as u64,
        },
        default: Some("0"),
        help: "fsync after every N writes (0: never)",
    },
    ParamDef {
        name: "fdatasync",
        kind: ParamKind::U64 {
            min: 0,
            max: u32::MAX as u64,
        },
        default: Some("0"),
        help: "fdatasync after every N writes (0: never)",
    },
    ParamDef {
        name: "random_distribution",
        kind: ParamKind::Str,
        default: Some("uniform"),
        help: "uniform (every block once per pass) or zipf:θ",
    },
    ParamDef {
        name: "norandommap",
        kind: ParamKind::Bool,
        default: Some("false"),
        help: "accepted for fio compatibility: skubench needs no random map either way",
    },
    ParamDef {
        name: "randseed",
        kind: ParamKind::U64 {
            min: 0,
            max: u64::MAX,
        },
        default: Some("20260101"),
        help: "seed of the offset and block-size sequences (same seed, same pattern)",
    },
    ParamDef {
        name: "verify",
        kind: ParamKind::Bool,
        default: Some("false"),
        help: "stamp written blocks with offset, seed and CRC-32 and check them on reads (fio job files: crc32c, crc32, meta mean true)",
    },
    ParamDef {
        name: "steadystate",
        kind: ParamKind::Str,
        default: None,
        help: "fio criterion: iops:N%, bw:N%, iops_slope:N%, bw_slope:N% (or absolute values)",
    },
    ParamDef {
        name: "ss_dur",
        kind: ParamKind::Duration,
        default: None,
        help: "steady-state window",
    },
    ParamDef {
        name: "ss_ramp",
        kind: ParamKind::Duration,
        default: Some("0"),
        help: "time after the start of the measured phase before steady state is judged",
    },
    ParamDef {
        name: "latency_target",
        kind: ParamKind::Duration,
        default: None,
        help: "find the highest IOPS whose latency_percentile stays at or under this (e.g. 1ms): a queue-depth sweep and a rate search, every step recorded (fio's latency_target)",
    },
    ParamDef {
        name: "latency_percentile",
        kind: ParamKind::F64 {
            min: 0.001,
            max: 100.0,
        },
        default: Some("99"),
        help: "with latency_target: the percentile that must stay under it (fio job files default to 100, as fio)",
    },
    ParamDef {
        name: "latency_window",
        kind: ParamKind::Duration,
        default: None,
        help: "with latency_target: measured length of each search step (default: the run's duration)",
    },
    ParamDef {
        name: "latency_run",
        kind: ParamKind::Bool,
        default: Some("false"),
        help: "with latency_target: re-measure the answer in a last step and record whether it held (fio's latency_run)",
    },
    ParamDef {
        name: "latency_search",
        kind: ParamKind::Choice(&["qd+rate", "qd", "rate"]),
        default: Some("qd+rate"),
        help: "with latency_target: qd (depth sweep 1…latency_qd_max), rate (rate_iops bisection below iodepth's IOPS) or both",
    },
    ParamDef {
        name: "latency_qd_max",
        kind: ParamKind::U64 { min: 1, max: 4096 },
        default: Some("256"),
        help: "with latency_target: deepest queue of the sweep (powers of two from 1, then this)",
    },
    ParamDef {
        name: "latency_rate_steps",
        kind: ParamKind::U64 { min: 0, max: 16 },
        default: Some("4"),
        help: "with latency_target: paced steps bisecting the IOPS between the last depth that met the target and the first that missed",
    },
    ParamDef {
        name: "fio_job",
        kind: ParamKind::Str,
        default: None,
        help: "the fio job this workload was translated from (set by --fio; recorded in the result)",
    },
];

/// Which engine to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineChoice {
    /// io_uring when it works, else sync.
    Auto,
    /// pread/pwrite.
    Sync,
    /// io_uring.
    IoUring,
    /// No I/O.
    Null,
}

impl EngineChoice {
    /// The name as written in specs.
    pub fn name(self) -> &'static str {
        match self {
            EngineChoice::Auto => "auto",
            EngineChoice::Sync => "sync",
            EngineChoice::IoUring => "io_uring",
            EngineChoice::Null => "null",
        }
    }
}

/// When to sync the file during writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncEvery {
    /// Never.
    Never,
    /// `fsync` after every N writes.
    Fsync(u64),
    /// `fdatasync` after every N writes.
    Fdatasync(u64),
}

/// A validated disk job.
#[derive(Clone, Debug)]
pub struct DiskConfig {
    /// Pattern.
    pub rw: Rw,
    /// Percent reads in mixed patterns.
    pub rwmixread: u32,
    /// Block sizes.
    pub sizes: BlockSizes,
    /// I/Os in flight per job.
    pub iodepth: u32,
    /// I/Os queued before each submission (io_uring).
    pub iodepth_batch: u32,
    /// Completions reaped (and timestamped) per round before the queue is
    /// refilled; 0 = every completion already posted.
    pub iodepth_batch_complete: u32,
    /// Jobs.
    pub numjobs: usize,
    /// Pinning.
    pub pin: Option<Vec<usize>>,
    /// O_DIRECT.
    pub direct: bool,
    /// Region length, when given.
    pub size: Option<u64>,
    /// Region start.
    pub offset: u64,
    /// Measured bytes per job before it stops.
    pub io_size: Option<u64>,
    /// Target path (joined with `dir` when relative and `dir` is set).
    pub filename: Option<PathBuf>,
    /// Where a created file goes.
    pub dir: PathBuf,
    /// Writes to what skubench did not create are allowed.
    pub allow_destructive: bool,
    /// Engine asked for.
    pub engine: EngineChoice,
    /// Rate cap per job.
    pub rate_iops: Option<u64>,
    /// Syncing.
    pub sync: SyncEvery,
    /// Random offset distribution.
    pub distribution: Distribution,
    /// Seed.
    pub seed: u64,
    /// Verification.
    pub verify: bool,
    /// Steady-state criterion.
    pub steadystate: Option<SteadyState>,
    /// The fio job text, if translated from one.
    pub fio_job: Option<String>,
    /// IOPS at a latency target (`latency_target`), when asked for.
    pub sla: Option<sla::SlaConfig>,
}

impl DiskConfig {
    /// The metric prefix of this job's step: `disk.<rw>`.
    pub fn label(&self) -> String {
        format!("disk.{}", self.rw.name())
    }
    /// Alignment unit of offsets (and verify block size): the smallest block size.
    pub fn unit(&self) -> u64 {
        self.sizes.min()
    }
}

/// Parses the `verify` value: booleans and fio's checksum names.
pub fn parse_verify(v: &str) -> Result<bool, ValueError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "off" | "none" => Ok(false),
        "1" | "true" | "yes" | "on" | "crc32c" | "crc32c-intel" | "crc32" | "meta" => Ok(true),
        other => Err(format!(
            "verify `{other}` is not supported (use true/false; crc32c, crc32 and meta mean true)"
        )
        .into()),
    }
}

/// Validates parameters into a [`DiskConfig`]. Touches nothing on the system.
pub fn config_from_params(p: &Params, vcpus: usize) -> Result<DiskConfig, SpecError> {
    let rw_s = p.str("rw")?;
    let rw = Rw::parse(rw_s)
        .ok_or_else(|| SpecError::key("rw", format!("key `rw`: unknown pattern `{rw_s}`")))?;
    let sizes = match p.get("bssplit") {
        Some(_) => BlockSizes::parse_split(p.str("bssplit")?)
            .map_err(|m| SpecError::key("bssplit", format!("key `bssplit`: {m}")))?,
        None => BlockSizes::single(p.u64("bs")?),
    };
    if sizes.min() == 0 {
        return Err(SpecError::key("bs", "key `bs`: must be greater than 0"));
    }
    if sizes.max() > MAX_BS {
        return Err(SpecError::key(
            "bs",
            format!("key `bs`: {} is above the {MAX_BS} byte limit", sizes.max()),
        ));
    }
    let direct = p.bool("direct")?;
    let offset = p.u64("offset")?;
    if direct {
        if let Some((bs, _)) = sizes.shares().into_iter().find(|(b, _)| b % 512 != 0) {
            return Err(SpecError::key(
                "bs",
                format!("key `bs`: {bs} is not a multiple of 512, which direct=true needs"),
            ));
        }
        if offset % 512 != 0 {
            return Err(SpecError::key(
                "offset",
                format!("key `offset`: {offset} is not a multiple of 512, which direct=true needs"),
            ));
        }
    }
    let size = p.get("size").map(|_| p.u64("size")).transpose()?;
    if let Some(s) = size {
        if s < sizes.max() {
            return Err(SpecError::key(
                "size",
                format!(
                    "key `size`: {s} bytes is smaller than the block size {}",
                    sizes.max()
                ),
            ));
        }
        if s.checked_add(offset).is_none_or(|e| e > 1 << 62) {
            return Err(SpecError::key(
                "size",
                "key `size`: offset + size is too large",
            ));
        }
    }
    let engine = match p.str("engine")? {
        "sync" => EngineChoice::Sync,
        "io_uring" => EngineChoice::IoUring,
        "null" => EngineChoice::Null,
        _ => EngineChoice::Auto,
    };
    let fsync = p.u64("fsync")?;
    let fdatasync = p.u64("fdatasync")?;
    let sync = match (fsync, fdatasync) {
        (0, 0) => SyncEvery::Never,
        (n, 0) => SyncEvery::Fsync(n),
        (0, n) => SyncEvery::Fdatasync(n),
        _ => {
            return Err(SpecError::key(
                "fsync",
                "keys `fsync` and `fdatasync`: give only one of them",
            ))
        }
    };
    let distribution = Distribution::parse(p.str("random_distribution")?).map_err(|m| {
        SpecError::key(
            "random_distribution",
            format!("key `random_distribution`: {m}"),
        )
    })?;
    let verify = p.bool("verify")?;
    if verify {
        if engine == EngineChoice::Null {
            return Err(SpecError::key(
                "verify",
                "key `verify`: the null engine moves no data, so there is nothing to verify",
            ));
        }
        let unit = sizes.min();
        if unit < verify::MIN_UNIT {
            return Err(SpecError::key(
                "verify",
                format!(
                    "key `verify`: blocks of {unit} bytes are too small to carry a header (at least {})",
                    verify::MIN_UNIT
                ),
            ));
        }
        if let Some((bs, _)) = sizes.shares().into_iter().find(|(b, _)| b % unit != 0) {
            return Err(SpecError::key(
                "bssplit",
                format!("key `bssplit`: with verify, every size must be a multiple of the smallest ({unit}); {bs} is not"),
            ));
        }
        if offset % unit != 0 {
            return Err(SpecError::key(
                "offset",
                format!("key `offset`: with verify, the offset must be a multiple of the block size {unit}"),
            ));
        }
    }
    let steadystate = match p.get("steadystate") {
        None => None,
        Some(_) => {
            let s = SteadyState::parse(p.str("steadystate")?)
                .map_err(|m| SpecError::key("steadystate", format!("key `steadystate`: {m}")))?;
            let dur = p
                .get("ss_dur")
                .map(|_| p.duration("ss_dur"))
                .transpose()?
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    SpecError::key(
                        "ss_dur",
                        "key `ss_dur`: steadystate needs a window, e.g. ss_dur = \"30s\"",
                    )
                })?;
            Some(s.with_window(dur, p.duration("ss_ramp")?))
        }
    };
    let numjobs = p.threads("numjobs")?.resolve(vcpus);
    let filename = p
        .get("filename")
        .map(|_| p.str("filename"))
        .transpose()?
        .map(PathBuf::from);
    if filename.as_ref().is_some_and(|f| f.as_os_str().is_empty()) {
        return Err(SpecError::key("filename", "key `filename`: empty path"));
    }
    let dir = p
        .get("dir")
        .map(|_| p.str("dir"))
        .transpose()?
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let io_size = p.get("io_size").map(|_| p.u64("io_size")).transpose()?;
    if io_size == Some(0) {
        return Err(SpecError::key(
            "io_size",
            "key `io_size`: must be greater than 0",
        ));
    }
    let iodepth = p.u64("iodepth")? as u32;
    let rate_iops = p.get("rate_iops").map(|_| p.u64("rate_iops")).transpose()?;
    let sla = sla_from_params(p, iodepth, engine, rate_iops, io_size)?;
    Ok(DiskConfig {
        rw,
        rwmixread: p.u64("rwmixread")? as u32,
        sizes,
        iodepth,
        iodepth_batch: p.u64("iodepth_batch")? as u32,
        iodepth_batch_complete: p.u64("iodepth_batch_complete")? as u32,
        numjobs,
        pin: bench_core::affinity::pin_param(p, &bench_core::affinity::allowed_cpus())?,
        direct,
        size,
        offset,
        io_size,
        filename,
        dir,
        allow_destructive: p.bool("allow_destructive")?,
        engine,
        rate_iops,
        sync,
        distribution,
        seed: p.u64("randseed")?,
        verify,
        steadystate,
        fio_job: p
            .get("fio_job")
            .map(|_| p.str("fio_job"))
            .transpose()?
            .map(str::to_string),
        sla,
    })
}

/// The latency-target search of a job, when `latency_target` is set; the
/// window without it is an error, as are the keys the
/// search itself sets (`rate_iops`) or cannot bound (`io_size`).
fn sla_from_params(
    p: &Params,
    iodepth: u32,
    engine: EngineChoice,
    rate_iops: Option<u64>,
    io_size: Option<u64>,
) -> Result<Option<sla::SlaConfig>, SpecError> {
    let Some(_) = p.get("latency_target") else {
        // The other latency_* keys have defaults, so only the window can
        // be seen to be given in vain.
        if p.get("latency_window").is_some() {
            return Err(SpecError::key(
                "latency_window",
                "key `latency_window`: only means something with latency_target",
            ));
        }
        return Ok(None);
    };
    let target = p.duration("latency_target")?;
    let target_ns = u64::try_from(target.as_nanos()).unwrap_or(u64::MAX);
    if target_ns == 0 {
        return Err(SpecError::key(
            "latency_target",
            "key `latency_target`: must be greater than 0",
        ));
    }
    if rate_iops.is_some() {
        return Err(SpecError::key(
            "rate_iops",
            "key `rate_iops`: the latency_target search sets the rate itself; leave rate_iops out",
        ));
    }
    if io_size.is_some() {
        return Err(SpecError::key(
            "io_size",
            "key `io_size`: latency_target steps are time-based (latency_window); leave io_size out",
        ));
    }
    let window = p
        .get("latency_window")
        .map(|_| p.duration("latency_window"))
        .transpose()?;
    if window.is_some_and(|w| w < std::time::Duration::from_millis(100)) {
        return Err(SpecError::key(
            "latency_window",
            "key `latency_window`: at least 100ms, or a step measures too few I/Os to judge a percentile",
        ));
    }
    let mode = sla::SearchMode::parse(p.str("latency_search")?).unwrap_or(sla::SearchMode::QdRate);
    if engine == EngineChoice::Sync && mode != sla::SearchMode::Rate {
        return Err(SpecError::key(
            "engine",
            "key `engine`: the sync engine has one I/O in flight, so a queue-depth sweep means nothing; \
             use io_uring (or auto), or latency_search = \"rate\"",
        ));
    }
    Ok(Some(sla::SlaConfig {
        target_ns,
        percentile: p.f64("latency_percentile")?,
        window,
        hold: p.bool("latency_run")?,
        mode,
        qd_max: if mode == sla::SearchMode::Rate {
            iodepth
        } else {
            p.u64("latency_qd_max")? as u32
        },
        rate_steps: p.u64("latency_rate_steps")? as u32,
    }))
}

/// Factory of the `disk` workload.
pub struct DiskFactory;

impl WorkloadFactory for DiskFactory {
    fn kind(&self) -> &'static str {
        "disk"
    }
    fn about(&self) -> &'static str {
        "fio-class disk I/O: read/write/randread/randwrite/randrw, sync, io_uring or null engine"
    }
    fn params(&self) -> &'static [ParamDef] {
        PARAMS
    }
    fn build(&self, p: &Params, vcpus: usize) -> Result<Box<dyn Workload>, SpecError> {
        Ok(Box::new(DiskWorkload::new(config_from_params(p, vcpus)?)))
    }
}

/// The disk workload kinds.
pub fn factories() -> Vec<Box<dyn WorkloadFactory>> {
    vec![Box::new(DiskFactory)]
}

/// The engine that actually runs, once resolved in `prepare`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// pread/pwrite.
    Sync,
    /// io_uring.
    IoUring,
    /// No I/O.
    Null,
}

impl Engine {
    /// The name recorded in notes.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sync => "sync",
            Engine::IoUring => "io_uring",
            Engine::Null => "null",
        }
    }
}

/// What `prepare` resolved, shared with the workers.
#[derive(Debug)]
pub struct Prepared {
    /// The job.
    pub cfg: DiskConfig,
    /// Engine that runs.
    pub engine: Engine,
    /// Target path (none for the null engine).
    pub path: Option<PathBuf>,
    /// Region start.
    pub start: u64,
    /// Region length.
    pub len: u64,
    /// Run tag for verification (high 32 bits of every writer's seed).
    pub tag: u64,
    /// Block-device stat file of the target, if any.
    pub dev_stat: Option<(String, PathBuf)>,
    /// Facts the workers found (e.g. a fallback), for the notes.
    pub notes: Mutex<BTreeMap<String, String>>,
    /// In a latency-target step: where its workers publish the judged
    /// latency, and the step's name there.
    pub sla: Option<(Arc<sla::SlaTap>, String)>,
}

impl Prepared {
    /// The sub-region of worker `index` of `threads`: all of it, except when
    /// verifying a writing job, where each job owns a slice so no read can
    /// race another job's write of the same block.
    pub fn region_of(&self, index: usize, threads: usize) -> (u64, u64) {
        if self.cfg.verify && self.cfg.rw.writes() && threads > 1 {
            let unit = self.cfg.unit();
            let slice = (self.len / unit / threads as u64) * unit;
            if slice >= self.cfg.sizes.max() {
                return (self.start + slice * index as u64, slice);
            }
        }
        (self.start, self.len)
    }

    /// The same target and region for one step of a latency-target
    /// search: `iodepth` per job, `rate` IOPS over all jobs (each job gets
    /// its share, rounded up), publishing into `tap` as `name`.
    pub fn for_step(
        &self,
        iodepth: u32,
        rate: Option<u64>,
        tap: Arc<sla::SlaTap>,
        name: &str,
    ) -> Prepared {
        let mut cfg = self.cfg.clone();
        cfg.iodepth = iodepth.max(1);
        let jobs = cfg.numjobs.max(1) as u64;
        cfg.rate_iops = rate.map(|r| r.div_ceil(jobs).max(1));
        Prepared {
            cfg,
            engine: self.engine,
            path: self.path.clone(),
            start: self.start,
            len: self.len,
            tag: self.tag,
            dev_stat: self.dev_stat.clone(),
            notes: Mutex::new(self.notes.lock().map(|n| n.clone()).unwrap_or_default()),
            sla: Some((tap, name.to_string())),
        }
    }

    /// Records a note for the result.
    pub fn note(&self, key: &str, value: String) {
        if let Ok(mut n) = self.notes.lock() {
            n.insert(key.to_string(), value);
        }
    }
}

/// A configured disk workload.
pub struct DiskWorkload {
    cfg: DiskConfig,
    prepared: Option<Arc<Prepared>>,
    created: Option<PathBuf>,
    notes: BTreeMap<String, serde_json::Value>,
    /// Latency-target search: what the steps published …
    tap: Arc<sla::SlaTap>,
    /// … how each step of this repetition was run …
    settings: Mutex<BTreeMap<String, sla::Setting>>,
    /// … and the target as each step saw it (for its workers and notes).
    step_prepared: Mutex<BTreeMap<String, Arc<Prepared>>>,
}

impl DiskWorkload {
    /// A workload for `cfg`.
    pub fn new(cfg: DiskConfig) -> Self {
        Self {
            cfg,
            prepared: None,
            created: None,
            notes: BTreeMap::new(),
            tap: sla::SlaTap::new(),
            settings: Mutex::new(BTreeMap::new()),
            step_prepared: Mutex::new(BTreeMap::new()),
        }
    }

    /// The job.
    pub fn config(&self) -> &DiskConfig {
        &self.cfg
    }

    /// The file in use after `prepare` (none for the null engine).
    pub fn path(&self) -> Option<PathBuf> {
        self.prepared.as_ref().and_then(|p| p.path.clone())
    }

    /// What `prepare` resolved.
    pub fn prepared(&self) -> Option<&Prepared> {
        self.prepared.as_deref()
    }

    fn target_path(&self) -> PathBuf {
        match &self.cfg.filename {
            Some(f) if f.is_absolute() => f.clone(),
            Some(f) => self.cfg.dir.join(f),
            None => target::temp_name(&self.cfg.dir),
        }
    }

    fn resolve_engine(&mut self) -> Result<Engine, WorkloadError> {
        match self.cfg.engine {
            EngineChoice::Null => Ok(Engine::Null),
            EngineChoice::Sync => Ok(Engine::Sync),
            EngineChoice::IoUring => match engine::probe_io_uring() {
                Ok(()) => Ok(Engine::IoUring),
                Err(why) => Err(WorkloadError::Other(format!(
                    "engine io_uring is unavailable: {why}; use engine=sync (or auto)"
                ))),
            },
            EngineChoice::Auto => match engine::probe_io_uring() {
                Ok(()) => Ok(Engine::IoUring),
                Err(why) => {
                    self.notes
                        .insert("engine_fallback_reason".into(), why.to_string().into());
                    Ok(Engine::Sync)
                }
            },
        }
    }

    fn prepare_inner(&mut self, env: &PrepareEnv) -> Result<(), WorkloadError> {
        let engine = self.resolve_engine()?;
        let seed_mix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let tag = pattern::splitmix(seed_mix ^ u64::from(std::process::id()) ^ self.cfg.seed)
            & 0xffff_ffff_0000_0000;
        let cfg = &self.cfg;
        let (path, len, dev_stat) = if engine == Engine::Null {
            (None, cfg.size.unwrap_or(DEFAULT_SIZE), None)
        } else {
            let path = self.target_path();
            let kind = target::classify(&path)
                .map_err(|e| WorkloadError::io(format!("inspect {}", path.display()), e))?;
            target::check_access(&path, &kind, cfg.rw.writes(), cfg.allow_destructive)?;
            let len = match kind {
                TargetKind::Missing => {
                    let size = cfg.size.unwrap_or(DEFAULT_SIZE);
                    if size < cfg.sizes.max() {
                        return Err(WorkloadError::Other(format!(
                            "size {size} is smaller than the block size {}",
                            cfg.sizes.max()
                        )));
                    }
                    let dir = path.parent().unwrap_or(std::path::Path::new("."));
                    if let Some(free) = target::free_bytes(dir) {
                        // Keep some slack for metadata.
                        if free < size + (size >> 6) {
                            return Err(WorkloadError::Other(format!(
                                "not enough space in {} for a {size} byte file ({free} bytes free); \
                                 lower size or pick another --dir",
                                dir.display()
                            )));
                        }
                    }
                    target::create_and_lay_out(
                        &path,
                        cfg.offset,
                        size,
                        cfg.verify.then_some(cfg.unit() as usize),
                        tag,
                        &env.stop,
                    )?;
                    self.created = Some(path.clone());
                    size
                }
                TargetKind::Regular { .. } | TargetKind::BlockDevice => {
                    if cfg.verify {
                        // Reads of blocks this run has not stamped would fail.
                        return Err(WorkloadError::Other(format!(
                            "verify needs a file skubench lays out (every block stamped), \
                             but {} already existed; leave filename unset or name a new file",
                            path.display()
                        )));
                    }
                    let f = target::open(&path, false, false)?;
                    let total = target::length_of(&f)
                        .map_err(|e| WorkloadError::io(format!("size of {}", path.display()), e))?;
                    let avail = total.saturating_sub(cfg.offset);
                    let len = cfg.size.unwrap_or(avail);
                    if len > avail || len < cfg.sizes.max() {
                        return Err(WorkloadError::Other(format!(
                            "{} is {total} bytes: too small for offset {} + size {len} \
                             with block size {}",
                            path.display(),
                            cfg.offset,
                            cfg.sizes.max()
                        )));
                    }
                    len
                }
                TargetKind::Other(_) => unreachable_other(&path)?,
            };
            let dev = target::device_stat(&path);
            (Some(path), len, dev)
        };
        self.notes.insert("engine".into(), engine.name().into());
        self.notes
            .insert("engine_requested".into(), cfg.engine.name().into());
        if let Some(p) = &path {
            self.notes
                .insert("file".into(), p.display().to_string().into());
            self.notes.insert(
                "file_created_by_skubench".into(),
                self.created.is_some().into(),
            );
        }
        if let Some((name, _)) = &dev_stat {
            self.notes.insert("device".into(), name.clone().into());
        }
        self.notes.insert("region_bytes".into(), len.into());
        if let (Engine::Sync, Some(sl)) = (engine, &cfg.sla) {
            if sl.mode != sla::SearchMode::Rate {
                return Err(WorkloadError::Other(format!(
                    "the latency_target depth sweep needs io_uring, which is unavailable here ({}); \
                     use latency_search = \"rate\"",
                    self.notes
                        .get("engine_fallback_reason")
                        .and_then(|v| v.as_str())
                        .unwrap_or("auto chose sync")
                )));
            }
        }
        if engine == Engine::Sync && cfg.iodepth > 1 {
            self.notes.insert(
                "iodepth_note".into(),
                "the sync engine has one I/O in flight per job; iodepth is ignored".into(),
            );
        }
        if let Some(j) = &cfg.fio_job {
            self.notes.insert("fio_job".into(), j.clone().into());
        }
        self.prepared = Some(Arc::new(Prepared {
            cfg: self.cfg.clone(),
            engine,
            path,
            start: self.cfg.offset,
            len,
            tag,
            dev_stat,
            notes: Mutex::new(BTreeMap::new()),
            sla: None,
        }));
        Ok(())
    }
}

fn unreachable_other(path: &std::path::Path) -> Result<u64, WorkloadError> {
    // check_access refuses these first; kept as an error, not a panic.
    Err(WorkloadError::Other(format!(
        "{} is not a regular file or block device",
        path.display()
    )))
}

impl Workload for DiskWorkload {
    fn resources(&self) -> Resources {
        Resources {
            threads: self.cfg.numjobs,
            writes_storage: self.cfg.engine != EngineChoice::Null,
            exclusive: true,
            ..Resources::default()
        }
    }

    fn steps(&self) -> Vec<Step> {
        let Some(sl) = &self.cfg.sla else {
            return vec![Step::new(
                self.cfg.label(),
                self.cfg.numjobs,
                self.cfg.pin.clone(),
            )];
        };
        sl.plan()
            .into_iter()
            .map(|(name, kind)| {
                let label = format!("{}.sla.{name}", self.cfg.label());
                if kind == sla::StepKind::Verdict {
                    return Step::new(label, 1, None);
                }
                let mut st = Step::new(label, self.cfg.numjobs, self.cfg.pin.clone());
                st.duration = sl.window;
                st
            })
            .collect()
    }

    fn prepare(&mut self, env: &PrepareEnv) -> Result<(), WorkloadError> {
        let r = self.prepare_inner(env);
        if r.is_err() {
            // Remove what was created even if the runner never tears down.
            let _ = self.teardown();
        }
        r
    }

    fn worker(&self, step: &Step, index: usize) -> Result<Box<dyn Worker>, WorkloadError> {
        let p = self
            .prepared
            .clone()
            .ok_or_else(|| WorkloadError::Other("disk workload used before prepare".into()))?;
        match &self.cfg.sla {
            None => engine::new_worker(p, index, step.threads),
            Some(sl) => self.sla_worker(sl, &p, step, index),
        }
    }

    fn metrics(&self, steps: &[StepResult]) -> Result<RunOutput, WorkloadError> {
        let mut out = RunOutput::default();
        for (k, v) in &self.notes {
            out.notes.insert(k.clone(), v.clone());
        }
        if let Some(p) = &self.prepared {
            if let Ok(n) = p.notes.lock() {
                for (k, v) in n.iter() {
                    out.notes.insert(k.clone(), v.clone().into());
                }
            }
        }
        out.notes.insert(
            "latency".into(),
            "lat_ns: completion latency in ns, from the return of the submitting call \
             (io_uring) or the start of the system call (sync) to completion, as fio's clat; \
             with rate_iops also resp_lat_ns from each I/O's intended start (coordinated omission)"
                .into(),
        );
        if let Some(sl) = &self.cfg.sla {
            if let Ok(m) = self.step_prepared.lock() {
                for sp in m.values() {
                    if let Ok(n) = sp.notes.lock() {
                        for (k, v) in n.iter() {
                            out.notes.insert(k.clone(), v.clone().into());
                        }
                    }
                }
            }
            self.sla_metrics(sl, &mut out, steps)?;
            return Ok(out);
        }
        for s in steps {
            self.step_metrics(&mut out, s)?;
        }
        Ok(out)
    }

    fn teardown(&mut self) -> Result<(), WorkloadError> {
        if let Some(p) = self.created.take() {
            target::remove(&p)
                .map_err(|e| WorkloadError::io(format!("remove {}", p.display()), e))?;
        }
        Ok(())
    }
}

/// Adds `<name>.p1 … .p99_99` (fio's percentiles), `.max`, `.mean` and the histogram.
pub fn latency_metrics(out: &mut RunOutput, name: &str, h: &Hist) {
    if h.is_empty() {
        return;
    }
    out.latency_at(name, h, FIO_PERCENTILES);
    out.metric(format!("{name}.mean"), h.mean(), Unit::Ns, Better::Lower);
}

impl DiskWorkload {
    fn step_metrics(&self, out: &mut RunOutput, s: &StepResult) -> Result<(), WorkloadError> {
        let p = s.step.label.clone();
        let total = s.merged_output::<engine::DiskOutput>()?;
        let el = s.elapsed_s;
        let per_s = |x: f64| if el > 0.0 { x / el } else { 0.0 };
        out.metric(
            format!("{p}.iops"),
            s.ops_per_s(),
            Unit::OpsPerS,
            Better::Higher,
        );
        out.metric(
            format!("{p}.bytes_per_s"),
            s.bytes_per_s(),
            Unit::BytesPerS,
            Better::Higher,
        );
        latency_metrics(out, &format!("{p}.lat_ns"), &s.merged);
        if self.cfg.rate_iops.is_some() && !self.cfg.rw.mixed() {
            if let Some(h) = s.merged_aux(engine::AUX_RESP) {
                latency_metrics(out, &format!("{p}.resp_lat_ns"), &h);
            }
        }
        if self.cfg.rw.mixed() {
            for (d, (dir, slot, resp)) in [
                ("read", engine::AUX_READ, engine::AUX_READ_RESP),
                ("write", engine::AUX_WRITE, engine::AUX_WRITE_RESP),
            ]
            .into_iter()
            .enumerate()
            {
                out.metric(
                    format!("{p}.{dir}.iops"),
                    per_s(total.ops[d] as f64),
                    Unit::OpsPerS,
                    Better::Higher,
                );
                out.metric(
                    format!("{p}.{dir}.bytes_per_s"),
                    per_s(total.bytes[d] as f64),
                    Unit::BytesPerS,
                    Better::Higher,
                );
                if let Some(h) = s.merged_aux(slot) {
                    latency_metrics(out, &format!("{p}.{dir}.lat_ns"), &h);
                }
                if let Some(h) = s.merged_aux(resp) {
                    latency_metrics(out, &format!("{p}.{dir}.resp_lat_ns"), &h);
                }
            }
        }
        if let Some(h) = s.merged_aux(engine::AUX_SYNC) {
            latency_metrics(out, &format!("{p}.sync_lat_ns"), &h);
        }
        if let Some(c) = total.cpu.filter(|c| c.wall_s > 0.0) {
            // Per job: CPU seconds over that job's measured wall time,
            // summed over jobs (100 = one vCPU busy), as fio's usr_cpu/sys_cpu.
            out.metric(
                format!("{p}.cpu.usr_pct"),
                c.usr_pct,
                Unit::Percent,
                Better::Lower,
            );
            out.metric(
                format!("{p}.cpu.sys_pct"),
                c.sys_pct,
                Unit::Percent,
                Better::Lower,
            );
            let cpu_s = c.usr_s + c.sys_s;
            if s.ops > 0 {
                out.metric(
                    format!("{p}.cpu.ns_per_op"),
                    cpu_s * 1e9 / s.ops as f64,
                    Unit::Ns,
                    Better::Lower,
                );
            }
        }
        if let Some(dev) = total.dev.filter(|d| d.wall_s > 0.0) {
            let d = |v: f64| v / dev.wall_s;
            out.metric(
                format!("{p}.dev.read_iops"),
                d(dev.reads),
                Unit::OpsPerS,
                Better::Higher,
            );
            out.metric(
                format!("{p}.dev.write_iops"),
                d(dev.writes),
                Unit::OpsPerS,
                Better::Higher,
            );
            out.metric(
                format!("{p}.dev.read_bytes_per_s"),
                d(dev.read_bytes),
                Unit::BytesPerS,
                Better::Higher,
            );
            out.metric(
                format!("{p}.dev.write_bytes_per_s"),
                d(dev.write_bytes),
                Unit::BytesPerS,
                Better::Higher,
            );
            out.metric(
                format!("{p}.dev.util_pct"),
                (d(dev.io_ms) / 10.0).min(100.0),
                Unit::Percent,
                Better::Lower,
            );
            // The device's own mean service time per I/O (time in the
            // block layer and below), beside the latency skubench saw:
            // the gap is the submission path (syscall, io_uring, copies).
            for (name, ms, n) in [
                ("read_await_ns", dev.read_ms, dev.reads),
                ("write_await_ns", dev.write_ms, dev.writes),
            ] {
                if n > 0.0 {
                    out.metric(
                        format!("{p}.dev.{name}"),
                        ms * 1e6 / n,
                        Unit::Ns,
                        Better::Lower,
                    );
                }
            }
            out.metric(
                format!("{p}.dev.queue_depth"),
                d(dev.queue_ms) / 1000.0,
                "requests",
                Better::Lower,
            );
        }
        if self.cfg.verify {
            // A float, as the figure has always been written.
            out.notes.insert(
                format!("{p}.verified_blocks"),
                (total.verified as f64).into(),
            );
        }
        out.series.push(Series {
            name: p.clone(),
            points: s.series.clone(),
        });
        if self.cfg.rw.mixed() {
            for (dir, slot) in [("read", engine::AUX_READ), ("write", engine::AUX_WRITE)] {
                if let Some((_, pts)) = s.class_series.iter().find(|(n, _)| n == slot) {
                    out.series.push(Series {
                        name: format!("{p}.{dir}"),
                        points: pts.clone(),
                    });
                }
            }
        }
        if let Some(ss) = &self.cfg.steadystate {
            let r = ss.judge(&s.series);
            out.metric(
                format!("{p}.steadystate.reached"),
                if r.reached_at_s.is_some() { 1.0 } else { 0.0 },
                Unit::Bool,
                Better::Higher,
            );
            if let Some(t) = r.reached_at_s {
                out.metric(
                    format!("{p}.steadystate.reached_at_s"),
                    t,
                    Unit::Seconds,
                    Better::Lower,
                );
            }
            out.notes.insert(format!("{p}.steadystate"), r.to_json(ss));
        }
        Ok(())
    }
}
