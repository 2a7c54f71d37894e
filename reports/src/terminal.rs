//! Terminal table of a comparison, benchstat-like: grouped by workload
//! (the workload with the worst verdict first, regressions first inside
//! it), median ± interval per side, the change with its interval, p, verdict.
//! `~` marks a change inside the noise threshold, `*` a headline metric.
//! The outcome (PASS, FAIL, INCONCLUSIVE) comes first; after the tables,
//! metrics missing from the candidate (errors), possible regressions
//! (warnings) and the undecided headline metrics of an INCONCLUSIVE
//! comparison.

use std::fmt::Write as _;

use baselines::compare::{Comparison, Outcome, Row, Verdict};
use bench_core::result::Role;

use crate::common::{
    delta_cell, excluded, interval_cell, mde_cell, method_text, missing_message, p_cell,
    possible_detail, possible_fails, possible_regressions, side_cell, spec_bound, spec_value,
    undecided_detail, undecided_intro, verdict_text, workloads,
};

fn paint(s: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn verdict_code(v: Verdict) -> &'static str {
    match v {
        Verdict::Regression => "1;31",
        Verdict::Improvement => "32",
        Verdict::Unchanged => "2",
        Verdict::Inconclusive | Verdict::LowConfidence => "33",
        Verdict::Explanatory => "2",
    }
}

/// Red for FAIL, yellow for INCONCLUSIVE, green for PASS.
fn outcome_code(o: Outcome) -> &'static str {
    match o {
        Outcome::Fail => "1;31",
        Outcome::Inconclusive => "1;33",
        Outcome::Pass => "1;32",
    }
}

/// Display width: characters, since every character used here (µ, ±, →)
/// is one column wide.
fn width(s: &str) -> usize {
    s.chars().count()
}

fn pad_left(s: &str, w: usize) -> String {
    format!("{}{s}", " ".repeat(w.saturating_sub(width(s))))
}

fn pad_right(s: &str, w: usize) -> String {
    format!("{s}{}", " ".repeat(w.saturating_sub(width(s))))
}

struct Cells {
    metric: String,
    base: String,
    cand: String,
    delta: String,
    interval: String,
    p: String,
    mde: String,
    n: String,
    verdict: String,
}

fn cells(r: &Row) -> Cells {
    Cells {
        metric: format!(
            "{}{}",
            if r.role == Role::Headline { "* " } else { "  " },
            r.metric
        ),
        base: side_cell(&r.baseline, &r.unit),
        cand: side_cell(&r.candidate, &r.unit),
        delta: delta_cell(r),
        interval: interval_cell(r),
        p: p_cell(r),
        mde: mde_cell(r),
        n: format!("{}+{}", r.baseline.n, r.candidate.n),
        verdict: verdict_text(r),
    }
}

/// Renders the table; `color` adds ANSI colours (the caller decides: a
/// terminal and `NO_COLOR` unset).
pub fn render(c: &Comparison, color: bool) -> String {
    let mut o = String::new();
    let head = c.headline();
    let _ = writeln!(o, "{}", paint(&head, outcome_code(c.outcome), color));
    let _ = writeln!(
        o,
        "baseline:  {} ({} runs{})",
        c.baseline.name,
        c.baseline.runs_used,
        excluded(
            c.baseline.runs_disturbed_excluded,
            c.baseline.runs_failed_excluded
        )
    );
    let _ = writeln!(
        o,
        "candidate: {} ({} runs{})",
        c.candidate.name,
        c.candidate.runs_used,
        excluded(
            c.candidate.runs_disturbed_excluded,
            c.candidate.runs_failed_excluded
        )
    );
    let _ = writeln!(
        o,
        "method: {}; `~` = within the noise threshold; MDE = minimum detectable effect (the smallest shift this comparison could have found significant); * = headline metric\n",
        method_text(c)
    );

    let all: Vec<(&Row, Cells)> = c.rows.iter().map(|r| (r, cells(r))).collect();
    // One set of widths for the whole table so the columns line up across
    // workload groups, as in benchstat.
    let w = |f: fn(&Cells) -> &str, title: &str| {
        all.iter()
            .map(|(_, c)| width(f(c)))
            .max()
            .unwrap_or(0)
            .max(width(title))
    };
    let wm = w(|c| &c.metric, "metric");
    let wb = w(|c| &c.base, "baseline");
    let wc = w(|c| &c.cand, "candidate");
    let wd = w(|c| &c.delta, "change");
    let wi = w(|c| &c.interval, "interval");
    let wp = w(|c| &c.p, "p");
    let we = w(|c| &c.mde, "MDE");
    let wn = w(|c| &c.n, "n");

    for wl in workloads(c) {
        let _ = writeln!(o, "{}", paint(&format!("── {wl}"), "1", color));
        let _ = writeln!(
            o,
            "  {}  {}  {}  {}  {}  {}  {}  {}  verdict",
            pad_right("  metric", wm),
            pad_left("baseline", wb),
            pad_left("candidate", wc),
            pad_left("change", wd),
            pad_right("interval", wi),
            pad_left("p", wp),
            pad_left("MDE", we),
            pad_left("n", wn),
        );
        for (r, x) in all.iter().filter(|(r, _)| r.workload == wl) {
            let _ = writeln!(
                o,
                "  {}  {}  {}  {}  {}  {}  {}  {}  {}",
                pad_right(&x.metric, wm),
                pad_left(&x.base, wb),
                pad_left(&x.cand, wc),
                paint(&pad_left(&x.delta, wd), verdict_code(r.verdict), color),
                pad_right(&x.interval, wi),
                pad_left(&x.p, wp),
                pad_left(&x.mde, we),
                pad_left(&x.n, wn),
                paint(&x.verdict, verdict_code(r.verdict), color),
            );
        }
        for e in c.explanations_for(wl) {
            let _ = writeln!(o, "  {} {}", paint("why:", "1", color), e.line());
        }
        let _ = writeln!(o);
    }

    if !c.spec.is_empty() {
        let _ = writeln!(o, "{}", paint("── spec limits", "1", color));
        let sm = c.spec.iter().map(|s| width(&s.metric)).max().unwrap_or(6);
        let sv = c
            .spec
            .iter()
            .map(|s| width(&spec_value(s)))
            .max()
            .unwrap_or(5);
        let sb = c
            .spec
            .iter()
            .map(|s| width(&spec_bound(s)))
            .max()
            .unwrap_or(5);
        // Failed limits first, like regressions.
        let mut spec: Vec<_> = c.spec.iter().collect();
        spec.sort_by_key(|s| s.pass);
        for s in spec {
            let status = if s.pass {
                paint("pass", "32", color)
            } else {
                paint("FAIL", "1;31", color)
            };
            let _ = writeln!(
                o,
                "  {}  {}  {}  tolerance {:>3.0}%  {status}{}",
                pad_right(&s.metric, sm),
                pad_left(&spec_value(s), sv),
                pad_right(&spec_bound(s), sb),
                s.tolerance * 100.0,
                if s.note.is_empty() {
                    String::new()
                } else {
                    format!("  {}", s.note)
                }
            );
        }
        let _ = writeln!(o);
    }
    let missing: Vec<_> = c.missing().collect();
    if !missing.is_empty() {
        let _ = writeln!(
            o,
            "{}",
            paint(
                &format!(
                    "ERROR: {} metric{} missing from the candidate:",
                    missing.len(),
                    if missing.len() == 1 { "" } else { "s" }
                ),
                "1;31",
                color
            )
        );
        for (w, m, _) in missing {
            let _ = writeln!(o, "  {}", missing_message(w, m));
        }
        let _ = writeln!(o);
    }
    let maybe = possible_regressions(c);
    if !maybe.is_empty() {
        let _ = writeln!(
            o,
            "{}",
            paint(
                &format!(
                    "WARNING: {} possible regression{} (rerun with more repetitions):",
                    maybe.len(),
                    if maybe.len() == 1 { "" } else { "s" }
                ),
                "1;33",
                color
            )
        );
        for r in maybe {
            let _ = writeln!(
                o,
                "  {} / {}{}",
                r.workload,
                possible_detail(r),
                if possible_fails(c, r) {
                    "; fails the comparison (possible_regression = \"fail\")"
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
            "{}",
            paint(
                &format!("INCONCLUSIVE: {}", undecided_intro(c)),
                "1;33",
                color
            )
        );
        for r in c.undecided_headlines() {
            let _ = writeln!(o, "  {} / {} {}", r.workload, r.metric, undecided_detail(r));
        }
        let _ = writeln!(o);
    }
    let others: Vec<_> = c.one_sided().collect();
    if !others.is_empty() {
        let _ = writeln!(
            o,
            "{} metric{} only on one side (not compared):",
            others.len(),
            if others.len() == 1 { "" } else { "s" }
        );
        for (w, m, side) in others {
            let _ = writeln!(o, "  {w} / {m} (only in the {side})");
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_counts_characters_not_bytes() {
        assert_eq!(pad_left("1 µs", 6), "  1 µs");
        assert_eq!(pad_right("±", 3), "±  ");
    }
}
