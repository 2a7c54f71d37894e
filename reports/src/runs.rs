//! Reports of single runs, without a baseline (`skubench report RESULT…`):
//! per result file and workload label, each metric's median over the
//! repetitions with its range, each latency histogram's percentiles (runs
//! merged), and in HTML the percentile plots and per-interval series.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bench_core::hist::{new_hist, REPORTED_PERCENTILES};
use bench_core::host::HostInfo;
use bench_core::result::{Better, ResultFile, Status};
use serde::Serialize;

use crate::common::{esc_html, esc_md, fmt_value, host_line, status_word};
use crate::latency;
use crate::plot::{
    Curve, CurvePlot, Line, PercentilePlot, Plotter, SeriesPlot, Side, SvgPlotter, TimelinePlot,
};
use crate::style::{figure, CSS};

/// The identifier written in the JSON summary.
pub const RUNS_SCHEMA: &str = "skubench.runs-summary.v1";

/// Summary of a set of result files.
#[derive(Clone, Debug, Serialize)]
pub struct RunsSummary {
    /// Always [`RUNS_SCHEMA`].
    pub schema: String,
    /// One entry per result file.
    pub results: Vec<ResultSummary>,
}

/// Summary of one result file.
#[derive(Clone, Debug, Serialize)]
pub struct ResultSummary {
    /// Where it came from.
    pub source: String,
    /// Overall status.
    pub status: Status,
    /// Measuring host.
    pub host: HostInfo,
    /// Suite name.
    pub suite: String,
    /// Per workload label.
    pub workloads: Vec<WorkloadSummary>,
}

/// One workload label of a result file.
#[derive(Clone, Debug, Serialize)]
pub struct WorkloadSummary {
    /// Label.
    pub label: String,
    /// Workload kind.
    pub workload: String,
    /// Completed runs (metrics come from these).
    pub runs_ok: usize,
    /// Runs that failed or were interrupted.
    pub runs_failed: usize,
    /// Completed runs flagged disturbed (included, marked).
    pub runs_disturbed: usize,
    /// Metrics in first-seen order.
    pub metrics: Vec<MetricSummary>,
    /// Latency histograms, runs merged.
    pub histograms: Vec<HistSummary>,
}

/// One metric over the repetitions.
#[derive(Clone, Debug, Serialize)]
pub struct MetricSummary {
    /// Name.
    pub name: String,
    /// Unit.
    pub unit: String,
    /// Better direction.
    pub better: Better,
    /// Median.
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Per-run values.
    pub values: Vec<f64>,
}

/// One histogram, the runs merged.
#[derive(Clone, Debug, Serialize)]
pub struct HistSummary {
    /// Name.
    pub name: String,
    /// Recorded values.
    pub count: u64,
    /// Percentiles in ns (`p50` … `p99_99`, `max`).
    pub percentiles_ns: BTreeMap<String, u64>,
    /// Runs whose blob did not decode.
    pub undecodable: usize,
}

/// Summarises result files.
pub fn summarize(files: &[(String, ResultFile)]) -> RunsSummary {
    let results = files
        .iter()
        .map(|(src, f)| {
            let mut labels: Vec<(&str, &str)> = Vec::new();
            for r in &f.runs {
                if !labels.iter().any(|l| l.0 == r.label) {
                    labels.push((&r.label, &r.workload));
                }
            }
            let workloads = labels
                .into_iter()
                .map(|(label, kind)| {
                    let all: Vec<_> = f.runs.iter().filter(|r| r.label == label).collect();
                    let ok: Vec<_> = all.iter().filter(|r| r.status == Status::Ok).collect();
                    let mut metrics: Vec<MetricSummary> = Vec::new();
                    for r in &ok {
                        for m in &r.metrics {
                            match metrics.iter_mut().find(|x| x.name == m.name) {
                                Some(x) => x.values.push(m.value),
                                None => metrics.push(MetricSummary {
                                    name: m.name.clone(),
                                    unit: m.unit.to_string(),
                                    better: m.better,
                                    median: 0.0,
                                    min: 0.0,
                                    max: 0.0,
                                    values: vec![m.value],
                                }),
                            }
                        }
                    }
                    for m in &mut metrics {
                        m.median = baselines::stats::median(&m.values);
                        m.min = m.values.iter().copied().fold(f64::INFINITY, f64::min);
                        m.max = m.values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    }
                    let mut names: Vec<&String> =
                        ok.iter().flat_map(|r| r.histograms.keys()).collect();
                    names.sort();
                    names.dedup();
                    let histograms = names
                        .into_iter()
                        .map(|n| {
                            let mut h = new_hist();
                            let mut bad = 0;
                            for r in &ok {
                                match r.histogram(n) {
                                    Some(Ok(x)) => bad += usize::from(h.add(&x).is_err()),
                                    Some(Err(_)) => bad += 1,
                                    None => {}
                                }
                            }
                            let mut p = BTreeMap::new();
                            if !h.is_empty() {
                                for (q, s) in REPORTED_PERCENTILES {
                                    p.insert(s.to_string(), h.value_at_quantile(q / 100.0));
                                }
                                p.insert("max".into(), h.max());
                            }
                            HistSummary {
                                name: n.clone(),
                                count: h.len(),
                                percentiles_ns: p,
                                undecodable: bad,
                            }
                        })
                        .collect();
                    WorkloadSummary {
                        label: label.into(),
                        workload: kind.into(),
                        runs_ok: ok.len(),
                        runs_failed: all.len() - ok.len(),
                        runs_disturbed: ok.iter().filter(|r| r.disturbance.disturbed).count(),
                        metrics,
                        histograms,
                    }
                })
                .collect();
            ResultSummary {
                source: src.clone(),
                status: f.status,
                host: f.host.clone(),
                suite: f.invocation.suite.clone(),
                workloads,
            }
        })
        .collect();
    RunsSummary {
        schema: RUNS_SCHEMA.into(),
        results,
    }
}

/// The summary as pretty JSON.
pub fn json(files: &[(String, ResultFile)]) -> Result<Vec<u8>, serde_json::Error> {
    let mut v = serde_json::to_vec_pretty(&summarize(files))?;
    v.push(b'\n');
    Ok(v)
}

/// The NUMA matrix of a workload's medians, if it measured one.
fn numa_of(w: &WorkloadSummary) -> Option<crate::numa::NumaMatrix> {
    crate::numa::NumaMatrix::from_metrics(w.metrics.iter().map(|m| (m.name.as_str(), m.median)))
}

fn runs_note(w: &WorkloadSummary) -> String {
    let mut s = format!("{} run{}", w.runs_ok, if w.runs_ok == 1 { "" } else { "s" });
    if w.runs_failed > 0 {
        let _ = write!(s, ", {} failed", w.runs_failed);
    }
    if w.runs_disturbed > 0 {
        let _ = write!(s, ", {} disturbed", w.runs_disturbed);
    }
    s
}

/// Markdown summary of single runs.
pub fn markdown(files: &[(String, ResultFile)]) -> String {
    let s = summarize(files);
    let mut o = String::new();
    let failed = s.results.iter().filter(|r| r.status != Status::Ok).count();
    let _ = writeln!(
        o,
        "### {} {} result file{}{}\n",
        if failed > 0 { "❌" } else { "✅" },
        s.results.len(),
        if s.results.len() == 1 { "" } else { "s" },
        if failed > 0 {
            format!(", {failed} not ok")
        } else {
            String::new()
        }
    );
    for r in &s.results {
        let _ = writeln!(
            o,
            "#### `{}` — {}\n\n{}\n",
            r.source.replace('`', "'"),
            status_word(r.status),
            esc_md(&host_line(&r.host))
        );
        for w in &r.workloads {
            let _ = writeln!(
                o,
                "**{}** ({}, {})\n\n| metric | median | min | max | n |\n|---|---:|---:|---:|---:|",
                esc_md(&w.label),
                esc_md(&w.workload),
                runs_note(w)
            );
            for m in &w.metrics {
                let _ = writeln!(
                    o,
                    "| `{}` | {} | {} | {} | {} |",
                    esc_md(&m.name),
                    fmt_value(m.median, &m.unit),
                    fmt_value(m.min, &m.unit),
                    fmt_value(m.max, &m.unit),
                    m.values.len()
                );
            }
            if let Some(m) = numa_of(w) {
                o.push_str(&m.markdown());
            }
            for h in &w.histograms {
                let p = |k: &str| {
                    h.percentiles_ns
                        .get(k)
                        .map_or("-".into(), |v| fmt_value(*v as f64, "ns"))
                };
                let _ = writeln!(
                    o,
                    "\n`{}` ({} values): p50 {} · p90 {} · p99 {} · p99.9 {} · p99.99 {} · max {}",
                    esc_md(&h.name),
                    h.count,
                    p("p50"),
                    p("p90"),
                    p("p99"),
                    p("p99_9"),
                    p("p99_99"),
                    p("max")
                );
            }
            let _ = writeln!(o);
        }
    }
    o
}

/// HTML page of single runs with plotters' SVG backend.
pub fn html(files: &[(String, ResultFile)]) -> String {
    html_with(files, &SvgPlotter::default())
}

/// HTML page of single runs with the given plotter.
pub fn html_with(files: &[(String, ResultFile)], plotter: &dyn Plotter) -> String {
    let s = summarize(files);
    let mut o = String::new();
    let failed = s.results.iter().filter(|r| r.status != Status::Ok).count();
    let _ = writeln!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>skubench report</title><style>{CSS}</style></head><body>"
    );
    let _ = writeln!(
        o,
        "<header class=\"verdict {}\"><h1>{} result file{}: {}</h1></header>",
        if failed > 0 { "fail" } else { "pass" },
        s.results.len(),
        if s.results.len() == 1 { "" } else { "s" },
        if failed > 0 {
            format!("{failed} not ok")
        } else {
            "all runs completed".into()
        }
    );
    for (i, r) in s.results.iter().enumerate() {
        let (src, f) = &files[i];
        let one = &files[i..=i];
        let _ = writeln!(
            o,
            "<h2>{} — {}</h2><p class=\"sub\">{}</p>",
            esc_html(src),
            status_word(r.status),
            esc_html(&host_line(&r.host))
        );
        for w in &r.workloads {
            let _ = writeln!(
                o,
                "<h3>{} ({}, {})</h3><table><thead><tr><th>metric</th><th>median</th><th>min</th><th>max</th><th>n</th></tr></thead><tbody>",
                esc_html(&w.label),
                esc_html(&w.workload),
                esc_html(&runs_note(w))
            );
            for m in &w.metrics {
                let _ = writeln!(
                    o,
                    "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                    esc_html(&m.name),
                    esc_html(&fmt_value(m.median, &m.unit)),
                    esc_html(&fmt_value(m.min, &m.unit)),
                    esc_html(&fmt_value(m.max, &m.unit)),
                    m.values.len()
                );
            }
            let _ = write!(o, "</tbody></table>");
            if let Some(m) = numa_of(w) {
                o.push_str(&m.html());
            }
            let _ = writeln!(o, "<div class=\"grid\">");
            for h in &w.histograms {
                let fam = latency::Family {
                    workload: w.label.clone(),
                    hist: h.name.clone(),
                };
                let (merged, _) = latency::merged(one, &fam, true);
                let (unit, scale) = latency::unit_for(merged.value_at_quantile(0.5) as f64);
                let svg = plotter.percentile_plot(&PercentilePlot {
                    title: format!("{} · {}", w.label, h.name),
                    unit: unit.into(),
                    curves: vec![Curve {
                        label: format!("{} runs merged ({} ops)", w.runs_ok, merged.len()),
                        side: Side::Baseline,
                        points: latency::curve(&merged, scale),
                    }],
                });
                o.push_str(&figure(&svg, "latency by percentile"));
            }
            let ok: Vec<(Side, &bench_core::result::RunRecord)> = f
                .runs
                .iter()
                .filter(|x| x.label == w.label && x.status == Status::Ok)
                .map(|x| (Side::Baseline, x))
                .collect();
            for p in CurvePlot::from_runs(&w.label, &ok, ["runs", ""]) {
                let svg = plotter.curve(&p);
                o.push_str(&figure(
                    &svg,
                    &format!("{} against {}, one line per run", p.y_label, p.x_label),
                ));
            }
            let mut names: Vec<&str> = Vec::new();
            for run in f.runs.iter().filter(|x| x.label == w.label) {
                for sr in &run.series {
                    if !names.contains(&sr.name.as_str()) {
                        names.push(&sr.name);
                    }
                }
            }
            for name in names {
                let lines: Vec<Line> = f
                    .runs
                    .iter()
                    .filter(|x| x.label == w.label && x.status == Status::Ok)
                    .flat_map(|x| {
                        x.series.iter().filter(|sr| sr.name == name).map(|sr| Line {
                            side: Side::Baseline,
                            disturbed: x.disturbance.disturbed,
                            points: sr.points.iter().map(|p| (p.t_s, p.ops_per_s)).collect(),
                        })
                    })
                    .collect();
                let svg = plotter.series(&SeriesPlot {
                    title: format!("{} · {}", w.label, name),
                    y_label: "ops/s".into(),
                    side_labels: ["runs".into(), String::new()],
                    lines,
                });
                o.push_str(&figure(
                    &svg,
                    "ops/s per interval of every run (disturbed runs dashed)",
                ));
            }
            let _ = writeln!(o, "</div>");
        }
        let groups = timelines(&f.runs);
        if !groups.is_empty() {
            let _ = writeln!(
                o,
                "<h3>Runs that ran at the same time</h3><div class=\"grid\">"
            );
            for t in &groups {
                let svg = plotter.timeline(t);
                o.push_str(&figure(
                    &svg,
                    "each run's ops/s per interval as % of its own 90th-percentile interval: a sag shows which run suffered when",
                ));
            }
            let _ = writeln!(o, "</div>");
        }
    }
    let _ = writeln!(o, "</body></html>");
    o
}

/// One plot per set of runs that ran together (same repetition, each
/// naming the others in `notes.concurrent_with`): each run's first series
/// as a percentage of its 90th-percentile interval, so different units
/// share an axis. Not the median: a run that stalled most of the time has
/// a median near zero, and its good seconds would dwarf every other line.
pub fn timelines(runs: &[bench_core::result::RunRecord]) -> Vec<TimelinePlot> {
    let mut sets: Vec<(u32, Vec<String>, Vec<&bench_core::result::RunRecord>)> = Vec::new();
    for r in runs.iter().filter(|r| r.status == Status::Ok) {
        let Some(others) = r.notes.get("concurrent_with").and_then(|v| v.as_array()) else {
            continue;
        };
        let mut key: Vec<String> = others
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        key.push(r.label.clone());
        key.sort();
        match sets
            .iter_mut()
            .find(|(rep, k, _)| *rep == r.repetition && *k == key)
        {
            Some(s) => s.2.push(r),
            None => sets.push((r.repetition, key, vec![r])),
        }
    }
    sets.into_iter()
        .filter(|s| s.2.len() > 1)
        .map(|(rep, _, members)| {
            let lines = members
                .iter()
                .filter_map(|r| {
                    let pts = &r.series.first()?.points;
                    let mut v: Vec<f64> = pts.iter().map(|p| p.ops_per_s).collect();
                    v.sort_by(f64::total_cmp);
                    let top = *v.get((v.len() * 9 / 10).min(v.len() - 1))?;
                    (top > 0.0).then(|| {
                        (
                            r.label.clone(),
                            pts.iter()
                                .map(|p| (p.t_s, 100.0 * p.ops_per_s / top))
                                .collect(),
                        )
                    })
                })
                .collect();
            TimelinePlot {
                title: format!(
                    "repetition {rep}: {}",
                    members
                        .iter()
                        .map(|r| r.label.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                y_label: "% of the run's p90 interval".into(),
                lines,
            }
        })
        .collect()
}
