//! Gate decisions: which workloads need more repetitions, and what the
//! pipeline's exit code is.

use std::collections::BTreeSet;

use baselines::compare::{Comparison, Outcome, Verdict};
use baselines::policy::{InconclusivePolicy, Policy};
use bench_core::result::Role;
use serde::{Deserialize, Serialize};

use crate::exit_codes::SkubenchExitCode;

/// One round of the gate: what ran and what the comparison said.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Round {
    /// Round number, from 1.
    pub round: u32,
    /// Workload labels run in this round.
    pub workloads: Vec<String>,
    /// Repetitions of each.
    pub repetitions: u32,
    /// The result file written.
    pub result_file: String,
    /// Undecided headline metrics after this round.
    pub inconclusive_after: usize,
}

/// The gate's own summary, written next to the reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GateSummary {
    /// `pass`, `fail`, `inconclusive` or `error`.
    pub outcome: String,
    /// Exit code.
    pub exit_code: u8,
    /// The rounds run.
    pub rounds: Vec<Round>,
    /// Runs each metric's verdict was based on: (workload, metric, verdict, candidate runs).
    pub runs_per_verdict: Vec<(String, String, Verdict, usize)>,
    /// Median candidate runs behind the verdicts of the gating metrics
    /// (headline and secondary rows with a verdict other than
    /// low-confidence); `None` when there were none.
    #[serde(default)]
    pub median_runs_to_verdict: Option<f64>,
    /// Candidate runs of each round, summed: what the gate spent.
    #[serde(default)]
    pub total_repetitions: u32,
    /// The comparison's headline.
    pub headline: String,
}

/// Most rounds a gate runs: the first, one that adds what the minimum
/// detectable effects ask for, and two more for runs left out as disturbed.
pub const MAX_ROUNDS: usize = 4;

/// Workloads (labels) with an undecided headline metric
/// ([`baselines::compare::undecided`]) and fewer than `cap` candidate runs:
/// the ones worth repeating. Nothing is repeated once the comparison has
/// failed (a regression is a decision) or passed.
pub fn needs_more_runs(c: &Comparison, cap: u32) -> Vec<String> {
    if c.outcome != Outcome::Inconclusive {
        return Vec::new();
    }
    let set: BTreeSet<String> = c
        .undecided_headlines()
        .filter(|r| (r.candidate.n as u32) < cap)
        .map(|r| r.workload.clone())
        .collect();
    set.into_iter().collect()
}

/// Candidate runs the undecided workloads need in all, added at once: the
/// standard error falls as 1/√n, so a metric whose minimum detectable
/// effect is k × its threshold needs about k² × its runs. Bounded by `cap`;
/// without an estimate (too few runs to test at all) it is `cap`.
pub fn runs_wanted(c: &Comparison, workloads: &[String], cap: u32) -> u32 {
    let mut want = 0u32;
    for r in c
        .undecided_headlines()
        .filter(|r| workloads.contains(&r.workload))
    {
        let n = r.candidate.n.max(1) as f64;
        let need = match r.mde {
            Some(m) if r.threshold > 0.0 && m > r.threshold => {
                // 20% margin: the critical value falls slowly with n too.
                (n * (m / r.threshold).powi(2) * 1.2).ceil()
            }
            // Decided by the MDE but not by the interval: double.
            Some(_) => 2.0 * n,
            None => f64::from(cap),
        };
        want = want.max(need.min(f64::from(cap)) as u32);
    }
    want.min(cap)
}

/// Exit code of a comparison under `policy`: 1 on FAIL, 0 on PASS, and on
/// INCONCLUSIVE what `policy.inconclusive` says (4 by default).
pub fn exit_code(c: &Comparison, policy: &Policy) -> SkubenchExitCode {
    match c.outcome {
        Outcome::Fail => SkubenchExitCode::Regression,
        Outcome::Pass => SkubenchExitCode::Ok,
        Outcome::Inconclusive => match policy.inconclusive {
            InconclusivePolicy::Inconclusive => SkubenchExitCode::Inconclusive,
            InconclusivePolicy::Pass => SkubenchExitCode::Ok,
            InconclusivePolicy::Fail => SkubenchExitCode::Regression,
        },
    }
}

/// Exit code of a history check: 1 when any metric alerted, else 0.
pub fn history_exit_code(alerts: usize) -> SkubenchExitCode {
    if alerts > 0 {
        SkubenchExitCode::Regression
    } else {
        SkubenchExitCode::Ok
    }
}

/// (workload, metric, verdict, candidate runs) of every row.
pub fn runs_per_verdict(c: &Comparison) -> Vec<(String, String, Verdict, usize)> {
    c.rows
        .iter()
        .map(|r| {
            (
                r.workload.clone(),
                r.metric.clone(),
                r.verdict,
                r.candidate.n,
            )
        })
        .collect()
}

/// Median candidate runs behind the gating rows' verdicts.
pub fn median_runs_to_verdict(c: &Comparison) -> Option<f64> {
    let mut n: Vec<f64> = c
        .rows
        .iter()
        .filter(|r| {
            r.role != Role::Explanatory
                && !matches!(r.verdict, Verdict::LowConfidence | Verdict::Explanatory)
        })
        .map(|r| r.candidate.n as f64)
        .collect();
    if n.is_empty() {
        return None;
    }
    n.sort_by(f64::total_cmp);
    let m = n.len();
    Some(if m % 2 == 1 {
        n[m / 2]
    } else {
        (n[m / 2 - 1] + n[m / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use baselines::compare::{compare, Samples, SideInfo};
    use baselines::policy::Policy;
    use bench_core::result::Better;

    fn side(w: &str, v: Vec<f64>) -> Samples {
        let mut s = Samples {
            info: SideInfo::default(),
            ..Samples::default()
        };
        s.values.insert(
            (w.into(), format!("{w}.ops_per_s")),
            ("ops/s".into(), Better::Higher, v),
        );
        s
    }

    #[test]
    fn noisy_workloads_are_repeated_until_the_cap() {
        let base = side("noisy", vec![100.0, 101.0, 99.0, 100.0, 100.5, 99.5, 100.2]);
        let cand = side("noisy", vec![80.0, 120.0, 95.0, 110.0, 70.0, 130.0, 100.0]);
        let p = Policy::default();
        let c = compare(base, cand, &p, None);
        assert_eq!(c.outcome, Outcome::Inconclusive);
        let more = needs_more_runs(&c, 14);
        assert_eq!(more, vec!["noisy".to_string()]);
        assert!(needs_more_runs(&c, 7).is_empty());
        // Far too noisy for the threshold: straight to the cap, in one round.
        assert_eq!(runs_wanted(&c, &more, 14), 14);
        assert_eq!(exit_code(&c, &p), SkubenchExitCode::Inconclusive);
        let lenient = Policy {
            inconclusive: InconclusivePolicy::Pass,
            ..Policy::default()
        };
        assert_eq!(exit_code(&c, &lenient), SkubenchExitCode::Ok);
    }

    #[test]
    fn a_regression_decides_in_the_first_round() {
        let base = side("w", vec![100.0, 101.0, 99.0, 100.0, 100.5, 99.5, 100.2]);
        let cand = side("w", vec![50.0, 51.0, 49.0, 50.0, 50.5, 49.5, 50.2]);
        let p = Policy::default();
        let c = compare(base, cand, &p, None);
        assert_eq!(c.outcome, Outcome::Fail);
        assert!(needs_more_runs(&c, 14).is_empty());
        assert_eq!(exit_code(&c, &p), SkubenchExitCode::Regression);
        assert_eq!(median_runs_to_verdict(&c), Some(7.0));
    }
}
