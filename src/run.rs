//! Command implementations: thin glue from flags to library calls.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context as _;
use bench_core::host::HostInfo;
use bench_core::result::{ResultFile, Status};
use bench_core::runner::Runner;
use bench_core::suite::{load_suite, parse_suite, single_workload, Suite};

use skubench_ci::exit_codes::SkubenchExitCode;

use crate::cli::{Format, RunArgs, ServeArgs};
use crate::common::{
    check_output, detect_host, execute, install_signal_handlers, run_failed, usage, write_outputs,
};

/// The default suite, compiled in so the binary runs from any directory.
const QUICK_SUITE: &str = include_str!("../suites/quick.toml");

/// `skubench serve`
pub fn serve(a: ServeArgs) -> anyhow::Result<SkubenchExitCode> {
    let dur = |flag: &str, v: &str| {
        bench_core::units::parse_duration(v).map_err(|e| usage(format!("--{flag}: {e}")))
    };
    let args = workloads::net::ServeArgs {
        bind: a.bind,
        port: a.port,
        token: a.token,
        token_file: a.token_file,
        max_sessions: a.max_sessions,
        max_duration: dur("max-duration", &a.max_duration)?,
        idle_timeout: dur("idle-timeout", &a.idle_timeout)?,
        data_ports: a.data_ports,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handler")?;
    }
    match workloads::net::serve(&args, &stop) {
        Ok(()) => Ok(SkubenchExitCode::Ok),
        Err(workloads::net::ServeError::Input(m)) => Err(usage(m)),
        Err(e) => Err(run_failed(e.to_string())),
    }
}

/// Splits `--key value` / `--key=value` / bare `--flag` into pairs.
fn parse_pairs(rest: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let tok = &rest[i];
        let Some(key) = tok.strip_prefix("--") else {
            return Err(usage(format!(
                "unexpected argument `{tok}`: workload parameters are given as `--key value`"
            )));
        };
        if key.is_empty() {
            return Err(usage("empty flag `--`"));
        }
        if let Some((k, v)) = key.split_once('=') {
            out.push((k.replace('-', "_"), v.to_string()));
            i += 1;
        } else if i + 1 < rest.len() && !rest[i + 1].starts_with("--") {
            out.push((key.replace('-', "_"), rest[i + 1].clone()));
            i += 2;
        } else {
            out.push((key.replace('-', "_"), "true".into()));
            i += 1;
        }
    }
    Ok(out)
}

fn default_output(host: &HostInfo) -> PathBuf {
    let t = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace([':', '-'], "");
    let host: String = host
        .hostname
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Two runs in the same second must not collide (an existing result is
    // never overwritten): number the later ones.
    let dir = PathBuf::from("skubench-results");
    let first = dir.join(format!("{t}-{host}.json"));
    if !first.exists() {
        return first;
    }
    (2..10_000)
        .map(|n| dir.join(format!("{t}-{host}-{n}.json")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

fn load_target(
    target: Option<&str>,
    pairs: &[(String, String)],
    vcpus: usize,
) -> anyhow::Result<Suite> {
    let reg = workloads::registry();
    let suite = match target {
        None => {
            let p = Path::new("suites/quick.toml");
            if p.is_file() {
                load_suite(p, &reg, vcpus)
            } else {
                parse_suite(QUICK_SUITE, "suites/quick.toml (built in)", &reg, vcpus)
            }
        }
        Some(t) if looks_like_suite(t) => load_suite(Path::new(t), &reg, vcpus),
        Some(kind) => single_workload(kind, pairs, &reg, vcpus),
    }
    .map_err(|e| usage(e.to_string()))?;
    Ok(suite)
}

/// Applies `--duration` and `--warmup` to a suite loaded from a file.
fn override_suite(suite: &mut Suite, pairs: &[(String, String)]) -> anyhow::Result<()> {
    for (k, v) in pairs {
        let loc = format!("--{k}");
        match k.as_str() {
            "duration" | "warmup" => {
                let d = bench_core::units::parse_duration(v)
                    .map_err(|e| usage(format!("{loc}: {e}")))?;
                for w in &mut suite.workloads {
                    if k == "duration" {
                        w.timing.duration = Some(d);
                        w.timing.ops = None;
                    } else {
                        w.timing.warmup = d;
                    }
                }
            }
            _ => {
                return Err(usage(format!(
                    "{loc}: only --repetitions, --duration and --warmup can override a suite file; \
                     workload parameters belong in the suite"
                )))
            }
        }
    }
    Ok(())
}

/// `skubench run KIND --help`: the workload's parameters with their
/// defaults (as `list` prints them) and the run options; `None` when
/// `target` is not a workload kind (a suite file gets `run --help`).
pub fn workload_help(target: &str) -> Option<String> {
    let reg = workloads::registry();
    let f = reg.get(target).filter(|_| !looks_like_suite(target))?;
    Some(format!(
        "Usage: skubench run {kind} [--PARAM VALUE]… [OPTIONS]\n\n{params}\n{every}\n\
         Options (before or after the parameters): -q/--quiet, -o/--output FILE, --sku NAME, \
         --repetitions N, --duration D, --warmup D, --allow-destructive; see `skubench run --help`.\n",
        kind = f.kind(),
        params = reports::show::workload_params(f),
        every = reports::show::EVERY_WORKLOAD,
    ))
}

/// Whether a `run` target names a suite file rather than a workload kind.
fn looks_like_suite(target: &str) -> bool {
    target.ends_with(".toml") || target.contains('/') || Path::new(target).is_file()
}

/// `skubench run`
pub fn run(a: RunArgs) -> anyhow::Result<SkubenchExitCode> {
    // The run options (`-q`, `--output`, `--repetitions` …) reach clap
    // wherever they were on the line (cli::prepare_command_line): what is
    // left after the target is the workload's own parameters. The timing
    // settings join them, as a suite's keys do.
    let mut pairs = parse_pairs(&a.rest)?;
    for (k, v) in [("duration", &a.duration), ("warmup", &a.warmup)] {
        if let Some(v) = v {
            pairs.push((k.to_string(), v.clone()));
        }
    }
    if a.allow_destructive && !pairs.iter().any(|(k, _)| k == "allow_destructive") {
        pairs.push(("allow_destructive".into(), "true".into()));
    }
    let vcpus = bench_core::affinity::online_vcpus();
    let is_file = a.target.as_deref().is_none_or(looks_like_suite);
    let mut suite = match &a.fio {
        Some(job) => {
            let text = baselines::read_limited(job, 1 << 20).map_err(|e| usage(e.to_string()))?;
            let allow = pairs
                .iter()
                .any(|(k, v)| k == "allow_destructive" && v != "false");
            pairs.retain(|(k, _)| k != "allow_destructive");
            let s = workloads::disk::fio::suite_from_fio(
                &text,
                &job.display().to_string(),
                &workloads::registry(),
                vcpus,
                allow,
            )
            .map_err(|e| usage(e.to_string()))?;
            let mut s = s;
            override_suite(&mut s, &pairs)?;
            s
        }
        None => load_target(a.target.as_deref(), &pairs, vcpus)?,
    };
    if is_file && a.fio.is_none() {
        override_suite(&mut suite, &pairs)?;
    }
    if let Some(n) = a.repetitions {
        suite.settings.repetitions = n;
    }

    let mut runner = Runner::new(install_signal_handlers()?);
    if a.no_ebpf {
        runner.ebpf =
            std::sync::Arc::new(bench_core::ebpf::EbpfSlot::off("turned off (--no-ebpf)"));
    }
    let host = detect_host(a.sku, &runner)?;
    let output = a.output.unwrap_or_else(|| default_output(&host));
    check_output(&output)?;
    let (_file, status) = execute(&runner, &mut suite, &output, host, a.quiet, a.tag.clone())?;
    eprintln!("skubench: result written to {}", output.display());
    Ok(match status {
        Status::Ok => SkubenchExitCode::Ok,
        Status::Interrupted => {
            eprintln!("skubench: interrupted; the result file holds what was measured (status `interrupted`)");
            SkubenchExitCode::RunFailed
        }
        _ => {
            eprintln!("skubench: one or more runs failed (see the result file)");
            SkubenchExitCode::RunFailed
        }
    })
}

/// `skubench show`
pub fn show(
    path: &Path,
    hgrm: Option<&str>,
    run: Option<&str>,
) -> anyhow::Result<SkubenchExitCode> {
    let f = ResultFile::read(path).map_err(|e| usage(e.to_string()))?;
    let Some(name) = hgrm else {
        print!("{}", reports::show::summary(&f));
        return Ok(SkubenchExitCode::Ok);
    };
    let mut printed = 0;
    for r in f.runs.iter().filter(|r| run.is_none_or(|id| r.id == id)) {
        for (hname, blob) in &r.histograms {
            if name != "all" && hname != name {
                continue;
            }
            let h = bench_core::hist::decode(blob).map_err(|e| {
                usage(format!(
                    "{}: run {} histogram {hname}: {e}",
                    path.display(),
                    r.id
                ))
            })?;
            println!("# run {} · histogram {hname} · values in µs", r.id);
            print!("{}", reports::hgrm::render(&h, 1000.0));
            println!();
            printed += 1;
        }
    }
    if printed == 0 {
        let names: std::collections::BTreeSet<&String> =
            f.runs.iter().flat_map(|r| r.histograms.keys()).collect();
        return Err(usage(format!(
            "{}: no histogram `{name}`{} (available: {})",
            path.display(),
            run.map(|r| format!(" in run {r}")).unwrap_or_default(),
            names
                .into_iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(SkubenchExitCode::Ok)
}

/// `skubench report`: single runs, no baseline.
pub fn report(
    paths: &[PathBuf],
    formats: &[Format],
    dir: Option<&Path>,
) -> anyhow::Result<SkubenchExitCode> {
    let mut files = Vec::new();
    for p in paths {
        let f = ResultFile::read(p).map_err(|e| usage(e.to_string()))?;
        files.push((p.display().to_string(), f));
    }
    let mut outputs = Vec::new();
    for &f in formats {
        let bytes = match f {
            Format::Terminal => files
                .iter()
                .map(|(_, f)| reports::show::summary(f))
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes(),
            Format::Markdown => reports::runs::markdown(&files).into_bytes(),
            Format::Html => reports::runs::html(&files).into_bytes(),
            Format::Json => reports::runs::json(&files)?,
            // clap accepts only Format::REPORT here; this is the message
            // should a caller pass another.
            Format::Junit => {
                return Err(usage(
                    "--format junit: `report` has no verdicts to write as JUnit (supported: terminal, markdown, html, json)",
                ))
            }
        };
        outputs.push((bytes, f.ext()));
    }
    write_outputs("report", &outputs, dir)?;
    // The report itself succeeded; a failed run already got its exit code
    // from `skubench run`, and the report says so.
    Ok(SkubenchExitCode::Ok)
}
