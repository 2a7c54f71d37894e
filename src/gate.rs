//! `skubench gate`: run → store → compare → reports → exit code.

use std::path::Path;
use std::sync::atomic::Ordering;

use baselines::policy::{Policy, Spec};
use baselines::store::Store;
use bench_core::result::{ResultFile, Status};
use bench_core::runner::Runner;
use bench_core::suite::load_suite;
use skubench_ci::exit_codes::SkubenchExitCode;
use skubench_ci::gate::{needs_more_runs, next_round_repetitions, Decision, GateSummary, Round};

use crate::cli::{Format, GateArgs};
use crate::common::{
    color_wanted, comparison, detect_host, emit, execute, input, install_signal_handlers,
    load_side, open_store, run_failed, store_error, usage, write_history_reports,
};

/// Runs the gate.
pub fn gate(a: GateArgs) -> anyhow::Result<SkubenchExitCode> {
    // Everything that can be wrong with the input is checked before anything runs.
    let policy = match &a.policy {
        Some(p) => Policy::load(p).map_err(input)?,
        None => Policy::default(),
    };
    let spec = match &a.spec {
        Some(p) => Some(Spec::load(p).map_err(input)?),
        None => None,
    };
    let st = open_store(&a.store.store)?;
    let base = match &a.baseline {
        Some(b) => Some(load_side(b, &st)?),
        None => None,
    };
    st.check_writable().map_err(store_error)?;
    let vcpus = bench_core::affinity::online_vcpus();
    let reg = workloads::registry();
    let mut suite = load_suite(&a.suite, &reg, vcpus).map_err(|e| usage(e.to_string()))?;
    // Both at least 1: clap's parser and the policy's validation see to it.
    let first_reps = a.repetitions.unwrap_or(policy.repetitions);
    suite.settings.repetitions = first_reps;
    let results_dir = a.report_dir.join("results");
    std::fs::create_dir_all(&results_dir)
        .map_err(|e| run_failed(format!("{}: {e}", results_dir.display())))?;

    let mut runner = Runner::new(install_signal_handlers()?);
    if a.no_ebpf {
        runner.ebpf =
            std::sync::Arc::new(bench_core::ebpf::EbpfSlot::off("turned off (--no-ebpf)"));
    }
    let host = detect_host(a.sku.clone(), &runner)?;
    let mut rounds: Vec<Round> = Vec::new();
    let mut cand: Vec<(String, ResultFile)> = Vec::new();
    let mut labels: Vec<String> = suite.workloads.iter().map(|w| w.label.clone()).collect();
    let mut reps = first_reps;
    loop {
        let n = rounds.len() as u32 + 1;
        let out = results_dir.join(format!("round{n}.json"));
        if out.exists() {
            return Err(usage(format!(
                "{}: exists; use an empty --report-dir (reports are never overwritten)",
                out.display()
            )));
        }
        let (file, status) = execute(
            &runner,
            &mut suite,
            &out,
            host.clone(),
            a.quiet,
            a.tag.clone(),
        )?;
        if status != Status::Ok {
            let why = if status == Status::Interrupted || runner.stop.load(Ordering::Relaxed) {
                "interrupted (SIGINT/SIGTERM)"
            } else {
                "failed"
            };
            return Err(run_failed(format!(
                "gate: the run {why}; partial results are in {} and were not stored; the store is unchanged by this round",
                out.display()
            )));
        }
        // The result file stays on disk whatever the store says: a store
        // that is down must not lose what was measured.
        st.add_path(&out).map_err(|e| {
            let kept = format!(
                "the result file is kept at {}; store it later with `skubench store add {} --store {}`",
                out.display(),
                out.display(),
                st.location()
            );
            match store_error(e).downcast::<crate::common::Exit>() {
                Ok(crate::common::Exit(code, m)) => {
                    anyhow::Error::from(crate::common::Exit(code, format!("{m}; {kept}")))
                }
                Err(e) => run_failed(format!("{e}; {kept}")),
            }
        })?;
        cand.push((out.display().to_string(), file));
        let cmp = base
            .as_ref()
            .map(|(bn, bfiles)| comparison(bfiles, bn, &cand, "candidate", &policy, spec.as_ref()));
        rounds.push(Round {
            round: n,
            workloads: labels.clone(),
            repetitions: reps,
            result_file: out.display().to_string(),
            inconclusive_after: cmp.as_ref().map_or(0, |c| c.undecided_headlines().count()),
        });
        let (Some(cmp), Some((_, bfiles))) = (cmp, &base) else {
            return gate_history(&a, &st, &host, rounds);
        };
        let more = needs_more_runs(&cmp, policy.max_repetitions);
        // Bounded even when runs keep being left out as disturbed (their
        // count then never reaches the cap): at most MAX_ROUNDS rounds.
        if more.is_empty() || rounds.len() >= skubench_ci::gate::MAX_ROUNDS {
            return finish(&a.report_dir, &cmp, &policy, bfiles, &cand, rounds);
        }
        // Repeat only the undecided workloads, adding at once the runs their
        // minimum detectable effects say they need (up to the cap).
        reps = next_round_repetitions(&cmp, &more, policy.max_repetitions);
        eprintln!(
            "skubench gate: {} undecided headline metric(s) in {}; {reps} more repetition(s) at once",
            cmp.undecided_headlines().count(),
            more.join(", ")
        );
        suite = load_suite(&a.suite, &reg, vcpus).map_err(|e| usage(e.to_string()))?;
        suite.workloads.retain(|w| more.contains(&w.label));
        suite.settings.repetitions = reps;
        labels = more;
    }
}

fn finish(
    dir: &Path,
    cmp: &baselines::compare::Comparison,
    policy: &Policy,
    base: &[(String, ResultFile)],
    cand: &[(String, ResultFile)],
    rounds: Vec<Round>,
) -> anyhow::Result<SkubenchExitCode> {
    let input = reports::html::HtmlInput {
        comparison: cmp,
        baseline: base,
        candidate: cand,
        history: &[],
    };
    // A gate writes every format a comparison has.
    emit(&input, Format::COMPARISON, Some(dir))?;
    let text = reports::terminal::render(cmp, color_wanted(true));
    let decision = Decision::Comparison {
        comparison: cmp,
        policy,
    };
    conclude(dir, rounds, decision, &text)
}

/// Writes `gate.json`, prints the report and the headline; returns the
/// gate's exit code.
fn conclude(
    dir: &Path,
    rounds: Vec<Round>,
    decision: Decision<'_>,
    text: &str,
) -> anyhow::Result<SkubenchExitCode> {
    let summary = GateSummary::new(rounds, decision);
    let path = dir.join("gate.json");
    bench_core::result::write_atomic(&path, &serde_json::to_vec_pretty(&summary)?)
        .map_err(|e| run_failed(e.to_string()))?;
    print!("{text}");
    eprintln!(
        "skubench gate: {} (reports in {})",
        summary.headline,
        dir.display()
    );
    Ok(decision.exit_code())
}

fn gate_history(
    a: &GateArgs,
    st: &Store,
    host: &bench_core::host::HostInfo,
    rounds: Vec<Round>,
) -> anyhow::Result<SkubenchExitCode> {
    let q = baselines::history::HistoryQuery {
        sku: Some(host.sku.clone().unwrap_or_default()),
        distro: Some(host.distro.clone()),
        ..Default::default()
    };
    let (series, warnings) = st
        .history_query(&q, &Default::default(), a.latest)
        .map_err(store_error)?;
    for w in warnings {
        eprintln!("skubench gate: warning: {w}");
    }
    let alerts: usize = series.iter().map(|s| s.alerts.len()).sum();
    let text = reports::history::render(&series);
    let dir = &a.report_dir;
    write_history_reports(&series, a.latest, dir)?;
    let decision = Decision::History {
        alerts,
        latest: a.latest,
    };
    conclude(dir, rounds, decision, &text)
}
