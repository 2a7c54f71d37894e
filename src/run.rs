//! Command implementations: thin glue from flags to library calls.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context as _;
use bench_core::host::HostInfo;
use bench_core::result::{Invocation, ResultFile, Status, ToolInfo};
use bench_core::runner::Runner;
use bench_core::suite::{load_suite, parse_suite, single_workload, Suite};
use bench_core::writer::ResultWriter;

use crate::cli::{Cli, Command, RunArgs, ServeArgs};
use crate::{exit, usage, Exit};

/// The default suite, compiled in so the binary runs from any directory.
const QUICK_SUITE: &str = include_str!("../suites/quick.toml");

/// Runs the parsed command; returns the exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Run(a) => cmd_run(a),
        Command::List => {
            print!("{}", reports::show::workload_list(&workloads::registry()));
            Ok(exit::OK)
        }
        Command::Sysinfo { sku, json } => {
            let h = detect_host(sku, &Runner::new(Arc::new(AtomicBool::new(false))))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&h)?);
            } else {
                print!("{}", reports::show::sysinfo(&h));
            }
            Ok(exit::OK)
        }
        Command::Report {
            results,
            format,
            output_dir,
        } => cmd_report(&results, &format, output_dir.as_deref()),
        Command::Show { result, hgrm, run } => cmd_show(&result, hgrm.as_deref(), run.as_deref()),
        Command::Gate(g) => crate::gate::gate(g),
        Command::Store { store, cmd } => crate::analyse::store(&store.store, cmd),
        Command::Baseline { store, cmd } => crate::analyse::baseline(&store.store, cmd),
        Command::Compare {
            base,
            cand,
            spec,
            policy,
            format,
            output_dir,
            include_disturbed,
            store,
        } => crate::analyse::compare(crate::analyse::CompareArgs {
            base,
            cand,
            spec,
            policy,
            formats: format,
            output_dir,
            include_disturbed,
            store: store.store,
        }),
        Command::History {
            sku,
            distro,
            metric,
            workload,
            latest,
            p,
            window,
            floor,
            include_disturbed,
            json,
            output_dir,
            store,
        } => crate::analyse::history(
            &store.store,
            baselines::history::HistoryQuery {
                sku,
                distro,
                metric,
                workload,
                include_disturbed,
            },
            baselines::changepoint::CpConfig {
                p_value: p,
                window,
                magnitude_floor: floor,
                ..Default::default()
            },
            latest,
            json,
            output_dir.as_deref(),
        ),
        Command::Import {
            tool,
            file,
            output,
            sku,
            distro,
            hostname,
        } => crate::analyse::import(&tool, &file, output, sku, distro, hostname),
        Command::Serve(a) => cmd_serve(a),
    }
}

fn cmd_serve(a: ServeArgs) -> anyhow::Result<u8> {
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
        Ok(()) => Ok(exit::OK),
        Err(workloads::net::ServeError::Input(m)) => Err(usage(m)),
        Err(e) => Err(Exit(exit::RUN_FAILED, e.to_string()).into()),
    }
}

fn tool_info() -> ToolInfo {
    ToolInfo {
        name: "skubench".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        git_revision: env!("SKUBENCH_GIT_REV").into(),
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

pub(crate) fn load_target(
    target: Option<&str>,
    pairs: &[(String, String)],
    vcpus: usize,
) -> anyhow::Result<Suite> {
    let reg = workloads::registry();
    let looks_like_file =
        |t: &str| t.ends_with(".toml") || t.contains('/') || Path::new(t).is_file();
    let suite = match target {
        None => {
            let p = Path::new("suites/quick.toml");
            if p.is_file() {
                load_suite(p, &reg, vcpus)
            } else {
                parse_suite(QUICK_SUITE, "suites/quick.toml (built in)", &reg, vcpus)
            }
        }
        Some(t) if looks_like_file(t) => load_suite(Path::new(t), &reg, vcpus),
        Some(kind) => single_workload(kind, pairs, &reg, vcpus),
    }
    .map_err(|e| usage(e.to_string()))?;
    Ok(suite)
}

/// Applies `--repetitions`, `--duration` … to a suite loaded from a file.
pub(crate) fn override_suite(suite: &mut Suite, pairs: &[(String, String)]) -> anyhow::Result<()> {
    for (k, v) in pairs {
        let loc = format!("--{k}");
        match k.as_str() {
            "repetitions" => {
                suite.settings.repetitions = v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| {
                        usage(format!("{loc}: expected an integer 1..=10000, got `{v}`"))
                    })?;
            }
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

/// SIGINT/SIGTERM set the returned stop flag; a second signal exits at once.
pub fn install_signal_handlers() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(
            sig,
            exit::RUN_FAILED as i32,
            stop.clone(),
        )
        .context("installing signal handler")?;
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handler")?;
    }
    Ok(stop)
}

/// The host fingerprint; `--sku auto` asks the instance metadata service
/// (endpoint from `SKUBENCH_IMDS_ENDPOINT`, default Azure's).
pub fn detect_host(sku: Option<String>, runner: &Runner) -> anyhow::Result<HostInfo> {
    if sku.as_deref() == Some("auto") {
        let endpoint = std::env::var("SKUBENCH_IMDS_ENDPOINT")
            .unwrap_or_else(|_| skubench_ci::imds::AZURE_ENDPOINT.into());
        let i = skubench_ci::imds::discover(&endpoint, std::time::Duration::from_secs(2))
            .map_err(|e| usage(format!("--sku auto: {e}")))?;
        let mut h = HostInfo::detect(Some(i.vm_size), runner.clock.source());
        h.region = i.region;
        h.image = i.image;
        return Ok(h);
    }
    Ok(HostInfo::detect(sku, runner.clock.source()))
}

/// Refuses a directory or an existing file as output: results are data.
pub fn check_output(output: &Path) -> anyhow::Result<()> {
    if output.is_dir() {
        return Err(usage(format!(
            "--output {}: is a directory",
            output.display()
        )));
    }
    if output.exists() {
        return Err(usage(format!(
            "--output {}: file exists; choose another name or remove it yourself",
            output.display()
        )));
    }
    Ok(())
}

/// Runs a suite into `output` (written after every run); returns the file and status.
pub fn execute(
    runner: &Runner,
    suite: &mut Suite,
    output: &Path,
    host: HostInfo,
    quiet: bool,
) -> anyhow::Result<(ResultFile, Status)> {
    let invocation = Invocation {
        argv: std::env::args().collect(),
        suite: suite.name.clone(),
        suite_file: suite.path.as_ref().map(|p| p.display().to_string()),
        suite_text: suite.text.clone(),
        repetitions: suite.settings.repetitions,
    };
    let mut writer = ResultWriter::new(output.to_path_buf(), tool_info(), host, invocation);
    let mut progress = crate::progress::Progress::new(quiet);
    let (_records, status) = runner.run_suite(suite, &mut [&mut progress, &mut writer]);
    if let Some(e) = writer.error.take() {
        return Err(Exit(exit::RUN_FAILED, format!("writing the result file: {e}")).into());
    }
    Ok((writer.file().clone(), status))
}

fn cmd_run(a: RunArgs) -> anyhow::Result<u8> {
    let mut pairs = parse_pairs(&a.rest)?;
    // Global flags may also follow the workload name.
    let mut output = a.output;
    let mut sku = a.sku;
    let mut quiet = a.quiet;
    pairs.retain(|(k, v)| match k.as_str() {
        "output" => {
            output = Some(PathBuf::from(v));
            false
        }
        "sku" => {
            sku = Some(v.clone());
            false
        }
        "quiet" => {
            quiet = v != "false";
            false
        }
        _ => true,
    });
    // Run settings given before the target are clap options; after it they
    // arrive with the workload flags. Either way they end up as pairs.
    for (k, v) in [
        ("repetitions", &a.repetitions),
        ("duration", &a.duration),
        ("warmup", &a.warmup),
    ] {
        if let Some(v) = v {
            pairs.push((k.to_string(), v.clone()));
        }
    }
    if a.allow_destructive && !pairs.iter().any(|(k, _)| k == "allow_destructive") {
        pairs.push(("allow_destructive".into(), "true".into()));
    }
    let vcpus = bench_core::affinity::online_vcpus();
    let is_file = a
        .target
        .as_deref()
        .is_none_or(|t| t.ends_with(".toml") || t.contains('/') || Path::new(t).is_file());
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

    let runner = Runner::new(install_signal_handlers()?);
    let host = detect_host(sku, &runner)?;
    let output = output.unwrap_or_else(|| default_output(&host));
    check_output(&output)?;
    let (_file, status) = execute(&runner, &mut suite, &output, host, quiet)?;
    eprintln!("skubench: result written to {}", output.display());
    Ok(match status {
        Status::Ok => exit::OK,
        Status::Interrupted => {
            eprintln!("skubench: interrupted; the result file holds what was measured (status `interrupted`)");
            exit::RUN_FAILED
        }
        _ => {
            eprintln!("skubench: one or more runs failed (see the result file)");
            exit::RUN_FAILED
        }
    })
}

fn cmd_show(path: &Path, hgrm: Option<&str>, run: Option<&str>) -> anyhow::Result<u8> {
    let f = ResultFile::read(path).map_err(|e| usage(e.to_string()))?;
    let Some(name) = hgrm else {
        print!("{}", reports::show::summary(&f));
        return Ok(exit::OK);
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
    Ok(exit::OK)
}

/// `skubench report`: single runs, no baseline.
fn cmd_report(paths: &[PathBuf], formats: &[String], dir: Option<&Path>) -> anyhow::Result<u8> {
    let mut files = Vec::new();
    for p in paths {
        let f = ResultFile::read(p).map_err(|e| usage(e.to_string()))?;
        files.push((p.display().to_string(), f));
    }
    let mut outputs = Vec::new();
    for f in formats {
        outputs.push(match f.as_str() {
            "terminal" | "text" => (
                files
                    .iter()
                    .map(|(_, f)| reports::show::summary(f))
                    .collect::<Vec<_>>()
                    .join("\n")
                    .into_bytes(),
                "txt",
            ),
            "markdown" | "md" => (reports::runs::markdown(&files).into_bytes(), "md"),
            "html" => (reports::runs::html(&files).into_bytes(), "html"),
            "json" => (reports::runs::json(&files)?, "json"),
            other => {
                return Err(usage(format!(
                    "--format: unknown format `{other}` (known: terminal, markdown, html, json)"
                )))
            }
        });
    }
    write_outputs("report", &outputs, dir)?;
    // The report itself succeeded; a failed run already got its exit code
    // from `skubench run`, and the report says so.
    Ok(exit::OK)
}

/// Writes rendered outputs: each to `<dir>/<stem>.<ext>` (atomically), or
/// all to stdout in order.
pub fn write_outputs(
    stem: &str,
    outputs: &[(Vec<u8>, &str)],
    dir: Option<&Path>,
) -> anyhow::Result<()> {
    for (bytes, ext) in outputs {
        match dir {
            Some(d) => {
                let path = d.join(format!("{stem}.{ext}"));
                bench_core::result::write_atomic(&path, bytes).map_err(|e| usage(e.to_string()))?;
                eprintln!("skubench: wrote {}", path.display());
            }
            None => {
                use std::io::Write;
                std::io::stdout().write_all(bytes)?;
            }
        }
    }
    Ok(())
}
