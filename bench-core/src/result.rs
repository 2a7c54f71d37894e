//! The result file, schema v1: the only thing that crosses from "measure" to
//! "analyse". Written atomically (temporary file, fsync, rename); read back
//! with validation, since a result file from another machine is untrusted.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::disturb::Disturbance;
use crate::error::CoreError;
use crate::hist::{self, Hist, HistError};
use crate::host::HostInfo;
use crate::units::Unit;

/// Which direction of a metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Larger values are better (throughput).
    Higher,
    /// Smaller values are better (latency).
    Lower,
}

/// What a metric is for in a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A workload's primary figure (throughput, median latency):
    /// the family that gates and decides the overall verdict.
    Headline,
    /// Another figure of the same runs (other percentiles, per-thread and
    /// per-size points): tested as its own family, gates when significant.
    Secondary,
    /// Explains the others (utilisation, TCP counters, device-side
    /// counters, the one-sample maximum): shown, never a verdict. When a
    /// machine can do less, its CPU busy ratio falls; that is no improvement.
    Explanatory,
}

impl Role {
    /// The word used in reports and files.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Headline => "headline",
            Role::Secondary => "secondary",
            Role::Explanatory => "explanatory",
        }
    }

    /// The role of a metric from its name and unit alone (the rule every
    /// result file's roles come from; older files without roles get the
    /// same). A workload without a headline by these rules has its first
    /// non-explanatory metric promoted: see [`assign_roles`].
    pub fn of(name: &str, unit: &str) -> Role {
        let parts: Vec<&str> = name.split('.').collect();
        let last = parts.last().copied().unwrap_or("");
        let explanatory = last == "max"
            || name.contains("cpu_busy_ratio")
            || name.contains("cpu_softirq_ratio")
            || name.contains(".cpu.usr_pct")
            || name.contains(".cpu.sys_pct")
            || name.ends_with("util_pct")
            || name.contains(".tcp.")
            || name.contains(".dev.")
            // Attribution (attrib.rs, ebpf.rs): explains, never decides.
            || [".sched.", ".psi.", ".softirq.", ".netstack.", ".nic.", ".ebpf."]
                .iter()
                .any(|f| name.contains(f))
            || name.contains("including_warmup")
            // The null workload's throughput is the machine's noise (its
            // latency is the knob tests turn): it explains, never decides.
            || (name.starts_with("null.") && (last == "ops_per_s" || last == "bytes_per_s"))
            || unit == "count"
            || unit == "segments";
        if explanatory {
            return Role::Explanatory;
        }
        let throughput = [
            "ops_per_s",
            "iops",
            "bits_per_s",
            "transactions_per_s",
            "faults_per_s",
            "connections_per_s",
        ];
        let headline = match parts.as_slice() {
            // cpu.int.ops_per_s, disk.randread.iops, net.tcp_rr.transactions_per_s …
            ["mem", _, m] => *m == "faults_per_s",
            ["jitter", "wake_lat_ns", "p50"] => true,
            // The null workload measures the harness: its throughput is the
            // machine's noise, its latency the knob tests turn.
            ["null", "lat_ns", "p50"] => true,
            [_, _, m] => throughput.contains(m),
            // disk.randrw.read.iops (one direction of a mix)
            ["disk", _, "read" | "write", m] => throughput.contains(m),
            // disk.randread.lat_ns.p50, net.tcp_rr.lat_ns.p50: the median;
            // tails are secondary (too noisy to decide a comparison on).
            ["disk" | "net", _, "lat_ns", "p50"] => true,
            ["disk", _, "read" | "write", "lat_ns", "p50"] => true,
            ["mem", "stream", "triad" | "copy", "bytes_per_s"] => true,
            ["mem", "latency", level, "ns_per_load"] => {
                *level == "dram" || (level.starts_with('l') && level[1..].parse::<u8>().is_ok())
            }
            ["cpu", _, "spread", "slowest_vs_median_ratio"] => true,
            _ => false,
        };
        if headline {
            Role::Headline
        } else {
            Role::Secondary
        }
    }
}

/// Gives every metric of one run its role: [`Role::of`] where the metric
/// has none, and, when that leaves the run without a headline, the first
/// non-explanatory metric (a workload's first metric is its headline by
/// convention) becomes one.
pub fn assign_roles(metrics: &mut [Metric]) {
    for m in metrics.iter_mut() {
        if m.role.is_none() {
            m.role = Some(Role::of(&m.name, &m.unit));
        }
    }
    if !metrics.iter().any(|m| m.role == Some(Role::Headline)) {
        if let Some(m) = metrics
            .iter_mut()
            .find(|m| m.role != Some(Role::Explanatory))
        {
            m.role = Some(Role::Headline);
        }
    }
}

/// One named figure of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Stable name ending in its unit, e.g. `disk.randread.iops`.
    pub name: String,
    /// The value, in `unit`.
    pub value: f64,
    /// Raw unit: `ops/s`, `bytes/s`, `ns`, `ratio` …
    pub unit: Unit,
    /// Which direction is better.
    pub better: Better,
    /// What the metric is for in a comparison (absent in files written
    /// before roles existed: [`Role::of`] then decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

impl Metric {
    /// Builds a metric; its role is set when the run's record is made.
    pub fn new(name: impl Into<String>, value: f64, unit: impl Into<Unit>, better: Better) -> Self {
        Self {
            name: name.into(),
            value,
            unit: unit.into(),
            better,
            role: None,
        }
    }

    /// The role, from the file or by [`Role::of`].
    pub fn role(&self) -> Role {
        self.role
            .unwrap_or_else(|| Role::of(&self.name, &self.unit))
    }
}

/// One interval of the per-interval series, merged across workers.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct IntervalPoint {
    /// End of the interval, seconds since the measured phase began.
    pub t_s: f64,
    /// Interval length, seconds.
    pub len_s: f64,
    /// Operations completed in it.
    pub ops: u64,
    /// Operations per second.
    pub ops_per_s: f64,
    /// Bytes per second.
    pub bytes_per_s: f64,
    /// Median latency, ns.
    pub p50_ns: u64,
    /// 99th percentile latency, ns.
    pub p99_ns: u64,
}

/// A named per-interval series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Metric-name prefix of the step the series belongs to.
    pub name: String,
    /// The points, one per interval.
    pub points: Vec<IntervalPoint>,
}

/// A figure measured against a parameter over the steps of one run:
/// latency against working-set size, ops/s against threads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// Name, like a metric's (`mem.latency.ns_per_load`).
    pub name: String,
    /// Unit of x (`bytes`, `threads`), as [`Unit::as_str`] writes it.
    pub x_unit: String,
    /// Unit of y (`ns`, `ops/s`), as [`Unit::as_str`] writes it.
    pub y_unit: String,
    /// Whether x is best read on a log scale (sizes spanning decades).
    #[serde(default)]
    pub log_x: bool,
    /// Whether y is best read on a log scale (latencies spanning decades).
    #[serde(default)]
    pub log_y: bool,
    /// `[x, y]` points, x ascending.
    pub points: Vec<[f64; 2]>,
}

/// Status of a run or of the whole invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Completed.
    Ok,
    /// Failed with an error.
    Failed,
    /// Stopped by Ctrl-C / SIGTERM.
    Interrupted,
    /// Never started. No run of this build is written so (runs that never
    /// start are left out, or `failed` when their preparation failed); kept
    /// because schema v1 lists `skipped`, so files that carry it still read.
    Skipped,
}

/// Identity of the tool that wrote the file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// `skubench`, or the peer tool a file was imported from.
    pub name: String,
    /// Version.
    pub version: String,
    /// Git revision of the build, `unknown` when built outside git.
    pub git_revision: String,
}

/// One workload × repetition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Unique within the file: `<label>#<repetition>`.
    pub id: String,
    /// Workload kind.
    pub workload: String,
    /// Label (metric prefix / name given in the suite).
    pub label: String,
    /// Repetition number, from 1.
    pub repetition: u32,
    /// The spec as run: every parameter, defaults filled in.
    pub spec: serde_json::Value,
    /// Outcome.
    pub status: Status,
    /// Error text when failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 end time.
    pub finished_at: String,
    /// Warm-up length, s.
    pub warmup_s: f64,
    /// Measured length actually run (longest step sum), s.
    pub measured_s: f64,
    /// Figures.
    pub metrics: Vec<Metric>,
    /// Histograms: name → base64 HdrHistogram V2+DEFLATE.
    pub histograms: BTreeMap<String, String>,
    /// Per-interval series.
    pub series: Vec<Series>,
    /// Curves over the run's steps (absent in files written before they existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub curves: Vec<Curve>,
    /// Foreign load seen during the run.
    pub disturbance: Disturbance,
    /// Facts the workload recorded (conventions, engine used …).
    #[serde(default)]
    pub notes: BTreeMap<String, serde_json::Value>,
}

impl RunRecord {
    /// Decodes one of the run's histograms.
    pub fn histogram(&self, name: &str) -> Option<Result<Hist, HistError>> {
        self.histograms.get(name).map(|s| hist::decode(s))
    }

    /// Looks up a metric by name.
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }
}

/// How the invocation was asked for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    /// Command-line arguments.
    pub argv: Vec<String>,
    /// Suite name.
    pub suite: String,
    /// Suite file path, when run from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite_file: Option<String>,
    /// Suite file text, so the run can be repeated exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite_text: Option<String>,
    /// Repetitions asked for.
    pub repetitions: u32,
    /// The onboarding this run belongs to (`run`/`gate --tag NAME`): the
    /// matrix report selects results by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// A whole result file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultFile {
    /// Always [`crate::RESULT_SCHEMA`].
    pub schema: String,
    /// Who wrote it.
    pub tool: ToolInfo,
    /// Overall status: the worst of the runs'.
    pub status: Status,
    /// Error of the invocation, if it failed or was interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub finished_at: String,
    /// The measuring host.
    pub host: HostInfo,
    /// The request.
    pub invocation: Invocation,
    /// The runs, in execution order.
    pub runs: Vec<RunRecord>,
}

/// Size limit for result files read back (they are untrusted input).
pub const MAX_RESULT_BYTES: u64 = 512 << 20;

impl ResultFile {
    /// Reads and validates a result file.
    pub fn read(path: &Path) -> Result<Self, CoreError> {
        let meta = std::fs::metadata(path).map_err(|e| CoreError::File {
            path: path.to_path_buf(),
            source: e,
        })?;
        if meta.len() > MAX_RESULT_BYTES {
            return Err(CoreError::BadResult {
                path: path.to_path_buf(),
                message: format!(
                    "{} bytes is over the {} byte limit",
                    meta.len(),
                    MAX_RESULT_BYTES
                ),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|e| CoreError::File {
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::parse(&text).map_err(|e| CoreError::BadResult {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Parses and validates result-file text.
    pub fn parse(text: &str) -> Result<Self, ResultError> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(ResultError::Json)?;
        match v.get("schema").and_then(|s| s.as_str()) {
            Some(crate::RESULT_SCHEMA) => {}
            Some(other) => return Err(ResultError::Schema(other.to_string())),
            None => return Err(ResultError::NoSchema),
        }
        let f: ResultFile = serde_json::from_value(v).map_err(ResultError::Shape)?;
        f.validate()?;
        Ok(f)
    }

    /// Semantic checks the JSON shape cannot express.
    pub fn validate(&self) -> Result<(), ResultError> {
        let mut ids = std::collections::HashSet::new();
        for (i, r) in self.runs.iter().enumerate() {
            if !ids.insert(&r.id) {
                return Err(ResultError::Invalid(format!(
                    "runs[{i}]: duplicate run id `{}`",
                    r.id
                )));
            }
            for (j, m) in r.metrics.iter().enumerate() {
                if !m.value.is_finite() {
                    return Err(ResultError::Invalid(format!(
                        "runs[{i}].metrics[{j}] `{}`: value is not finite",
                        m.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// Serializes to pretty JSON.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    /// Writes atomically: a temporary file beside `path`, fsync, rename,
    /// then fsync of the directory. An existing file is never truncated in place.
    pub fn write_atomic(&self, path: &Path) -> Result<(), CoreError> {
        let json = self.to_json().map_err(|e| CoreError::File {
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        write_atomic(path, json.as_bytes())
    }
}

/// Why text is not a valid result file; the caller names the file.
#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    /// Not JSON at all.
    #[error("invalid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// A `schema` this version does not read.
    #[error("unsupported schema `{0}` (expected `{schema}`)", schema = crate::RESULT_SCHEMA)]
    Schema(String),
    /// No `schema` field.
    #[error("no `schema` field: not a skubench result file")]
    NoSchema,
    /// JSON that does not have the schema's shape.
    #[error("does not match schema v1: {0}")]
    Shape(#[source] serde_json::Error),
    /// Well-formed, but inconsistent (a duplicate run id, a value that is
    /// not finite); says where.
    #[error("{0}")]
    Invalid(String),
}

/// Writes `bytes` to `path` atomically (temp file in the same directory,
/// fsync, rename, fsync of the directory).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CoreError> {
    let err = |p: &Path, e: std::io::Error| CoreError::File {
        path: p.to_path_buf(),
        source: e,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| err(&dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "result".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(path, e));
    }
    Ok(())
}

/// Current UTC time in RFC 3339 with milliseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
