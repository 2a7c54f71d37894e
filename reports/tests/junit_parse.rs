//! The JUnit XML parses back, with quick-junit's reader and as plain XML,
//! into the structure CI systems read: `<testsuites>` of `<testsuite>`s of
//! `<testcase>`s, a `<failure>` per regression or failed spec limit, and
//! `tests`/`failures` counts that agree with the content.

use baselines::compare::Verdict;
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
        .filter(|n| *n != junit::SPEC_SUITE)
        .collect();
    suites.sort();
    assert_eq!(suites, workloads);

    let regressions = c
        .rows
        .iter()
        .filter(|r| r.verdict == Verdict::Regression)
        .count();
    let spec_failed = c.spec.iter().filter(|s| !s.pass).count();
    assert_eq!(r.failures, regressions + spec_failed);
    assert_eq!(r.tests, c.rows.len() + c.spec.len() + c.unmatched.len());
    assert_eq!(r.skipped, c.unmatched.len());

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
            "system-out" => matches!(parent, Some("testcase" | "testsuite")),
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
}
