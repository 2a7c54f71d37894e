//! Plain-text renderers for `skubench show`, `list` and `sysinfo`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bench_core::host::HostInfo;
use bench_core::result::ResultFile;
use bench_core::workload::{Registry, WorkloadFactory};

use crate::common::{host_line, status_word};

/// Re-exported where the CLI's progress line has always found it.
pub use crate::common::fmt_value;

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
    let _ = writeln!(o, "host {}", host_line(h));
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
            let med = baselines::stats::median(vals);
            let mut s = vals.clone();
            s.sort_by(f64::total_cmp);
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
