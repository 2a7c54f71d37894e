//! JUnit XML, so CI systems list regressions as failed tests natively: one
//! `<testsuite>` per workload, one `<testcase>` per metric, a `<failure>`
//! for each regression; spec limits form their own suite with a failure per
//! limit missed; metrics measured on one side only are skipped test cases.

use baselines::compare::{Comparison, Verdict};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::common::{row_message, spec_message, values_text, verdict_text, workloads};

/// The name of the suite that holds the spec-limit checks.
pub const SPEC_SUITE: &str = "spec limits";

/// Renders the comparison as JUnit XML.
pub fn render(c: &Comparison) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new(format!(
        "skubench: {} vs {}",
        c.candidate.name, c.baseline.name
    ));
    let mut names: Vec<&str> = workloads(c);
    for (w, _, _) in &c.unmatched {
        if !names.contains(&w.as_str()) {
            names.push(w);
        }
    }
    for w in names {
        let mut suite = TestSuite::new(w);
        for r in c.rows.iter().filter(|r| r.workload == w) {
            let status = if r.verdict == Verdict::Regression {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("regression: {}", row_message(r)));
                s.set_type("regression");
                s.set_description(format!(
                    "baseline runs: {}\ncandidate runs: {}",
                    values_text(&r.baseline.values, &r.unit),
                    values_text(&r.candidate.values, &r.unit)
                ));
                s
            } else {
                TestCaseStatus::success()
            };
            let mut tc = TestCase::new(r.metric.as_str(), status);
            tc.set_classname(format!("skubench.{w}"));
            // The verdict of passing metrics (improvement, inconclusive,
            // low-confidence hints) stays visible in CI's test output.
            if r.verdict != Verdict::Regression {
                tc.set_system_out(format!("{}: {}", verdict_text(r), row_message(r)));
            }
            suite.add_test_case(tc);
        }
        for (_, m, side) in c.unmatched.iter().filter(|u| u.0 == w) {
            let mut s = TestCaseStatus::skipped();
            s.set_message(format!("measured only in the {side}; not compared"));
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
