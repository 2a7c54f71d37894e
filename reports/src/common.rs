//! Cells and helpers shared by the renderers, so every format words a
//! value, a host and a comparison row the same way. Renderer modules
//! import from here (and from `style`, `plot`, `latency`), never from each
//! other.

use baselines::compare::{Comparison, Outcome, Row, SideInfo, SpecRow, Summary, Verdict};
use baselines::history::MetricHistory;
use baselines::policy::PossiblePolicy;
use bench_core::host::HostInfo;
use bench_core::result::{Role, Status};

/// Formats a value with its unit compactly (`1.23 M ops/s`, `45.6 µs`).
pub fn fmt_value(v: f64, unit: &str) -> String {
    match unit {
        "ns" => {
            if v >= 1e9 {
                format!("{:.3} s", v / 1e9)
            } else if v >= 1e6 {
                format!("{:.3} ms", v / 1e6)
            } else if v >= 1e3 {
                format!("{:.2} µs", v / 1e3)
            } else {
                format!("{v:.0} ns")
            }
        }
        "bytes/s" => si(v, "B/s"),
        "bits/s" => si(v, "bit/s"),
        "ops/s" => si(v, "ops/s"),
        "ratio" => format!("{v:.3}"),
        u => format!("{} {u}", trim_num(v)),
    }
}

fn si(v: f64, unit: &str) -> String {
    let (d, p) = if v.abs() >= 1e9 {
        (1e9, "G")
    } else if v.abs() >= 1e6 {
        (1e6, "M")
    } else if v.abs() >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    format!("{:.3} {p}{unit}", v / d)
}

fn trim_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
    }
}

/// [`fmt_value`] without the trailing space of a value with no unit: the
/// comparison cells are joined with other text.
fn fmt_trimmed(v: f64, unit: &str) -> String {
    fmt_value(v, unit).trim_end().to_string()
}

/// How a run's or a file's status is written in summaries.
pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Failed => "FAILED",
        Status::Interrupted => "INTERRUPTED",
        Status::Skipped => "skipped",
    }
}

/// One line describing a host: name, SKU, distro, kernel, vCPUs, CPU model.
pub fn host_line(h: &HostInfo) -> String {
    format!(
        "{} · sku {} · {} {} · kernel {} · {} vCPU · {}",
        h.hostname,
        h.sku.as_deref().unwrap_or("-"),
        h.distro,
        h.distro_version,
        h.kernel,
        h.vcpus,
        h.cpu_model
    )
}

/// A host field: its name and how it is read.
pub type HostField = (&'static str, fn(&HostInfo) -> String);

/// The host fields compared side by side.
pub fn host_fields() -> [HostField; 11] {
    [
        ("sku", |h| h.sku.clone().unwrap_or_else(|| "-".into())),
        ("hostname", |h| h.hostname.clone()),
        ("distro", |h| {
            if h.distro_pretty.is_empty() {
                format!("{} {}", h.distro, h.distro_version)
            } else {
                h.distro_pretty.clone()
            }
        }),
        ("kernel", |h| h.kernel.clone()),
        ("cpu", |h| h.cpu_model.clone()),
        ("vCPUs", |h| h.vcpus.to_string()),
        ("memory", |h| {
            format!("{:.1} GiB", h.memory_bytes as f64 / (1u64 << 30) as f64)
        }),
        ("hypervisor", |h| h.hypervisor.clone()),
        ("system", |h| h.system.clone()),
        ("clocksource", |h| h.clocksource.clone()),
        ("THP", |h| h.thp.clone()),
    ]
}

/// The distinct values of a host field over a side's hosts.
pub fn host_value(s: &SideInfo, f: fn(&HostInfo) -> String) -> String {
    let mut v: Vec<String> = Vec::new();
    for h in &s.hosts {
        let x = f(h);
        if !v.contains(&x) {
            v.push(x);
        }
    }
    if v.is_empty() {
        "-".into()
    } else {
        v.join(", ")
    }
}

/// The caption under a history's plot.
pub fn history_caption(h: &MetricHistory) -> String {
    format!(
        "{} points, {} change point(s), {} alert(s)",
        h.points.len(),
        h.change_points.len(),
        h.alerts.len()
    )
}

/// Escapes text for HTML and XML element content and attribute values.
pub fn esc_html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Escapes text for a Markdown table cell: pipes would split the cell and
/// HTML-ish text would be interpreted by GitHub.
pub fn esc_md(s: &str) -> String {
    esc_html(s).replace('|', "\\|").replace('\n', " ")
}

/// A byte count for axis labels, base 1024 (`32K`, `1.5M`, `4G`).
pub fn short_bytes(v: f64) -> String {
    let units = [
        (1u64 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    for (d, u) in units {
        let d = d as f64;
        if v.abs() >= d {
            let x = v / d;
            return if (x - x.round()).abs() < 0.05 {
                format!("{:.0}{u}", x.round())
            } else {
                format!("{x:.1}{u}")
            };
        }
    }
    format!("{v:.0}")
}

/// A compact number for axis labels (`1.5k`, `2M`, `0.25`).
pub fn short_num(v: f64) -> String {
    let a = v.abs();
    let (d, s) = if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e4 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / d;
    let t = if x.abs() >= 100.0 || x.fract() == 0.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    };
    let t = if t.contains('.') {
        t.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        t
    };
    format!("{t}{s}")
}

/// Median with the half-width of its interval in percent: `1.234 ms ±3%`.
pub fn side_cell(s: &Summary, unit: &str) -> String {
    let pm = match s.ci {
        Some((lo, hi)) if s.median != 0.0 && s.median.is_finite() => {
            let half = (hi - s.median).abs().max((s.median - lo).abs()) / s.median.abs() * 100.0;
            if half < 9.95 {
                format!(" ±{half:.1}%")
            } else {
                format!(" ±{half:.0}%")
            }
        }
        _ => String::new(),
    };
    format!("{}{pm}", fmt_trimmed(s.median, unit))
}

fn pct(r: f64) -> String {
    let v = (r - 1.0) * 100.0;
    if !v.is_finite() {
        "?".into()
    } else if v.abs() < 0.05 {
        "0.0%".into()
    } else {
        format!("{v:+.1}%")
    }
}

/// The change column: `~` for no significant change (as benchstat),
/// otherwise the relative change of the candidate.
pub fn delta_cell(r: &Row) -> String {
    match r.verdict {
        Verdict::Unchanged => "~".into(),
        _ => pct(r.ratio),
    }
}

/// The interval of the change, `[-12.0%, -8.1%]`, or empty.
pub fn interval_cell(r: &Row) -> String {
    match r.ratio_ci {
        Some((lo, hi)) => format!("[{}, {}]", pct(lo), pct(hi)),
        None => String::new(),
    }
}

/// The p-value as shown: family-wise adjusted (step-down maxT over whole
/// runs) when adjusted.
pub fn p_cell(r: &Row) -> String {
    match r.p_adjusted.or(r.p_value) {
        None => "-".into(),
        Some(p) if p < 0.001 => format!("{p:.1e}"),
        Some(p) => format!("{p:.3}"),
    }
}

/// The verdict words, with the threshold-only hint of low-confidence rows
/// and the possible change of inconclusive ones.
pub fn verdict_text(r: &Row) -> String {
    match (r.verdict, r.hint, r.possible) {
        (Verdict::LowConfidence, Some(h), _) => format!("{}? (low confidence)", h.word()),
        (Verdict::LowConfidence, None, _) => "low confidence".into(),
        (Verdict::Inconclusive, _, Some(p)) => format!("inconclusive, possible {}", p.word()),
        (v, _, _) => v.word().into(),
    }
}

/// A relative amount in percent with `±`: `±4.1%`, `±12%`.
fn pm_pct(x: f64) -> String {
    let v = x.abs() * 100.0;
    if v < 9.95 {
        format!("±{v:.1}%")
    } else {
        format!("±{v:.0}%")
    }
}

/// What the MDE column shows for a row without a minimum detectable effect
/// that could have been tested: no shift could be flagged at its runs.
pub const MDE_N_TOO_SMALL: &str = "n too small";

/// The minimum detectable effect: `±4.1%`; [`MDE_N_TOO_SMALL`] for a
/// metric that could be judged but where no shift could be flagged at its
/// runs (too few for the family's level, or low confidence); `—` for one
/// that is not tested (explanatory).
pub fn mde_cell(r: &Row) -> String {
    match r.mde {
        // Past 10× nothing useful is said by the digits.
        Some(m) if m.is_finite() && m > 10.0 => ">±1000%".into(),
        Some(m) if m.is_finite() => pm_pct(m),
        _ if r.role != Role::Explanatory
            && (r.p_value.is_some() || r.verdict == Verdict::LowConfidence) =>
        {
            MDE_N_TOO_SMALL.into()
        }
        _ => "—".into(),
    }
}

/// The MDE in a sentence: `MDE ±4.1%`, `MDE: n too small`, or empty
/// for a metric that is not tested.
pub fn mde_phrase(r: &Row) -> String {
    match mde_cell(r) {
        m if m == "—" => String::new(),
        m if m == MDE_N_TOO_SMALL => format!("MDE: {m}"),
        m => format!("MDE {m}"),
    }
}

/// The role word: `headline`, `secondary`, `explanatory`.
pub fn role_cell(r: &Row) -> &'static str {
    r.role.as_str()
}

/// Whether a row is a possible regression: its whole interval lies beyond
/// the noise threshold but the test is not significant, or (low
/// confidence) the medians alone suggest a regression.
pub fn is_possible_regression(r: &Row) -> bool {
    r.possible == Some(Verdict::Regression)
        || (r.verdict == Verdict::LowConfidence && r.hint == Some(Verdict::Regression))
}

/// Why a row is a possible regression, in words.
pub fn possible_reason(r: &Row) -> String {
    if r.possible == Some(Verdict::Regression) {
        format!(
            "interval beyond the {:.0}% noise threshold, not significant at the family-wise level",
            r.threshold * 100.0
        )
    } else {
        format!(
            "too few runs to test, {}+{}; the medians alone suggest it",
            r.baseline.n, r.candidate.n
        )
    }
}

/// Whether this possible regression fails the comparison: a tested one
/// under `possible_regression = "fail"` (a low-confidence hint never does).
pub fn possible_fails(c: &Comparison, r: &Row) -> bool {
    r.possible == Some(Verdict::Regression) && c.policy.possible_regression == PossiblePolicy::Fail
}

/// The outcome's class in HTML and its style key elsewhere: `pass`,
/// `fail`, `inconclusive`.
pub fn outcome_class(c: &Comparison) -> &'static str {
    match c.outcome {
        Outcome::Pass => "pass",
        Outcome::Fail => "fail",
        Outcome::Inconclusive => "inconclusive",
    }
}

/// Why the outcome is INCONCLUSIVE, in one sentence (without the metric
/// list, which each format writes in its own markup).
pub fn undecided_sentence(c: &Comparison) -> &'static str {
    if c.undecided_headlines().next().is_none() {
        "no headline metric could be tested, so the comparison could not have seen a threshold-sized shift"
    } else {
        "these headline metrics could be shown neither changed nor unchanged (an MDE above the noise threshold, too few runs, or a change whose interval crosses the threshold); rerun with more repetitions"
    }
}

/// [`undecided_sentence`] ending in `:` when the undecided headline
/// metrics are listed after it, else in `.`.
pub fn undecided_intro(c: &Comparison) -> String {
    let end = if c.undecided_headlines().next().is_some() {
        ":"
    } else {
        "."
    };
    format!("{}{end}", undecided_sentence(c))
}

/// What an undecided headline metric is listed with after its workload and
/// name: `+3.0% (MDE ±4.1%, noise threshold 2%): inconclusive`.
pub fn undecided_detail(r: &Row) -> String {
    format!(
        "{} ({}, noise threshold {:.0}%): {}",
        delta_cell(r),
        mde_phrase(r),
        r.threshold * 100.0,
        verdict_text(r)
    )
}

/// A possible regression after its workload: the metric, change, interval
/// and MDE, then why it is one.
pub fn possible_detail(r: &Row) -> String {
    format!("{}: {}", possible_line(r), possible_reason(r))
}

/// The sentence a metric missing from the candidate is reported with.
pub fn missing_message(workload: &str, metric: &str) -> String {
    format!(
        "{metric} ({workload}): measured by the baseline, missing from the candidate; an error of the comparison (did the workload fail or stop reporting it?)"
    )
}

/// A level without floating-point noise: `0.04`, not `0.04000000000000001`.
pub fn fmt_level(a: f64) -> String {
    let s = format!("{a:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// How the verdicts were reached, in one line (without a trailing period):
/// the test, the rounds, each family's level and size, the permutations and
/// the interval.
pub fn method_text(c: &Comparison) -> String {
    let m = &c.method;
    let mut s = format!(
        "permutation test over whole runs ({} + {} rounds), pooled t on log values",
        m.rounds.0, m.rounds.1
    );
    if c.policy.holm {
        s.push_str(&format!(
            ", Westfall–Young step-down maxT per family: headline α = {} ({} metric{}), secondary α = {} ({} metric{}); p family-wise adjusted",
            fmt_level(m.headline_alpha),
            m.tested.0,
            if m.tested.0 == 1 { "" } else { "s" },
            fmt_level(m.secondary_alpha),
            m.tested.1,
            if m.tested.1 == 1 { "" } else { "s" },
        ));
    } else {
        s.push_str(&format!(
            ", each metric on its own at α = {} (no family-wise control)",
            fmt_level(c.policy.alpha)
        ));
    }
    if m.permutations == 0 {
        s.push_str("; no metric could be tested");
    } else {
        s.push_str(&format!(
            "; {} run assignments ({})",
            m.permutations,
            if m.exact { "exact" } else { "random" }
        ));
    }
    s.push_str(&format!(
        "; {:.0}% Hodges-Lehmann interval of the ratio",
        c.policy.confidence() * 100.0
    ));
    s
}

/// One line about a row: metric, change, medians, ratio with its interval,
/// p and the threshold (JUnit messages).
pub fn row_message(r: &Row) -> String {
    let ci = r
        .ratio_ci
        .map(|(lo, hi)| format!(" [{lo:.3}, {hi:.3}]"))
        .unwrap_or_default();
    let p = if r.p_value.is_some() {
        format!(", p = {}", p_cell(r))
    } else {
        String::new()
    };
    let mde = match mde_phrase(r) {
        m if m.is_empty() => m,
        m => format!(", {m}"),
    };
    format!(
        "{} {}: {} → {}, ratio {:.3}{ci}{p} (noise threshold {:.0}%{mde}, {} is better)",
        r.metric,
        delta_cell(r),
        fmt_trimmed(r.baseline.median, &r.unit),
        fmt_trimmed(r.candidate.median, &r.unit),
        r.ratio,
        r.threshold * 100.0,
        better_word(r),
    )
}

/// Per-run values with their unit, for failure details.
pub fn values_text(values: &[f64], unit: &str) -> String {
    values
        .iter()
        .map(|v| fmt_trimmed(*v, unit))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `higher` / `lower`.
pub fn better_word(r: &Row) -> &'static str {
    match r.better {
        bench_core::result::Better::Higher => "higher",
        bench_core::result::Better::Lower => "lower",
    }
}

/// The bound of a spec limit: `≥ 4.000 k ops/s`, `≤ 2.00 ms`, or both.
pub fn spec_bound(s: &SpecRow) -> String {
    let mut parts = Vec::new();
    if let Some(m) = s.min {
        parts.push(format!("≥ {}", fmt_trimmed(m, &s.unit)));
    }
    if let Some(m) = s.max {
        parts.push(format!("≤ {}", fmt_trimmed(m, &s.unit)));
    }
    parts.join(", ")
}

/// The candidate value of a spec row, or `not measured`.
pub fn spec_value(s: &SpecRow) -> String {
    s.value
        .map_or_else(|| "not measured".into(), |v| fmt_trimmed(v, &s.unit))
}

/// The sentence a failed spec limit is reported with.
pub fn spec_message(s: &SpecRow) -> String {
    let mut m = format!(
        "{}: {} (limit {}, tolerance {:.0}%)",
        s.metric,
        spec_value(s),
        spec_bound(s),
        s.tolerance * 100.0
    );
    if !s.note.is_empty() {
        m.push_str(" — ");
        m.push_str(&s.note);
    }
    m
}

/// Workload labels in first-appearance order; rows come regressions first,
/// so the workloads with the worst verdicts come first too.
pub fn workloads(c: &Comparison) -> Vec<&str> {
    let mut w: Vec<&str> = Vec::new();
    for r in &c.rows {
        if !w.contains(&r.workload.as_str()) {
            w.push(&r.workload);
        }
    }
    w
}

/// `, 2 disturbed runs left out` when any.
pub fn excluded(n: usize, failed: usize) -> String {
    let mut s = String::new();
    if n > 0 {
        s.push_str(&format!(
            ", {n} disturbed run{} left out",
            if n == 1 { "" } else { "s" }
        ));
    }
    if failed > 0 {
        s.push_str(&format!(
            ", {failed} failed run{} left out",
            if failed == 1 { "" } else { "s" }
        ));
    }
    s
}

/// Non-empty parts joined by a space.
pub fn join_parts(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

/// One line about a possible regression: metric, change, interval, MDE
/// (without the workload and the reason).
pub fn possible_line(r: &Row) -> String {
    let mde = r
        .mde
        .filter(|m| m.is_finite())
        .map(|_| format!("(MDE {})", mde_cell(r)))
        .unwrap_or_default();
    join_parts(&[&r.metric, &delta_cell(r), &interval_cell(r), &mde])
}

/// Possible regressions ([`is_possible_regression`]), in row order: tested
/// rows whose interval lies beyond the threshold without significance
/// first, then low-confidence rows whose threshold-only hint is a
/// regression. Worth rerunning with more repetitions.
pub fn possible_regressions(c: &Comparison) -> Vec<&Row> {
    c.rows
        .iter()
        .filter(|r| is_possible_regression(r))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_formatted_with_units() {
        assert_eq!(fmt_value(1500.0, "ns"), "1.50 µs");
        assert_eq!(fmt_value(2.5e9, "bytes/s"), "2.500 GB/s");
        assert_eq!(fmt_value(12.0, "ns"), "12 ns");
        assert_eq!(fmt_value(0.9871, "ratio"), "0.987");
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short_num(1500.0), "1500");
        assert_eq!(short_num(15000.0), "15k");
        assert_eq!(short_num(2.5e6), "2.5M");
        assert_eq!(short_num(0.25), "0.25");
        assert_eq!(short_num(100.0), "100");
    }

    #[test]
    fn levels_and_mde() {
        assert_eq!(fmt_level(0.05 * 0.8), "0.04");
        assert_eq!(fmt_level(0.05 * 0.2), "0.01");
        assert_eq!(pm_pct(0.041), "±4.1%");
        assert_eq!(pm_pct(0.123), "±12%");
    }

    #[test]
    fn escaping() {
        assert_eq!(esc_html("<a&\"b\">"), "&lt;a&amp;&quot;b&quot;&gt;");
        assert_eq!(esc_md("a|b"), "a\\|b");
    }
}
