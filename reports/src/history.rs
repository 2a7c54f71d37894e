//! Metric histories and their change points: text, Markdown, JUnit and a
//! self-contained HTML page, for `skubench history` and nightly
//! `skubench gate --history` jobs.

use std::fmt::Write as _;

use baselines::history::MetricHistory;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::common::{esc_html, esc_md, fmt_value, history_caption};
use crate::plot::{HistoryPlot, Plotter, SvgPlotter};
use crate::style::{figure, CSS};

fn alerts(series: &[MetricHistory]) -> usize {
    series.iter().map(|s| s.alerts.len()).sum()
}

/// The one-line outcome: how many alerts among the latest `latest` runs.
pub fn headline(series: &[MetricHistory], latest: usize) -> String {
    let n = alerts(series);
    if n == 0 {
        format!(
            "PASS: no change point alerts among the latest {latest} runs ({} metric histories)",
            series.len()
        )
    } else {
        format!(
            "FAIL: {n} change point alert(s) among the latest {latest} runs ({} of {} metric histories)",
            series.iter().filter(|s| !s.alerts.is_empty()).count(),
            series.len()
        )
    }
}

fn alert_text(h: &MetricHistory, a: &baselines::changepoint::ChangePoint) -> String {
    let at = h.points.get(a.index);
    format!(
        "{} → {} ({:+.1}%) from run #{} ({}), p = {:.1e}",
        fmt_value(a.mean_before, &h.unit),
        fmt_value(a.mean_after, &h.unit),
        a.change * 100.0,
        a.index,
        at.map_or("?", |p| p.time.as_str()),
        a.p_value
    )
}

/// Markdown for a pull request or a job summary: the headline, the alerts,
/// then one row per history.
pub fn render_markdown(series: &[MetricHistory], latest: usize) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "## skubench history: {}\n", headline(series, latest));
    if alerts(series) > 0 {
        let _ = writeln!(o, "| metric | workload | SKU · distro | alert |");
        let _ = writeln!(o, "|---|---|---|---|");
        for h in series {
            for a in &h.alerts {
                let _ = writeln!(
                    o,
                    "| `{}` | {} | {} · {} | **{}** |",
                    esc_md(&h.metric),
                    esc_md(&h.workload),
                    esc_md(&h.sku),
                    esc_md(&h.distro),
                    esc_md(&alert_text(h, a))
                );
            }
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(
        o,
        "| metric | workload | SKU · distro | points | latest | change points | alerts |"
    );
    let _ = writeln!(o, "|---|---|---|---:|---:|---:|---:|");
    for h in series {
        let _ = writeln!(
            o,
            "| `{}` | {} | {} · {} | {} | {} | {} | {} |",
            esc_md(&h.metric),
            esc_md(&h.workload),
            esc_md(&h.sku),
            esc_md(&h.distro),
            h.points.len(),
            h.points
                .last()
                .map_or("-".into(), |p| fmt_value(p.value, &h.unit)),
            h.change_points.iter().filter(|c| c.reported).count(),
            h.alerts.len()
        );
    }
    o
}

/// JUnit XML: one suite per (SKU, distro, workload), one test case per
/// metric, a failure per metric with an alert.
pub fn render_junit(
    series: &[MetricHistory],
    latest: usize,
) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new(format!("skubench history (latest {latest} runs)"));
    let mut keys: Vec<(String, String, String)> = Vec::new();
    for h in series {
        let k = (h.sku.clone(), h.distro.clone(), h.workload.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    for (sku, distro, workload) in keys {
        let mut suite = TestSuite::new(format!("{workload} · {sku} {distro}"));
        for h in series
            .iter()
            .filter(|h| h.sku == sku && h.distro == distro && h.workload == workload)
        {
            let status = if h.alerts.is_empty() {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let texts: Vec<String> = h.alerts.iter().map(|a| alert_text(h, a)).collect();
                s.set_message(format!("change point: {}", texts.join("; ")));
                s.set_type("change-point");
                s
            };
            let mut tc = TestCase::new(h.metric.as_str(), status);
            tc.set_classname(format!("skubench.history.{workload}"));
            if h.alerts.is_empty() {
                tc.set_system_out(format!(
                    "{} points, latest {}",
                    h.points.len(),
                    h.points
                        .last()
                        .map_or("-".into(), |p| fmt_value(p.value, &h.unit))
                ));
            }
            suite.add_test_case(tc);
        }
        report.add_test_suite(suite);
    }
    report.to_string()
}

/// Most history plots on one page; the rest are in the table.
pub const MAX_HISTORY_PLOTS: usize = 120;

/// A self-contained page: the verdict, the alerts with their plots, every
/// history in a table, and plots of the histories with change points (then
/// the others, up to [`MAX_HISTORY_PLOTS`]).
pub fn render_html(series: &[MetricHistory], latest: usize) -> String {
    render_html_with(series, latest, &SvgPlotter::default())
}

/// [`render_html`] with another plotter.
pub fn render_html_with(series: &[MetricHistory], latest: usize, plotter: &dyn Plotter) -> String {
    let mut o = String::new();
    let head = headline(series, latest);
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body>",
        esc_html(&head),
    );
    let class = if alerts(series) > 0 { "fail" } else { "pass" };
    let _ = writeln!(
        o,
        "<header class=\"verdict {class}\"><h1>{}</h1></header>",
        esc_html(&head)
    );
    let _ = writeln!(
        o,
        "<p class=\"sub\">Change points: E-divisive means with a t-test; an alert is a reported change point that makes the metric worse among the latest {latest} runs. Marked in the plots: change points (grey), alerts (red).</p>"
    );
    let fig = |o: &mut String, h: &MetricHistory| {
        let svg = plotter.history(&HistoryPlot::of(h));
        o.push_str(&figure(&svg, &history_caption(h)));
    };
    let alerted: Vec<&MetricHistory> = series.iter().filter(|h| !h.alerts.is_empty()).collect();
    if !alerted.is_empty() {
        let _ = writeln!(o, "<h2>Alerts</h2><ul>");
        for h in &alerted {
            for a in &h.alerts {
                let _ = writeln!(
                    o,
                    "<li><code>{}</code> ({} · {} {}): {}</li>",
                    esc_html(&h.metric),
                    esc_html(&h.workload),
                    esc_html(&h.sku),
                    esc_html(&h.distro),
                    esc_html(&alert_text(h, a))
                );
            }
        }
        let _ = writeln!(o, "</ul><div class=\"grid\">");
        for h in &alerted {
            fig(&mut o, h);
        }
        let _ = writeln!(o, "</div>");
    }
    let _ = writeln!(o, "<h2>Every history</h2>");
    if series.is_empty() {
        let _ = writeln!(
            o,
            "<p>No history matches (add results with <code>skubench store add</code>).</p>"
        );
    } else {
        let _ = writeln!(o, "<table><thead><tr><th>metric</th><th>workload</th><th>SKU · distro</th><th>points</th><th>latest</th><th>change points</th><th>alerts</th></tr></thead><tbody>");
        for h in series {
            let _ = writeln!(
                o,
                "<tr{}><td><code>{}</code></td><td>{}</td><td>{} · {}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num{}\">{}</td></tr>",
                if h.alerts.is_empty() { "" } else { " class=\"regression\"" },
                esc_html(&h.metric),
                esc_html(&h.workload),
                esc_html(&h.sku),
                esc_html(&h.distro),
                h.points.len(),
                esc_html(&h.points.last().map_or("-".into(), |p| fmt_value(p.value, &h.unit))),
                h.change_points.iter().filter(|c| c.reported).count(),
                if h.alerts.is_empty() { "" } else { " fail" },
                h.alerts.len()
            );
        }
        let _ = writeln!(o, "</tbody></table>");
        // Histories with change points first; alerts were drawn above.
        let mut rest: Vec<&MetricHistory> = series.iter().filter(|h| h.alerts.is_empty()).collect();
        rest.sort_by_key(|h| std::cmp::Reverse(h.change_points.iter().any(|c| c.reported)));
        let budget = MAX_HISTORY_PLOTS.saturating_sub(alerted.len());
        if !rest.is_empty() {
            let _ = writeln!(o, "<h2>Histories</h2><div class=\"grid\">");
            for h in rest.iter().take(budget) {
                fig(&mut o, h);
            }
            let _ = writeln!(o, "</div>");
            if rest.len() > budget {
                let _ = writeln!(
                    o,
                    "<p class=\"sub\">{} more histories without alerts are in the table only.</p>",
                    rest.len() - budget
                );
            }
        }
    }
    let _ = writeln!(o, "</body></html>");
    o
}

/// One block per series: points, last value, change points, alerts.
pub fn render(series: &[MetricHistory]) -> String {
    let mut o = String::new();
    if series.is_empty() {
        let _ = writeln!(
            o,
            "no history matches (add results with `skubench store add`)"
        );
        return o;
    }
    for s in series {
        let last = s.points.last().map_or(0.0, |p| p.value);
        let _ = writeln!(
            o,
            "{} · {} {} · {} — {} points, latest {}",
            s.metric,
            if s.sku.is_empty() { "-" } else { &s.sku },
            s.distro,
            s.workload,
            s.points.len(),
            fmt_value(last, &s.unit)
        );
        for c in &s.change_points {
            let at = s.points.get(c.index);
            let alert = if s.alerts.iter().any(|a| a.index == c.index) {
                "  ALERT"
            } else {
                ""
            };
            let _ = writeln!(
                o,
                "    change point at #{} ({}): {} → {} ({:+.1}%), p = {:.1e}{}{alert}",
                c.index,
                at.map_or("", |p| p.time.as_str()),
                fmt_value(c.mean_before, &s.unit),
                fmt_value(c.mean_after, &s.unit),
                c.change * 100.0,
                c.p_value,
                if c.reported {
                    ""
                } else {
                    " (below the magnitude floor)"
                }
            );
        }
    }
    o
}
