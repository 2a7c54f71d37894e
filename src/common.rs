//! Helpers shared by the command modules (run, analyse, gate): errors that
//! carry their exit code, where rendered output goes, the host fingerprint,
//! signal handling, running a suite into a result file, and loading and
//! comparing the two sides of a comparison. The command modules import from
//! here and never from each other.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context as _;
use baselines::compare::{collect, Comparison, Samples};
use baselines::policy::{Policy, Spec};
use baselines::store::{Query, Store};
use baselines::BaselineError;
use bench_core::host::HostInfo;
use bench_core::result::{Invocation, ResultFile, Status, ToolInfo};
use bench_core::runner::Runner;
use bench_core::suite::Suite;
use bench_core::writer::ResultWriter;
use skubench_ci::exit_codes::SkubenchExitCode;

use crate::cli::Format;

/// An error that carries its exit code.
#[derive(Debug)]
pub struct Exit(pub SkubenchExitCode, pub String);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}
impl std::error::Error for Exit {}

/// Input/usage error (exit 2).
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    Exit(SkubenchExitCode::Usage, msg.into()).into()
}

/// A failed operation, not a bad input: I/O, the store, the run (exit 3).
pub fn run_failed(msg: impl Into<String>) -> anyhow::Error {
    Exit(SkubenchExitCode::RunFailed, msg.into()).into()
}

/// Colour only on a terminal and when `NO_COLOR` is unset.
pub fn color_wanted(to_stdout: bool) -> bool {
    use std::io::IsTerminal;
    to_stdout && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// An error loading a file the user named (policy, spec, peer output): exit 2.
pub fn input(e: BaselineError) -> anyhow::Error {
    usage(e.to_string())
}

/// An error of a store or history operation: a bad name, query or result
/// is the user's input (exit 2); a failed read or write of the store or its
/// history dataset is a failed operation (exit 3).
pub fn store_error(e: BaselineError) -> anyhow::Error {
    match e {
        BaselineError::Input(m) => usage(m),
        e => run_failed(e.to_string()),
    }
}

fn tool_info() -> ToolInfo {
    ToolInfo {
        name: "skubench".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        git_revision: env!("SKUBENCH_GIT_REV").into(),
    }
}

/// SIGINT/SIGTERM set the returned stop flag; a second signal exits at once.
pub fn install_signal_handlers() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(
            sig,
            SkubenchExitCode::RunFailed.as_u8().into(),
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
    tag: Option<String>,
) -> anyhow::Result<(ResultFile, Status)> {
    let invocation = Invocation {
        argv: std::env::args().collect(),
        suite: suite.name.clone(),
        suite_file: suite.path.as_ref().map(|p| p.display().to_string()),
        suite_text: suite.text.clone(),
        repetitions: suite.settings.repetitions,
        tag,
    };
    let mut writer = ResultWriter::new(output.to_path_buf(), tool_info(), host, invocation);
    let mut progress = crate::progress::Progress::new(quiet);
    let (_records, status) = runner.run_suite(suite, &mut [&mut progress, &mut writer]);
    if let Some(e) = writer.error.take() {
        return Err(run_failed(format!("writing the result file: {e}")));
    }
    Ok((writer.file().clone(), status))
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
                bench_core::result::write_atomic(&path, bytes)
                    .map_err(|e| run_failed(e.to_string()))?;
                eprintln!("skubench: wrote {}", path.display());
            }
            None => {
                use std::io::Write;
                std::io::stdout()
                    .write_all(bytes)
                    .map_err(|e| run_failed(format!("writing to stdout: {e}")))?;
            }
        }
    }
    Ok(())
}
/// Loads one side: files (comma-separated or a directory), a baseline
/// name, or a store query.
pub fn load_side(spec: &str, st: &Store) -> anyhow::Result<(String, Vec<(String, ResultFile)>)> {
    let mut out = Vec::new();
    let as_paths: Vec<&str> = spec.split(',').filter(|s| !s.is_empty()).collect();
    if !as_paths.is_empty() && as_paths.iter().all(|p| Path::new(p).exists()) {
        for p in as_paths {
            let path = Path::new(p);
            if path.is_dir() {
                let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                    .map_err(|e| usage(format!("{p}: {e}")))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| f.extension().is_some_and(|x| x == "json"))
                    .collect();
                files.sort();
                for f in files {
                    let r = ResultFile::read(&f).map_err(|e| usage(e.to_string()))?;
                    out.push((f.display().to_string(), r));
                }
            } else {
                out.push((
                    p.to_string(),
                    ResultFile::read(path).map_err(|e| usage(e.to_string()))?,
                ));
            }
        }
        if out.is_empty() {
            return Err(usage(format!("`{spec}`: no result files found")));
        }
        return Ok((spec.to_string(), out));
    }
    let ids = if spec.contains('=') {
        let q = spec.strip_prefix("query:").unwrap_or(spec);
        st.query(&Query::parse(q).map_err(input)?)
            .map_err(store_error)?
    } else {
        let name = spec.strip_prefix("baseline:").unwrap_or(spec);
        if !baselines::store::valid_name(name) {
            return Err(usage(format!(
                "`{spec}`: no such file, and not a baseline name or query"
            )));
        }
        st.baseline(name)
            .map_err(|e| match e {
                BaselineError::Input(m) => {
                    usage(format!("`{spec}` is not a file; as a baseline: {m}"))
                }
                e => store_error(e),
            })?
            .results
    };
    if ids.is_empty() {
        return Err(usage(format!(
            "`{spec}`: the query matched no stored results"
        )));
    }
    for id in ids {
        out.push((id.clone(), st.load(&id).map_err(store_error)?));
    }
    Ok((spec.to_string(), out))
}

/// Opens the store at `location` (a directory or a URL); a malformed
/// location is a usage error. Nothing is contacted yet.
pub fn open_store(location: &str) -> anyhow::Result<Store> {
    Store::open(location).map_err(|e| usage(format!("--store: {e}")))
}

/// Runs the comparison; used by `compare` and `gate`.
pub fn comparison(
    base: &[(String, ResultFile)],
    base_name: &str,
    cand: &[(String, ResultFile)],
    cand_name: &str,
    policy: &Policy,
    spec: Option<&Spec>,
) -> Comparison {
    let b: Samples = collect(base_name, base, policy.include_disturbed);
    let c: Samples = collect(cand_name, cand, policy.include_disturbed);
    baselines::compare::compare(b, c, policy, spec)
}

/// Writes the comparison in each format, to stdout or as
/// `comparison.<ext>` files in `dir`. Every format is rendered before
/// anything is written.
pub fn emit(
    input: &reports::html::HtmlInput<'_>,
    formats: &[Format],
    dir: Option<&Path>,
) -> anyhow::Result<()> {
    let cmp = input.comparison;
    let mut outputs = Vec::new();
    for &f in formats {
        let bytes = match f {
            Format::Terminal => {
                reports::terminal::render(cmp, color_wanted(dir.is_none())).into_bytes()
            }
            Format::Markdown => reports::markdown::render(cmp).into_bytes(),
            Format::Html => reports::html::render(input).into_bytes(),
            Format::Json => reports::json::render(cmp)?,
            Format::Junit => reports::junit::render(cmp)?.into_bytes(),
        };
        outputs.push((bytes, f.ext()));
    }
    write_outputs("comparison", &outputs, dir)
}

/// Writes `history.{txt,json,html,md}` and `history-junit.xml` into `dir`.
pub fn write_history_reports(
    series: &[baselines::history::MetricHistory],
    latest: usize,
    dir: &Path,
) -> anyhow::Result<()> {
    let outputs: Vec<(Vec<u8>, &str)> = vec![
        (reports::history::render(series).into_bytes(), "txt"),
        (serde_json::to_vec_pretty(series)?, "json"),
        (
            reports::history::render_html(series, latest).into_bytes(),
            "html",
        ),
        (
            reports::history::render_markdown(series, latest).into_bytes(),
            "md",
        ),
        (
            reports::history::render_junit(series, latest)?.into_bytes(),
            "xml",
        ),
    ];
    write_outputs("history", &outputs, Some(dir))
}
