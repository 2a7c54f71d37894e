//! Store, baseline, compare, history and import commands: glue only.

use std::path::{Path, PathBuf};

use baselines::compare::Outcome;
use baselines::policy::{Policy, Spec};
use baselines::store::Query;
use bench_core::result::ResultFile;

use skubench_ci::exit_codes::SkubenchExitCode;

use crate::cli::{BaselineCmd, Format, StoreCmd};
use crate::common::{
    comparison, emit, input, load_side, open_store, run_failed, store_error, usage,
    write_history_reports, write_outputs,
};

/// `skubench store …`
pub fn store(location: &str, cmd: StoreCmd) -> anyhow::Result<SkubenchExitCode> {
    let st = open_store(location)?;
    match cmd {
        StoreCmd::Add { results } => {
            // Validate every file before storing any: all or nothing for bad input.
            for p in &results {
                ResultFile::read(p).map_err(|e| usage(e.to_string()))?;
            }
            st.check_writable().map_err(store_error)?;
            for p in &results {
                let a = st.add_path(p).map_err(store_error)?;
                println!(
                    "{} {} {}",
                    a.id,
                    if a.new { "added" } else { "already stored" },
                    p.display()
                );
            }
        }
        StoreCmd::List => {
            let idx = st.history_index().map_err(store_error)?;
            println!(
                "{:<16}  {:<24}  {:<20}  {:<10}  {:<12}  suite",
                "id", "time", "sku", "distro", "host"
            );
            for r in idx {
                println!(
                    "{:<16}  {:<24}  {:<20}  {:<10}  {:<12}  {}",
                    r.result_id, r.time, r.sku, r.distro, r.hostname, r.suite
                );
            }
        }
        StoreCmd::Compact => {
            let n = st.compact().map_err(store_error)?;
            println!("history compacted: {n} rows");
        }
        StoreCmd::Verify => {
            let checks = st.verify().map_err(store_error)?;
            let bad = checks.iter().filter(|(_, c)| c.is_err()).count();
            for (id, c) in &checks {
                match c {
                    Ok(()) => println!("{id} ok"),
                    Err(why) => println!("{id} BAD: {why}"),
                }
            }
            println!(
                "{} results in {}: {} ok, {bad} bad",
                checks.len(),
                st.location(),
                checks.len() - bad
            );
            if bad > 0 {
                return Err(run_failed(format!(
                    "store {}: {bad} damaged result(s)",
                    st.location()
                )));
            }
        }
    }
    Ok(SkubenchExitCode::Ok)
}

/// `skubench baseline …`
pub fn baseline(location: &str, cmd: BaselineCmd) -> anyhow::Result<SkubenchExitCode> {
    let st = open_store(location)?;
    match cmd {
        BaselineCmd::Save {
            name,
            from,
            query,
            replace,
        } => {
            let (ids, source) = match (from.is_empty(), query) {
                (false, None) => {
                    for p in &from {
                        ResultFile::read(p).map_err(|e| usage(e.to_string()))?;
                    }
                    st.check_writable().map_err(store_error)?;
                    let mut ids = Vec::new();
                    for p in &from {
                        ids.push(st.add_path(p).map_err(store_error)?.id);
                    }
                    let src = from
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(",");
                    (ids, format!("files:{src}"))
                }
                (true, Some(q)) => {
                    let ids = st
                        .query(&Query::parse(&q).map_err(input)?)
                        .map_err(store_error)?;
                    (ids, format!("query:{q}"))
                }
                _ => return Err(usage("baseline save needs --from RESULT… or --query sku=…")),
            };
            let b = st
                .save_baseline(&name, &ids, &source, replace)
                .map_err(store_error)?;
            println!(
                "baseline `{}` saved: {} results ({})",
                b.name,
                b.results.len(),
                b.source
            );
        }
        BaselineCmd::List => {
            for n in st.baselines().map_err(store_error)? {
                let b = st.baseline(&n).map_err(store_error)?;
                println!(
                    "{:<30} {:>3} results  {}  {}",
                    b.name,
                    b.results.len(),
                    b.created_at,
                    b.source
                );
            }
        }
        BaselineCmd::Show { name } => {
            let b = st.baseline(&name).map_err(store_error)?;
            println!("{}", serde_json::to_string_pretty(&b)?);
        }
    }
    Ok(SkubenchExitCode::Ok)
}

/// Arguments of `compare`.
pub struct CompareArgs {
    /// Baseline side.
    pub base: String,
    /// Candidate side.
    pub cand: String,
    /// Spec file.
    pub spec: Option<PathBuf>,
    /// Policy file.
    pub policy: Option<PathBuf>,
    /// Formats.
    pub formats: Vec<Format>,
    /// Output directory.
    pub output_dir: Option<PathBuf>,
    /// Keep disturbed runs.
    pub include_disturbed: bool,
    /// Store location.
    pub store: String,
}

/// `skubench compare`
pub fn compare(a: CompareArgs) -> anyhow::Result<SkubenchExitCode> {
    let mut policy = match &a.policy {
        Some(p) => Policy::load(p).map_err(input)?,
        None => Policy::default(),
    };
    policy.include_disturbed |= a.include_disturbed;
    let spec = match &a.spec {
        Some(p) => Some(Spec::load(p).map_err(input)?),
        None => None,
    };
    let st = open_store(&a.store)?;
    let (bn, base) = load_side(&a.base, &st)?;
    let (cn, cand) = load_side(&a.cand, &st)?;
    let cmp = comparison(&base, &bn, &cand, &cn, &policy, spec.as_ref());
    let input = reports::html::HtmlInput {
        comparison: &cmp,
        baseline: &base,
        candidate: &cand,
        history: &[],
    };
    emit(&input, &a.formats, a.output_dir.as_deref())?;
    eprintln!("{}", cmp.headline());
    Ok(match cmp.outcome {
        Outcome::Fail => SkubenchExitCode::Regression,
        Outcome::Inconclusive => SkubenchExitCode::Inconclusive,
        Outcome::Pass => SkubenchExitCode::Ok,
    })
}

/// Arguments of `matrix`.
pub struct MatrixArgs {
    /// The onboarding's tag.
    pub tag: String,
    /// Baseline side.
    pub baseline: Option<String>,
    /// Spec file.
    pub spec: Option<PathBuf>,
    /// Policy file.
    pub policy: Option<PathBuf>,
    /// Formats.
    pub formats: Vec<Format>,
    /// Output directory.
    pub output_dir: Option<PathBuf>,
    /// Keep disturbed runs.
    pub include_disturbed: bool,
    /// Store location.
    pub store: String,
}

/// `skubench matrix`
pub fn matrix(a: MatrixArgs) -> anyhow::Result<SkubenchExitCode> {
    let mut policy = match &a.policy {
        Some(p) => Policy::load(p).map_err(input)?,
        None => Policy::default(),
    };
    policy.include_disturbed |= a.include_disturbed;
    let spec = match &a.spec {
        Some(p) => Some(Spec::load(p).map_err(input)?),
        None => None,
    };
    let st = open_store(&a.store)?;
    let base = match &a.baseline {
        Some(b) => Some(load_side(b, &st)?),
        None => None,
    };
    let ids = st
        .query(&Query {
            tag: Some(a.tag.clone()),
            ..Query::default()
        })
        .map_err(store_error)?;
    if ids.is_empty() {
        return Err(usage(format!(
            "no results tagged `{}` in store {} (record them with `run`/`gate --tag {}` and `store add`)",
            a.tag,
            st.location(),
            a.tag
        )));
    }
    let mut results = Vec::with_capacity(ids.len());
    for id in ids {
        let f = st.load(&id).map_err(store_error)?;
        results.push((id, f));
    }
    let m = baselines::matrix::build(
        &a.tag,
        results.clone(),
        base.as_ref().map(|(n, f)| (n.as_str(), f.as_slice())),
        &policy,
        spec.as_ref(),
    );
    let mut outputs = Vec::new();
    for &f in &a.formats {
        let bytes = match f {
            Format::Markdown => reports::matrix::render_markdown(&m).into_bytes(),
            Format::Html => reports::matrix::render_html(&m).into_bytes(),
            Format::Json => reports::matrix::render_json(&m)?,
            Format::Junit => reports::matrix::render_junit(&m)?.into_bytes(),
            Format::Terminal => {
                return Err(usage("matrix: formats are markdown, html, json, junit"))
            }
        };
        outputs.push((bytes, f.ext()));
    }
    if let Some(dir) = &a.output_dir {
        std::fs::create_dir_all(dir).map_err(|e| run_failed(format!("{}: {e}", dir.display())))?;
        // Each cell's own comparison, where the page links to it.
        let bfiles = base.as_ref().map_or(&[][..], |(_, f)| f.as_slice());
        for c in &m.cells {
            let Some(cmp) = &c.comparison else { continue };
            let cdir = dir.join("cells").join(&c.slug);
            std::fs::create_dir_all(&cdir)
                .map_err(|e| run_failed(format!("{}: {e}", cdir.display())))?;
            let cand: Vec<(String, ResultFile)> = results
                .iter()
                .filter(|(id, _)| c.sources.contains(id))
                .cloned()
                .collect();
            let input = reports::html::HtmlInput {
                comparison: cmp,
                baseline: bfiles,
                candidate: &cand,
                history: &[],
            };
            emit(
                &input,
                &[Format::Markdown, Format::Html, Format::Json],
                Some(&cdir),
            )?;
        }
    }
    write_outputs("matrix", &outputs, a.output_dir.as_deref())?;
    eprintln!("skubench: {}", reports::matrix::headline(&m));
    Ok(match m.outcome {
        Some(Outcome::Fail) => SkubenchExitCode::Regression,
        Some(Outcome::Inconclusive) => SkubenchExitCode::Inconclusive,
        Some(Outcome::Pass) | None => SkubenchExitCode::Ok,
    })
}

/// `skubench history`
pub fn history(
    location: &str,
    q: baselines::history::HistoryQuery,
    cfg: baselines::changepoint::CpConfig,
    latest: usize,
    json: bool,
    output_dir: Option<&Path>,
) -> anyhow::Result<SkubenchExitCode> {
    if !(cfg.p_value > 0.0 && cfg.p_value < 1.0) || cfg.window < 4 {
        return Err(usage("--p must be in (0, 1) and --window at least 4"));
    }
    let st = open_store(location)?;
    let (series, warnings) = st.history_query(&q, &cfg, latest).map_err(store_error)?;
    for w in &warnings {
        eprintln!("skubench: warning: {w}");
    }
    if let Some(dir) = output_dir {
        std::fs::create_dir_all(dir).map_err(|e| run_failed(format!("{}: {e}", dir.display())))?;
        write_history_reports(&series, latest, dir)?;
        eprintln!("skubench: {}", reports::history::headline(&series, latest));
    } else if json {
        println!("{}", serde_json::to_string_pretty(&series)?);
    } else {
        print!("{}", reports::history::render(&series));
    }
    let alerts: usize = series.iter().map(|s| s.alerts.len()).sum();
    Ok(if alerts > 0 {
        SkubenchExitCode::Regression
    } else {
        SkubenchExitCode::Ok
    })
}

/// `skubench import`
pub fn import(
    tool: &str,
    file: &Path,
    output: Option<PathBuf>,
    sku: Option<String>,
    distro: Option<String>,
    hostname: Option<String>,
) -> anyhow::Result<SkubenchExitCode> {
    let text = baselines::read_limited(file, 256 << 20).map_err(input)?;
    let host = bench_core::host::HostInfo {
        sku,
        distro: distro.unwrap_or_default(),
        hostname: hostname.unwrap_or_default(),
        ..Default::default()
    };
    let src = file.display().to_string();
    let r = match tool {
        "fio" => baselines::import::fio(&text, &src, host),
        _ => baselines::import::iperf3(&text, &src, host),
    }
    .map_err(input)?;
    let out = output.unwrap_or_else(|| file.with_extension("skubench.json"));
    if out.exists() {
        return Err(usage(format!(
            "{}: exists; choose another --output",
            out.display()
        )));
    }
    r.write_atomic(&out)
        .map_err(|e| run_failed(e.to_string()))?;
    println!("{}", out.display());
    Ok(SkubenchExitCode::Ok)
}
