//! The onboarding matrix (`skubench matrix`): one page with the SKU ×
//! distro grid of verdicts, the headline metrics across distros (spread,
//! and the distro significantly slower than the rest), and links to each
//! cell's own comparison (`cells/<slug>/comparison.html`, written by the
//! CLI beside the page). HTML, Markdown, JSON and JUnit, all pure.

use baselines::compare::{Outcome, Verdict};
use baselines::matrix::{Cell, Matrix, Spread};
use bench_core::result::Better;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::common::{esc_html, esc_md, fmt_value};
use crate::style::CSS;

/// Where a cell's own comparison report is, relative to the matrix page.
pub fn cell_report(c: &Cell, ext: &str) -> String {
    format!("cells/{}/comparison.{ext}", c.slug)
}

fn word(o: Option<Outcome>) -> &'static str {
    o.map_or("no reference", Outcome::word)
}

fn class(o: Option<Outcome>) -> &'static str {
    match o {
        Some(Outcome::Pass) => "pass",
        Some(Outcome::Fail) => "fail",
        Some(Outcome::Inconclusive) => "inconclusive",
        None => "none",
    }
}

fn cell_at<'a>(m: &'a Matrix, sku: &str, distro: &str) -> Option<&'a Cell> {
    m.cells.iter().find(|c| c.sku == sku && c.distro == distro)
}

/// Why a cell has its verdict, in a few words.
fn cell_reason(c: &Cell) -> String {
    let mut parts = Vec::new();
    if !c.regressions.is_empty() {
        parts.push(format!("regressed: {}", c.regressions.join(", ")));
    }
    if !c.spec_failed.is_empty() {
        parts.push(format!("spec failed: {}", c.spec_failed.join(", ")));
    }
    if !c.undecided.is_empty() {
        parts.push(format!("undecided: {}", c.undecided.join(", ")));
    }
    if c.runs == 0 {
        parts.push("no usable runs".into());
    }
    parts.join("; ")
}

/// The one-line summary: outcome, cells, slower distros.
pub fn headline(m: &Matrix) -> String {
    let n = |o: Outcome| m.cells.iter().filter(|c| c.outcome == Some(o)).count();
    let slower: Vec<String> = m
        .spreads
        .iter()
        .filter_map(|s| {
            s.slower
                .as_ref()
                .map(|d| format!("{d} on {} ({})", s.metric, s.sku))
        })
        .collect();
    let mut h = format!(
        "{} `{}`: {} SKU(s) × {} distro(s), {} cell(s): {} pass, {} fail, {} inconclusive",
        word(m.outcome),
        m.tag,
        m.skus.len(),
        m.distros.len(),
        m.cells.len(),
        n(Outcome::Pass),
        n(Outcome::Fail),
        n(Outcome::Inconclusive)
    );
    if slower.is_empty() {
        h.push_str("; no distro significantly slower than the rest");
    } else {
        h.push_str(&format!("; significantly slower: {}", slower.join(", ")));
    }
    h
}

fn against(m: &Matrix) -> String {
    match (&m.baseline, m.spec) {
        (Some(b), true) => format!("baseline `{b}` and the spec limits"),
        (Some(b), false) => format!("baseline `{b}`"),
        (None, true) => "the spec limits".into(),
        (None, false) => "nothing (no --baseline, no --spec): the grid shows runs only".into(),
    }
}

fn vs_rest_text(d: &baselines::matrix::DistroValue) -> String {
    match &d.vs_rest {
        None => "—".into(),
        Some(v) => {
            let ci = v.ratio_ci.map_or(String::new(), |(lo, hi)| {
                format!(
                    " [{:+.1}%, {:+.1}%]",
                    (lo - 1.0) * 100.0,
                    (hi - 1.0) * 100.0
                )
            });
            let p = v
                .p_adjusted
                .map_or(String::new(), |p| format!(", p={p:.3}"));
            let verdict = match v.verdict {
                Verdict::Regression => "slower",
                Verdict::Improvement => "faster",
                other => other.word(),
            };
            format!("{:+.1}%{ci}{p} {verdict}", (v.ratio - 1.0) * 100.0)
        }
    }
}

fn better_word(b: Better) -> &'static str {
    match b {
        Better::Higher => "higher is better",
        Better::Lower => "lower is better",
    }
}

/// The page as self-contained HTML. Cells link to their comparison when
/// it exists (a baseline was given).
pub fn render_html(m: &Matrix) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str(&format!(
        "<title>skubench matrix {}</title><style>{CSS}.grid-m td.pass{{background:#e8f5e9}}.grid-m td.fail{{background:#fdecea}}.grid-m td.inconclusive{{background:#fff6e0}}.grid-m td{{min-width:120px}}</style></head><body>\n",
        esc_html(&m.tag)
    ));
    h.push_str(&format!(
        "<h1>Onboarding <code>{}</code></h1>\n<div class=\"verdict {}\" id=\"outcome\">{}</div>\n<p class=\"sub\">Each cell: that SKU on that distro against {}.</p>\n",
        esc_html(&m.tag),
        class(m.outcome),
        esc_html(&headline(m)),
        esc_html(&against(m))
    ));
    h.push_str("<h2 id=\"grid\">SKU × distro</h2>\n<table class=\"grid-m\"><tr><th>SKU</th>");
    for d in &m.distros {
        h.push_str(&format!("<th>{}</th>", esc_html(d)));
    }
    h.push_str("</tr>\n");
    for sku in &m.skus {
        h.push_str(&format!("<tr><th>{}</th>", esc_html(sku)));
        for d in &m.distros {
            match cell_at(m, sku, d) {
                None => h.push_str("<td class=\"none\">—</td>"),
                Some(c) => {
                    let link = if c.comparison.is_some() {
                        format!(
                            " · <a href=\"{}\">comparison</a>",
                            esc_html(&cell_report(c, "html"))
                        )
                    } else {
                        String::new()
                    };
                    h.push_str(&format!(
                        "<td class=\"{}\"><a href=\"#{}\"><b>{}</b></a><br>{} runs{link}</td>",
                        class(c.outcome),
                        esc_html(&c.slug),
                        word(c.outcome),
                        c.runs
                    ));
                }
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");

    h.push_str(&format!(
        "<h2 id=\"spread\">Headline metrics across distros</h2>\n<p class=\"sub\">Per distro the median over its runs, and that distro against the other distros of the SKU pooled: the ratio of medians with its 95% interval and the family-wise adjusted p-value, the test of <code>skubench compare</code> at family α = {:.4} (the policy's, divided by the number of distros).</p>\n",
        m.distro_alpha
    ));
    if m.spreads.is_empty() {
        h.push_str("<p>No headline metric was measured.</p>\n");
    }
    for s in &m.spreads {
        render_spread_html(&mut h, s);
    }

    h.push_str("<h2 id=\"cells\">Cells</h2>\n");
    for c in &m.cells {
        h.push_str(&format!(
            "<h3 id=\"{}\">{} / {}: <span class=\"{}\">{}</span></h3>\n",
            esc_html(&c.slug),
            esc_html(&c.sku),
            esc_html(&c.distro),
            class(c.outcome),
            word(c.outcome)
        ));
        let reason = cell_reason(c);
        if !reason.is_empty() {
            h.push_str(&format!("<p>{}</p>\n", esc_html(&reason)));
        }
        h.push_str(&format!(
            "<p class=\"sub\">{} runs from {} result(s): {}; spec limits passed: {}</p>\n",
            c.runs,
            c.sources.len(),
            esc_html(&c.sources.join(", ")),
            c.spec_passed
        ));
        if c.comparison.is_some() {
            h.push_str(&format!(
                "<p>Comparison: <a href=\"{}\">HTML</a> · <a href=\"{}\">Markdown</a> · <a href=\"{}\">JSON</a></p>\n",
                esc_html(&cell_report(c, "html")),
                esc_html(&cell_report(c, "md")),
                esc_html(&cell_report(c, "json"))
            ));
        }
    }
    h.push_str("</body></html>\n");
    h
}

fn render_spread_html(h: &mut String, s: &Spread) {
    let slower = s.slower.as_ref().map_or(String::new(), |d| {
        format!(
            " — <span class=\"fail\">{} is significantly slower than the rest</span>",
            esc_html(d)
        )
    });
    h.push_str(&format!(
        "<h3>{} · {} · {}</h3>\n<p class=\"sub\">{}; spread (worst/best median) ×{:.3}{slower}</p>\n<table><tr><th>distro</th><th>runs</th><th>median</th><th>vs the rest</th></tr>\n",
        esc_html(&s.sku),
        esc_html(&s.workload),
        esc_html(&s.metric),
        better_word(s.better),
        s.spread
    ));
    for d in &s.distros {
        let bad = s.slower.as_deref() == Some(d.distro.as_str());
        h.push_str(&format!(
            "<tr{}><td><a href=\"#{}\">{}</a></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>\n",
            if bad { " class=\"regression\"" } else { "" },
            esc_html(&d.slug),
            esc_html(&d.distro),
            d.n,
            esc_html(&fmt_value(d.median, &s.unit)),
            esc_html(&vs_rest_text(d))
        ));
    }
    h.push_str("</table>\n");
}

/// The page as Markdown (a pipeline's step summary).
pub fn render_markdown(m: &Matrix) -> String {
    let mut o = String::new();
    o.push_str(&format!(
        "## skubench onboarding `{}`\n\n**{}**\n\nEach cell: that SKU on that distro against {}.\n\n",
        esc_md(&m.tag),
        esc_md(&headline(m)),
        esc_md(&against(m))
    ));
    o.push_str("| SKU |");
    for d in &m.distros {
        o.push_str(&format!(" {} |", esc_md(d)));
    }
    o.push_str("\n|---|");
    for _ in &m.distros {
        o.push_str("---|");
    }
    o.push('\n');
    for sku in &m.skus {
        o.push_str(&format!("| {} |", esc_md(sku)));
        for d in &m.distros {
            match cell_at(m, sku, d) {
                None => o.push_str(" — |"),
                Some(c) => {
                    let icon = match c.outcome {
                        Some(Outcome::Pass) => "✅ ",
                        Some(Outcome::Fail) => "❌ ",
                        Some(Outcome::Inconclusive) => "⚠️ ",
                        None => "",
                    };
                    let link = if c.comparison.is_some() {
                        format!(" ([report]({}))", cell_report(c, "md"))
                    } else {
                        String::new()
                    };
                    o.push_str(&format!(
                        " {icon}{} ({} runs){link} |",
                        word(c.outcome),
                        c.runs
                    ));
                }
            }
        }
        o.push('\n');
    }
    o.push_str(&format!(
        "\n### Headline metrics across distros\n\nMedian per distro; each distro against the others pooled (ratio, 95% interval, adjusted p) at family α = {:.4}.\n\n",
        m.distro_alpha
    ));
    for s in &m.spreads {
        let slower = s.slower.as_ref().map_or(String::new(), |d| {
            format!(" — **{} is significantly slower than the rest**", esc_md(d))
        });
        o.push_str(&format!(
            "**{} · {}** ({}), spread ×{:.3}{slower}\n\n| distro | runs | median | vs the rest |\n|---|---:|---:|---|\n",
            esc_md(&s.sku),
            esc_md(&s.metric),
            better_word(s.better),
            s.spread
        ));
        for d in &s.distros {
            o.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                esc_md(&d.distro),
                d.n,
                esc_md(&fmt_value(d.median, &s.unit)),
                esc_md(&vs_rest_text(d))
            ));
        }
        o.push('\n');
    }
    let explained: Vec<&Cell> = m
        .cells
        .iter()
        .filter(|c| !cell_reason(c).is_empty())
        .collect();
    if !explained.is_empty() {
        o.push_str("### Cells that did not pass\n\n");
        for c in explained {
            o.push_str(&format!(
                "- **{} / {}**: {}\n",
                esc_md(&c.sku),
                esc_md(&c.distro),
                esc_md(&cell_reason(c))
            ));
        }
    }
    o
}

/// The matrix as JSON (schema `skubench.matrix.v1`).
pub fn render_json(m: &Matrix) -> Result<Vec<u8>, serde_json::Error> {
    let mut v = serde_json::to_vec_pretty(m)?;
    v.push(b'\n');
    Ok(v)
}

/// JUnit XML: one suite per SKU, a test case per distro (a failure for
/// FAIL, skipped for INCONCLUSIVE or no reference), and a suite of the
/// distro-vs-rest checks with a failure per distro significantly slower.
pub fn render_junit(m: &Matrix) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new(format!("skubench matrix {}", m.tag));
    for sku in &m.skus {
        let mut suite = TestSuite::new(sku.as_str());
        suite.add_property(Property::new("tag", m.tag.as_str()));
        for c in m.cells.iter().filter(|c| &c.sku == sku) {
            let status = match c.outcome {
                Some(Outcome::Pass) => TestCaseStatus::success(),
                Some(Outcome::Fail) => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_type("cell");
                    s.set_message(cell_reason(c));
                    s
                }
                Some(Outcome::Inconclusive) | None => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(format!("{}: {}", word(c.outcome), cell_reason(c)));
                    s
                }
            };
            let mut tc = TestCase::new(c.distro.as_str(), status);
            tc.set_classname(sku.as_str());
            tc.set_system_out(format!(
                "{} runs; sources: {}",
                c.runs,
                c.sources.join(", ")
            ));
            suite.add_test_case(tc);
        }
        report.add_test_suite(suite);
    }
    let mut spread = TestSuite::new("distro spread");
    for s in &m.spreads {
        for d in &s.distros {
            let name = format!("{} / {} / {}", s.sku, s.metric, d.distro);
            let status = if s.slower.as_deref() == Some(d.distro.as_str()) {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_type("slower-distro");
                st.set_message(format!(
                    "{} is significantly slower than the other distros on {}: {}",
                    d.distro,
                    s.metric,
                    vs_rest_text(d)
                ));
                st
            } else {
                TestCaseStatus::success()
            };
            let mut tc = TestCase::new(name, status);
            tc.set_classname("distro spread");
            tc.set_system_out(format!(
                "median {} over {} runs; vs the rest: {}",
                fmt_value(d.median, &s.unit),
                d.n,
                vs_rest_text(d)
            ));
            spread.add_test_case(tc);
        }
    }
    report.add_test_suite(spread);
    report.to_string()
}
