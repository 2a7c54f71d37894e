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

/// What decided a gate: a comparison with a baseline under a policy, or the
/// change points of the store's history.
#[derive(Clone, Copy, Debug)]
pub enum Decision<'a> {
    /// `gate --baseline`: the last round's comparison.
    Comparison {
        /// The comparison of every candidate round with the baseline.
        comparison: &'a Comparison,
        /// The policy (what INCONCLUSIVE exits with).
        policy: &'a Policy,
    },
    /// `gate --history`: change-point alerts among the latest runs.
    History {
        /// Alerts over all metrics.
        alerts: usize,
        /// How many of the latest runs an alert may fall among.
        latest: usize,
    },
}

impl Decision<'_> {
    /// The gate's exit code.
    pub fn exit_code(&self) -> SkubenchExitCode {
        match *self {
            Decision::Comparison { comparison, policy } => exit_code(comparison, policy),
            Decision::History { alerts, .. } => history_exit_code(alerts),
        }
    }

    /// The one-line headline the gate prints and records.
    pub fn headline(&self) -> String {
        match *self {
            Decision::Comparison { comparison, .. } => comparison.headline(),
            Decision::History { alerts, latest } => {
                format!("{alerts} change point alert(s) among the latest {latest} runs")
            }
        }
    }
}

impl GateSummary {
    /// The summary of a finished gate: the rounds it ran and what decided it.
    pub fn new(rounds: Vec<Round>, decision: Decision<'_>) -> Self {
        let code = decision.exit_code();
        let (outcome, runs_per_verdict, median_runs_to_verdict) = match decision {
            Decision::Comparison { comparison, .. } => (
                comparison.outcome.word().to_ascii_lowercase(),
                runs_per_verdict(comparison),
                median_runs_to_verdict(comparison),
            ),
            Decision::History { .. } => {
                let word = if code == SkubenchExitCode::Ok {
                    "pass"
                } else {
                    "fail"
                };
                (word.to_string(), Vec::new(), None)
            }
        };
        Self {
            outcome,
            exit_code: code.as_u8(),
            total_repetitions: rounds.iter().map(|r| r.repetitions).sum(),
            rounds,
            runs_per_verdict,
            median_runs_to_verdict,
            headline: decision.headline(),
        }
    }
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

/// Repetitions of the next round of the undecided workloads `more`: all the
/// runs their minimum detectable effects ask for ([`runs_wanted`], at most
/// `cap`) less the most runs any of them already has, and at least one.
pub fn next_round_repetitions(c: &Comparison, more: &[String], cap: u32) -> u32 {
    let have = c
        .rows
        .iter()
        .filter(|r| more.contains(&r.workload))
        .map(|r| r.candidate.n as u32)
        .max()
        .unwrap_or(0);
    runs_wanted(c, more, cap).saturating_sub(have).max(1)
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

    fn round(n: u32, reps: u32) -> Round {
        Round {
            round: n,
            workloads: vec!["noisy".into()],
            repetitions: reps,
            result_file: format!("round{n}.json"),
            inconclusive_after: 1,
        }
    }

    #[test]
    fn the_next_round_adds_what_the_cap_allows_beyond_the_runs_there_are() {
        let base = side("noisy", vec![100.0, 101.0, 99.0, 100.0, 100.5, 99.5, 100.2]);
        let cand = side("noisy", vec![80.0, 120.0, 95.0, 110.0, 70.0, 130.0, 100.0]);
        let c = compare(base, cand, &Policy::default(), None);
        let more = needs_more_runs(&c, 14);
        // 7 runs there, the MDE asks for the cap (14): 7 more.
        assert_eq!(next_round_repetitions(&c, &more, 14), 7);
        // Already at a cap below the runs there are: still one more, never zero.
        assert_eq!(next_round_repetitions(&c, &more, 5), 1);
    }

    #[test]
    fn summaries_of_a_comparison_and_of_the_history() {
        let base = side("noisy", vec![100.0, 101.0, 99.0, 100.0, 100.5, 99.5, 100.2]);
        let cand = side("noisy", vec![80.0, 120.0, 95.0, 110.0, 70.0, 130.0, 100.0]);
        let p = Policy::default();
        let c = compare(base, cand, &p, None);
        let d = Decision::Comparison {
            comparison: &c,
            policy: &p,
        };
        let s = GateSummary::new(vec![round(1, 7), round(2, 7)], d);
        assert_eq!(s.outcome, "inconclusive");
        assert_eq!(s.exit_code, SkubenchExitCode::Inconclusive.as_u8());
        assert_eq!(s.total_repetitions, 14);
        assert_eq!(s.rounds.len(), 2);
        assert_eq!(s.runs_per_verdict.len(), c.rows.len());
        assert_eq!(s.headline, c.headline());

        let h = GateSummary::new(
            vec![round(1, 3)],
            Decision::History {
                alerts: 2,
                latest: 5,
            },
        );
        assert_eq!((h.outcome.as_str(), h.exit_code), ("fail", 1));
        assert_eq!(h.total_repetitions, 3);
        assert!(h.runs_per_verdict.is_empty() && h.median_runs_to_verdict.is_none());
        assert_eq!(
            h.headline,
            "2 change point alert(s) among the latest 5 runs"
        );
        let quiet = Decision::History {
            alerts: 0,
            latest: 5,
        };
        assert_eq!(GateSummary::new(Vec::new(), quiet).outcome, "pass");
        assert_eq!(quiet.exit_code(), SkubenchExitCode::Ok);
    }
}
