//! fio job files: parsed, checked, and translated into a suite of `disk`
//! workloads (`skubench run --fio JOB.fio`).
//!
//! Syntax as fio reads it: INI sections, `[global]` options apply to the
//! jobs after it (a later `[global]` adds to or overrides them), `${VAR}`
//! expands from the environment (unset → empty), `;` or `#` anywhere on a
//! line starts a comment, sizes are base 1024, a bare `runtime` is seconds.
//!
//! Semantics that differ from fio, on purpose and stated in the docs:
//! jobs run one after another (as if each had `stonewall`), each job's
//! `numjobs` are reported together (`group_reporting` is always on), and
//! every option outside the supported set is an error naming it: nothing
//! is silently ignored.

use std::time::Duration;

use bench_core::error::ValueError;
use bench_core::params::{Params, RawValue};
use bench_core::suite::{PlannedWorkload, Settings, Suite, Timing};
use bench_core::units::{parse_duration, parse_size};
use bench_core::workload::Registry;
use bench_core::SpecError;

/// Longest a job that is not time-based may run (it normally ends after
/// `size`/`io_size` bytes).
pub const SIZE_BASED_CAP: Duration = Duration::from_secs(3600);

/// Options that are accepted, whether mapped or without effect here.
pub const SUPPORTED: &[&str] = &[
    "name",
    "description",
    "filename",
    "directory",
    "size",
    "io_size",
    "io_limit",
    "offset",
    "rw",
    "readwrite",
    "rwmixread",
    "rwmixwrite",
    "bs",
    "blocksize",
    "bssplit",
    "iodepth",
    "iodepth_batch",
    "iodepth_batch_submit",
    "iodepth_batch_complete_max",
    "numjobs",
    "direct",
    "buffered",
    "ioengine",
    "runtime",
    "time_based",
    "ramp_time",
    "rate_iops",
    "fsync",
    "fdatasync",
    "verify",
    "random_distribution",
    "norandommap",
    "randrepeat",
    "randseed",
    "group_reporting",
    "stonewall",
    "wait_for_previous",
    "new_group",
    "thread",
    "fixedbufs",
    "registerfiles",
    "steadystate",
    "ss",
    "ss_dur",
    "ss_ramp",
    "kb_base",
    "latency_target",
    "latency_window",
    "latency_percentile",
    "latency_run",
];

/// One option line: key, optional value, 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FioOption {
    /// Option name, lower case.
    pub key: String,
    /// Value after `=`, comments stripped and `${VAR}` expanded.
    pub value: Option<String>,
    /// Line in the job file.
    pub line: usize,
}

/// A job with its effective options (`[global]` ones first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FioJob {
    /// Section name.
    pub name: String,
    /// Line of the section header.
    pub line: usize,
    /// Effective options in order; a later one of the same key replaces an earlier one.
    pub options: Vec<FioOption>,
}

impl FioJob {
    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&FioOption> {
        self.options.iter().rev().find(|o| o.key == key)
    }
}

fn strip_comment(line: &str) -> &str {
    match line.find([';', '#']) {
        Some(i) => &line[..i],
        None => line,
    }
}

/// Expands `${VAR}` from `env` (unset → empty).
pub fn expand_env(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, ValueError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated `${{` in `{s}`"))?;
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("bad variable name `${{{name}}}`").into());
        }
        out.push_str(&env(name).unwrap_or_default());
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses job-file text into jobs with their effective options.
pub fn parse_jobs(
    text: &str,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<FioJob>, SpecError> {
    enum Cur {
        Nothing,
        Global,
        Job(usize),
    }
    let mut global: Vec<FioOption> = Vec::new();
    let mut jobs: Vec<FioJob> = Vec::new();
    let mut cur = Cur::Nothing;
    for (i, raw) in text.lines().enumerate() {
        let ln = i + 1;
        let line = expand_env(strip_comment(raw), env)
            .map_err(|m| SpecError::at_line(file, ln, m.to_string()))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(inner) = line.strip_prefix('[') {
            let name = inner
                .strip_suffix(']')
                .ok_or_else(|| {
                    SpecError::at_line(file, ln, format!("section header `{line}` has no `]`"))
                })?
                .trim();
            if name.is_empty() {
                return Err(SpecError::at_line(file, ln, "empty section name `[]`"));
            }
            if name == "global" {
                cur = Cur::Global;
            } else {
                if jobs.len() >= 1024 {
                    return Err(SpecError::at_line(file, ln, "more than 1024 jobs"));
                }
                jobs.push(FioJob {
                    name: name.to_string(),
                    line: ln,
                    options: global.clone(),
                });
                cur = Cur::Job(jobs.len() - 1);
            }
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_string())),
            None => (line.to_ascii_lowercase(), None),
        };
        if key.is_empty() {
            return Err(SpecError::at_line(
                file,
                ln,
                format!("`{line}` has no option name"),
            ));
        }
        let opt = FioOption {
            key,
            value,
            line: ln,
        };
        let list = match cur {
            Cur::Nothing => {
                return Err(SpecError::at_line(
                    file,
                    ln,
                    format!(
                        "option `{}` outside a section: put it under [global] or a [job]",
                        opt.key
                    ),
                ))
            }
            Cur::Global => &mut global,
            Cur::Job(j) => &mut jobs[j].options,
        };
        list.retain(|o| o.key != opt.key);
        list.push(opt);
    }
    if jobs.is_empty() {
        return Err(SpecError::file(
            file,
            "the job file has no job sections (only [global])",
        ));
    }
    Ok(jobs)
}

/// A fio time whose bare number is microseconds (`latency_target=1000`);
/// with a unit (`1ms`, `500us`) as written.
pub fn fio_usec(v: &str) -> Result<Duration, ValueError> {
    let t = v.trim();
    if let Ok(us) = t.parse::<f64>() {
        if !us.is_finite() || !(0.0..=1e12).contains(&us) {
            return Err(format!("`{v}` is out of range").into());
        }
        return Ok(Duration::from_secs_f64(us / 1e6));
    }
    parse_duration(t)
}

fn fio_bool(o: &FioOption, file: &str) -> Result<bool, SpecError> {
    match o.value.as_deref().map(str::trim) {
        None | Some("") | Some("1") | Some("true") | Some("yes") | Some("on") => Ok(true),
        Some("0") | Some("false") | Some("no") | Some("off") => Ok(false),
        Some(v) => Err(SpecError::at_line(
            file,
            o.line,
            format!("option `{}`: expected 0 or 1, got `{v}`", o.key),
        )),
    }
}

/// Translates fio job-file text into a suite of `disk` workloads, one per
/// job, run one after another. `allow_destructive` comes from the command
/// line (`--allow-destructive`). Errors name `file:line` and the option.
pub fn suite_from_fio(
    text: &str,
    file: &str,
    registry: &Registry,
    vcpus: usize,
    allow_destructive: bool,
) -> Result<Suite, SpecError> {
    suite_from_fio_env(text, file, registry, vcpus, allow_destructive, &|k| {
        std::env::var(k).ok()
    })
}

/// [`suite_from_fio`] with an explicit environment, for tests.
pub fn suite_from_fio_env(
    text: &str,
    file: &str,
    registry: &Registry,
    vcpus: usize,
    allow_destructive: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Suite, SpecError> {
    if text.len() > 4 << 20 {
        return Err(SpecError::file(file, "job file larger than 4 MiB"));
    }
    let jobs = parse_jobs(text, file, env)?;
    let factory = registry
        .get("disk")
        .ok_or_else(|| SpecError::file(file, "this build has no `disk` workload"))?;
    let mut workloads = Vec::new();
    let mut first_timing = None;
    for job in &jobs {
        let t = translate(job, file, allow_destructive)?;
        let params = Params::from_raw(factory.params(), &t.given, "disk")?;
        let origin = format!("{file}:{}", job.line);
        let workload = factory.build(&params, vcpus).map_err(|e| {
            // Build errors name a key; point at the line that set it.
            let loc = t
                .given
                .iter()
                .rev()
                .find(|(k, _, _)| *k == e.location)
                .map(|(_, _, l)| l.clone())
                .unwrap_or_else(|| origin.clone());
            SpecError::new(loc, format!("job `{}`: {}", job.name, e.message))
        })?;
        let n = workloads
            .iter()
            .filter(|w: &&PlannedWorkload| {
                w.label == t.label || w.label.starts_with(&format!("{}~", t.label))
            })
            .count();
        let label = if n == 0 {
            t.label.clone()
        } else {
            format!("{}~{}", t.label, n + 1)
        };
        first_timing.get_or_insert(t.timing);
        workloads.push(PlannedWorkload {
            kind: "disk".into(),
            label,
            params,
            timing: t.timing,
            origin,
            workload,
            group: None,
        });
    }
    let name = std::path::Path::new(file)
        .file_stem()
        .map_or_else(|| "fio".to_string(), |s| s.to_string_lossy().into_owned());
    Ok(Suite {
        name,
        path: Some(file.into()),
        text: Some(text.to_string()),
        settings: Settings {
            repetitions: 1,
            timing: first_timing.unwrap_or_default(),
            ..Settings::default()
        },
        workloads,
    })
}

struct Translated {
    label: String,
    given: Vec<(String, RawValue, String)>,
    timing: Timing,
}

fn translate(job: &FioJob, file: &str, allow_destructive: bool) -> Result<Translated, SpecError> {
    let mut given: Vec<(String, RawValue, String)> = Vec::new();
    let mut set = |k: &str, v: String, loc: &str| {
        given.retain(|(gk, _, _)| gk != k);
        given.push((k.to_string(), RawValue::Text(v), loc.to_string()));
    };
    let mut label = job.name.clone();
    let mut runtime: Option<(Duration, String)> = None;
    let mut time_based: Option<String> = None;
    let mut warmup = Duration::ZERO;
    let mut size: Option<String> = None;
    let mut io_size: Option<(String, String)> = None;
    let mut text = format!("[{}]", job.name);
    for o in &job.options {
        let loc = format!("{file}:{}", o.line);
        let key = o.key.as_str();
        if !SUPPORTED.contains(&key) {
            return Err(SpecError::at_line(
                file,
                o.line,
                format!(
                    "unsupported fio option `{key}` in job `{}` (supported: {})",
                    job.name,
                    SUPPORTED.join(", ")
                ),
            ));
        }
        text.push(' ');
        text.push_str(key);
        if let Some(v) = &o.value {
            text.push('=');
            text.push_str(v);
        }
        let val = || -> Result<String, SpecError> {
            o.value.clone().filter(|v| !v.is_empty()).ok_or_else(|| {
                SpecError::at_line(file, o.line, format!("option `{key}` needs a value"))
            })
        };
        let unsupported_value = |v: &str, why: &str| {
            SpecError::at_line(
                file,
                o.line,
                format!("option `{key}`: value `{v}` is not supported ({why})"),
            )
        };
        match key {
            "name" => label = val()?,
            "description" => {}
            "filename" => {
                let v = val()?;
                if v.contains(':') {
                    return Err(unsupported_value(&v, "one file per job; `:` lists several"));
                }
                set("filename", v, &loc);
            }
            // An empty directory (e.g. `${DIR}` unset) means the current one.
            "directory" if o.value.as_deref().is_none_or(str::is_empty) => {}
            "directory" => {
                let v = val()?;
                if v.contains(':') {
                    return Err(unsupported_value(&v, "one directory per job"));
                }
                set("dir", v, &loc);
            }
            "size" | "offset" | "io_size" | "io_limit" => {
                let v = val()?;
                if v.ends_with('%') {
                    return Err(unsupported_value(&v, "give a size in bytes, e.g. 1g"));
                }
                parse_size(&v).map_err(|m| {
                    SpecError::at_line(file, o.line, format!("option `{key}`: {m}"))
                })?;
                match key {
                    "size" => {
                        size = Some(v.clone());
                        set("size", v, &loc);
                    }
                    "offset" => set("offset", v, &loc),
                    _ => io_size = Some((v, loc.clone())),
                }
            }
            "rw" | "readwrite" => {
                let v = val()?;
                if v.contains(':') {
                    return Err(unsupported_value(&v, "the `:N` offset modifier"));
                }
                match v.as_str() {
                    "read" | "write" | "randread" | "randwrite" | "randrw" | "rw" | "readwrite" => {
                        set("rw", v, &loc)
                    }
                    _ => {
                        return Err(unsupported_value(
                            &v,
                            "supported: read, write, rw, randread, randwrite, randrw",
                        ))
                    }
                }
            }
            "rwmixread" => set("rwmixread", val()?, &loc),
            "rwmixwrite" => {
                let v = val()?;
                let n: u64 = v.parse().ok().filter(|n| *n <= 100).ok_or_else(|| {
                    SpecError::at_line(
                        file,
                        o.line,
                        format!("option `rwmixwrite`: `{v}` is not 0..100"),
                    )
                })?;
                set("rwmixread", (100 - n).to_string(), &loc);
            }
            "bs" | "blocksize" => {
                let v = val()?;
                if v.contains('-') || v.contains(':') {
                    return Err(unsupported_value(&v, "block-size ranges; use bssplit"));
                }
                let parts: Vec<&str> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .collect();
                let first = parts.first().copied().unwrap_or_default();
                let a = parse_size(first).map_err(|m| {
                    SpecError::at_line(file, o.line, format!("option `{key}`: {m}"))
                })?;
                for p in &parts[1..] {
                    let b = parse_size(p).map_err(|m| {
                        SpecError::at_line(file, o.line, format!("option `{key}`: {m}"))
                    })?;
                    if a != b {
                        return Err(unsupported_value(
                            &v,
                            "different read and write block sizes",
                        ));
                    }
                }
                set("bs", first.to_string(), &loc);
            }
            "bssplit" => set("bssplit", val()?, &loc),
            "iodepth" => set("iodepth", val()?, &loc),
            "iodepth_batch" | "iodepth_batch_submit" => set("iodepth_batch", val()?, &loc),
            "iodepth_batch_complete_max" => set("iodepth_batch_complete", val()?, &loc),
            "numjobs" => set("numjobs", val()?, &loc),
            "direct" => set("direct", fio_bool(o, file)?.to_string(), &loc),
            "buffered" => set("direct", (!fio_bool(o, file)?).to_string(), &loc),
            "ioengine" => {
                let v = val()?;
                let e = match v.as_str() {
                    "psync" | "sync" | "pvsync" | "pvsync2" => "sync",
                    "io_uring" => "io_uring",
                    "null" => "null",
                    _ => {
                        return Err(unsupported_value(
                            &v,
                            "supported: psync/sync/pvsync/pvsync2 (→ sync), io_uring, null; \
                             for libaio use io_uring",
                        ))
                    }
                };
                set("engine", e.to_string(), &loc);
            }
            "runtime" => {
                let v = val()?;
                let d = parse_duration(&v).map_err(|m| {
                    SpecError::at_line(file, o.line, format!("option `runtime`: {m}"))
                })?;
                if d.is_zero() {
                    runtime = None;
                } else {
                    runtime = Some((d, loc.clone()));
                }
            }
            "time_based" => {
                time_based = fio_bool(o, file)?.then(|| loc.clone());
            }
            "ramp_time" => {
                let v = val()?;
                warmup = parse_duration(&v).map_err(|m| {
                    SpecError::at_line(file, o.line, format!("option `ramp_time`: {m}"))
                })?;
            }
            "rate_iops" => {
                let v = val()?;
                if v.contains(',') {
                    return Err(unsupported_value(&v, "separate read,write rates"));
                }
                set("rate_iops", v, &loc);
            }
            "fsync" | "fdatasync" => set(key, val()?, &loc),
            "verify" => {
                let v = val()?;
                let on = super::parse_verify(&v).map_err(|m| {
                    SpecError::at_line(file, o.line, format!("option `verify`: {m}"))
                })?;
                set("verify", on.to_string(), &loc);
            }
            "random_distribution" => {
                let v = val()?;
                let mapped = if v == "random" {
                    "uniform".to_string()
                } else if v.starts_with("zipf:") {
                    v.clone()
                } else {
                    return Err(unsupported_value(&v, "supported: random, zipf:θ"));
                };
                set("random_distribution", mapped, &loc);
            }
            "norandommap" => set("norandommap", fio_bool(o, file)?.to_string(), &loc),
            "randseed" => set("randseed", val()?, &loc),
            "steadystate" | "ss" => set("steadystate", val()?, &loc),
            "ss_dur" => set("ss_dur", val()?, &loc),
            "ss_ramp" => set("ss_ramp", val()?, &loc),
            // fio's latency_target search, mapped to skubench's
            // (docs/bench/disk.md): a bare number is microseconds, as in fio.
            "latency_target" | "latency_window" => {
                let v = val()?;
                let d = fio_usec(&v).map_err(|m| {
                    SpecError::at_line(file, o.line, format!("option `{key}`: {m}"))
                })?;
                set(key, format!("{}ns", d.as_nanos()), &loc);
            }
            "latency_percentile" => set(key, val()?, &loc),
            "latency_run" => set(key, fio_bool(o, file)?.to_string(), &loc),
            "kb_base" => {
                let v = val()?;
                if v != "1024" {
                    return Err(unsupported_value(&v, "sizes are base 1024 only"));
                }
            }
            // Accepted without effect, and why: skubench is always
            // repeatable per seed (randrepeat), reports a job's threads
            // together (group_reporting), runs jobs one after another
            // (stonewall, wait_for_previous, new_group), uses threads
            // (thread), and registers buffers and files when the kernel lets
            // it (fixedbufs, registerfiles).
            _ => {}
        }
    }
    let timing = match (&time_based, &runtime) {
        (Some(loc), None) => {
            return Err(SpecError::new(
                loc,
                format!("job `{}`: time_based needs a runtime", job.name),
            ))
        }
        (Some(_), Some((d, _))) => Timing {
            warmup,
            duration: Some(*d),
            ops: None,
            interval: Duration::from_secs(1),
        },
        (None, rt) => {
            // fio's size-based job: stop after io_size (default: size)
            // bytes per job, or at runtime, whichever comes first.
            match (&io_size, &size) {
                (Some((v, l)), _) => set("io_size", v.clone(), l),
                (None, Some(v)) => {
                    let l = job
                        .get("size")
                        .map(|o| format!("{file}:{}", o.line))
                        .unwrap_or_default();
                    set("io_size", v.clone(), &l);
                }
                (None, None) => {}
            }
            Timing {
                warmup,
                duration: Some(rt.as_ref().map_or(SIZE_BASED_CAP, |r| r.0)),
                ops: None,
                interval: Duration::from_secs(1),
            }
        }
    };
    let job_loc = format!("{file}:{}", job.line);
    // fio's defaults where skubench's differ: sequential reads with psync.
    if job.get("rw").or(job.get("readwrite")).is_none() {
        set("rw", "read".into(), &job_loc);
    }
    if job.get("ioengine").is_none() {
        set("engine", "sync".into(), &job_loc);
    }
    if job.get("size").is_none() && job.get("filename").is_none() {
        return Err(SpecError::at_line(
            file,
            job.line,
            format!(
                "job `{}` needs size= (or the filename of an existing file), as in fio",
                job.name
            ),
        ));
    }
    if let Some(t) = job.get("latency_target") {
        let tloc = format!("{file}:{}", t.line);
        // fio judges every I/O unless told a percentile, and searches
        // depths up to the job's iodepth.
        if job.get("latency_percentile").is_none() {
            set("latency_percentile", "100".into(), &tloc);
        }
        let qd = job
            .get("iodepth")
            .and_then(|o| o.value.clone())
            .unwrap_or_else(|| "1".into());
        set("latency_qd_max", qd, &tloc);
        // fio's search changes the depth only, never the rate.
        set("latency_search", "qd".into(), &tloc);
    }
    set("allow_destructive", allow_destructive.to_string(), &job_loc);
    set("fio_job", text, &job_loc);
    Ok(Translated {
        label,
        given,
        timing,
    })
}
