//! The JUnit XML parses back, with quick-junit's reader and as plain XML,
//! into the structure CI systems read: `<testsuites>` of `<testsuite>`s of
//! `<testcase>`s, a `<failure>` per regression, missing metric or failed
//! spec limit (and for a FAIL outcome), and `tests`/`failures` counts that
//! agree with the content.

use baselines::compare::{Comparison, Verdict};
use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use reports::{junit, sample};

#[test]
fn parses_back_with_one_suite_per_workload_and_failures_for_regressions() {
    let c = sample::comparison();
    let xml = junit::render(&c).unwrap();
    let r = Report::deserialize_from_str(&xml).expect("quick-junit reads it back");

    let mut workloads: Vec<&str> = c.rows.iter().map(|r| r.workload.as_str()).collect();
    workloads.sort();
    workloads.dedup();
    let mut suites: Vec<&str> = r
        .test_suites
        .iter()
        .map(|s| s.name.as_str())
        .filter(|n| *n != junit::SPEC_SUITE && *n != junit::OUTCOME_SUITE)
        .collect();
    suites.sort();
    assert_eq!(suites, workloads);

    let regressions = c
        .rows
        .iter()
        .filter(|r| r.verdict == Verdict::Regression)
        .count();
    let spec_failed = c.spec.iter().filter(|s| !s.pass).count();
    let missing = c.missing().count();
    assert!(missing > 0 && c.failed());
    // The outcome case fails too: the sample's outcome is FAIL.
    assert_eq!(r.failures, regressions + spec_failed + missing + 1);
    assert_eq!(r.tests, 1 + c.rows.len() + c.spec.len() + c.unmatched.len());
    assert_eq!(r.skipped, c.unmatched.len() - missing);

    for s in &r.test_suites {
        let fails = s
            .test_cases
            .iter()
            .filter(|t| {
                matches!(
                    t.status,
                    TestCaseStatus::NonSuccess {
                        kind: NonSuccessKind::Failure,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(s.failures, fails, "suite {}", s.name.as_str());
        assert_eq!(s.tests, s.test_cases.len(), "suite {}", s.name.as_str());
    }
    // Every regressed metric is a failed test case whose message names the
    // metric, its ratio, interval and p-value.
    for row in c.rows.iter().filter(|r| r.verdict == Verdict::Regression) {
        let suite = r
            .test_suites
            .iter()
            .find(|s| s.name.as_str() == row.workload)
            .unwrap();
        let tc = suite
            .test_cases
            .iter()
            .find(|t| t.name.as_str() == row.metric)
            .unwrap();
        let TestCaseStatus::NonSuccess {
            message: Some(m), ..
        } = &tc.status
        else {
            panic!("{} is not a failure", row.metric);
        };
        let (lo, hi) = row.ratio_ci.unwrap();
        for needle in [
            row.metric.clone(),
            format!("ratio {:.3}", row.ratio),
            format!("[{lo:.3}, {hi:.3}]"),
            "p = ".to_string(),
        ] {
            assert!(
                m.as_str().contains(&needle),
                "{needle:?} not in {}",
                m.as_str()
            );
        }
    }
    // A passing metric is not a failure.
    let ok = c
        .rows
        .iter()
        .find(|r| r.verdict == Verdict::Improvement)
        .unwrap();
    let tc = r
        .test_suites
        .iter()
        .flat_map(|s| s.test_cases.iter())
        .find(|t| t.name.as_str() == ok.metric)
        .unwrap();
    assert!(matches!(tc.status, TestCaseStatus::Success { .. }));
}

#[test]
fn element_nesting_is_what_ci_systems_expect() {
    use quick_xml::events::Event;
    let xml = junit::render(&sample::comparison()).unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut stack: Vec<String> = Vec::new();
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    loop {
        let ev = reader.read_event().expect("well-formed XML");
        let (e, empty) = match &ev {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                stack.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
        let parent = stack.last().map(String::as_str);
        let ok = match name.as_str() {
            "testsuites" => parent.is_none(),
            "testsuite" => parent == Some("testsuites"),
            "testcase" => parent == Some("testsuite"),
            "failure" | "skipped" => parent == Some("testcase"),
            "system-out" | "system-err" => matches!(parent, Some("testcase" | "testsuite")),
            "properties" => matches!(parent, Some("testcase" | "testsuite")),
            "property" => parent == Some("properties"),
            _ => false,
        };
        assert!(ok, "<{name}> inside {parent:?}");
        if name == "testsuite" || name == "testsuites" {
            for a in ["name", "tests", "failures"] {
                assert!(
                    e.try_get_attribute(a).unwrap().is_some(),
                    "<{name}> without {a}"
                );
            }
        }
        if name == "testcase" {
            assert!(e.try_get_attribute("classname").unwrap().is_some());
        }
        *seen.entry(name.clone()).or_default() += 1;
        if !empty {
            stack.push(name);
        }
    }
    assert!(stack.is_empty());
    assert_eq!(seen["testsuites"], 1);
    assert!(seen["failure"] >= 3, "{seen:?}");
    assert!(
        seen["system-err"] >= 1,
        "the possible regression's warning: {seen:?}"
    );
}

/// The test case of `metric` (any suite).
fn case<'a>(r: &'a Report, metric: &str) -> &'a quick_junit::TestCase {
    r.test_suites
        .iter()
        .flat_map(|s| s.test_cases.iter())
        .find(|t| t.name.as_str() == metric)
        .unwrap_or_else(|| panic!("no test case {metric}"))
}

fn is_failure(t: &quick_junit::TestCase) -> bool {
    matches!(
        t.status,
        TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Failure,
            ..
        }
    )
}

/// The outcome test case of a rendered comparison.
fn outcome_case(c: &Comparison) -> quick_junit::TestCase {
    let r = Report::deserialize_from_str(&junit::render(c).unwrap()).unwrap();
    let s = r
        .test_suites
        .iter()
        .find(|s| s.name.as_str() == junit::OUTCOME_SUITE)
        .expect("an outcome suite");
    assert_eq!(s.test_cases.len(), 1);
    assert_eq!(s.test_cases[0].name.as_str(), junit::OUTCOME_CASE);
    s.test_cases[0].clone()
}

#[test]
fn missing_metrics_fail_and_explanatory_rows_do_not() {
    let c = sample::comparison();
    let xml = junit::render(&c).unwrap();
    let r = Report::deserialize_from_str(&xml).unwrap();
    let (w, m, _) = c.missing().next().expect("the sample has a missing metric");
    let tc = case(&r, m);
    assert!(is_failure(tc), "{m} is not a failure: {:?}", tc.status);
    assert_eq!(
        tc.classname.as_ref().map(|x| x.as_str()),
        Some(format!("skubench.{w}").as_str())
    );
    let TestCaseStatus::NonSuccess {
        message: Some(msg),
        ty: Some(ty),
        ..
    } = &tc.status
    else {
        panic!("no message")
    };
    assert_eq!(ty.as_str(), "missing-metric");
    assert!(
        msg.as_str().contains("missing from the candidate"),
        "{msg:?}"
    );

    let ex = c
        .rows
        .iter()
        .find(|r| r.verdict == Verdict::Explanatory)
        .expect("the sample has an explanatory row");
    // Worse by far (+76% retransmits), yet no failure: it is not judged.
    assert!(ex.ratio > 1.5);
    let tc = case(&r, &ex.metric);
    assert!(matches!(tc.status, TestCaseStatus::Success { .. }));
    let out = tc.system_out.as_ref().unwrap().as_str();
    assert!(out.starts_with("explanatory metric (no verdict)"), "{out}");
}

#[test]
fn possible_regressions_warn_unless_the_policy_fails_them() {
    let mut c = sample::comparison();
    let row = c
        .rows
        .iter()
        .find(|r| r.possible == Some(Verdict::Regression))
        .expect("the sample has a possible regression")
        .clone();
    let r = Report::deserialize_from_str(&junit::render(&c).unwrap()).unwrap();
    let tc = case(&r, &row.metric);
    assert!(matches!(tc.status, TestCaseStatus::Success { .. }));
    let err = tc.system_err.as_ref().expect("a warning").as_str();
    assert!(err.starts_with("warning: possible regression"), "{err}");
    assert!(err.contains(&row.metric), "{err}");

    c.policy.possible_regression = baselines::policy::PossiblePolicy::Fail;
    let r = Report::deserialize_from_str(&junit::render(&c).unwrap()).unwrap();
    let tc = case(&r, &row.metric);
    assert!(is_failure(tc), "{:?}", tc.status);
    let TestCaseStatus::NonSuccess { ty: Some(ty), .. } = &tc.status else {
        panic!("no type")
    };
    assert_eq!(ty.as_str(), "possible-regression");
    // A low-confidence hint is never a failure, whatever the policy.
    let hint = c
        .rows
        .iter()
        .find(|r| r.verdict == Verdict::LowConfidence && r.hint == Some(Verdict::Regression))
        .unwrap();
    assert!(!is_failure(case(&r, &hint.metric)));
}

#[test]
fn the_outcome_is_a_test_case_ci_shows() {
    let fail = outcome_case(&sample::comparison());
    assert!(is_failure(&fail));
    let inc = sample::inconclusive();
    assert_eq!(inc.outcome, baselines::compare::Outcome::Inconclusive);
    let t = outcome_case(&inc);
    let TestCaseStatus::Skipped {
        message: Some(m), ..
    } = &t.status
    else {
        panic!("INCONCLUSIVE is not skipped: {:?}", t.status)
    };
    assert!(m.as_str().starts_with("INCONCLUSIVE"), "{m:?}");
    for r in inc.undecided_headlines() {
        assert!(m.as_str().contains(&r.metric), "{m:?} lacks {}", r.metric);
    }
    // Under `inconclusive = "fail"` the CI run goes red, as the exit code.
    let mut strict = inc.clone();
    strict.policy.inconclusive = baselines::policy::InconclusivePolicy::Fail;
    assert!(is_failure(&outcome_case(&strict)));
    let pass = outcome_case(&sample::passing());
    assert!(matches!(pass.status, TestCaseStatus::Success { .. }));
    assert!(pass
        .system_out
        .as_ref()
        .unwrap()
        .as_str()
        .starts_with("PASS"));
    // An inconclusive comparison has no failure at all.
    let xml = junit::render(&inc).unwrap();
    assert!(!xml.contains("<failure"), "{xml}");
}
