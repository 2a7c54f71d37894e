//! JUnit XML, so CI systems list regressions as failed tests natively.
//!
//! - A first suite, [`OUTCOME_SUITE`], holds one test case
//!   `skubench.outcome` for the comparison as a whole: passed for PASS, a
//!   `<failure type="outcome">` for FAIL, and for INCONCLUSIVE a skipped
//!   case whose message names the undecided headline metrics (a failure
//!   when the policy says `inconclusive = "fail"`). Its properties carry
//!   the outcome and the method (families' levels, rounds, permutations).
//! - One `<testsuite>` per workload, one `<testcase>` per metric: a
//!   `<failure type="regression">` for each regression; a possible
//!   regression is a `<failure type="possible-regression">` under
//!   `possible_regression = "fail"`, otherwise a passed case with the
//!   warning in `<system-err>`; explanatory metrics always pass (their
//!   figures in `<system-out>`, like every passing metric's verdict, role
//!   and minimum detectable effect).
//! - A metric the baseline measured and the candidate lacks is a
//!   `<failure type="missing-metric">`; metrics measured by one side only
//!   otherwise are skipped test cases.
//! - Spec limits form their own suite with a failure per limit missed.

use baselines::compare::{Comparison, Outcome, Verdict, MISSING};
use baselines::policy::InconclusivePolicy;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::common::{
    fmt_level, is_possible_regression, mde_phrase, method_text, missing_message, possible_fails,
    possible_reason, row_message, spec_message, undecided_sentence, values_text, verdict_text,
    workloads,
};

/// The name of the suite that holds the spec-limit checks.
pub const SPEC_SUITE: &str = "spec limits";

/// The name of the suite that holds the overall outcome.
pub const OUTCOME_SUITE: &str = "skubench";

/// The name of the test case of the overall outcome (class `skubench`).
pub const OUTCOME_CASE: &str = "outcome";

/// The overall outcome as a test case.
fn outcome_suite(c: &Comparison) -> TestSuite {
    let head = c.headline();
    let status = match c.outcome {
        Outcome::Pass => TestCaseStatus::success(),
        Outcome::Fail => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(head.clone());
            s.set_type("outcome");
            s
        }
        Outcome::Inconclusive => {
            let undecided: Vec<String> = c
                .undecided_headlines()
                .map(|r| format!("{} / {} ({})", r.workload, r.metric, mde_phrase(r)))
                .collect();
            let mut msg = format!("{head}: {}", undecided_sentence(c));
            if !undecided.is_empty() {
                msg.push_str(": ");
                msg.push_str(&undecided.join(", "));
            }
            let mut s = if c.policy.inconclusive == InconclusivePolicy::Fail {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_type("inconclusive");
                s
            } else {
                TestCaseStatus::skipped()
            };
            s.set_message(msg);
            s
        }
    };
    let mut tc = TestCase::new(OUTCOME_CASE, status);
    tc.set_classname(OUTCOME_SUITE);
    tc.set_system_out(format!("{head}\nmethod: {}", method_text(c)));
    let mut suite = TestSuite::new(OUTCOME_SUITE);
    let m = &c.method;
    suite.add_properties([
        Property::new("outcome", c.outcome.word()),
        Property::new("headline_alpha", fmt_level(m.headline_alpha)),
        Property::new("secondary_alpha", fmt_level(m.secondary_alpha)),
        Property::new("rounds", format!("{}+{}", m.rounds.0, m.rounds.1)),
        Property::new("tested", format!("{}+{}", m.tested.0, m.tested.1)),
        Property::new("permutations", m.permutations.to_string()),
        Property::new("exact", m.exact.to_string()),
    ]);
    suite.add_test_case(tc);
    suite
}

/// Renders the comparison as JUnit XML.
pub fn render(c: &Comparison) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new(format!(
        "skubench: {} vs {}",
        c.candidate.name, c.baseline.name
    ));
    report.add_test_suite(outcome_suite(c));
    let mut names: Vec<&str> = workloads(c);
    for (w, _, _) in &c.unmatched {
        if !names.contains(&w.as_str()) {
            names.push(w);
        }
    }
    for w in names {
        let mut suite = TestSuite::new(w);
        for r in c.rows.iter().filter(|r| r.workload == w) {
            let why = c
                .explanations_for(w)
                .find(|e| e.metric == r.metric)
                .map(|e| format!("\nwhy: {}", e.line()))
                .unwrap_or_default();
            let details = format!(
                "baseline runs: {}\ncandidate runs: {}{why}",
                values_text(&r.baseline.values, &r.unit),
                values_text(&r.candidate.values, &r.unit)
            );
            let failure = |kind: &str, msg: String| {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(msg);
                s.set_type(kind);
                s.set_description(details.clone());
                s
            };
            let possible = is_possible_regression(r);
            let status = if r.verdict == Verdict::Regression {
                failure(
                    "regression",
                    format!("{} regression: {}", r.role.as_str(), row_message(r)),
                )
            } else if possible && possible_fails(c, r) {
                failure(
                    "possible-regression",
                    format!(
                        "possible regression ({}): {}",
                        possible_reason(r),
                        row_message(r)
                    ),
                )
            } else {
                TestCaseStatus::success()
            };
            let failed = matches!(status, TestCaseStatus::NonSuccess { .. });
            let mut tc = TestCase::new(r.metric.as_str(), status);
            tc.set_classname(format!("skubench.{w}"));
            // The verdict of passing metrics (improvement, inconclusive,
            // low-confidence hints, explanatory figures) stays visible in
            // CI's test output, a possible regression as a warning.
            if !failed {
                tc.set_system_out(if r.verdict == Verdict::Explanatory {
                    format!("explanatory metric (no verdict): {}", row_message(r))
                } else {
                    format!(
                        "{} metric, {}: {}{why}",
                        r.role.as_str(),
                        verdict_text(r),
                        row_message(r)
                    )
                });
                if possible {
                    tc.set_system_err(format!(
                        "warning: possible regression ({}); rerun with more repetitions: {}",
                        possible_reason(r),
                        row_message(r)
                    ));
                }
            }
            suite.add_test_case(tc);
        }
        for (_, m, side) in c.unmatched.iter().filter(|u| u.0 == w) {
            let s = if side == MISSING {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(missing_message(w, m));
                s.set_type("missing-metric");
                s
            } else {
                let mut s = TestCaseStatus::skipped();
                s.set_message(format!("measured only in the {side}; not compared"));
                s
            };
            let mut tc = TestCase::new(m.as_str(), s);
            tc.set_classname(format!("skubench.{w}"));
            suite.add_test_case(tc);
        }
        report.add_test_suite(suite);
    }
    if !c.spec.is_empty() {
        let mut suite = TestSuite::new(SPEC_SUITE);
        for s in &c.spec {
            let status = if s.pass {
                TestCaseStatus::success()
            } else {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_message(spec_message(s));
                st.set_type("spec-limit");
                st
            };
            let mut tc = TestCase::new(s.metric.as_str(), status);
            tc.set_classname(format!(
                "skubench.spec.{}",
                s.workload.as_deref().unwrap_or("any")
            ));
            suite.add_test_case(tc);
        }
        report.add_test_suite(suite);
    }
    report.to_string()
}
