//! Helpers shared by the CLI integration tests.
#![allow(dead_code)] // each test binary uses a subset

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The built `skubench` binary.
pub fn skubench() -> Command {
    Command::cargo_bin("skubench").unwrap()
}

/// `skubench ARGS…` with arguments that may be text or paths.
pub fn skubench_with<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = skubench();
    c.args(args);
    c
}

/// A result file of `reps` repetitions of the null workload with a fixed
/// synthetic latency: a deterministic baseline or (slower) candidate.
pub fn null_result(dir: &Path, name: &str, latency_ns: u64, reps: u32) -> PathBuf {
    let out = dir.join(name);
    skubench()
        .args(["run", "null", "--ops", "2000", "--warmup", "0", "--quiet"])
        .args(["--repetitions", &reps.to_string()])
        .args(["--latency-ns", &latency_ns.to_string(), "--output"])
        .arg(&out)
        .assert()
        .success();
    out
}

/// A temporary directory holding `a.json`, a [`null_result`] of `reps`
/// runs at `latency_ns`: the prologue of most comparison tests.
pub fn dir_with_result(latency_ns: u64, reps: u32) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let a = null_result(dir.path(), "a.json", latency_ns, reps);
    (dir, a)
}

/// `skubench run LINE --output OUT`, asserted to succeed; `line` is split
/// at whitespace.
pub fn run_ok(line: &str, out: &Path) -> assert_cmd::assert::Assert {
    skubench()
        .arg("run")
        .args(line.split_whitespace())
        .arg("--output")
        .arg(out)
        .assert()
        .success()
}

/// Asserts that `cmd` exits 2 (usage or input error) and that its stderr
/// holds every one of `needles`.
pub fn assert_usage_error(cmd: &mut Command, needles: &[&str]) {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
}

/// `compare --include-disturbed --format json BASE CAND`: the exit code,
/// the comparison's JSON and stderr. Runs on a busy machine may be flagged
/// disturbed; the tests keep them.
pub fn compare_json(base: &Path, cand: &Path) -> (Option<i32>, serde_json::Value, String) {
    let out = skubench()
        .args(["compare", "--include-disturbed", "--format", "json"])
        .arg(base)
        .arg(cand)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {err}"));
    (out.status.code(), v, err)
}

/// The row of `metric` in a comparison's JSON.
pub fn row<'a>(cmp: &'a serde_json::Value, metric: &str) -> &'a serde_json::Value {
    cmp["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == metric)
        .unwrap_or_else(|| panic!("no row {metric}"))
}

/// `skubench store --store STORE add FILE…`, to be asserted.
pub fn store_add(store: &Path, files: &[&Path]) -> Command {
    let mut c = skubench();
    c.args(["store", "--store"])
        .arg(store)
        .arg("add")
        .args(files);
    c
}

/// `skubench baseline --store STORE save NAME --from FILE`, asserted to succeed.
pub fn save_baseline(store: &Path, name: &str, from: &Path) {
    skubench()
        .args(["baseline", "--store"])
        .arg(store)
        .args(["save", name, "--from"])
        .arg(from)
        .assert()
        .success();
}
