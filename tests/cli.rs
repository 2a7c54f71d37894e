//! End-to-end tests of the `skubench` binary.

use std::path::Path;
use std::process::Command as StdCommand;
use std::time::Duration;

use predicates::prelude::*;

mod common;
use common::{assert_usage_error, run_ok, skubench};

fn validate_against_schema(path: &Path) -> serde_json::Value {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("schema/result.v1.schema.json").unwrap())
            .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&v)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "schema violations: {errors:#?}");
    v
}

#[test]
fn run_quick_suite_shortened_writes_a_valid_result() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("quick.json");
    let quick =
        "suites/quick.toml --repetitions 1 --duration 0.1 --warmup 0 --sku Test_D2 --tag onb-1";
    run_ok(quick, &out).stderr(predicate::str::contains("result written to"));
    let v = validate_against_schema(&out);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["host"]["sku"], "Test_D2");
    assert_eq!(v["invocation"]["tag"], "onb-1", "the tag is in the schema");
    let kinds: Vec<&str> = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["workload"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"cpu") && kinds.contains(&"jitter"),
        "{kinds:?}"
    );
    // The sweeps carry their curves (schema-checked above).
    let curve = |kind: &str, name: &str| {
        v["runs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["workload"] == kind)
            .flat_map(|r| r["curves"].as_array().into_iter().flatten())
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no curve {name} in a {kind} run"))
            .clone()
    };
    let lat = curve("mem.latency", "mem.latency.ns_per_load");
    assert_eq!(lat["x_unit"], "bytes");
    assert!(lat["points"].as_array().unwrap().len() >= 5, "{lat}");
    let sc = curve("cpu", "cpu.int.scaling.ops_per_s");
    assert_eq!(
        sc["points"][0][0], 1.0,
        "the curve starts at one thread: {sc}"
    );
    // `show` prints percentiles of every workload and the .hgrm table of a histogram.
    skubench().arg("show").arg(&out).assert().success().stdout(
        predicate::str::contains("jitter.wake_lat_ns.p99")
            .and(predicate::str::contains("cpu.int.ops_per_s")),
    );
    skubench()
        .arg("show")
        .arg(&out)
        .args(["--hgrm", "jitter.wake_lat_ns"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("1/(1-Percentile)")
                .and(predicate::str::contains("Total count")),
        );
}

#[test]
fn single_workload_flags_and_default_output_dir() {
    let dir = tempfile::tempdir().unwrap();
    skubench()
        .current_dir(dir.path())
        .args([
            "run",
            "null",
            "--threads",
            "2",
            "--duration",
            "0.2",
            "--warmup",
            "0",
            "--quiet",
        ])
        .assert()
        .success();
    let files: Vec<_> = std::fs::read_dir(dir.path().join("skubench-results"))
        .unwrap()
        .collect();
    assert_eq!(files.len(), 1);
    // The default suite, with run settings given as flags and no target.
    skubench()
        .current_dir(dir.path())
        .args([
            "run",
            "--repetitions",
            "1",
            "--duration",
            "0.1",
            "--warmup",
            "0",
            "--quiet",
        ])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_dir(dir.path().join("skubench-results"))
            .unwrap()
            .count(),
        2
    );
}

#[test]
fn bad_suite_exits_2_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("bad.toml");
    std::fs::write(
        &suite,
        "name = \"bad\"\n\n[[workload]]\nkind = \"cpu\"\nthreads = 2\nstresor = \"int\"\n",
    )
    .unwrap();
    assert_usage_error(
        skubench().arg("run").arg(&suite),
        &["bad.toml:6:1", "stresor"],
    );
    // A bad value, and a bad flag of a single workload.
    std::fs::write(&suite, "[[workload]]\nkind = \"cpu\"\nthreads = \"lots\"\n").unwrap();
    assert_usage_error(
        skubench().arg("run").arg(&suite),
        &["bad.toml:3:1", "threads"],
    );
    skubench()
        .args(["run", "cpu", "--stressor", "quantum"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--stressor"));
    skubench()
        .args(["run", "no-such-workload"])
        .assert()
        .code(2);
    skubench().args(["run", "cpu", "oops"]).assert().code(2);
}

#[test]
fn existing_output_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    std::fs::write(&out, "precious").unwrap();
    skubench()
        .args([
            "run",
            "null",
            "--duration",
            "0.1",
            "--warmup",
            "0",
            "--output",
        ])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("exists"));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious");
}

#[test]
fn show_rejects_bad_result_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.json");
    for (text, needle) in [
        ("not json", "invalid JSON"),
        ("{\"schema\": \"other\"}", "unsupported schema"),
        ("{\"schema\": \"skubench.result.v1\"}", "does not match"),
    ] {
        std::fs::write(&p, text).unwrap();
        assert_usage_error(skubench().arg("show").arg(&p), &[needle, "x.json"]);
    }
}

#[test]
fn sigint_mid_run_writes_an_interrupted_result_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("int.json");
    let bin = assert_cmd::cargo::cargo_bin("skubench");
    let mut child = StdCommand::new(bin)
        .args([
            "run",
            "null",
            "--duration",
            "30",
            "--warmup",
            "0",
            "--repetitions",
            "3",
            "--quiet",
            "--output",
        ])
        .arg(&out)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3));
    let v = validate_against_schema(&out);
    assert_eq!(v["status"], "interrupted");
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "interrupted");
    assert!(runs[0]["measured_s"].as_f64().unwrap() > 0.5);
}

#[test]
fn list_and_sysinfo() {
    skubench().arg("list").assert().success().stdout(
        predicate::str::contains("cpu")
            .and(predicate::str::contains("--stressor"))
            .and(predicate::str::contains("jitter")),
    );
    let out = skubench()
        .args(["sysinfo", "--json", "--sku", "X1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sku"], "X1");
    assert!(v["vcpus"].as_u64().unwrap() >= 1);
}

/// The histograms decode with another language's HdrHistogram library to
/// the same percentiles. Needs Python's `hdrhistogram` package
/// (scripts/test installs it and sets SKUBENCH_PY_TESTS=1).
#[test]
fn histograms_decode_in_python_hdrhistogram() {
    if std::env::var("SKUBENCH_PY_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set SKUBENCH_PY_TESTS=1 (scripts/test does) to run");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("py.json");
    run_ok("jitter --duration 0.5 --warmup 0 --quiet", &out);
    let script = r#"
import json, sys
from hdrh.histogram import HdrHistogram
d = json.load(open(sys.argv[1]))
run = d["runs"][0]
h = HdrHistogram.decode(run["histograms"]["jitter.wake_lat_ns"])
out = {
    "count": h.get_total_count(),
    "buckets": [[v.value_iterated_to, v.count_added_in_this_iter_step] for v in h.get_recorded_iterator()],
    "pct": {str(p): h.get_value_at_percentile(p) for p in (50, 90, 99, 99.9)},
    "max": h.get_max_value(),
}
print(json.dumps(out))
"#;
    let o = StdCommand::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let py: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let blob = file["runs"][0]["histograms"]["jitter.wake_lat_ns"]
        .as_str()
        .unwrap();
    let h = bench_core::hist::decode(blob).unwrap();
    let n = h.len();
    assert!(n > 100);
    assert_eq!(py["count"].as_u64().unwrap(), n);
    // Bucket by bucket, the two libraries see the same distribution.
    let ours: Vec<(u64, u64)> = h
        .iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_since_last_iteration()))
        .collect();
    let theirs: Vec<(u64, u64)> = py["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b[0].as_u64().unwrap(), b[1].as_u64().unwrap()))
        .collect();
    assert_eq!(ours, theirs);
    assert_eq!(py["max"].as_u64().unwrap(), h.max());
    // Percentiles agree up to the libraries' rank rounding (one sample either side).
    for (p, suffix) in [(50.0, "p50"), (90.0, "p90"), (99.0, "p99"), (99.9, "p99_9")] {
        let theirs = py["pct"][format!("{p}")]
            .as_u64()
            .or_else(|| py["pct"][format!("{}", p as u64)].as_u64())
            .unwrap();
        let q = p / 100.0;
        let lo = h.value_at_quantile((q - 1.0 / n as f64).max(0.0));
        let hi = h.value_at_quantile((q + 1.0 / n as f64).min(1.0));
        assert!(
            lo <= theirs && theirs <= hi,
            "{suffix}: python {theirs} outside [{lo}, {hi}]"
        );
        let metric = file["runs"][0]["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == format!("jitter.wake_lat_ns.{suffix}"))
            .unwrap()["value"]
            .as_f64()
            .unwrap() as u64;
        assert!(
            lo <= metric && metric <= hi,
            "{suffix}: metric {metric} outside [{lo}, {hi}]"
        );
    }
}

#[test]
fn fio_job_files_run_and_unsupported_options_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("j.fio");
    let d = dir.path().display();
    std::fs::write(
        &job,
        format!("[global]\nioengine=sync\nsize=8m\ntime_based\nruntime=0.3\ndirectory={d}\n; a comment\n[rr]\nrw=randread\nbs=4k\n"),
    )
    .unwrap();
    let out = dir.path().join("fio.json");
    skubench()
        .arg("run")
        .arg("--fio")
        .arg(&job)
        .args(["--quiet", "--output"])
        .arg(&out)
        .assert()
        .success();
    let v = validate_against_schema(&out);
    assert!(v["runs"][0]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "disk.randread.iops"));
    assert!(
        v["invocation"]["suite_text"]
            .as_str()
            .unwrap()
            .contains("[rr]"),
        "the job file is recorded"
    );
    // Only the result is left behind: the test file skubench created is gone.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    std::fs::write(&job, "[x]\nrw=read\nsize=1m\nioengine=libaio\n").unwrap();
    assert_usage_error(
        skubench().arg("run").arg("--fio").arg(&job),
        &["j.fio:4", "libaio"],
    );
}

#[test]
fn stress_suite_runs_its_group_at_once_and_keeps_the_run_order() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stress.json");
    let suite = std::fs::canonicalize("suites/stress.toml").unwrap();
    skubench()
        .current_dir(dir.path())
        .arg("run")
        .arg(&suite)
        .args(["--duration", "0.3", "--warmup", "0", "--quiet", "--output"])
        .arg(&out)
        .assert()
        .success();
    let v = validate_against_schema(&out);
    let runs = v["runs"].as_array().unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "stress.cpu#1",
            "stress.mem#1",
            "stress.disk#1",
            "stress.net#1",
            "stress.jitter#1"
        ],
        "the file keeps the suite's order whatever order the runs finished in"
    );
    for r in runs {
        assert_eq!(r["status"], "ok", "{}", r["error"]);
        assert_eq!(
            r["notes"]["concurrent_with"].as_array().unwrap().len(),
            4,
            "{}",
            r["id"]
        );
    }
    // Disk verification ran under the load, and its file is gone.
    let disk = &runs[2];
    assert!(
        disk["notes"]["disk.randrw.verified_blocks"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, [std::ffi::OsString::from("stress.json")]);
    // The single-run report lines the five runs up on one time axis.
    let rep = dir.path().join("rep");
    skubench()
        .arg("report")
        .arg(&out)
        .args(["--format", "html", "--output-dir"])
        .arg(&rep)
        .assert()
        .success();
    let html = std::fs::read_to_string(rep.join("report.html")).unwrap();
    assert!(
        html.contains("Runs that ran at the same time"),
        "no timeline"
    );
    assert!(
        html.contains(
            "repetition 1: stress.cpu, stress.mem, stress.disk, stress.net, stress.jitter"
        ),
        "timeline title"
    );
}

#[test]
fn run_kind_help_lists_that_workloads_parameters_with_defaults() {
    for line in [
        &["run", "disk", "--help"][..],
        &["run", "disk", "--bs", "8k", "-h"],
    ] {
        skubench().args(line).assert().success().stdout(
            predicate::str::contains("disk  —")
                .and(predicate::str::contains("--iodepth"))
                .and(predicate::str::contains("default 4k"))
                .and(predicate::str::contains("--repetitions N"))
                .and(predicate::str::contains("cpu  —").not()),
        );
    }
    // A suite file, or no target, gets the help of `run` itself.
    for line in [
        &["run", "suites/quick.toml", "--help"][..],
        &["run", "--help"],
    ] {
        skubench().args(line).assert().success().stdout(
            predicate::str::contains("Usage: skubench run")
                .and(predicate::str::contains("--iodepth").not()),
        );
    }
}

#[test]
fn run_options_are_accepted_after_the_workload_and_its_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("late.json");
    let o = skubench()
        .args([
            "run",
            "null",
            "--ops",
            "500",
            "--latency-ns",
            "700",
            "--warmup",
            "0",
        ])
        .args(["-q", "--sku", "Late_D2", "--repetitions", "2", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // -q: no progress lines, only where the result went.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("null#1"), "{err}");
    let v = validate_against_schema(&out);
    assert_eq!(v["host"]["sku"], "Late_D2");
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    // The workload parameters around the options still reach the workload.
    assert_eq!(
        runs[0]["spec"]["latency_ns"],
        serde_json::json!([700]),
        "{}",
        runs[0]["spec"]
    );
    // The same options after a suite file; a bad value is clap's usage error.
    let suite = dir.path().join("s.toml");
    std::fs::write(
        &suite,
        "ops = 200\nwarmup = 0\n[[workload]]\nkind = \"null\"\n",
    )
    .unwrap();
    let out2 = dir.path().join("suite.json");
    skubench()
        .arg("run")
        .arg(&suite)
        .args(["--quiet", "--repetitions", "3", "--output"])
        .arg(&out2)
        .assert()
        .success();
    assert_eq!(
        validate_against_schema(&out2)["runs"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    skubench()
        .args(["run", "null", "--ops", "10", "--repetitions", "0", "-q"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("1..=10000"));
}

#[test]
fn the_store_option_is_accepted_after_a_store_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("st");
    skubench()
        .args(["baseline", "list", "--store"])
        .arg(&store)
        .assert()
        .success();
    skubench()
        .args(["store", "list", "--store"])
        .arg(&store)
        .assert()
        .success()
        .stdout(predicate::str::contains("suite"));
}

/// `skubench list | head -1`: the reader leaves before skubench writes;
/// skubench ends quietly by SIGPIPE, as `cat` would, instead of panicking
/// in `println!` (exit 101, "failed printing to stdout: Broken pipe").
#[test]
fn printing_commands_end_quietly_when_the_reader_leaves() {
    use std::os::unix::process::ExitStatusExt;
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("skubench"))
        .args(["list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The read end closes before the child has parsed its arguments.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "stderr: {err}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?}, stderr: {err}",
        out.status
    );
}
