//! Markdown for pipeline step summaries and PR comments (GitHub-flavoured):
//! the outcome on one line (✅ PASS, ❌ FAIL, ⚠️ INCONCLUSIVE), the counts,
//! what failed (regressions, missing metrics, spec limits), the warnings
//! (possible regressions, undecided headline metrics), both hosts, and the
//! full table with role and minimum detectable effect folded away in a
//! `<details>` block.

use std::fmt::Write as _;

use baselines::compare::{Comparison, Outcome, Row, SideInfo, Verdict};
use bench_core::result::Role;

use crate::common::{
    delta_cell, esc_md, excluded, host_fields, host_value, interval_cell, mde_cell, method_text,
    missing_message, p_cell, possible_fails, possible_reason, possible_regressions, role_cell,
    side_cell, spec_bound, spec_value, undecided_detail, undecided_intro, verdict_text,
};

fn verdict_md(r: &Row) -> String {
    match r.verdict {
        Verdict::Regression => "**regression**".into(),
        Verdict::Inconclusive if r.possible == Some(Verdict::Regression) => {
            format!("⚠️ {}", esc_md(&verdict_text(r)))
        }
        Verdict::Explanatory => "_explanatory_".into(),
        _ => esc_md(&verdict_text(r)),
    }
}

fn role_md(r: &Row) -> String {
    match r.role {
        Role::Headline => "**headline**".into(),
        _ => role_cell(r).into(),
    }
}

/// The mark before the outcome: ✅ PASS, ❌ FAIL, ⚠️ INCONCLUSIVE.
fn outcome_mark(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "✅",
        Outcome::Fail => "❌",
        Outcome::Inconclusive => "⚠️",
    }
}

/// The cells that name a row in every table: workload, metric, role.
fn name_cells(r: &Row) -> String {
    format!(
        "{} | `{}` | {}",
        esc_md(&r.workload),
        esc_md(&r.metric),
        role_md(r)
    )
}

/// Both sides' medians with their intervals.
fn side_cells(r: &Row) -> String {
    format!(
        "{} | {}",
        side_cell(&r.baseline, &r.unit),
        side_cell(&r.candidate, &r.unit)
    )
}

/// What the test found: the change (marked as the table wants it), its
/// interval, p and the minimum detectable effect.
fn test_cells(change: &str, r: &Row) -> String {
    format!(
        "{change} | {} | {} | {}",
        interval_cell(r),
        p_cell(r),
        mde_cell(r)
    )
}

fn side_line(label: &str, s: &SideInfo) -> String {
    format!(
        "**{label}** `{}` — {} run{}{}",
        s.name.replace('`', "'"),
        s.runs_used,
        if s.runs_used == 1 { "" } else { "s" },
        excluded(s.runs_disturbed_excluded, s.runs_failed_excluded)
    )
}

/// Renders the comparison as Markdown.
pub fn render(c: &Comparison) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "### {} {}\n",
        outcome_mark(c.outcome),
        esc_md(&c.headline())
    );
    let _ = writeln!(
        o,
        "{} · {}\n",
        side_line("baseline", &c.baseline),
        side_line("candidate", &c.candidate)
    );
    let k = &c.counts;
    let _ = writeln!(
        o,
        "| regression | improvement | unchanged | inconclusive | low confidence | possible regression | explanatory | missing | spec failed | spec passed |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        k.regression, k.improvement, k.unchanged, k.inconclusive, k.low_confidence, k.possible_regression, k.explanatory, k.missing, k.spec_failed, k.spec_passed
    );

    let missing: Vec<_> = c.missing().collect();
    if !missing.is_empty() {
        let _ = writeln!(o, "#### ❌ Missing from the candidate (error)\n");
        for (w, m, _) in missing {
            let _ = writeln!(o, "- **error**: {}", esc_md(&missing_message(w, m)));
        }
        let _ = writeln!(o);
    }

    let regressions: Vec<_> = c
        .rows
        .iter()
        .filter(|r| r.verdict == Verdict::Regression)
        .collect();
    if !regressions.is_empty() {
        let _ = writeln!(o, "#### Regressions\n");
        let _ = writeln!(
            o,
            "| workload | metric | role | baseline | candidate | change | interval | p | MDE |\n|---|---|---|---:|---:|---:|---|---:|---:|"
        );
        for r in regressions {
            let _ = writeln!(
                o,
                "| {} | {} | {} |",
                name_cells(r),
                side_cells(r),
                test_cells(&format!("**{}**", delta_cell(r)), r)
            );
        }
        let _ = writeln!(o);
    }
    if !c.explanations.is_empty() {
        let _ = writeln!(
            o,
            "#### Why it moved\n\nAttribution recorded in the same runs (explanatory, never a verdict):\n"
        );
        for e in &c.explanations {
            let _ = writeln!(o, "- {} · `{}`", esc_md(&e.workload), e.line());
        }
        let _ = writeln!(o);
    }
    let maybe = possible_regressions(c);
    if !maybe.is_empty() {
        let _ = writeln!(
            o,
            "#### ⚠️ Possible regressions\n\nNot shown to be regressions, not shown unchanged either: rerun with more repetitions.\n"
        );
        let _ = writeln!(
            o,
            "| workload | metric | role | change | interval | p | MDE | why |\n|---|---|---|---:|---|---:|---:|---|"
        );
        for r in maybe {
            let _ = writeln!(
                o,
                "| {} | {} | {}{} |",
                name_cells(r),
                test_cells(&format!("⚠️ {}", delta_cell(r)), r),
                esc_md(&possible_reason(r)),
                if possible_fails(c, r) {
                    "; **fails the comparison** (`possible_regression = \"fail\"`)"
                } else {
                    ""
                }
            );
        }
        let _ = writeln!(o);
    }
    if c.outcome == Outcome::Inconclusive {
        let _ = writeln!(
            o,
            "#### ⚠️ Inconclusive\n\nNo failure, but {}\n",
            esc_md(&undecided_intro(c))
        );
        for r in c.undecided_headlines() {
            let _ = writeln!(
                o,
                "- {} / `{}` {}",
                esc_md(&r.workload),
                esc_md(&r.metric),
                esc_md(&undecided_detail(r))
            );
        }
        let _ = writeln!(o);
    }
    let failed: Vec<_> = c.spec.iter().filter(|s| !s.pass).collect();
    if !failed.is_empty() {
        let _ = writeln!(o, "#### Failed spec limits\n");
        let _ = writeln!(
            o,
            "| metric | workload | value | limit | tolerance | note |\n|---|---|---:|---|---:|---|"
        );
        for s in failed {
            let _ = writeln!(
                o,
                "| `{}` | {} | **{}** | {} | {:.0}% | {} |",
                esc_md(&s.metric),
                esc_md(s.workload.as_deref().unwrap_or("-")),
                spec_value(s),
                spec_bound(s),
                s.tolerance * 100.0,
                esc_md(&s.note)
            );
        }
        let _ = writeln!(o);
    }

    let _ = writeln!(o, "#### Hosts\n");
    let _ = writeln!(o, "| | baseline | candidate |\n|---|---|---|");
    for (name, f) in host_fields() {
        let _ = writeln!(
            o,
            "| {name} | {} | {} |",
            esc_md(&host_value(&c.baseline, f)),
            esc_md(&host_value(&c.candidate, f))
        );
    }
    let _ = writeln!(o);

    let _ = writeln!(
        o,
        "<details><summary>All {} compared metrics{}</summary>\n",
        c.rows.len(),
        if c.spec.is_empty() {
            String::new()
        } else {
            format!(" and {} spec limits", c.spec.len())
        }
    );
    let _ = writeln!(
        o,
        "| workload | metric | role | baseline | candidate | change | interval | p | MDE | n | verdict |\n|---|---|---|---:|---:|---:|---|---:|---:|---:|---|"
    );
    for r in &c.rows {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {}+{} | {} |",
            name_cells(r),
            side_cells(r),
            test_cells(&delta_cell(r), r),
            r.baseline.n,
            r.candidate.n,
            verdict_md(r)
        );
    }
    if !c.spec.is_empty() {
        let _ = writeln!(
            o,
            "\n| spec limit | value | limit | tolerance | result |\n|---|---:|---|---:|---|"
        );
        for s in &c.spec {
            let _ = writeln!(
                o,
                "| `{}` | {} | {} | {:.0}% | {} |",
                esc_md(&s.metric),
                spec_value(s),
                spec_bound(s),
                s.tolerance * 100.0,
                if s.pass { "pass" } else { "**FAIL**" }
            );
        }
    }
    let others: Vec<_> = c.one_sided().collect();
    if !others.is_empty() {
        let _ = writeln!(o, "\nOnly on one side (not compared):\n");
        for (w, m, side) in others {
            let _ = writeln!(
                o,
                "- {} / `{}` (only in the {})",
                esc_md(w),
                esc_md(m),
                esc_md(side)
            );
        }
    }
    let _ = writeln!(
        o,
        "\n`~`: within the noise threshold. MDE: minimum detectable effect, the smallest shift this comparison could have found significant (`{}`: too few runs for any). Explanatory metrics are shown, never judged. Method: {}.\n\n</details>",
        crate::common::MDE_N_TOO_SMALL,
        esc_md(&method_text(c))
    );
    o
}
