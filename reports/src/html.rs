//! One self-contained HTML page of a comparison: inline CSS and SVG, no
//! script, no network. The outcome (PASS, FAIL, INCONCLUSIVE, each its own
//! colour) and what needs attention (regressions, metrics missing from the
//! candidate, failed spec limits, possible regressions, undecided headline
//! metrics, beside the latency distribution of the worst latency
//! regression) come first, so a reader sees them without scrolling; then
//! every latency family's percentile plot, throughput with confidence
//! whiskers, the full table with role and minimum detectable effect,
//! per-interval series of each run, history, hosts and runs.

use std::fmt::Write as _;

use baselines::compare::{Comparison, Outcome, Row, Verdict};
use baselines::explain::Explanation;
use baselines::history::MetricHistory;
use bench_core::result::ResultFile;

use crate::common::{
    delta_cell, esc_html, excluded, history_caption, host_fields, host_value, interval_cell,
    is_possible_regression, mde_cell, method_text, missing_message, outcome_class, p_cell,
    possible_detail, possible_fails, possible_regressions, role_cell, side_cell, spec_bound,
    spec_value, undecided_detail, undecided_intro, verdict_text, workloads,
};
use crate::latency::{self, Family};
use crate::plot::{
    Curve, CurvePlot, HistoryPlot, Interval, Line, PercentilePlot, Plotter, SeriesPlot, Side,
    SvgPlotter, Whisker, WhiskerPlot,
};
use crate::style::{figure, CSS};

/// What the HTML report is made from: the comparison and the result files
/// of both sides (for histograms and series), and optionally histories.
#[derive(Clone, Copy, Debug)]
pub struct HtmlInput<'a> {
    /// The comparison.
    pub comparison: &'a Comparison,
    /// Baseline result files as (source, file).
    pub baseline: &'a [(String, ResultFile)],
    /// Candidate result files as (source, file).
    pub candidate: &'a [(String, ResultFile)],
    /// Metric histories with change points, when the comparison came from history.
    pub history: &'a [MetricHistory],
}

/// Most points drawn per series line; longer runs are thinned evenly.
const MAX_SERIES_POINTS: usize = 240;

fn row_tr(o: &mut String, r: &Row) {
    // `explanatory` is both a verdict and a role: one class is enough.
    let role = if r.verdict.word() == role_cell(r) {
        String::new()
    } else {
        format!(" {}", role_cell(r))
    };
    let _ = write!(
        o,
        "<tr class=\"{}{role}{}\">",
        r.verdict.word(),
        if is_possible_regression(r) {
            " possible"
        } else {
            ""
        }
    );
    let _ = writeln!(
        o,
        "<td><code>{}</code></td><td class=\"role\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}+{}</td><td class=\"v\">{}</td></tr>",
        esc_html(&r.metric),
        role_cell(r),
        esc_html(&side_cell(&r.baseline, &r.unit)),
        esc_html(&side_cell(&r.candidate, &r.unit)),
        esc_html(&delta_cell(r)),
        esc_html(&interval_cell(r)),
        esc_html(&p_cell(r)),
        esc_html(&mde_cell(r)),
        r.baseline.n,
        r.candidate.n,
        esc_html(&verdict_text(r)),
    );
}

/// "Why it moved": the attribution beside the metrics that moved.
fn why_list<'a>(o: &mut String, es: impl Iterator<Item = &'a Explanation>) {
    let items: Vec<String> = es
        .map(|e| format!("<li><code>{}</code></li>", esc_html(&e.line())))
        .collect();
    if !items.is_empty() {
        let _ = writeln!(
            o,
            "<div class=\"why\"><b>Why it moved</b> (attribution; explanatory, never a verdict):<ul>{}</ul></div>",
            items.join("")
        );
    }
}

fn table_head(o: &mut String) {
    let _ = writeln!(
        o,
        "<table><thead><tr><th>metric</th><th>role</th><th>baseline</th><th>candidate</th><th>change</th><th>interval</th><th>p</th><th>MDE</th><th>n</th><th>verdict</th></tr></thead><tbody>"
    );
}

struct Ctx<'a> {
    inp: &'a HtmlInput<'a>,
    plotter: &'a dyn Plotter,
    keep_disturbed: bool,
}

impl Ctx<'_> {
    /// Families on both sides: those with a regressed percentile first (in
    /// row order, so the worst comes first), then the rest by name.
    fn families(&self) -> Vec<Family> {
        let b = latency::families(self.inp.baseline, self.keep_disturbed);
        let c = latency::families(self.inp.candidate, self.keep_disturbed);
        let both: Vec<Family> = b.intersection(&c).cloned().collect();
        let rank = |f: &Family| {
            self.inp
                .comparison
                .rows
                .iter()
                .position(|r| f.owns(&r.workload, &r.metric))
                .unwrap_or(usize::MAX)
        };
        let mut both = both;
        both.sort_by_key(|f| (rank(f), f.clone()));
        both
    }

    fn percentile_figure(&self, f: &Family) -> String {
        let (hb, bad_b) = latency::merged(self.inp.baseline, f, self.keep_disturbed);
        let (hc, bad_c) = latency::merged(self.inp.candidate, f, self.keep_disturbed);
        let typical = if hb.is_empty() {
            hc.value_at_quantile(0.5)
        } else {
            hb.value_at_quantile(0.5)
        } as f64;
        let (unit, scale) = latency::unit_for(typical);
        let plot = PercentilePlot {
            title: format!("{} · {}", f.workload, f.hist),
            unit: unit.into(),
            curves: vec![
                Curve {
                    label: format!("baseline ({} ops)", hb.len()),
                    side: Side::Baseline,
                    points: latency::curve(&hb, scale),
                },
                Curve {
                    label: format!("candidate ({} ops)", hc.len()),
                    side: Side::Candidate,
                    points: latency::curve(&hc, scale),
                },
            ],
        };
        let mut cap = String::from("latency by percentile, each side's runs merged");
        let rows: Vec<&Row> = self
            .inp
            .comparison
            .rows
            .iter()
            .filter(|r| f.owns(&r.workload, &r.metric))
            .collect();
        let worse: Vec<String> = rows
            .iter()
            .filter(|r| r.verdict == Verdict::Regression)
            .map(|r| format!("{} {}", &r.metric[f.hist.len() + 1..], delta_cell(r)))
            .collect();
        if !worse.is_empty() {
            let _ = write!(cap, "; regressed: {}", worse.join(", "));
        }
        if bad_b + bad_c > 0 {
            let _ = write!(cap, "; {} histogram(s) did not decode", bad_b + bad_c);
        }
        figure(&self.plotter.percentile_plot(&plot), &cap)
    }

    fn whisker_figure(&self, workload: &str, fams: &[Family]) -> Option<String> {
        let items: Vec<Whisker> = self
            .inp
            .comparison
            .rows
            .iter()
            .filter(|r| {
                r.workload == workload && !fams.iter().any(|f| f.owns(&r.workload, &r.metric))
            })
            .filter_map(|r| {
                let m = r.baseline.median;
                if m == 0.0 || !m.is_finite() {
                    return None;
                }
                let rel = |s: &baselines::compare::Summary| {
                    let (lo, hi) = s.ci.unwrap_or((s.median, s.median));
                    Interval {
                        mid: s.median / m,
                        lo: lo / m,
                        hi: hi / m,
                    }
                };
                Some(Whisker {
                    label: r.metric.clone(),
                    baseline: rel(&r.baseline),
                    candidate: rel(&r.candidate),
                    regression: r.verdict == Verdict::Regression,
                })
            })
            .collect();
        if items.is_empty() {
            return None;
        }
        let svg = self.plotter.whiskers(&WhiskerPlot {
            title: workload.to_string(),
            items,
        });
        Some(figure(
            &svg,
            "medians with their confidence intervals, relative to the baseline median",
        ))
    }

    fn curve_figures(&self) -> Vec<String> {
        let mut labels: Vec<&str> = Vec::new();
        let mut runs: Vec<(Side, &bench_core::result::RunRecord)> = Vec::new();
        for (side, files) in [
            (Side::Baseline, self.inp.baseline),
            (Side::Candidate, self.inp.candidate),
        ] {
            for r in files.iter().flat_map(|(_, f)| f.runs.iter()) {
                if r.status == bench_core::result::Status::Ok && !r.curves.is_empty() {
                    if !labels.contains(&r.label.as_str()) {
                        labels.push(&r.label);
                    }
                    runs.push((side, r));
                }
            }
        }
        let mut out = Vec::new();
        for label in labels {
            let mine: Vec<_> = runs
                .iter()
                .filter(|(_, r)| r.label == label)
                .copied()
                .collect();
            for p in CurvePlot::from_runs(label, &mine, ["baseline runs", "candidate runs"]) {
                let svg = self.plotter.curve(&p);
                out.push(figure(
                    &svg,
                    &format!("{} against {}, one line per run", p.y_label, p.x_label),
                ));
            }
        }
        out
    }

    fn series_figures(&self) -> Vec<String> {
        // (label, series name) in first-seen order over both sides.
        let mut keys: Vec<(String, String)> = Vec::new();
        for (_, f) in self.inp.baseline.iter().chain(self.inp.candidate) {
            for r in &f.runs {
                for s in &r.series {
                    let k = (r.label.clone(), s.name.clone());
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (label, name) in keys {
            let mut lines = Vec::new();
            let mut disturbed = 0;
            let mut warmup: f64 = 0.0;
            for (side, files) in [
                (Side::Baseline, self.inp.baseline),
                (Side::Candidate, self.inp.candidate),
            ] {
                for r in files
                    .iter()
                    .flat_map(|(_, f)| f.runs.iter())
                    .filter(|r| r.label == label && r.status == bench_core::result::Status::Ok)
                {
                    for s in r.series.iter().filter(|s| s.name == name) {
                        let step = s.points.len().div_ceil(MAX_SERIES_POINTS).max(1);
                        disturbed += usize::from(r.disturbance.disturbed);
                        warmup = warmup.max(r.warmup_s);
                        lines.push(Line {
                            side,
                            disturbed: r.disturbance.disturbed,
                            points: s
                                .points
                                .iter()
                                .step_by(step)
                                .map(|p| (p.t_s, p.ops_per_s))
                                .collect(),
                        });
                    }
                }
            }
            if lines.is_empty() {
                continue;
            }
            let svg = self.plotter.series(&SeriesPlot {
                title: format!("{label} · {name}"),
                y_label: "ops/s".into(),
                side_labels: ["baseline runs".into(), "candidate runs".into()],
                lines,
            });
            let mut cap = "ops/s per interval of every run".to_string();
            if warmup > 0.0 {
                // The runner does not record intervals during warm-up.
                let _ = write!(cap, "; t = 0 is the end of a {warmup:.0} s warm-up");
            }
            if disturbed > 0 {
                let _ = write!(
                    cap,
                    "; {disturbed} disturbed run{} dashed{}",
                    if disturbed == 1 { "" } else { "s" },
                    if self.keep_disturbed {
                        " (kept in the comparison)"
                    } else {
                        " (left out of the comparison)"
                    }
                );
            }
            out.push(figure(&svg, &cap));
        }
        out
    }
}

/// Renders the page with plotters' SVG backend.
pub fn render(inp: &HtmlInput<'_>) -> String {
    render_with(inp, &SvgPlotter::default())
}

/// Renders the page with the given plotter.
pub fn render_with(inp: &HtmlInput<'_>, plotter: &dyn Plotter) -> String {
    let c = inp.comparison;
    let ctx = Ctx {
        inp,
        plotter,
        keep_disturbed: c.policy.include_disturbed,
    };
    let fams = ctx.families();
    let mut o = String::with_capacity(256 << 10);
    let _ = writeln!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>skubench: {} vs {}</title><style>{CSS}</style></head><body>",
        esc_html(&c.candidate.name),
        esc_html(&c.baseline.name)
    );
    let _ = writeln!(
        o,
        "<header class=\"verdict {}\"><h1>{}</h1></header>",
        outcome_class(c),
        esc_html(&c.headline())
    );
    let _ = writeln!(
        o,
        "<p class=\"sub\"><span class=\"key-b\">baseline</span> {} ({} runs{}) · <span class=\"key-c\">candidate</span> {} ({} runs{})</p>",
        esc_html(&c.baseline.name),
        c.baseline.runs_used,
        excluded(c.baseline.runs_disturbed_excluded, c.baseline.runs_failed_excluded),
        esc_html(&c.candidate.name),
        c.candidate.runs_used,
        excluded(c.candidate.runs_disturbed_excluded, c.candidate.runs_failed_excluded),
    );

    // What needs attention, beside the worst latency distribution.
    let regressions: Vec<&Row> = c
        .rows
        .iter()
        .filter(|r| r.verdict == Verdict::Regression)
        .collect();
    let failed_spec: Vec<_> = c.spec.iter().filter(|s| !s.pass).collect();
    let missing: Vec<_> = c.missing().collect();
    let _ = writeln!(o, "<section class=\"top\"><div>");
    match c.outcome {
        Outcome::Pass => {
            let _ = writeln!(
                o,
                "<h2>No regression</h2><p>No metric is significantly worse beyond its noise threshold, every headline metric is decided, and no spec limit failed.</p>"
            );
        }
        Outcome::Inconclusive => {
            let _ = writeln!(
                o,
                "<h2>Inconclusive</h2><div class=\"warning\"><p>No failure, but {}</p>",
                esc_html(&undecided_intro(c))
            );
            let undecided: Vec<&Row> = c.undecided_headlines().collect();
            if !undecided.is_empty() {
                let _ = writeln!(o, "<ul>");
                for r in undecided {
                    let _ = writeln!(
                        o,
                        "<li>{} / <code>{}</code> {}</li>",
                        esc_html(&r.workload),
                        esc_html(&r.metric),
                        esc_html(&undecided_detail(r))
                    );
                }
                let _ = writeln!(o, "</ul>");
            }
            let _ = writeln!(o, "</div>");
        }
        Outcome::Fail => {}
    }
    if !missing.is_empty() {
        let _ = writeln!(
            o,
            "<h2>Missing from the candidate</h2><div class=\"error\"><p><b>Error:</b> metrics the baseline measured and the candidate did not.</p><ul>"
        );
        for (w, m, _) in missing {
            let _ = writeln!(o, "<li>{}</li>", esc_html(&missing_message(w, m)));
        }
        let _ = writeln!(o, "</ul></div>");
    }
    if !regressions.is_empty() {
        // Narrow enough to sit beside the plot on a laptop screen.
        let _ = writeln!(
            o,
            "<h2>Regressions</h2><table><thead><tr><th>metric</th><th>baseline → candidate</th><th>change [interval]</th><th>p</th></tr></thead><tbody>"
        );
        for r in &regressions {
            let _ = writeln!(
                o,
                "<tr class=\"regression\"><td><code>{}</code><br><small>{}</small></td><td class=\"num\">{} →<br>{}</td><td class=\"num v\">{}<br><small>{}</small></td><td class=\"num\">{}</td></tr>",
                esc_html(&r.metric),
                esc_html(&r.workload),
                esc_html(&side_cell(&r.baseline, &r.unit)),
                esc_html(&side_cell(&r.candidate, &r.unit)),
                esc_html(&delta_cell(r)),
                esc_html(&interval_cell(r)),
                esc_html(&p_cell(r)),
            );
        }
        let _ = writeln!(o, "</tbody></table>");
        why_list(
            &mut o,
            c.explanations
                .iter()
                .filter(|e| e.verdict == Verdict::Regression),
        );
    }
    if !failed_spec.is_empty() {
        let _ = writeln!(
            o,
            "<h2>Failed spec limits</h2><table><thead><tr><th>metric</th><th>value</th><th>limit</th><th>note</th></tr></thead><tbody>"
        );
        for s in &failed_spec {
            let _ = writeln!(
                o,
                "<tr class=\"regression\"><td><code>{}</code></td><td class=\"num fail\">{}</td><td>{} (±{:.0}%)</td><td>{}</td></tr>",
                esc_html(&s.metric),
                esc_html(&spec_value(s)),
                esc_html(&spec_bound(s)),
                s.tolerance * 100.0,
                esc_html(&s.note)
            );
        }
        let _ = writeln!(o, "</tbody></table>");
    }
    let maybe = possible_regressions(c);
    if !maybe.is_empty() {
        let _ = writeln!(
            o,
            "<h2>Possible regressions</h2><div class=\"warning\"><p><b>Warning:</b> not shown to be regressions, not shown unchanged either; rerun with more repetitions.</p><ul>"
        );
        for r in maybe {
            let _ = writeln!(
                o,
                "<li>{} / {}{}</li>",
                esc_html(&r.workload),
                esc_html(&possible_detail(r)),
                if possible_fails(c, r) {
                    "; <b>fails the comparison</b> (<code>possible_regression = \"fail\"</code>)"
                } else {
                    ""
                }
            );
        }
        let _ = writeln!(o, "</ul></div>");
    }
    let _ = writeln!(o, "</div><div>");
    if let Some(f) = fams.first() {
        o.push_str(&ctx.percentile_figure(f));
    }
    let _ = writeln!(o, "</div></section>");

    if fams.len() > 1 {
        let _ = writeln!(o, "<h2>Latency percentiles</h2><div class=\"grid\">");
        for f in &fams[1..] {
            o.push_str(&ctx.percentile_figure(f));
        }
        let _ = writeln!(o, "</div>");
    }

    let whiskers: Vec<String> = workloads(c)
        .into_iter()
        .filter_map(|w| ctx.whisker_figure(w, &fams))
        .collect();
    if !whiskers.is_empty() {
        let _ = writeln!(
            o,
            "<h2>Throughput and other metrics</h2><div class=\"grid\">"
        );
        for w in whiskers {
            o.push_str(&w);
        }
        let _ = writeln!(o, "</div>");
    }

    let _ = writeln!(o, "<h2>All metrics</h2>");
    for w in workloads(c) {
        let _ = writeln!(o, "<h3>{}</h3>", esc_html(w));
        table_head(&mut o);
        for r in c.rows.iter().filter(|r| r.workload == w) {
            row_tr(&mut o, r);
        }
        let _ = writeln!(o, "</tbody></table>");
        why_list(&mut o, c.explanations_for(w));
    }
    if !c.spec.is_empty() {
        let _ = writeln!(
            o,
            "<h3>Spec limits</h3><table><thead><tr><th>metric</th><th>workload</th><th>value</th><th>limit</th><th>tolerance</th><th>result</th><th>note</th></tr></thead><tbody>"
        );
        for s in &c.spec {
            let _ = writeln!(
                o,
                "<tr class=\"{}\"><td><code>{}</code></td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{:.0}%</td><td class=\"v\">{}</td><td>{}</td></tr>",
                if s.pass { "unchanged" } else { "regression" },
                esc_html(&s.metric),
                esc_html(s.workload.as_deref().unwrap_or("-")),
                esc_html(&spec_value(s)),
                esc_html(&spec_bound(s)),
                s.tolerance * 100.0,
                if s.pass { "pass" } else { "FAIL" },
                esc_html(&s.note)
            );
        }
        let _ = writeln!(o, "</tbody></table>");
    }
    let others: Vec<_> = c.one_sided().collect();
    if !others.is_empty() {
        let _ = writeln!(o, "<h3>Only on one side (not compared)</h3><ul>");
        for (w, m, side) in others {
            let _ = writeln!(
                o,
                "<li>{} / <code>{}</code> (only in the {})</li>",
                esc_html(w),
                esc_html(m),
                esc_html(side)
            );
        }
        let _ = writeln!(o, "</ul>");
    }
    let _ = writeln!(
        o,
        "<p class=\"sub\">change: candidate relative to baseline, <code>~</code> = within the noise threshold; MDE: minimum detectable effect, the smallest shift this comparison could have found significant (<code>n too small</code>: too few runs for any); explanatory metrics are shown, never judged; ± after a median: half-width of its confidence interval. Method: {}.</p>",
        esc_html(&method_text(c))
    );

    let curves = ctx.curve_figures();
    if !curves.is_empty() {
        let _ = writeln!(o, "<h2>Curves</h2><div class=\"grid\">");
        for s in curves {
            o.push_str(&s);
        }
        let _ = writeln!(o, "</div>");
    }

    let series = ctx.series_figures();
    if !series.is_empty() {
        let _ = writeln!(o, "<h2>Per-interval series</h2><div class=\"grid\">");
        for s in series {
            o.push_str(&s);
        }
        let _ = writeln!(o, "</div>");
    }

    if !inp.history.is_empty() {
        let _ = writeln!(o, "<h2>History</h2><div class=\"grid\">");
        for h in inp.history {
            let svg = plotter.history(&HistoryPlot::of(h));
            o.push_str(&figure(&svg, &history_caption(h)));
        }
        let _ = writeln!(o, "</div>");
    }

    let _ = writeln!(o, "<h2>Hosts</h2><table><thead><tr><th></th><th class=\"key-b\">baseline</th><th class=\"key-c\">candidate</th></tr></thead><tbody>");
    for (name, f) in host_fields() {
        let b = host_value(&c.baseline, f);
        let cv = host_value(&c.candidate, f);
        let _ = writeln!(
            o,
            "<tr{}><th>{name}</th><td>{}</td><td>{}</td></tr>",
            if b != cv { " class=\"disturbed\"" } else { "" },
            esc_html(&b),
            esc_html(&cv)
        );
    }
    let _ = writeln!(
        o,
        "</tbody></table><p class=\"sub\">Highlighted: fields that differ between the sides.</p>"
    );

    let _ = writeln!(o, "<h2>Runs</h2><div class=\"hosts\">");
    for (side, files) in [("baseline", inp.baseline), ("candidate", inp.candidate)] {
        let _ = writeln!(
            o,
            "<div><h3>{side}</h3><table><thead><tr><th>source</th><th>run</th><th>status</th><th>foreign CPU</th><th>steal</th></tr></thead><tbody>"
        );
        for (src, f) in files {
            for r in &f.runs {
                let d = &r.disturbance;
                let _ = writeln!(
                    o,
                    "<tr{}><td>{}</td><td>{}</td><td>{}{}</td><td class=\"num\">{:.2} vCPU</td><td class=\"num\">{:.1}%</td></tr>",
                    if d.disturbed { " class=\"disturbed\"" } else { "" },
                    esc_html(src),
                    esc_html(&r.id),
                    format!("{:?}", r.status).to_lowercase(),
                    if d.disturbed {
                        if ctx.keep_disturbed {
                            " <span class=\"tag\">disturbed, kept</span>"
                        } else {
                            " <span class=\"tag\">disturbed, left out</span>"
                        }
                    } else {
                        ""
                    },
                    d.foreign_cpu_vcpus,
                    d.steal_pct
                );
            }
        }
        let _ = writeln!(o, "</tbody></table></div>");
    }
    let _ = writeln!(o, "</div>\n</body></html>");
    o
}
