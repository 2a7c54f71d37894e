//! Markdown for pipeline step summaries and PR comments (GitHub-flavoured):
//! the verdict on one line, the counts, what failed, both hosts, and the
//! full table folded away in a `<details>` block.

use std::fmt::Write as _;

use baselines::compare::{Comparison, SideInfo, Verdict};
use bench_core::host::HostInfo;

use crate::common::{
    delta_cell, esc_md, excluded, interval_cell, p_cell, possible_regressions, side_cell,
    spec_bound, spec_value, verdict_text,
};

fn verdict_md(r: &baselines::compare::Row) -> String {
    match r.verdict {
        Verdict::Regression => "**regression**".into(),
        _ => esc_md(&verdict_text(r)),
    }
}

/// A host field: its name and how it is read.
pub(crate) type HostField = (&'static str, fn(&HostInfo) -> String);

/// The host fields compared side by side.
pub(crate) fn host_fields() -> [HostField; 11] {
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
pub(crate) fn host_value(s: &SideInfo, f: fn(&HostInfo) -> String) -> String {
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
    let mark = if c.failed() { "❌" } else { "✅" };
    let _ = writeln!(o, "### {mark} {}\n", esc_md(&c.headline()));
    let _ = writeln!(
        o,
        "{} · {}\n",
        side_line("baseline", &c.baseline),
        side_line("candidate", &c.candidate)
    );
    let k = &c.counts;
    let _ = writeln!(
        o,
        "| regression | improvement | unchanged | inconclusive | low confidence | spec failed | spec passed |\n|---:|---:|---:|---:|---:|---:|---:|\n| {} | {} | {} | {} | {} | {} | {} |\n",
        k.regression, k.improvement, k.unchanged, k.inconclusive, k.low_confidence, k.spec_failed, k.spec_passed
    );

    let regressions: Vec<_> = c
        .rows
        .iter()
        .filter(|r| r.verdict == Verdict::Regression)
        .collect();
    if !regressions.is_empty() {
        let _ = writeln!(o, "#### Regressions\n");
        let _ = writeln!(
            o,
            "| workload | metric | baseline | candidate | change | interval | p |\n|---|---|---:|---:|---:|---|---:|"
        );
        for r in regressions {
            let _ = writeln!(
                o,
                "| {} | `{}` | {} | {} | **{}** | {} | {} |",
                esc_md(&r.workload),
                esc_md(&r.metric),
                side_cell(&r.baseline, &r.unit),
                side_cell(&r.candidate, &r.unit),
                delta_cell(r),
                interval_cell(r),
                p_cell(r)
            );
        }
        let _ = writeln!(o);
    }
    let maybe = possible_regressions(c);
    if !maybe.is_empty() {
        let _ = writeln!(
            o,
            "Possible regressions, too few runs to test (rerun with more repetitions): {}\n",
            maybe
                .iter()
                .map(|r| format!("`{}` {}", esc_md(&r.metric), delta_cell(r)))
                .collect::<Vec<_>>()
                .join(", ")
        );
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
        "| workload | metric | baseline | candidate | change | interval | p | n | verdict |\n|---|---|---:|---:|---:|---|---:|---:|---|"
    );
    for r in &c.rows {
        let _ = writeln!(
            o,
            "| {} | `{}` | {} | {} | {} | {} | {} | {}+{} | {} |",
            esc_md(&r.workload),
            esc_md(&r.metric),
            side_cell(&r.baseline, &r.unit),
            side_cell(&r.candidate, &r.unit),
            delta_cell(r),
            interval_cell(r),
            p_cell(r),
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
    if !c.unmatched.is_empty() {
        let _ = writeln!(o, "\nOnly on one side (not compared):\n");
        for (w, m, side) in &c.unmatched {
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
        "\n`~`: within the noise threshold. p: Mann-Whitney U{}; interval: {:.0}% Hodges-Lehmann interval of the change.\n\n</details>",
        if c.policy.holm { ", Holm-adjusted" } else { "" },
        c.policy.confidence() * 100.0
    );
    o
}
