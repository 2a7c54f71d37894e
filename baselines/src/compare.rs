//! A/B comparison of two sets of runs, metric by metric.
//!
//! Runs are the replication unit, and whole rounds (one repetition of every
//! workload) are what the test permutes. Every metric has a role
//! ([`Role`]): the headline metrics of all workloads form the gating
//! family, the secondary metrics a second family, and explanatory ones
//! (utilisation, counters) get no verdict. Each family is tested with a
//! Westfall–Young step-down maxT permutation test on log values
//! ([`crate::permutation`]), which controls the family-wise false-alarm
//! rate exactly without paying for metrics that are the same measurement.
//! A metric is a regression only when it is significant *and* its whole
//! Hodges-Lehmann interval of the ratio lies beyond the metric's noise
//! threshold in the bad direction; improvement likewise; unchanged when the
//! interval lies inside the threshold; inconclusive otherwise, with a
//! possible regression called out when the interval is beyond the threshold
//! but the test is not significant. Every tested row carries its minimum
//! detectable effect. The comparison's outcome is PASS, FAIL or
//! INCONCLUSIVE (a headline metric could be neither shown changed nor shown
//! unchanged): never PASS when it could not have seen a threshold-sized
//! shift. With fewer than `min_runs` runs a side, a threshold-only verdict
//! is given, marked low-confidence.

use std::collections::BTreeMap;

use bench_core::host::HostInfo;
use bench_core::result::{Better, ResultFile, Role, Status};
use serde::{Deserialize, Serialize};

use crate::explain::{self, Explanation};
use crate::permutation::{self, Observations};
use crate::policy::{glob_match, Policy, PossiblePolicy, Spec};
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
    /// An explanatory metric (utilisation, counters): shown, never judged.
    Explanatory,
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
            Verdict::Explanatory => "explanatory",
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
    /// The metric's role: which family it was tested in, if any.
    #[serde(default = "secondary")]
    pub role: Role,
    /// Minimum detectable effect: the smallest relative shift (0.05 = 5%)
    /// this comparison could have found significant at the family's level,
    /// at its runs and the noise both sides showed. `None` when no shift
    /// could be (too few runs for the family's level) or the metric was
    /// not tested. Above the threshold, the comparison could not have seen
    /// a threshold-sized shift of this metric.
    #[serde(default)]
    pub mde: Option<f64>,
    /// `regression` (or `improvement`) when the whole interval lies beyond
    /// the threshold but the test is not significant: a possible change.
    #[serde(default)]
    pub possible: Option<Verdict>,
    /// The family-wise level the row was tested at (its family's share).
    #[serde(default)]
    pub alpha: Option<f64>,
}

impl Row {
    /// The level the row was tested at (0.05 when unknown).
    pub fn family_alpha(&self) -> f64 {
        self.alpha.unwrap_or(0.05)
    }
}

fn secondary() -> Role {
    Role::Secondary
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
    /// Explanatory rows (no verdict).
    #[serde(default)]
    pub explanatory: usize,
    /// Rows called out as possible regressions.
    #[serde(default)]
    pub possible_regression: usize,
    /// Metrics the baseline measured and the candidate did not: an error.
    #[serde(default)]
    pub missing: usize,
}

impl Counts {
    /// Counts the verdicts of `rows` and the outcomes of `spec`.
    pub fn tally(rows: &[Row], spec: &[SpecRow]) -> Self {
        let mut c = Counts::default();
        for r in rows {
            match r.verdict {
                Verdict::Regression => c.regression += 1,
                Verdict::Improvement => c.improvement += 1,
                Verdict::Unchanged => c.unchanged += 1,
                Verdict::Inconclusive => c.inconclusive += 1,
                Verdict::LowConfidence => c.low_confidence += 1,
                Verdict::Explanatory => c.explanatory += 1,
            }
            if r.possible == Some(Verdict::Regression) {
                c.possible_regression += 1;
            }
        }
        c.spec_failed = spec.iter().filter(|s| !s.pass).count();
        c.spec_passed = spec.iter().filter(|s| s.pass).count();
        c
    }
}

/// The overall outcome of a comparison.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every headline metric is unchanged or improved, no regression.
    #[default]
    Pass,
    /// A regression, a failed spec limit, a metric missing from the
    /// candidate (or a possible regression when the policy says so).
    Fail,
    /// No failure, but some headline metric could be shown neither changed
    /// nor unchanged: the comparison could not have seen a threshold-sized
    /// shift there. Its own exit code (4).
    Inconclusive,
}

impl Outcome {
    /// The word in reports: `PASS`, `FAIL`, `INCONCLUSIVE`.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Inconclusive => "INCONCLUSIVE",
        }
    }
}

/// How the verdicts were reached (for the reports' method lines).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Method {
    /// Rounds (suite repetitions) on each side: baseline, candidate.
    pub rounds: (usize, usize),
    /// Family-wise level of the headline family.
    pub headline_alpha: f64,
    /// Family-wise level of the secondary family.
    pub secondary_alpha: f64,
    /// Metrics tested in each family: headline, secondary.
    pub tested: (usize, usize),
    /// Run assignments evaluated (0 when nothing was tested).
    pub permutations: usize,
    /// Whether all assignments were enumerated.
    pub exact: bool,
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
    /// The overall outcome.
    #[serde(default)]
    pub outcome: Outcome,
    /// How the verdicts were reached.
    #[serde(default)]
    pub method: Method,
    /// Why the metrics that moved moved: the explanatory figures of their
    /// steps (attribution), see [`crate::explain`].
    #[serde(default)]
    pub explanations: Vec<Explanation>,
}

impl Comparison {
    /// The explanations of one workload's rows, in row order.
    pub fn explanations_for<'a>(
        &'a self,
        workload: &'a str,
    ) -> impl Iterator<Item = &'a Explanation> {
        self.explanations
            .iter()
            .filter(move |e| e.workload == workload)
    }

    /// True when a pipeline should fail (outcome FAIL).
    pub fn failed(&self) -> bool {
        self.outcome == Outcome::Fail
    }

    /// Headline rows that leave the comparison undecided ([`undecided`]).
    pub fn undecided_headlines(&self) -> impl Iterator<Item = &Row> {
        self.rows
            .iter()
            .filter(|r| r.role == Role::Headline && undecided(r))
    }

    /// Metrics the baseline has and the candidate lacks (an error).
    pub fn missing(&self) -> impl Iterator<Item = &(String, String, String)> {
        self.unmatched.iter().filter(|u| u.2 == MISSING)
    }

    /// Metrics only one side measured that are not an error (not compared):
    /// the unmatched ones other than [`missing`](Self::missing).
    pub fn one_sided(&self) -> impl Iterator<Item = &(String, String, String)> {
        self.unmatched.iter().filter(|u| u.2 != MISSING)
    }

    /// One line: the outcome.
    pub fn headline(&self) -> String {
        let c = &self.counts;
        let verdict = self.outcome.word();
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
        if c.possible_regression > 0 {
            s.push_str(&format!(
                ", {} possible regression{}",
                c.possible_regression,
                if c.possible_regression == 1 { "" } else { "s" }
            ));
        }
        if c.missing > 0 {
            s.push_str(&format!(", {} missing from the candidate", c.missing));
        }
        if c.spec_failed + c.spec_passed > 0 {
            s.push_str(&format!(
                "; spec limits: {} failed, {} passed",
                c.spec_failed, c.spec_passed
            ));
        }
        if self.outcome == Outcome::Inconclusive {
            let n = self.undecided_headlines().count();
            if n == 0 {
                s.push_str("; no headline metric could be tested");
            } else {
                s.push_str(&format!(
                    "; {n} headline metric{} undecided",
                    if n == 1 { "" } else { "s" }
                ));
            }
        }
        s
    }
}

/// The side named in `unmatched` for a metric the candidate lacks although
/// the baseline measured it regularly: an error of the comparison.
pub const MISSING: &str = "missing-in-candidate";

/// The identifier written in serialized comparisons.
pub const COMPARISON_SCHEMA: &str = "skubench.comparison.v1";

/// Per-run values of every (workload, metric) of one side.
#[derive(Default)]
pub struct Samples {
    /// (workload, metric) → (unit, better, values).
    pub values: BTreeMap<(String, String), (String, Better, Vec<f64>)>,
    /// (workload, metric) → the round of each value (same order). A key
    /// without an entry has its values in rounds 0, 1, 2 …
    pub rounds: BTreeMap<(String, String), Vec<usize>>,
    /// (workload, metric) → role from the result files (else by name).
    pub roles: BTreeMap<(String, String), Role>,
    /// Rounds on this side: (result file, repetition) pairs.
    pub n_rounds: usize,
    /// Side information.
    pub info: SideInfo,
}

impl Samples {
    /// The rounds of `key`'s values.
    fn rounds_of(&self, key: &(String, String), len: usize) -> Vec<usize> {
        match self.rounds.get(key) {
            Some(r) if r.len() == len => r.clone(),
            _ => (0..len).collect(),
        }
    }

    /// Rounds on this side, at least as many as any metric's values.
    fn round_count(&self) -> usize {
        let from_values = self
            .values
            .iter()
            .map(|(k, v)| {
                self.rounds_of(k, v.2.len())
                    .into_iter()
                    .max()
                    .map_or(0, |m| m + 1)
            })
            .max()
            .unwrap_or(0);
        self.n_rounds.max(from_values)
    }
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
    let mut round_ids: BTreeMap<(usize, u32), usize> = BTreeMap::new();
    for (fi, (src, f)) in files.iter().enumerate() {
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
            let next = round_ids.len();
            let round = *round_ids.entry((fi, r.repetition)).or_insert(next);
            // Files written before roles existed get them by the same rules.
            let mut metrics = r.metrics.clone();
            bench_core::result::assign_roles(&mut metrics);
            for m in &metrics {
                if !m.value.is_finite() {
                    continue;
                }
                let key = (r.label.clone(), m.name.clone());
                s.values
                    .entry(key.clone())
                    .or_insert_with(|| (m.unit.to_string(), m.better, Vec::new()))
                    .2
                    .push(m.value);
                s.rounds.entry(key.clone()).or_default().push(round);
                s.roles.entry(key).or_insert(m.role());
            }
        }
    }
    s.n_rounds = round_ids.len();
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

/// One tested metric's data for the permutation test.
struct Tested {
    row: usize,
    obs: Observations,
    /// Whether values were log-transformed (all positive).
    log: bool,
}

/// Pooled standard deviation of `obs` within the observed sides (after
/// the test's winsorising).
fn pooled_sd(obs: &[(usize, f64)], n_base: usize, floor: f64) -> Option<f64> {
    // The values the test saw: winsorised as in `permutation`.
    let mut v: Vec<f64> = obs.iter().map(|o| o.1).collect();
    permutation::winsorize(&mut v);
    let side = |b: bool| -> Vec<f64> {
        obs.iter()
            .zip(&v)
            .filter(|((r, _), _)| (*r < n_base) == b)
            .map(|(_, x)| *x)
            .collect()
    };
    let (a, b) = (side(true), side(false));
    if a.len() + b.len() < 3 || a.is_empty() || b.is_empty() {
        return None;
    }
    let ss = |v: &[f64]| {
        let m = stats::mean(v);
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>()
    };
    Some(((ss(&a) + ss(&b)) / (a.len() + b.len() - 2) as f64).sqrt()).map(|sd| sd.max(floor))
}

/// Compares `base` with `cand` under `policy`, checking `spec` limits.
pub fn compare(base: Samples, cand: Samples, policy: &Policy, spec: Option<&Spec>) -> Comparison {
    let conf = policy.confidence();
    let nb_rounds = base.round_count();
    let nc_rounds = cand.round_count();
    let mut rows = Vec::new();
    let mut unmatched = Vec::new();
    // Runs of each workload on the baseline (its most-measured metric), to
    // tell a regular metric from one a workload reports only sometimes.
    let mut runs_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (key, v) in &base.values {
        let e = runs_of.entry(key.0.as_str()).or_default();
        *e = (*e).max(v.2.len());
    }
    // Roles: the policy's rules, else the result files', else by name; a
    // workload left without a headline has its first gating metric
    // promoted (as `assign_roles` does for a run).
    let mut roles: BTreeMap<&(String, String), Role> = BTreeMap::new();
    for (key, (unit, _, _)) in &base.values {
        if policy.ignored(&key.1) {
            continue;
        }
        let role = policy
            .role_override(&key.1)
            .or_else(|| base.roles.get(key).copied())
            .unwrap_or_else(|| Role::of(&key.1, unit));
        roles.insert(key, role);
    }
    let headless: Vec<String> = roles
        .keys()
        .map(|k| k.0.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|w| !roles.iter().any(|(k, r)| &k.0 == w && *r == Role::Headline))
        .collect();
    for w in headless {
        if let Some((_, r)) = roles
            .iter_mut()
            .find(|(k, r)| k.0 == w && **r == Role::Secondary)
        {
            *r = Role::Headline;
        }
    }
    let mut tested: Vec<Tested> = Vec::new();
    for (key, (unit, better, bv)) in &base.values {
        let Some(&role) = roles.get(key) else {
            continue;
        };
        let Some((_, _, cv)) = cand.values.get(key) else {
            let regular = 2 * bv.len() >= runs_of.get(key.0.as_str()).copied().unwrap_or(0);
            let side = if role != Role::Explanatory && regular {
                MISSING
            } else {
                "baseline"
            };
            unmatched.push((key.0.clone(), key.1.clone(), side.to_string()));
            continue;
        };
        let (ratio, ratio_ci) = ratio_of(bv, cv, conf);
        let enough = bv.len() >= policy.min_runs && cv.len() >= policy.min_runs;
        let row = rows.len();
        if enough && role != Role::Explanatory {
            let log = bv.iter().chain(cv).all(|x| *x > 0.0);
            let f = |x: f64| if log { x.ln() } else { x };
            let br = base.rounds_of(key, bv.len());
            let cr = cand.rounds_of(key, cv.len());
            let obs: Observations = br
                .iter()
                .zip(bv)
                .map(|(r, x)| (*r, f(*x)))
                .chain(cr.iter().zip(cv).map(|(r, x)| (nb_rounds + r, f(*x))))
                .collect();
            tested.push(Tested { row, obs, log });
        }
        rows.push(Row {
            workload: key.0.clone(),
            metric: key.1.clone(),
            unit: unit.clone(),
            better: *better,
            baseline: Summary::of(bv, conf),
            candidate: Summary::of(cv, conf),
            ratio,
            ratio_ci,
            p_value: None,
            p_adjusted: None,
            exact: false,
            threshold: policy.threshold(&key.1),
            verdict: Verdict::Inconclusive,
            hint: None,
            role,
            mde: None,
            possible: None,
            alpha: None,
        });
    }
    for key in cand.values.keys() {
        if !base.values.contains_key(key) && !policy.ignored(&key.1) {
            unmatched.push((key.0.clone(), key.1.clone(), "candidate".to_string()));
        }
    }

    // One maxT test per family; without family-wise control every metric
    // is its own family at `alpha` (benchstat's way).
    let mut method = Method {
        rounds: (nb_rounds, nc_rounds),
        headline_alpha: policy.headline_alpha(),
        secondary_alpha: policy.secondary_alpha(),
        exact: true,
        ..Method::default()
    };
    let n_rounds = nb_rounds + nc_rounds;
    let families: Vec<(Vec<usize>, f64)> = if policy.holm {
        [
            (Role::Headline, policy.headline_alpha()),
            (Role::Secondary, policy.secondary_alpha()),
        ]
        .into_iter()
        .map(|(role, a)| {
            let members: Vec<usize> = (0..tested.len())
                .filter(|&i| rows[tested[i].row].role == role)
                .collect();
            (members, a)
        })
        .collect()
    } else {
        (0..tested.len()).map(|i| (vec![i], policy.alpha)).collect()
    };
    for (members, alpha) in families {
        if members.is_empty() {
            continue;
        }
        let obs: Vec<Observations> = members.iter().map(|&i| tested[i].obs.clone()).collect();
        let logs: Vec<bool> = members.iter().map(|&i| tested[i].log).collect();
        let r = permutation::maxt_scaled(
            &obs,
            &logs,
            &permutation::Design {
                n_base: nb_rounds,
                n_rounds,
                alpha,
                exact_limit: policy.exact_permutations,
                random: policy.permutations,
            },
        );
        method.permutations = method.permutations.max(r.permutations);
        method.exact &= r.exact;
        for (k, &i) in members.iter().enumerate() {
            let t = &tested[i];
            let row = &mut rows[t.row];
            match row.role {
                Role::Headline => method.tested.0 += 1,
                _ => method.tested.1 += 1,
            }
            row.p_value = Some(r.p_raw[k]);
            row.p_adjusted = Some(r.p_adjusted[k]);
            row.exact = r.exact;
            let significant = r.p_adjusted[k] <= alpha;
            row.mde = mde(row, t, r.critical, nb_rounds);
            row.alpha = Some(alpha);
            let t_interval = row.ratio_ci;
            row.verdict = match t_interval {
                Some((lo, hi)) => match classify(row.better, lo, hi, row.threshold) {
                    Some(v @ (Verdict::Regression | Verdict::Improvement)) if significant => v,
                    Some(v @ (Verdict::Regression | Verdict::Improvement)) => {
                        row.possible = Some(v);
                        Verdict::Inconclusive
                    }
                    Some(Verdict::Unchanged) => Verdict::Unchanged,
                    _ => Verdict::Inconclusive,
                },
                None => Verdict::Inconclusive,
            };
        }
    }
    for r in &mut rows {
        if r.role == Role::Explanatory {
            r.verdict = Verdict::Explanatory;
        } else if r.p_value.is_none()
            && (r.baseline.n < policy.min_runs || r.candidate.n < policy.min_runs)
        {
            r.verdict = Verdict::LowConfidence;
            let q = if r.baseline.median != 0.0 {
                r.candidate.median / r.baseline.median
            } else {
                f64::NAN
            };
            r.hint = if q.is_finite() {
                classify(r.better, q, q, r.threshold)
            } else {
                None
            };
        }
    }
    rows.sort_by(|a, b| {
        a.verdict
            .cmp(&b.verdict)
            .then_with(|| a.role.cmp(&b.role))
            .then_with(|| a.workload.cmp(&b.workload))
            .then_with(|| a.metric.cmp(&b.metric))
    });

    let spec_rows = spec.map(|s| check_spec(s, &cand)).unwrap_or_default();
    let mut counts = Counts::tally(&rows, &spec_rows);
    counts.missing = unmatched.iter().filter(|u| u.2 == MISSING).count();
    let failed = counts.regression > 0
        || counts.spec_failed > 0
        || counts.missing > 0
        || (policy.possible_regression == PossiblePolicy::Fail && counts.possible_regression > 0);
    let headline_tested = rows
        .iter()
        .any(|r| r.role == Role::Headline && r.p_value.is_some());
    let undecided = rows
        .iter()
        .any(|r| r.role == Role::Headline && undecided(r));
    let outcome = if failed {
        Outcome::Fail
    } else if undecided || !headline_tested {
        Outcome::Inconclusive
    } else {
        Outcome::Pass
    };
    let explanations = explain::explain(&rows);
    Comparison {
        schema: COMPARISON_SCHEMA.into(),
        baseline: base.info,
        candidate: cand.info,
        policy: policy.clone(),
        explanations,
        rows,
        unmatched,
        spec: spec_rows,
        counts,
        outcome,
        method,
    }
}

/// The minimum detectable effect of a tested row: the shift at which its
/// observed t (at the noise both sides showed) would reach the family's
/// critical |t|, i.e. the smallest shift this comparison could have found
/// significant. Relative; symmetric in log space for log-tested metrics.
/// A verdict also needs the interval beyond the threshold, so a shift of
/// exactly the MDE is significant but flagged only when it also clears it.
fn mde(row: &Row, t: &Tested, critical: Option<f64>, n_base: usize) -> Option<f64> {
    let c = critical?;
    let mean = t.obs.iter().map(|o| o.1).sum::<f64>() / t.obs.len().max(1) as f64;
    let floor = if t.log {
        permutation::RESOLUTION
    } else {
        permutation::RESOLUTION * mean.abs()
    };
    let sd = pooled_sd(&t.obs, n_base, floor)?;
    let (nb, nc) = (row.baseline.n as f64, row.candidate.n as f64);
    let need = c * sd * (1.0 / nb + 1.0 / nc).sqrt();
    if t.log {
        Some(need.exp() - 1.0)
    } else {
        let scale = row.baseline.median.abs();
        (scale > 0.0).then(|| need / scale)
    }
}

/// Whether a headline row leaves the comparison undecided: it could be
/// shown neither changed nor unchanged, and either the test could not have
/// seen a threshold-sized shift (MDE above the threshold, or no MDE at
/// all), or it saw something (significant, or a possible change) whose
/// interval still crosses the threshold.
pub fn undecided(r: &Row) -> bool {
    match r.verdict {
        Verdict::LowConfidence => true,
        Verdict::Inconclusive => {
            let significant = r.p_adjusted.is_some_and(|p| p <= r.family_alpha());
            significant || r.possible.is_some() || r.mde.is_none_or(|m| m > r.threshold)
        }
        _ => false,
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
