//! Gate decisions: which workloads need more repetitions, and what the
//! pipeline's exit code is.

use std::collections::BTreeSet;

use baselines::compare::{Comparison, Verdict};
use serde::{Deserialize, Serialize};

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
    /// Inconclusive metrics after this round.
    pub inconclusive_after: usize,
}

/// The gate's own summary, written next to the reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GateSummary {
    /// `pass`, `fail` or `error`.
    pub outcome: String,
    /// Exit code.
    pub exit_code: u8,
    /// The rounds run.
    pub rounds: Vec<Round>,
    /// Runs each metric's verdict was based on: (workload, metric, verdict, candidate runs).
    pub runs_per_verdict: Vec<(String, String, Verdict, usize)>,
    /// The comparison's headline.
    pub headline: String,
}

/// Workloads (labels) that still have inconclusive metrics and have had
/// fewer than `cap` candidate runs: the ones worth repeating.
pub fn needs_more_runs(c: &Comparison, cap: u32) -> Vec<String> {
    let set: BTreeSet<String> = c
        .rows
        .iter()
        .filter(|r| r.verdict == Verdict::Inconclusive && (r.candidate.n as u32) < cap)
        .map(|r| r.workload.clone())
        .collect();
    set.into_iter().collect()
}

/// Exit code of a comparison: 1 on a regression or failed spec limit, else 0.
pub fn exit_code(c: &Comparison) -> u8 {
    u8::from(c.failed())
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
        let c = compare(base, cand, &Policy::default(), None);
        assert_eq!(needs_more_runs(&c, 15), vec!["noisy".to_string()]);
        assert!(needs_more_runs(&c, 7).is_empty());
        assert_eq!(exit_code(&c), 0);
    }
}
