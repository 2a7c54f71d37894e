//! A/B comparison of two sets of runs, metric by metric.
//!
//! Runs are the replication unit. Per metric: Mann-Whitney U (exact for
//! small n), a Hodges-Lehmann confidence interval of the ratio of medians
//! (on log values), Holm correction across the comparison's metrics. A
//! metric is a regression only when the test is significant *and* the whole
//! interval lies beyond the metric's noise threshold in the bad direction;
//! improvement likewise; unchanged when the interval lies inside the
//! threshold; inconclusive otherwise. With fewer than `min_runs` runs a side,
//! a threshold-only verdict is given, marked low-confidence.

use std::collections::BTreeMap;

use bench_core::host::HostInfo;
use bench_core::result::{Better, ResultFile, Status};
use serde::{Deserialize, Serialize};

use crate::policy::{glob_match, Policy, Spec};
use crate::stats;

/// The verdict on one metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Significantly worse, beyond the noise threshold.
    Regression,
    /// Significantly better, beyond the noise threshold.
    Improvement,
    /// Not enough evidence either way.
    Inconclusive,
    /// Too few runs for a test; see `hint`.
    LowConfidence,
    /// The interval lies within the noise threshold.
    Unchanged,
}

impl Verdict {
    /// The word used in reports.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::Improvement => "improvement",
            Verdict::Inconclusive => "inconclusive",
            Verdict::LowConfidence => "low-confidence",
            Verdict::Unchanged => "unchanged",
        }
    }
}

/// One side of a comparison: where its runs came from.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SideInfo {
    /// Name shown in reports (file name, baseline name or query).
    pub name: String,
    /// Result files (paths or store ids).
    pub sources: Vec<String>,
    /// Distinct hosts.
    pub hosts: Vec<HostInfo>,
    /// Runs used.
    pub runs_used: usize,
    /// Runs left out because they were flagged disturbed.
    pub runs_disturbed_excluded: usize,
    /// Runs left out because they failed or were interrupted.
    pub runs_failed_excluded: usize,
}

/// Summary of one side's values of a metric.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Number of runs.
    pub n: usize,
    /// Median.
    pub median: f64,
    /// Confidence interval of the median (order statistics), if n allows.
    pub ci: Option<(f64, f64)>,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Coefficient of variation (stddev / mean).
    pub cv: f64,
    /// The per-run values.
    pub values: Vec<f64>,
}

impl Summary {
    fn of(values: &[f64], confidence: f64) -> Self {
        let mean = stats::mean(values);
        Self {
            n: values.len(),
            median: stats::median(values),
            ci: stats::median_ci(values, confidence.min(0.95)),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            cv: if mean != 0.0 {
                stats::stddev(values) / mean.abs()
            } else {
                0.0
            },
            values: values.to_vec(),
        }
    }
}

/// The comparison of one metric.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    /// Workload label.
    pub workload: String,
    /// Metric name.
    pub metric: String,
    /// Unit.
    pub unit: String,
    /// Which direction is better.
    pub better: Better,
    /// Baseline values.
    pub baseline: Summary,
    /// Candidate values.
    pub candidate: Summary,
    /// Candidate / baseline (Hodges-Lehmann on logs; ratio of medians when
    /// values are not all positive).
    pub ratio: f64,
    /// Confidence interval of the ratio.
    pub ratio_ci: Option<(f64, f64)>,
    /// Mann-Whitney two-sided p-value.
    pub p_value: Option<f64>,
    /// p-value after Holm correction.
    pub p_adjusted: Option<f64>,
    /// Whether the p-value came from the exact distribution.
    pub exact: bool,
    /// Noise threshold applied (relative).
    pub threshold: f64,
    /// Verdict.
    pub verdict: Verdict,
    /// For low-confidence rows: what the threshold alone suggests.
    pub hint: Option<Verdict>,
}

impl Row {
    /// Relative change of the candidate, in percent (+ means larger).
    pub fn change_pct(&self) -> f64 {
        (self.ratio - 1.0) * 100.0
    }
}

/// One spec-limit check.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SpecRow {
    /// Metric (as written in the spec).
    pub metric: String,
    /// Workload label the value came from, if found.
    pub workload: Option<String>,
    /// Candidate median, if the metric was found.
    pub value: Option<f64>,
    /// Unit of the value.
    pub unit: String,
    /// Lower bound.
    pub min: Option<f64>,
    /// Upper bound.
    pub max: Option<f64>,
    /// Relative tolerance.
    pub tolerance: f64,
    /// Whether the limit is met.
    pub pass: bool,
    /// Explanation.
    pub note: String,
}

/// Counts by verdict.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    /// Regressions.
    pub regression: usize,
    /// Improvements.
    pub improvement: usize,
    /// Unchanged.
    pub unchanged: usize,
    /// Inconclusive.
    pub inconclusive: usize,
    /// Low confidence.
    pub low_confidence: usize,
    /// Spec limits failed.
    pub spec_failed: usize,
    /// Spec limits passed.
    pub spec_passed: usize,
}

/// A whole comparison: the data structure every report renders.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Comparison {
    /// Format identifier.
    pub schema: String,
    /// Baseline side.
    pub baseline: SideInfo,
    /// Candidate side.
    pub candidate: SideInfo,
    /// The policy used.
    pub policy: Policy,
    /// One row per metric present on both sides, regressions first.
    pub rows: Vec<Row>,
    /// Metrics present on one side only: (workload, metric, side).
    pub unmatched: Vec<(String, String, String)>,
    /// Spec-limit checks.
    pub spec: Vec<SpecRow>,
    /// Counts.
    pub counts: Counts,
}

impl Comparison {
    /// True when a pipeline should fail: a regression or a failed spec limit.
    pub fn failed(&self) -> bool {
        self.counts.regression > 0 || self.counts.spec_failed > 0
    }

    /// One line: the outcome.
    pub fn headline(&self) -> String {
        let c = &self.counts;
        let verdict = if self.failed() { "FAIL" } else { "PASS" };
        let mut s = format!(
            "{verdict}: {} regression{}, {} improvement{}, {} unchanged, {} inconclusive",
            c.regression,
            if c.regression == 1 { "" } else { "s" },
            c.improvement,
            if c.improvement == 1 { "" } else { "s" },
            c.unchanged,
            c.inconclusive
        );
        if c.low_confidence > 0 {
            s.push_str(&format!(", {} low-confidence", c.low_confidence));
        }
        if c.spec_failed + c.spec_passed > 0 {
            s.push_str(&format!(
                "; spec limits: {} failed, {} passed",
                c.spec_failed, c.spec_passed
            ));
        }
        s
    }
}

/// The identifier written in serialized comparisons.
pub const COMPARISON_SCHEMA: &str = "skubench.comparison.v1";

/// Per-run values of every (workload, metric) of one side.
#[derive(Default)]
pub struct Samples {
    /// (workload, metric) → (unit, better, values).
    pub values: BTreeMap<(String, String), (String, Better, Vec<f64>)>,
    /// Side information.
    pub info: SideInfo,
}

/// Collects per-run values from result files.
pub fn collect(name: &str, files: &[(String, ResultFile)], include_disturbed: bool) -> Samples {
    let mut s = Samples {
        info: SideInfo {
            name: name.to_string(),
            ..SideInfo::default()
        },
        ..Samples::default()
    };
    for (src, f) in files {
        s.info.sources.push(src.clone());
        if !s
            .info
            .hosts
            .iter()
            .any(|h| h.hostname == f.host.hostname && h.boot_id == f.host.boot_id)
        {
            s.info.hosts.push(f.host.clone());
        }
        for r in &f.runs {
            if r.status != Status::Ok {
                s.info.runs_failed_excluded += 1;
                continue;
            }
            if r.disturbance.disturbed && !include_disturbed {
                s.info.runs_disturbed_excluded += 1;
                continue;
            }
            s.info.runs_used += 1;
            for m in &r.metrics {
                if !m.value.is_finite() {
                    continue;
                }
                s.values
                    .entry((r.label.clone(), m.name.clone()))
                    .or_insert_with(|| (m.unit.clone(), m.better, Vec::new()))
                    .2
                    .push(m.value);
            }
        }
    }
    s
}

fn classify(better: Better, lo: f64, hi: f64, t: f64) -> Option<Verdict> {
    let (worse, improved) = match better {
        Better::Higher => (hi < 1.0 - t, lo > 1.0 + t),
        Better::Lower => (lo > 1.0 + t, hi < 1.0 - t),
    };
    if worse {
        Some(Verdict::Regression)
    } else if improved {
        Some(Verdict::Improvement)
    } else if lo >= 1.0 - t && hi <= 1.0 + t {
        Some(Verdict::Unchanged)
    } else {
        None
    }
}

/// Ratio estimate and interval of `b` relative to `a`.
fn ratio_of(a: &[f64], b: &[f64], confidence: f64) -> (f64, Option<(f64, f64)>) {
    if a.iter().chain(b).all(|x| *x > 0.0) {
        let la: Vec<f64> = a.iter().map(|x| x.ln()).collect();
        let lb: Vec<f64> = b.iter().map(|x| x.ln()).collect();
        match stats::hodges_lehmann(&la, &lb, confidence) {
            Some(s) => (s.estimate.exp(), Some((s.lo.exp(), s.hi.exp()))),
            None => (f64::NAN, None),
        }
    } else {
        let ma = stats::median(a);
        if ma == 0.0 {
            let mb = stats::median(b);
            return (if mb == 0.0 { 1.0 } else { f64::NAN }, None);
        }
        match stats::hodges_lehmann(a, b, confidence) {
            Some(s) => (
                1.0 + s.estimate / ma.abs(),
                Some((1.0 + s.lo / ma.abs(), 1.0 + s.hi / ma.abs())),
            ),
            None => (f64::NAN, None),
        }
    }
}

/// Compares `base` with `cand` under `policy`, checking `spec` limits.
pub fn compare(base: Samples, cand: Samples, policy: &Policy, spec: Option<&Spec>) -> Comparison {
    let conf = policy.confidence();
    let mut rows = Vec::new();
    let mut unmatched = Vec::new();
    for (key, (unit, better, bv)) in &base.values {
        if policy.ignored(&key.1) {
            continue;
        }
        let Some((_, _, cv)) = cand.values.get(key) else {
            unmatched.push((key.0.clone(), key.1.clone(), "baseline".to_string()));
            continue;
        };
        let (ratio, ratio_ci) = ratio_of(bv, cv, conf);
        let enough = bv.len() >= policy.min_runs && cv.len() >= policy.min_runs;
        let mw = if enough {
            stats::mann_whitney(bv, cv)
        } else {
            None
        };
        rows.push(Row {
            workload: key.0.clone(),
            metric: key.1.clone(),
            unit: unit.clone(),
            better: *better,
            baseline: Summary::of(bv, conf),
            candidate: Summary::of(cv, conf),
            ratio,
            ratio_ci,
            p_value: mw.map(|m| m.p),
            p_adjusted: None,
            exact: mw.is_some_and(|m| m.exact),
            threshold: policy.threshold(&key.1),
            verdict: Verdict::Inconclusive,
            hint: None,
        });
    }
    for key in cand.values.keys() {
        if !base.values.contains_key(key) && !policy.ignored(&key.1) {
            unmatched.push((key.0.clone(), key.1.clone(), "candidate".to_string()));
        }
    }
    // Holm over the metrics that were tested.
    let tested: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.p_value.is_some())
        .map(|(i, _)| i)
        .collect();
    let ps: Vec<f64> = tested
        .iter()
        .map(|&i| rows[i].p_value.unwrap_or(1.0))
        .collect();
    let adj = if policy.holm {
        stats::holm(&ps)
    } else {
        ps.clone()
    };
    for (k, &i) in tested.iter().enumerate() {
        rows[i].p_adjusted = Some(adj[k]);
    }
    let family = if policy.holm {
        policy.family_alpha
    } else {
        1.0
    };
    for r in &mut rows {
        let t = r.threshold;
        match (r.p_value.zip(r.p_adjusted), r.ratio_ci) {
            (Some((p, p_adj)), Some((lo, hi))) => {
                let significant = p <= policy.alpha && p_adj <= family;
                r.verdict = match classify(r.better, lo, hi, t) {
                    Some(v @ (Verdict::Regression | Verdict::Improvement)) if significant => v,
                    Some(Verdict::Unchanged) => Verdict::Unchanged,
                    _ => Verdict::Inconclusive,
                };
            }
            (None, _) if r.baseline.n < policy.min_runs || r.candidate.n < policy.min_runs => {
                r.verdict = Verdict::LowConfidence;
                let q = if r.baseline.median != 0.0 {
                    r.candidate.median / r.baseline.median
                } else {
                    f64::NAN
                };
                r.hint = if q.is_finite() {
                    classify(r.better, q, q, t)
                } else {
                    None
                };
            }
            _ => r.verdict = Verdict::Inconclusive,
        }
    }
    rows.sort_by(|a, b| {
        a.verdict
            .cmp(&b.verdict)
            .then_with(|| a.workload.cmp(&b.workload))
            .then_with(|| a.metric.cmp(&b.metric))
    });

    let spec_rows = spec.map(|s| check_spec(s, &cand)).unwrap_or_default();
    let mut counts = Counts::default();
    for r in &rows {
        match r.verdict {
            Verdict::Regression => counts.regression += 1,
            Verdict::Improvement => counts.improvement += 1,
            Verdict::Unchanged => counts.unchanged += 1,
            Verdict::Inconclusive => counts.inconclusive += 1,
            Verdict::LowConfidence => counts.low_confidence += 1,
        }
    }
    counts.spec_failed = spec_rows.iter().filter(|s| !s.pass).count();
    counts.spec_passed = spec_rows.iter().filter(|s| s.pass).count();
    Comparison {
        schema: COMPARISON_SCHEMA.into(),
        baseline: base.info,
        candidate: cand.info,
        policy: policy.clone(),
        rows,
        unmatched,
        spec: spec_rows,
        counts,
    }
}

/// Checks the candidate's medians against the spec's limits.
pub fn check_spec(spec: &Spec, cand: &Samples) -> Vec<SpecRow> {
    spec.limits
        .iter()
        .map(|l| {
            let found = cand.values.iter().find(|((w, m), _)| {
                glob_match(&l.metric, m) && l.workload.as_ref().is_none_or(|lw| lw == w)
            });
            match found {
                None => SpecRow {
                    metric: l.metric.clone(),
                    workload: l.workload.clone(),
                    value: None,
                    unit: String::new(),
                    min: l.min,
                    max: l.max,
                    tolerance: l.tolerance,
                    pass: false,
                    note: "metric not measured by the candidate".into(),
                },
                Some(((w, _), (unit, _, vals))) => {
                    let v = stats::median(vals);
                    let ok_min = l.min.is_none_or(|m| v >= m * (1.0 - l.tolerance));
                    let ok_max = l.max.is_none_or(|m| v <= m * (1.0 + l.tolerance));
                    SpecRow {
                        metric: l.metric.clone(),
                        workload: Some(w.clone()),
                        value: Some(v),
                        unit: unit.clone(),
                        min: l.min,
                        max: l.max,
                        tolerance: l.tolerance,
                        pass: ok_min && ok_max,
                        note: l.note.clone().unwrap_or_default(),
                    }
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(name: &str, vals: &[(&str, Better, Vec<f64>)]) -> Samples {
        let mut s = Samples {
            info: SideInfo {
                name: name.into(),
                ..SideInfo::default()
            },
            ..Samples::default()
        };
        for (m, b, v) in vals {
            s.values
                .insert(("w".into(), m.to_string()), ("ops/s".into(), *b, v.clone()));
        }
        s
    }

    fn one(a: Vec<f64>, b: Vec<f64>, better: Better) -> Row {
        let p = Policy {
            holm: false,
            ..Policy::default()
        };
        let c = compare(
            side("a", &[("m", better, a)]),
            side("b", &[("m", better, b)]),
            &p,
            None,
        );
        c.rows.into_iter().next().unwrap()
    }

    const BASE: [f64; 7] = [100.0, 101.0, 99.0, 100.5, 99.5, 100.2, 99.8];

    #[test]
    fn a_clear_drop_in_throughput_is_a_regression() {
        let r = one(
            BASE.to_vec(),
            BASE.iter().map(|x| x * 0.9).collect(),
            Better::Higher,
        );
        assert_eq!(r.verdict, Verdict::Regression, "{r:?}");
        assert!((r.ratio - 0.9).abs() < 0.01);
    }

    #[test]
    fn the_same_drop_in_latency_is_an_improvement() {
        let r = one(
            BASE.to_vec(),
            BASE.iter().map(|x| x * 0.9).collect(),
            Better::Lower,
        );
        assert_eq!(r.verdict, Verdict::Improvement);
    }

    #[test]
    fn tiny_shift_is_unchanged_and_noise_is_not_a_regression() {
        let r = one(
            BASE.to_vec(),
            BASE.iter().map(|x| x * 1.002).collect(),
            Better::Higher,
        );
        assert_eq!(r.verdict, Verdict::Unchanged, "{r:?}");
        let noisy = [80.0, 120.0, 95.0, 110.0, 70.0, 130.0, 100.0];
        let r = one(BASE.to_vec(), noisy.to_vec(), Better::Higher);
        assert_eq!(r.verdict, Verdict::Inconclusive, "{r:?}");
    }

    #[test]
    fn too_few_runs_give_a_low_confidence_hint() {
        let r = one(vec![100.0, 101.0], vec![80.0, 81.0], Better::Higher);
        assert_eq!(r.verdict, Verdict::LowConfidence);
        assert_eq!(r.hint, Some(Verdict::Regression));
        assert!(r.p_value.is_none());
    }

    #[test]
    fn spec_limits_pass_and_fail() {
        let cand = side(
            "c",
            &[(
                "disk.randread.iops",
                Better::Higher,
                vec![3600.0, 3700.0, 3650.0],
            )],
        );
        let spec: Spec = toml::from_str(
            "[[limit]]\nmetric = \"disk.randread.iops\"\nmin = 3750\ntolerance = 0.05\n\
             [[limit]]\nmetric = \"disk.randread.iops\"\nmin = 4000\ntolerance = 0.05\n\
             [[limit]]\nmetric = \"net.*.bits_per_s\"\nmin = 1e9\n",
        )
        .unwrap();
        let rows = check_spec(&spec, &cand);
        assert!(rows[0].pass);
        assert!(!rows[1].pass);
        assert!(!rows[2].pass && rows[2].value.is_none());
    }
}
