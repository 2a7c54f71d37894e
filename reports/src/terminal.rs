//! Terminal table of a comparison, benchstat-like: grouped by workload,
//! regressions first, median ± interval, ratio with its interval, p, verdict.

use std::fmt::Write as _;

use baselines::compare::{Comparison, Row, Verdict};

use crate::show::fmt_value;

fn paint(s: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn verdict_cell(r: &Row, color: bool) -> String {
    let w = match (r.verdict, r.hint) {
        (Verdict::LowConfidence, Some(h)) => format!("{}? (low confidence)", h.word()),
        (v, _) => v.word().to_string(),
    };
    match r.verdict {
        Verdict::Regression => paint(&w, "1;31", color),
        Verdict::Improvement => paint(&w, "32", color),
        Verdict::Unchanged => paint("~", "2", color),
        _ => paint(&w, "33", color),
    }
}

fn side_cell(med: f64, ci: Option<(f64, f64)>, unit: &str, n: usize) -> String {
    let pm = match ci {
        Some((lo, hi)) if med != 0.0 => {
            let half = ((hi - med).abs()).max((med - lo).abs()) / med.abs() * 100.0;
            format!(" ±{half:.0}%")
        }
        _ => String::new(),
    };
    format!("{}{pm} n={n}", fmt_value(med, unit))
}

/// Renders the table; `color` adds ANSI colours.
pub fn render(c: &Comparison, color: bool) -> String {
    let mut o = String::new();
    let head = c.headline();
    let _ = writeln!(
        o,
        "{}",
        if c.failed() {
            paint(&head, "1;31", color)
        } else {
            paint(&head, "1;32", color)
        }
    );
    let _ = writeln!(
        o,
        "baseline:  {} ({} runs{})",
        c.baseline.name,
        c.baseline.runs_used,
        excluded(c.baseline.runs_disturbed_excluded)
    );
    let _ = writeln!(
        o,
        "candidate: {} ({} runs{})",
        c.candidate.name,
        c.candidate.runs_used,
        excluded(c.candidate.runs_disturbed_excluded)
    );
    let _ = writeln!(
        o,
        "method: Mann-Whitney U, α = {} per metric and {} family-wise (Holm over {} metrics: {}), {:.0}% Hodges-Lehmann interval of the ratio; `~` = within the noise threshold\n",
        c.policy.alpha,
        c.policy.family_alpha,
        c.rows.iter().filter(|r| r.p_value.is_some()).count(),
        if c.policy.holm { "on" } else { "off" },
        c.policy.confidence() * 100.0
    );
    let mut workloads: Vec<&str> = Vec::new();
    for r in &c.rows {
        if !workloads.contains(&r.workload.as_str()) {
            workloads.push(&r.workload);
        }
    }
    let mw = c
        .rows
        .iter()
        .map(|r| r.metric.len())
        .max()
        .unwrap_or(6)
        .max(6);
    for w in workloads {
        let _ = writeln!(o, "{}", paint(&format!("── {w}"), "1", color));
        let _ = writeln!(
            o,
            "  {:<mw$}  {:>26}  {:>26}  {:>24}  {:>7}  verdict",
            "metric", "baseline", "candidate", "ratio [interval]", "p"
        );
        for r in c.rows.iter().filter(|r| r.workload == w) {
            let ratio = match r.ratio_ci {
                Some((lo, hi)) => format!("{:.3} [{:.3}, {:.3}]", r.ratio, lo, hi),
                None => format!("{:.3}", r.ratio),
            };
            let p = r.p_adjusted.or(r.p_value).map_or("-".to_string(), |p| {
                if p < 0.001 {
                    format!("{p:.1e}")
                } else {
                    format!("{p:.3}")
                }
            });
            let _ = writeln!(
                o,
                "  {:<mw$}  {:>26}  {:>26}  {:>24}  {:>7}  {}",
                r.metric,
                side_cell(r.baseline.median, r.baseline.ci, &r.unit, r.baseline.n),
                side_cell(r.candidate.median, r.candidate.ci, &r.unit, r.candidate.n),
                ratio,
                p,
                verdict_cell(r, color)
            );
        }
        let _ = writeln!(o);
    }
    if !c.spec.is_empty() {
        let _ = writeln!(o, "{}", paint("── spec limits", "1", color));
        for s in &c.spec {
            let bound = match (s.min, s.max) {
                (Some(m), _) => format!("≥ {}", fmt_value(m, &s.unit)),
                (_, Some(m)) => format!("≤ {}", fmt_value(m, &s.unit)),
                _ => String::new(),
            };
            let val = s
                .value
                .map_or("not measured".to_string(), |v| fmt_value(v, &s.unit));
            let status = if s.pass {
                paint("pass", "32", color)
            } else {
                paint("FAIL", "1;31", color)
            };
            let _ = writeln!(
                o,
                "  {:<mw$}  {:>16}  {bound} (tolerance {:.0}%)  {status}  {}",
                s.metric,
                val,
                s.tolerance * 100.0,
                s.note
            );
        }
        let _ = writeln!(o);
    }
    if !c.unmatched.is_empty() {
        let _ = writeln!(
            o,
            "{} metrics only on one side (not compared)",
            c.unmatched.len()
        );
    }
    o
}

fn excluded(n: usize) -> String {
    if n > 0 {
        format!(", {n} disturbed runs left out")
    } else {
        String::new()
    }
}
