//! End-to-end tests of store, baseline, compare, history and import.

use std::path::{Path, PathBuf};

use predicates::prelude::*;

mod common;
use common::{
    assert_usage_error, compare_json, dir_with_result, null_result, row, skubench, store_add,
};

/// Runs per result file: enough for the comparison to decide.
const REPS: u32 = 7;

#[test]
fn compare_finds_a_latency_regression_and_exits_1() {
    let (dir, a) = dir_with_result(1000, REPS);
    let b = null_result(dir.path(), "b.json", 2000, REPS);
    let a2 = null_result(dir.path(), "a2.json", 1000, REPS);
    let (code, v, err) = compare_json(&a, &b);
    assert_eq!(code, Some(1), "{err}");
    let p50 = row(&v, "null.lat_ns.p50");
    assert_eq!(p50["verdict"], "regression");
    assert!((p50["ratio"].as_f64().unwrap() - 2.0).abs() < 0.01);
    assert!(err.contains("FAIL"));
    // Same latency both sides: the latency rows are unchanged, exit 0.
    let (_, v, _) = compare_json(&a, &a2);
    assert_eq!(row(&v, "null.lat_ns.p50")["verdict"], "unchanged");
    // Terminal format to a directory.
    let rep = dir.path().join("rep");
    skubench()
        .args([
            "compare",
            "--include-disturbed",
            "--format",
            "terminal,json",
            "--output-dir",
        ])
        .arg(&rep)
        .arg(&a)
        .arg(&b)
        .assert()
        .code(1);
    let txt = std::fs::read_to_string(rep.join("comparison.txt")).unwrap();
    assert!(
        txt.contains("null.lat_ns.p50") && txt.contains("regression"),
        "{txt}"
    );
    assert!(rep.join("comparison.json").exists());
}

#[test]
fn spec_limits_fail_the_comparison() {
    let (dir, a) = dir_with_result(1000, REPS);
    let spec = dir.path().join("spec.toml");
    std::fs::write(&spec, "sku = \"X\"\n[[limit]]\nmetric = \"null.lat_ns.p99\"\nmax = 500\ntolerance = 0.1\nnote = \"advertised\"\n").unwrap();
    skubench()
        .args(["compare", "--include-disturbed", "--spec"])
        .arg(&spec)
        .arg(&a)
        .arg(&a)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("FAIL"));
    std::fs::write(
        &spec,
        "[[limit]]\nmetric = \"null.lat_ns.p99\"\nmaxx = 500\n",
    )
    .unwrap();
    assert_usage_error(
        skubench()
            .args(["compare", "--spec"])
            .arg(&spec)
            .arg(&a)
            .arg(&a),
        &["spec.toml:3", "maxx"],
    );
}

#[test]
fn store_baseline_and_history_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let a = null_result(dir.path(), "a.json", 1000, REPS);
    let b = null_result(dir.path(), "b.json", 1000, REPS);
    store_add(&store, &[&a, &b]).assert().success();
    skubench()
        .args(["baseline", "--store"])
        .arg(&store)
        .args(["save", "ref", "--query", "distro=debian,last=1"])
        .assert()
        .success();
    // The candidate by file, the baseline by name. The null workload's
    // throughput measures the harness on a shared machine (tens of % of
    // noise): no regression, and PASS or INCONCLUSIVE (exit 4) by that noise.
    let o = skubench()
        .args(["compare", "--include-disturbed", "--store"])
        .arg(&store)
        .arg("ref")
        .arg(&b)
        .output()
        .unwrap();
    assert!(matches!(o.status.code(), Some(0 | 4)), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("0 regressions"));
    skubench()
        .args(["baseline", "--store"])
        .arg(&store)
        .args(["show", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no baseline `nope`"));
    let history = || {
        let mut c = skubench();
        c.args([
            "history",
            "--include-disturbed",
            "--metric",
            "null.lat_ns.p50",
        ]);
        c
    };
    history()
        .arg("--store")
        .arg(&store)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("null.lat_ns.p50").and(predicate::str::contains("14 points")),
        );
    // The same as report files: text, JSON, HTML with a plot, Markdown, JUnit.
    let out = dir.path().join("hist");
    history()
        .arg("--output-dir")
        .arg(&out)
        .arg("--store")
        .arg(&store)
        .assert()
        .success()
        .stderr(predicate::str::contains("PASS: no change point alerts"));
    let read = |ext: &str| std::fs::read_to_string(out.join(format!("history.{ext}"))).unwrap();
    assert!(read("txt").contains("14 points"));
    let html = read("html");
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("<svg"),
        "{html}"
    );
    assert!(!html.contains("<script"));
    assert!(read("md").contains("`null.lat_ns.p50`"));
    let junit = read("xml");
    assert!(
        junit.contains("<testcase name=\"null.lat_ns.p50\"") && !junit.contains("<failure"),
        "{junit}"
    );
    let json: serde_json::Value = serde_json::from_str(&read("json")).unwrap();
    assert_eq!(json[0]["metric"], "null.lat_ns.p50");
}

#[test]
fn bad_inputs_exit_2_and_leave_the_store_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let a = null_result(dir.path(), "a.json", 1000, REPS);
    store_add(&store, &[&a]).assert().success();
    let snapshot = |p: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        let mut v = Vec::new();
        for sub in ["results", "history", "baselines"] {
            if let Ok(rd) = std::fs::read_dir(p.join(sub)) {
                for e in rd.flatten() {
                    v.push((e.path(), std::fs::read(e.path()).unwrap()));
                }
            }
        }
        v.sort();
        v
    };
    let before = snapshot(&store);
    let text = std::fs::read_to_string(&a).unwrap();
    let truncated = dir.path().join("trunc.json");
    std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    let future = dir.path().join("future.json");
    std::fs::write(
        &future,
        text.replace("skubench.result.v1", "skubench.result.v9"),
    )
    .unwrap();
    for (f, needle) in [
        (&truncated, "invalid JSON"),
        (&future, "unsupported schema"),
    ] {
        store_add(&store, &[&a, f])
            .assert()
            .code(2)
            .stderr(
                predicate::str::contains(needle).and(predicate::str::contains(
                    f.file_name().unwrap().to_str().unwrap(),
                )),
            );
    }
    skubench()
        .args(["compare", "--store"])
        .arg(&store)
        .args(["no-such-baseline", "also-not"])
        .assert()
        .code(2);
    assert_eq!(snapshot(&store), before);
}

/// Failed writes and an unusable store exit 3 (the operation failed), while
/// what the user named wrongly still exits 2.
#[test]
fn io_and_store_failures_exit_3_and_input_errors_2() {
    let (dir, a) = dir_with_result(1000, REPS);
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "not a directory").unwrap();
    let code = |args: &[&std::ffi::OsStr]| {
        let o = skubench().args(args).output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (a, file) = (a.as_os_str(), file.as_os_str());
    let os = std::ffi::OsStr::new;
    let out_dir = Path::new(file).join("reports");
    let (c, err) = code(&[
        os("compare"),
        os("--include-disturbed"),
        os("--output-dir"),
        out_dir.as_os_str(),
        a,
        a,
    ]);
    assert_eq!(c, Some(3), "{err}");
    assert!(err.contains("plain-file"), "{err}");
    // A store that cannot be a directory: adding to it, listing it and its history fail.
    for args in [
        &[os("store"), os("--store"), file, os("add"), a][..],
        &[os("store"), os("--store"), file, os("list")],
        &[os("history"), os("--store"), file],
    ] {
        let (c, err) = code(args);
        assert_eq!(c, Some(3), "{args:?}: {err}");
        assert!(err.contains("plain-file"), "{err}");
    }
    // A baseline the store does not have is the user's input.
    let empty = dir.path().join("empty-store");
    let (c, err) = code(&[
        os("compare"),
        os("--store"),
        empty.as_os_str(),
        os("no-such-baseline"),
        a,
    ]);
    assert_eq!(c, Some(2), "{err}");
    assert!(err.contains("no baseline `no-such-baseline`"), "{err}");
}

#[test]
fn a_read_only_store_is_a_failed_operation_not_a_usage_error() {
    let (dir, a) = dir_with_result(1000, REPS);
    let store = dir.path().join("ro-store");
    std::fs::create_dir(&store).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o555)).unwrap();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let bin = assert_cmd::cargo::cargo_bin("skubench");
    let mut cmd = if root {
        // Root ignores permission bits: run the CLI as `nobody`.
        if std::process::Command::new("setpriv")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("skipped: setpriv not available to drop root");
            return;
        }
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin);
        c
    } else {
        std::process::Command::new(&bin)
    };
    let out = cmd
        .arg("store")
        .arg("--store")
        .arg(&store)
        .arg("add")
        .arg(&a)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ro-store") && err.contains("ermission"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&store).unwrap().count(), 0);
}

#[test]
fn import_fio_and_iperf3_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let fio = dir.path().join("fio.json");
    std::fs::write(
        &fio,
        "fio: engine libaio not loadable\n{\"fio version\": \"fio-3.33\", \"jobs\": [{\"jobname\": \"r\", \"job options\": {\"rw\": \"randread\"},\
         \"read\": {\"iops\": 85000.5, \"bw_bytes\": 348162048, \"runtime\": 10000, \"total_ios\": 850005,\
         \"clat_ns\": {\"max\": 900000, \"percentile\": {\"50.000000\": 350208, \"99.000000\": 700416}}}}]}",
    )
    .unwrap();
    let out = dir.path().join("fio.skubench.json");
    skubench()
        .args(["import", "fio"])
        .arg(&fio)
        .arg("--output")
        .arg(&out)
        .args(["--sku", "D2"])
        .assert()
        .success();
    skubench().arg("show").arg(&out).assert().success().stdout(
        predicate::str::contains("disk.randread.iops")
            .and(predicate::str::contains("85.001 kops/s")),
    );
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "fio: failed to open file\n").unwrap();
    skubench()
        .args(["import", "fio"])
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no JSON"));
}
