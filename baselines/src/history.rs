//! The run history: a Parquet dataset with one row per run × metric,
//! written with polars. Each stored result adds one file; `compact` merges
//! them. The files are plain Parquet, so polars, DuckDB or Spark can read
//! the directory directly when one machine is not enough.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use bench_core::result::{Better, ResultFile};
use polars::prelude::*;
use serde::Serialize;

use crate::changepoint::{self, ChangePoint, CpConfig};
use crate::error::BaselineError;

/// One history row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// Content id of the result file.
    pub result_id: String,
    /// Run id within it.
    pub run_id: String,
    /// Run start, RFC 3339 UTC (sorts as text).
    pub time: String,
    /// SKU.
    pub sku: String,
    /// Distro ID.
    pub distro: String,
    /// Distro version.
    pub distro_version: String,
    /// Kernel release.
    pub kernel: String,
    /// Host name.
    pub hostname: String,
    /// Suite name.
    pub suite: String,
    /// Workload label.
    pub workload: String,
    /// Metric name.
    pub metric: String,
    /// Value.
    pub value: f64,
    /// Unit.
    pub unit: String,
    /// `higher` or `lower`.
    pub better: String,
    /// The run was flagged disturbed.
    pub disturbed: bool,
    /// Run status (`ok` …).
    pub status: String,
    /// The onboarding tag of the result (`--tag`), empty when none.
    pub tag: String,
}

/// Rows of one result file.
pub fn rows_of(result_id: &str, f: &ResultFile) -> Vec<Row> {
    let mut out = Vec::new();
    for r in &f.runs {
        let status = serde_json::to_value(r.status)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        for m in &r.metrics {
            out.push(Row {
                result_id: result_id.into(),
                run_id: r.id.clone(),
                time: r.started_at.clone(),
                sku: f.host.sku.clone().unwrap_or_default(),
                distro: f.host.distro.clone(),
                distro_version: f.host.distro_version.clone(),
                kernel: f.host.kernel.clone(),
                hostname: f.host.hostname.clone(),
                suite: f.invocation.suite.clone(),
                workload: r.label.clone(),
                metric: m.name.clone(),
                value: m.value,
                unit: m.unit.to_string(),
                better: match m.better {
                    Better::Higher => "higher".into(),
                    Better::Lower => "lower".into(),
                },
                disturbed: r.disturbance.disturbed,
                status: status.clone(),
                tag: f.invocation.tag.clone().unwrap_or_default(),
            });
        }
    }
    out
}

fn hist_err(path: &Path, e: impl std::fmt::Display) -> BaselineError {
    BaselineError::History {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Builds the dataframe of `rows`.
pub fn frame(rows: &[Row]) -> PolarsResult<DataFrame> {
    let s = |f: fn(&Row) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
    df!(
        "result_id" => s(|r| &r.result_id),
        "run_id" => s(|r| &r.run_id),
        "time" => s(|r| &r.time),
        "sku" => s(|r| &r.sku),
        "distro" => s(|r| &r.distro),
        "distro_version" => s(|r| &r.distro_version),
        "kernel" => s(|r| &r.kernel),
        "hostname" => s(|r| &r.hostname),
        "suite" => s(|r| &r.suite),
        "workload" => s(|r| &r.workload),
        "metric" => s(|r| &r.metric),
        "value" => rows.iter().map(|r| r.value).collect::<Vec<f64>>(),
        "unit" => s(|r| &r.unit),
        "better" => s(|r| &r.better),
        "disturbed" => rows.iter().map(|r| r.disturbed).collect::<Vec<bool>>(),
        "status" => s(|r| &r.status),
        "tag" => s(|r| &r.tag),
    )
}

/// The Parquet bytes of one result's history rows (the object-store
/// backend uploads them as one object).
pub fn part_bytes(result_id: &str, f: &ResultFile) -> Result<Vec<u8>, BaselineError> {
    let rows = rows_of(result_id, f);
    let here = Path::new(result_id);
    let mut df = frame(&rows).map_err(|e| hist_err(here, e))?;
    frame_bytes(&mut df, here)
}

/// `df` as Parquet bytes.
pub(crate) fn frame_bytes(df: &mut DataFrame, at: &Path) -> Result<Vec<u8>, BaselineError> {
    let mut buf = Vec::new();
    ParquetWriter::new(&mut buf)
        .finish(df)
        .map_err(|e| hist_err(at, e))?;
    Ok(buf)
}

/// Reads one Parquet object held in memory; `at` names it in errors.
pub(crate) fn read_bytes(bytes: bytes::Bytes, at: &Path) -> Result<DataFrame, BaselineError> {
    let df = ParquetReader::new(std::io::Cursor::new(bytes))
        .finish()
        .map_err(|e| hist_err(at, format!("unreadable Parquet file: {e}")))?;
    normalize(df, at)
}

/// Files written before a column existed get it empty, so every file
/// stacks onto the same schema.
fn normalize(mut df: DataFrame, at: &Path) -> Result<DataFrame, BaselineError> {
    if df.column("tag").is_err() {
        let n = df.height();
        df.with_column(Column::new("tag".into(), vec![""; n]))
            .map_err(|e| hist_err(at, e))?;
    }
    Ok(df)
}

fn write_frame(path: &Path, df: &mut DataFrame) -> Result<(), BaselineError> {
    let tmp = path.with_extension(format!("parquet.{}.tmp", std::process::id()));
    let res = (|| {
        let mut file = std::fs::File::create(&tmp).map_err(|e| hist_err(&tmp, e))?;
        ParquetWriter::new(&mut file)
            .finish(df)
            .map_err(|e| hist_err(&tmp, e))?;
        file.sync_all().map_err(|e| hist_err(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| hist_err(path, e))
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Writes the history file of one result.
pub fn write_part(path: &Path, result_id: &str, f: &ResultFile) -> Result<(), BaselineError> {
    let rows = rows_of(result_id, f);
    let mut df = frame(&rows).map_err(|e| hist_err(path, e))?;
    write_frame(path, &mut df)
}

fn read_file(path: &Path) -> Result<DataFrame, BaselineError> {
    let f = std::fs::File::open(path).map_err(|e| hist_err(path, e))?;
    let df = ParquetReader::new(f)
        .finish()
        .map_err(|e| hist_err(path, format!("unreadable Parquet file: {e}")))?;
    normalize(df, path)
}

/// Whether a history file name is a compacted file (else one result's part).
pub(crate) fn is_compacted(name: &str) -> bool {
    name.starts_with("compact-")
}

fn parquet_files(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), BaselineError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(hist_err(dir, e)),
    };
    let mut compacted = Vec::new();
    let mut parts = Vec::new();
    for e in rd.flatten() {
        let p = e.path();
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.ends_with(".parquet") {
            continue;
        }
        if is_compacted(name) {
            compacted.push(p);
        } else {
            parts.push(p);
        }
    }
    compacted.sort();
    parts.sort();
    Ok((compacted, parts))
}

/// Reads the whole dataset. A corrupt file is reported (in the returned
/// warnings) and skipped, so the rest of the history stays usable.
pub fn read_all(dir: &Path) -> Result<(DataFrame, Vec<String>), BaselineError> {
    let (compacted, parts) = parquet_files(dir)?;
    let name = |p: &PathBuf| {
        p.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string()
    };
    let c: Vec<String> = compacted.iter().map(name).collect();
    let p: Vec<String> = parts.iter().map(name).collect();
    assemble(&c, &p, |n| read_file(&dir.join(n)), dir)
}

/// Stacks the dataset's files: the compacted ones (`compact_names`), then
/// each result's part that no compacted file holds yet (`part_names`,
/// `<result id>.parquet`), `load`ing each by file name. Rows of a result
/// are kept once even when a compaction raced another (two compacted files
/// holding it) or a reader (a part and its compacted copy). An unreadable
/// file is a warning, not an error.
pub(crate) fn assemble(
    compact_names: &[String],
    part_names: &[String],
    mut load: impl FnMut(&str) -> Result<DataFrame, BaselineError>,
    at: &Path,
) -> Result<(DataFrame, Vec<String>), BaselineError> {
    let mut warnings = Vec::new();
    let mut out: Option<DataFrame> = None;
    let mut seen: HashSet<String> = HashSet::new();
    let push = |df: DataFrame, out: &mut Option<DataFrame>| -> Result<(), BaselineError> {
        match out {
            None => *out = Some(df),
            Some(o) => {
                o.vstack_mut_owned(df).map_err(|e| hist_err(at, e))?;
            }
        }
        Ok(())
    };
    for n in compact_names {
        match load(n) {
            Ok(df) => {
                let ids = df
                    .column("result_id")
                    .and_then(|c| c.str().cloned())
                    .map_err(|e| hist_err(&at.join(n), e))?;
                let keep: BooleanChunked = (0..ids.len())
                    .map(|i| !ids.get(i).is_some_and(|id| seen.contains(id)))
                    .collect();
                let fresh: HashSet<String> = (0..ids.len())
                    .filter_map(|i| ids.get(i))
                    .map(String::from)
                    .collect();
                let df = df.filter(&keep).map_err(|e| hist_err(&at.join(n), e))?;
                seen.extend(fresh);
                push(df, &mut out)?;
            }
            Err(e) => warnings.push(e.to_string()),
        }
    }
    for n in part_names {
        let id = n.strip_suffix(".parquet").unwrap_or(n);
        if seen.contains(id) {
            continue;
        }
        match load(n) {
            Ok(df) => push(df, &mut out)?,
            Err(e) => warnings.push(e.to_string()),
        }
    }
    let df = match out {
        Some(df) => df,
        None => frame(&[]).map_err(|e| hist_err(at, e))?,
    };
    Ok((df, warnings))
}

/// Merges every file into one `compact-*.parquet`; returns the row count.
/// The caller holds the store lock.
pub fn compact(dir: &Path) -> Result<usize, BaselineError> {
    let (compacted, parts) = parquet_files(dir)?;
    if compacted.len() + parts.len() <= 1 {
        return Ok(0);
    }
    let (mut df, warnings) = read_all(dir)?;
    if !warnings.is_empty() {
        return Err(BaselineError::Input(format!(
            "not compacting: some history files are unreadable: {}",
            warnings.join("; ")
        )));
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dest = dir.join(format!("compact-{stamp:032}.parquet"));
    write_frame(&dest, &mut df)?;
    for p in compacted.iter().chain(&parts) {
        let _ = std::fs::remove_file(p);
    }
    Ok(df.height())
}

fn str_col<'a>(
    df: &'a DataFrame,
    name: &str,
    dir: &Path,
) -> Result<&'a StringChunked, BaselineError> {
    df.column(name)
        .and_then(|c| c.str())
        .map_err(|e| hist_err(dir, format!("column `{name}`: {e}")))
}

/// One stored result as the index sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultRow {
    /// Content id.
    pub result_id: String,
    /// Earliest run start.
    pub time: String,
    /// SKU.
    pub sku: String,
    /// Distro.
    pub distro: String,
    /// Suite.
    pub suite: String,
    /// Host name.
    pub hostname: String,
    /// Onboarding tag, empty when none.
    pub tag: String,
}

/// Distinct results in the dataset at `dir` (a local store's history).
pub fn result_index(dir: &Path) -> Result<Vec<ResultRow>, BaselineError> {
    let (df, _) = read_all(dir)?;
    result_index_of(&df, dir)
}

/// Distinct results in a history frame; `dir` names it in errors.
pub fn result_index_of(df: &DataFrame, dir: &Path) -> Result<Vec<ResultRow>, BaselineError> {
    let ids = str_col(df, "result_id", dir)?;
    let time = str_col(df, "time", dir)?;
    let sku = str_col(df, "sku", dir)?;
    let distro = str_col(df, "distro", dir)?;
    let suite = str_col(df, "suite", dir)?;
    let host = str_col(df, "hostname", dir)?;
    let tag = str_col(df, "tag", dir)?;
    let mut by_id: BTreeMap<&str, ResultRow> = BTreeMap::new();
    for i in 0..df.height() {
        let (Some(id), Some(t)) = (ids.get(i), time.get(i)) else {
            continue;
        };
        let e = by_id.entry(id).or_insert_with(|| ResultRow {
            result_id: id.into(),
            time: t.into(),
            sku: sku.get(i).unwrap_or_default().into(),
            distro: distro.get(i).unwrap_or_default().into(),
            suite: suite.get(i).unwrap_or_default().into(),
            hostname: host.get(i).unwrap_or_default().into(),
            tag: tag.get(i).unwrap_or_default().into(),
        });
        if t < e.time.as_str() {
            e.time = t.into();
        }
    }
    Ok(by_id.into_values().collect())
}

/// Filters of a history query.
#[derive(Clone, Debug, Default)]
pub struct HistoryQuery {
    /// SKU.
    pub sku: Option<String>,
    /// Distro.
    pub distro: Option<String>,
    /// Metric glob.
    pub metric: Option<String>,
    /// Workload label.
    pub workload: Option<String>,
    /// Keep disturbed runs.
    pub include_disturbed: bool,
}

/// One point of a metric's history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    /// Run start time.
    pub time: String,
    /// Value.
    pub value: f64,
    /// Result id.
    pub result_id: String,
    /// Run id.
    pub run_id: String,
}

/// A metric's history with its change points.
#[derive(Clone, Debug, Serialize)]
pub struct MetricHistory {
    /// SKU.
    pub sku: String,
    /// Distro.
    pub distro: String,
    /// Workload label.
    pub workload: String,
    /// Metric.
    pub metric: String,
    /// Unit.
    pub unit: String,
    /// `higher` / `lower`.
    pub better: String,
    /// Points, oldest first.
    pub points: Vec<Point>,
    /// Detected change points.
    pub change_points: Vec<ChangePoint>,
    /// Reported change points among the latest K points, worsening ones:
    /// what a nightly job alerts on.
    pub alerts: Vec<ChangePoint>,
}

/// Loads the series matching `q`, oldest first, grouped by (SKU, distro,
/// workload, metric), with change points; `latest_k` bounds alerts.
pub fn query(
    dir: &Path,
    q: &HistoryQuery,
    cfg: &CpConfig,
    latest_k: usize,
) -> Result<(Vec<MetricHistory>, Vec<String>), BaselineError> {
    let (df, warnings) = read_all(dir)?;
    Ok((query_frame(&df, dir, q, cfg, latest_k)?, warnings))
}

/// [`query`] over a history frame already read (any backend); `dir`
/// names it in errors.
pub fn query_frame(
    df: &DataFrame,
    dir: &Path,
    q: &HistoryQuery,
    cfg: &CpConfig,
    latest_k: usize,
) -> Result<Vec<MetricHistory>, BaselineError> {
    let c = |n: &str| str_col(df, n, dir);
    let (ids, runs, time, sku, distro, workload, metric, unit, better, status) = (
        c("result_id")?,
        c("run_id")?,
        c("time")?,
        c("sku")?,
        c("distro")?,
        c("workload")?,
        c("metric")?,
        c("unit")?,
        c("better")?,
        c("status")?,
    );
    let value = df
        .column("value")
        .and_then(|c| c.f64())
        .map_err(|e| hist_err(dir, format!("column `value`: {e}")))?;
    let disturbed = df
        .column("disturbed")
        .and_then(|c| c.bool())
        .map_err(|e| hist_err(dir, format!("column `disturbed`: {e}")))?;
    type Key = (String, String, String, String);
    let mut groups: BTreeMap<Key, (String, String, Vec<Point>)> = BTreeMap::new();
    for i in 0..df.height() {
        fn cell(ca: &StringChunked, i: usize) -> &str {
            ca.get(i).unwrap_or_default()
        }
        let g = |ca| cell(ca, i);
        if g(status) != "ok" {
            continue;
        }
        if !q.include_disturbed && disturbed.get(i).unwrap_or(false) {
            continue;
        }
        let (s, d, w, m) = (g(sku), g(distro), g(workload), g(metric));
        if q.sku.as_deref().is_some_and(|x| x != s)
            || q.distro.as_deref().is_some_and(|x| x != d)
            || q.workload.as_deref().is_some_and(|x| x != w)
            || q.metric
                .as_deref()
                .is_some_and(|x| !crate::policy::glob_match(x, m))
        {
            continue;
        }
        let Some(v) = value.get(i) else { continue };
        let e = groups
            .entry((s.into(), d.into(), w.into(), m.into()))
            .or_insert_with(|| (g(unit).into(), g(better).into(), Vec::new()));
        e.2.push(Point {
            time: g(time).into(),
            value: v,
            result_id: g(ids).into(),
            run_id: g(runs).into(),
        });
    }
    let mut out = Vec::with_capacity(groups.len());
    for ((s, d, w, m), (unit, better, mut points)) in groups {
        points.sort_by(|a, b| a.time.cmp(&b.time).then(a.run_id.cmp(&b.run_id)));
        points.dedup_by(|a, b| a.result_id == b.result_id && a.run_id == b.run_id);
        let values: Vec<f64> = points.iter().map(|p| p.value).collect();
        let cps = changepoint::detect(&values, cfg);
        let n = points.len();
        let alerts = cps
            .iter()
            .filter(|c| c.reported && c.index + latest_k >= n)
            .filter(|c| match better.as_str() {
                "higher" => c.change < 0.0,
                _ => c.change > 0.0,
            })
            .cloned()
            .collect();
        out.push(MetricHistory {
            sku: s,
            distro: d,
            workload: w,
            metric: m,
            unit,
            better,
            points,
            change_points: cps,
            alerts,
        });
    }
    Ok(out)
}
