//! Plain-text renderers for `skubench show`, `list` and `sysinfo`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bench_core::host::HostInfo;
use bench_core::result::{ResultFile, Status};
use bench_core::workload::{Registry, WorkloadFactory};

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

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Failed => "FAILED",
        Status::Interrupted => "INTERRUPTED",
        Status::Skipped => "skipped",
    }
}

/// Renders the host fingerprint.
pub fn sysinfo(h: &HostInfo) -> String {
    let mut o = String::new();
    let rows: Vec<(&str, String)> = vec![
        (
            "sku",
            h.sku
                .clone()
                .unwrap_or_else(|| "(not set: --sku or SKUBENCH_SKU)".into()),
        ),
        ("hostname", h.hostname.clone()),
        (
            "distro",
            format!("{} {} ({})", h.distro, h.distro_version, h.distro_pretty),
        ),
        ("kernel", h.kernel.clone()),
        ("arch", h.arch.clone()),
        ("cpu", h.cpu_model.clone()),
        ("vcpus", h.vcpus.to_string()),
        (
            "memory",
            format!("{:.1} GiB", h.memory_bytes as f64 / (1u64 << 30) as f64),
        ),
        ("llc", format!("{} KiB", h.llc_bytes / 1024)),
        ("hypervisor", h.hypervisor.clone()),
        ("system", h.system.clone()),
        ("clocksource", h.clocksource.clone()),
        ("timer", h.timer.clone()),
        ("thp", h.thp.clone()),
        ("boot id", h.boot_id.clone()),
    ];
    for (k, v) in rows {
        let _ = writeln!(o, "{k:<12} {v}");
    }
    o
}

/// Renders the workload kinds and their parameters with defaults.
pub fn workload_list(reg: &Registry) -> String {
    let mut o = String::new();
    for f in reg.kinds() {
        o.push_str(&workload_params(f));
        o.push('\n');
    }
    let _ = writeln!(o, "{EVERY_WORKLOAD}");
    o
}

/// The run settings every workload takes besides its own parameters.
pub const EVERY_WORKLOAD: &str = "Every workload also takes: --warmup D, --duration D (or --ops N), --interval D, --repetitions N, --name LABEL.";

/// One workload kind and its parameters with their defaults, as `list`
/// prints them (and `skubench run KIND --help`).
pub fn workload_params(f: &dyn WorkloadFactory) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}  —  {}", f.kind(), f.about());
    for p in f.params() {
        let _ = writeln!(
            o,
            "    --{:<20} {:<28} default {:<10} {}",
            p.name,
            p.kind.describe(),
            p.default.unwrap_or("-"),
            p.help
        );
    }
    o
}

/// Summarises a result file: host, status, and per workload label each
/// metric's median over the repetitions with its range.
pub fn summary(f: &ResultFile) -> String {
    let mut o = String::new();
    let h = &f.host;
    let _ = writeln!(
        o,
        "{} {} ({}) · status {} · {} → {}",
        f.tool.name,
        f.tool.version,
        f.tool.git_revision,
        status_word(f.status),
        f.started_at,
        f.finished_at
    );
    let _ = writeln!(o, "host {}", crate::runs::host_line(h));
    if let Some(e) = &f.error {
        let _ = writeln!(o, "error: {e}");
    }
    let _ = writeln!(o);
    let mut labels: Vec<&str> = Vec::new();
    for r in &f.runs {
        if !labels.contains(&r.label.as_str()) {
            labels.push(&r.label);
        }
    }
    for label in labels {
        let runs: Vec<_> = f.runs.iter().filter(|r| r.label == label).collect();
        let statuses: Vec<String> = runs
            .iter()
            .map(|r| {
                let mut s = format!("#{} {}", r.repetition, status_word(r.status));
                if r.disturbance.disturbed {
                    let _ = write!(
                        s,
                        " (disturbed: foreign CPU {:.2} vCPU)",
                        r.disturbance.foreign_cpu_vcpus
                    );
                }
                s
            })
            .collect();
        let _ = writeln!(
            o,
            "== {label} [{}] — {}",
            runs[0].workload,
            statuses.join(", ")
        );
        for r in &runs {
            if let Some(e) = &r.error {
                let _ = writeln!(o, "   run #{} error: {e}", r.repetition);
            }
        }
        let mut by_metric: BTreeMap<&str, (Vec<f64>, &str)> = BTreeMap::new();
        let mut order: Vec<&str> = Vec::new();
        for r in &runs {
            for m in &r.metrics {
                let e = by_metric
                    .entry(&m.name)
                    .or_insert_with(|| (Vec::new(), &m.unit));
                if e.0.is_empty() && !order.contains(&m.name.as_str()) {
                    order.push(&m.name);
                }
                e.0.push(m.value);
            }
        }
        let width = order.iter().map(|n| n.len()).max().unwrap_or(10);
        for name in order {
            let (vals, unit) = &by_metric[name];
            let mut s = vals.clone();
            s.sort_by(f64::total_cmp);
            let med = if s.len() % 2 == 1 {
                s[s.len() / 2]
            } else {
                (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
            };
            let range = if s.len() > 1 {
                format!(
                    "  [{} … {}] n={}",
                    fmt_value(s[0], unit),
                    fmt_value(s[s.len() - 1], unit),
                    s.len()
                )
            } else {
                String::new()
            };
            let _ = writeln!(o, "   {name:<width$}  {:>16}{range}", fmt_value(med, unit));
        }
        let hists: Vec<&String> = runs[0].histograms.keys().collect();
        if !hists.is_empty() {
            let _ = writeln!(
                o,
                "   histograms: {} (skubench show FILE --hgrm NAME)",
                hists
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let _ = writeln!(o);
    }
    o
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
}
