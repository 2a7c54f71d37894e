//! Helpers shared by the CLI integration tests.
#![allow(dead_code)] // each test binary uses a subset

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The built `skubench` binary.
pub fn skubench() -> Command {
    Command::cargo_bin("skubench").unwrap()
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
