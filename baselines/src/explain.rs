//! Why a metric moved: the explanatory figures of the same step beside it.
//!
//! A comparison row that regressed or improved is explained by the
//! attribution metrics its step recorded (run-queue wait, pressure stalls,
//! device service time, interrupt load, retransmits): "disk.randread.lat_ns.p99
//! +40%: device service time +38%, run-queue wait 0.01 → 0.02". They never
//! decide anything (their verdict is `explanatory`); this module only picks
//! which of them to show and says it in words every report format shares.

use serde::{Deserialize, Serialize};

use crate::compare::{Row, Verdict};

/// How many causes one explanation lists at most.
const MAX_CAUSES: usize = 4;

/// Families of explanatory metrics: the name segment after the step's
/// prefix.
const FAMILIES: &[&str] = &[
    "dev", "sched", "psi", "softirq", "netstack", "nic", "tcp", "cpu", "ebpf",
];

/// The figures a reader asks for first, shown whenever the step has them
/// (in this order): the device's service time and the run-queue wait.
const FIRST: &[&str] = &[
    "dev.read_await_ns",
    "dev.write_await_ns",
    "sched.runq_wait_ratio",
];

/// Words for the metrics a reader knows by another name (suffix below the
/// step's prefix → label); others are shown by their suffix.
const LABELS: &[(&str, &str)] = &[
    ("dev.read_await_ns", "device read service time"),
    ("dev.write_await_ns", "device write service time"),
    ("dev.util_pct", "device utilisation"),
    ("dev.queue_depth", "device queue depth"),
    ("sched.runq_wait_ratio", "run-queue wait"),
    ("sched.involuntary_switches_per_s", "preemptions"),
    ("psi.cpu.some_pct", "CPU pressure"),
    ("psi.io.some_pct", "I/O pressure"),
    ("psi.io.full_pct", "I/O full stall"),
    ("psi.memory.some_pct", "memory pressure"),
    ("softirq.busiest_cpu_pct", "busiest CPU's interrupt time"),
    ("netstack.tcp_retrans_segs_per_s", "TCP retransmits"),
    ("tcp.retransmits", "TCP retransmits (sockets)"),
    ("tcp.rtt_ns", "TCP RTT"),
    ("cpu.sys_pct", "CPU system time"),
    ("cpu.usr_pct", "CPU user time"),
];

/// One explanatory figure beside a metric that moved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cause {
    /// The explanatory metric's full name.
    pub metric: String,
    /// What a reader calls it.
    pub label: String,
    /// Baseline median.
    pub baseline: f64,
    /// Candidate median.
    pub candidate: f64,
    /// Unit.
    pub unit: String,
    /// Relative change, percent (`None` when the baseline is 0).
    pub change_pct: Option<f64>,
}

impl Cause {
    /// The change in words: `+38%`, or `0.01 → 0.52` for shares and ratios
    /// (a wait ratio going from 0.001 to 0.003 is "+200%" but nothing).
    pub fn describe(&self) -> String {
        let share = matches!(self.unit.as_str(), "%" | "ratio");
        match self.change_pct {
            Some(c) if !share => format!("{} {c:+.0}%", self.label),
            _ => format!(
                "{} {} → {}",
                self.label,
                short(self.baseline, &self.unit),
                short(self.candidate, &self.unit)
            ),
        }
    }

    /// How much it moved, on one scale for sorting and the show-it rule.
    fn weight(&self) -> f64 {
        match self.unit.as_str() {
            // Points of a percentage, scaled so that 10 points = 10%.
            "%" => (self.candidate - self.baseline).abs(),
            "ratio" => 100.0 * (self.candidate - self.baseline).abs(),
            _ => self.change_pct.map_or(
                if self.candidate != self.baseline {
                    100.0
                } else {
                    0.0
                },
                f64::abs,
            ),
        }
    }
}

fn short(v: f64, unit: &str) -> String {
    let a = v.abs();
    if unit == "ns" && a >= 1e3 {
        return if a >= 1e6 {
            format!("{:.1} ms", v / 1e6)
        } else {
            format!("{:.1} µs", v / 1e3)
        };
    }
    if a == 0.0 {
        "0".into()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A metric that moved, with the figures that explain it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// Workload label.
    pub workload: String,
    /// The metric that moved.
    pub metric: String,
    /// Its verdict (regression or improvement).
    pub verdict: Verdict,
    /// Its relative change, percent.
    pub change_pct: f64,
    /// The explanatory figures, the ones a reader asks for first, then by
    /// how much they moved.
    pub causes: Vec<Cause>,
}

impl Explanation {
    /// One line: `disk.randread.lat_ns.p99 +40.0%: device read service time
    /// +38%, run-queue wait 0.01 → 0.02`.
    pub fn line(&self) -> String {
        let causes: Vec<String> = self.causes.iter().map(Cause::describe).collect();
        format!(
            "{} {:+.1}%: {}",
            self.metric,
            self.change_pct,
            causes.join(", ")
        )
    }
}

/// The step prefix and family of an explanatory metric:
/// `disk.randread.dev.util_pct` → (`disk.randread`, `dev`).
fn split_family(name: &str) -> Option<&str> {
    FAMILIES.iter().find_map(|f| {
        let at = name.rfind(&format!(".{f}."))?;
        Some(&name[..at])
    })
}

/// Explanations for every judged row that regressed or improved, from the
/// explanatory rows of the same workload and step. A moved metric with no
/// attribution recorded (an older result file) gets none.
pub fn explain(rows: &[Row]) -> Vec<Explanation> {
    let explanatory: Vec<(&Row, &str)> = rows
        .iter()
        .filter(|r| r.verdict == Verdict::Explanatory)
        .filter_map(|r| split_family(&r.metric).map(|p| (r, p)))
        .collect();
    let mut out = Vec::new();
    for r in rows {
        if !matches!(r.verdict, Verdict::Regression | Verdict::Improvement) {
            continue;
        }
        // The longest step prefix the moved metric lies under
        // (`cpu.int.scaling.t2` before `cpu.int`).
        let Some(prefix) = explanatory
            .iter()
            .filter(|(e, p)| e.workload == r.workload && r.metric.starts_with(&format!("{p}.")))
            .map(|(_, p)| *p)
            .max_by_key(|p| p.len())
        else {
            continue;
        };
        let mut causes: Vec<(Option<usize>, Cause)> = explanatory
            .iter()
            .filter(|(e, p)| e.workload == r.workload && *p == prefix)
            .map(|(e, p)| {
                let suffix = &e.metric[p.len() + 1..];
                let label = LABELS
                    .iter()
                    .find(|(s, _)| *s == suffix)
                    .map_or(suffix.to_string(), |(_, l)| l.to_string());
                let (b, c) = (e.baseline.median, e.candidate.median);
                let cause = Cause {
                    metric: e.metric.clone(),
                    label,
                    baseline: b,
                    candidate: c,
                    unit: e.unit.clone(),
                    change_pct: (b != 0.0 && b.is_finite() && c.is_finite())
                        .then(|| (c / b - 1.0) * 100.0),
                };
                // Shown when a reader asks for it first, or when it moved
                // by 10% (10 points for shares).
                (FIRST.iter().position(|f| *f == suffix), cause)
            })
            // Per second, the wait says what the ratio says.
            .filter(|(_, c)| !c.metric.ends_with(".sched.runq_wait_ms_per_s"))
            .filter(|(first, c)| first.is_some() || c.weight() >= 10.0)
            .collect();
        if causes.is_empty() {
            continue;
        }
        // The first-asked in their order, then by how much they moved.
        causes.sort_by(|a, b| match (a.0, b.0) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => b.1.weight().total_cmp(&a.1.weight()),
        });
        causes.truncate(MAX_CAUSES);
        out.push(Explanation {
            workload: r.workload.clone(),
            metric: r.metric.clone(),
            verdict: r.verdict,
            change_pct: r.change_pct(),
            causes: causes.into_iter().map(|(_, c)| c).collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::Summary;
    use bench_core::result::{Better, Role};

    fn row(metric: &str, unit: &str, b: f64, c: f64, verdict: Verdict) -> Row {
        let s = |m: f64| Summary {
            n: 5,
            median: m,
            values: vec![m; 5],
            ..Summary::default()
        };
        Row {
            workload: "randread".into(),
            metric: metric.into(),
            unit: unit.into(),
            better: Better::Lower,
            baseline: s(b),
            candidate: s(c),
            ratio: if b != 0.0 { c / b } else { 1.0 },
            ratio_ci: None,
            p_value: None,
            p_adjusted: None,
            exact: false,
            threshold: 3.0,
            verdict,
            hint: None,
            role: if verdict == Verdict::Explanatory {
                Role::Explanatory
            } else {
                Role::Secondary
            },
            mde: None,
            possible: None,
            alpha: None,
        }
    }

    #[test]
    fn a_moved_tail_is_explained_by_its_steps_attribution() {
        let e = Verdict::Explanatory;
        let rows = vec![
            row(
                "disk.randread.lat_ns.p99",
                "ns",
                100.0,
                140.0,
                Verdict::Regression,
            ),
            row(
                "disk.randread.lat_ns.p50",
                "ns",
                50.0,
                50.5,
                Verdict::Unchanged,
            ),
            row("disk.randread.dev.read_await_ns", "ns", 80.0, 110.4, e),
            row(
                "disk.randread.sched.runq_wait_ratio",
                "ratio",
                0.01,
                0.0101,
                e,
            ),
            // Moved by less than 10%, not a key figure: left out.
            row("disk.randread.psi.cpu.some_pct", "%", 1.0, 2.0, e),
            // Moved by 30 points: shown.
            row("disk.randread.psi.io.some_pct", "%", 10.0, 40.0, e),
            // Another step's attribution never explains this one.
            row("disk.randwrite.dev.write_await_ns", "ns", 80.0, 800.0, e),
        ];
        let x = explain(&rows);
        assert_eq!(x.len(), 1, "{x:?}");
        assert_eq!(
            x[0].line(),
            "disk.randread.lat_ns.p99 +40.0%: device read service time +38%, \
             run-queue wait 0.01 → 0.01, I/O pressure 10.0 → 40.0"
        );
        let metrics: Vec<&str> = x[0].causes.iter().map(|c| c.metric.as_str()).collect();
        assert!(!metrics
            .iter()
            .any(|m| m.contains("randwrite") || m.contains("psi.cpu")));
    }

    #[test]
    fn the_longest_step_prefix_wins_and_unexplained_moves_are_left_out() {
        let e = Verdict::Explanatory;
        let rows = vec![
            row(
                "cpu.int.scaling.t2.ops_per_s",
                "ops/s",
                100.0,
                50.0,
                Verdict::Regression,
            ),
            row("cpu.int.sched.runq_wait_ratio", "ratio", 0.0, 0.0, e),
            row(
                "cpu.int.scaling.t2.sched.runq_wait_ratio",
                "ratio",
                0.02,
                0.9,
                e,
            ),
            row(
                "mem.stream.triad.bytes_per_s",
                "B/s",
                100.0,
                50.0,
                Verdict::Regression,
            ),
        ];
        let x = explain(&rows);
        assert_eq!(x.len(), 1, "{x:?}");
        assert_eq!(x[0].causes.len(), 1);
        assert_eq!(
            x[0].causes[0].metric,
            "cpu.int.scaling.t2.sched.runq_wait_ratio"
        );
        assert_eq!(x[0].causes[0].describe(), "run-queue wait 0.02 → 0.90");
    }

    #[test]
    fn causes_are_capped_and_a_zero_baseline_has_no_percentage() {
        let e = Verdict::Explanatory;
        let mut rows = vec![row(
            "net.tcp_rr.lat_ns.p50",
            "ns",
            10.0,
            20.0,
            Verdict::Regression,
        )];
        for i in 0..8 {
            rows.push(row(
                &format!("net.tcp_rr.netstack.c{i}_per_s"),
                "1/s",
                0.0,
                i as f64 + 1.0,
                e,
            ));
        }
        let x = explain(&rows);
        assert_eq!(x[0].causes.len(), MAX_CAUSES);
        assert_eq!(x[0].causes[0].change_pct, None);
        assert!(x[0].causes[0].describe().contains("0 → "));
    }
}
