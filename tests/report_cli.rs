//! `skubench compare --format … --output-dir` and `skubench report`, end to end.

use predicates::prelude::*;

mod common;
use common::{dir_with_result, null_result, skubench};

/// Runs per result file.
const REPS: u32 = 5;

#[test]
fn compare_writes_every_format_to_the_output_dir() {
    let (dir, a) = dir_with_result(1000, REPS);
    let b = null_result(dir.path(), "b.json", 2000, REPS);
    let rep = dir.path().join("rep");
    let out = skubench()
        .args([
            "compare",
            "--include-disturbed",
            "--format",
            "terminal,markdown,html,json,junit",
            "--output-dir",
        ])
        .arg(&rep)
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "everything went to files");
    let read = |ext: &str| std::fs::read_to_string(rep.join(format!("comparison.{ext}"))).unwrap();
    assert!(read("txt").starts_with("FAIL"));
    assert!(!read("txt").contains('\x1b'), "no colour in files");
    assert!(read("md").contains("<details>"));
    let html = read("html");
    assert!(html.contains("null.lat_ns") && html.contains("<svg"));
    let v: serde_json::Value = serde_json::from_str(&read("json")).unwrap();
    assert_eq!(v["schema"], "skubench.comparison.v1");
    let xml = read("xml");
    let r = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    assert!(r.failures > 0);
}

#[test]
fn unknown_format_is_a_usage_error_and_writes_nothing() {
    let (dir, a) = dir_with_result(1000, REPS);
    let rep = dir.path().join("rep");
    skubench()
        .args(["compare", "--format", "json,pdf", "--output-dir"])
        .arg(&rep)
        .arg(&a)
        .arg(&a)
        .assert()
        .code(2);
    assert!(!rep.join("comparison.json").exists());
}

/// `compare` and `report` share one set of format names; each accepts those
/// it can write and names them when refusing another.
#[test]
fn each_command_lists_the_formats_it_supports() {
    let (dir, a) = dir_with_result(1000, REPS);
    skubench()
        .args(["report", "--format", "junit"])
        .arg(&a)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("invalid value 'junit'")
                .and(predicate::str::contains("terminal, markdown, html, json]")),
        );
    skubench()
        .args(["compare", "--format", "pdf"])
        .arg(&a)
        .arg(&a)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "terminal, markdown, html, json, junit]",
        ));
    // The aliases are the same for both.
    let rep = dir.path().join("rep");
    skubench()
        .args(["report", "--format", "md,text", "--output-dir"])
        .arg(&rep)
        .arg(&a)
        .assert()
        .success();
    assert!(rep.join("report.md").exists() && rep.join("report.txt").exists());
    skubench()
        .args([
            "compare",
            "--include-disturbed",
            "--format",
            "xml,md",
            "--output-dir",
        ])
        .arg(&rep)
        .arg(&a)
        .arg(&a)
        .assert()
        .code(predicate::in_iter([0, 4]));
    assert!(rep.join("comparison.xml").exists() && rep.join("comparison.md").exists());
}

#[test]
fn report_renders_single_runs() {
    let (dir, a) = dir_with_result(1000, REPS);
    let rep = dir.path().join("rep");
    skubench()
        .args(["report", "--format", "markdown,html,json", "--output-dir"])
        .arg(&rep)
        .arg(&a)
        .assert()
        .success();
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
    assert!(md.contains("null.lat_ns"), "{md}");
    let html = std::fs::read_to_string(rep.join("report.html")).unwrap();
    assert!(html.contains("latency by percentile") && html.contains("<svg"));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rep.join("report.json")).unwrap()).unwrap();
    assert_eq!(v["schema"], "skubench.runs-summary.v1");
    assert_eq!(v["results"][0]["workloads"][0]["runs_ok"], 5);
    // To stdout by default, as a terminal summary.
    let out = skubench().arg("report").arg(&a).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("null"));
}
