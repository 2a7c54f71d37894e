//! End-to-end tests of `skubench gate`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;

mod common;
use common::{run_ok, save_baseline, skubench, store_add};

/// `skubench gate --quiet ARGS… --suite SUITE --store STORE --report-dir DIR`.
fn gate(args: &[&str], suite: &Path, store: &Path, report_dir: &Path) -> Command {
    let mut c = skubench();
    c.args(["gate", "--quiet"])
        .args(args)
        .arg("--suite")
        .arg(suite)
        .arg("--store")
        .arg(store)
        .arg("--report-dir")
        .arg(report_dir);
    c
}

/// A suite of one null workload with a fixed synthetic latency: the
/// "slowdown knob" is the latency.
fn suite(dir: &Path, name: &str, latency_ns: u64, extra: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "name = \"gate-test\"\nwarmup = 0\nops = 2000\n# the machine is shared; do not drop runs as disturbed\ndisturbance_threshold = 1000\n\
             [[workload]]\nkind = \"null\"\nname = \"svc\"\nlatency_ns = [{latency_ns}, {}]\n{extra}",
            latency_ns + latency_ns / 100
        ),
    )
    .unwrap();
    p
}

#[test]
fn gate_passes_against_its_baseline_and_fails_on_a_degraded_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let good = suite(dir.path(), "good.toml", 1000, "");
    let slow = suite(dir.path(), "slow.toml", 1500, "");
    let base = dir.path().join("base.json");
    run_ok(
        &format!("{} --repetitions 7 --quiet", good.display()),
        &base,
    );
    save_baseline(&store, "ref", &base);

    // Each gate's exit code and the outcome it prints.
    let run_gate = |suite: &Path, report_dir: &Path, code: i32, outcome: &str| {
        gate(&["--baseline", "ref"], suite, &store, report_dir)
            .assert()
            .code(code)
            .stderr(predicate::str::contains(outcome));
    };
    let ok_dir = dir.path().join("ok");
    run_gate(&good, &ok_dir, 0, "PASS");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ok_dir.join("gate.json")).unwrap()).unwrap();
    assert_eq!(summary["outcome"], "pass");

    let bad_dir = dir.path().join("bad");
    run_gate(&slow, &bad_dir, 1, "FAIL");
    let cmp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bad_dir.join("comparison.json")).unwrap()).unwrap();
    let regressed: Vec<&str> = cmp["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"] == "regression")
        .map(|r| r["metric"].as_str().unwrap())
        .collect();
    assert!(regressed.contains(&"null.lat_ns.p50"), "{regressed:?}");
    // The JUnit file names the failing metric in a <failure>, and every report format was written.
    let junit = std::fs::read_to_string(bad_dir.join("comparison.xml")).unwrap();
    let case = junit
        .find("name=\"null.lat_ns.p50\"")
        .expect("a testcase for the metric");
    let after = &junit[case..];
    let end = after.find("</testcase>").unwrap();
    assert!(after[..end].contains("<failure"), "{}", &after[..end]);
    for f in [
        "comparison.md",
        "comparison.html",
        "comparison.txt",
        "gate.json",
    ] {
        assert!(bad_dir.join(f).exists(), "{f}");
    }
    // Both gates stored their runs: 1 baseline + 2 candidates (at least).
    let stored = std::fs::read_dir(store.join("results")).unwrap().count();
    assert!(stored >= 3, "{stored}");
}

#[test]
fn gate_input_errors_exit_2_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let good = suite(dir.path(), "good.toml", 1000, "");
    let (store, r) = (dir.path().join("store"), dir.path().join("r"));
    gate(&["--baseline", "nope"], &good, &store, &r)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nope"));
    assert!(!dir.path().join("r").exists());
}

#[test]
fn sigterm_during_a_gate_exits_3_and_leaves_the_store_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let good = suite(dir.path(), "good.toml", 1000, "");
    let base = dir.path().join("base.json");
    run_ok(
        &format!("{} --repetitions 4 --quiet", good.display()),
        &base,
    );
    store_add(&store, &[&base]).assert().success();
    let long = dir.path().join("long.toml");
    std::fs::write(
        &long,
        "warmup = 0\nduration = 30\n[[workload]]\nkind = \"null\"\nname = \"svc\"\n",
    )
    .unwrap();
    let before: Vec<_> = std::fs::read_dir(store.join("results"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("skubench"))
        .args(["gate", "--quiet", "--history", "--suite"])
        .arg(&long)
        .arg("--store")
        .arg(&store)
        .arg("--report-dir")
        .arg(dir.path().join("rep"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("interrupted") && err.contains("store is unchanged"),
        "{err}"
    );
    let after: Vec<_> = std::fs::read_dir(store.join("results"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(before, after);
    // The partial result was kept next to the reports, marked interrupted.
    let partial: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("rep/results/round1.json")).unwrap())
            .unwrap();
    assert_eq!(partial["status"], "interrupted");
}

#[test]
fn sku_auto_reads_the_instance_metadata_service() {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut buf = [0u8; 2048];
        let _ = c.read(&mut buf).unwrap();
        let body = r#"{"compute":{"vmSize":"Standard_E4s_v6","location":"westeurope"}}"#;
        write!(
            c,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
    });
    let out = skubench()
        .args(["sysinfo", "--json", "--sku", "auto"])
        .env("SKUBENCH_IMDS_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap();
    t.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sku"], "Standard_E4s_v6");
    assert_eq!(v["region"], "westeurope");
}

#[test]
fn nightly_history_gate_writes_every_history_report() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = suite(dir.path(), "s.toml", 1000, "");
    let rep = dir.path().join("rep");
    gate(
        &["--history", "--repetitions", "2", "--sku", "Test_N1"],
        &s,
        &store,
        &rep,
    )
    .assert()
    .success();
    for f in [
        "history.txt",
        "history.json",
        "history.html",
        "history.md",
        "history.xml",
        "gate.json",
    ] {
        assert!(rep.join(f).is_file(), "{f} missing");
    }
    let html = std::fs::read_to_string(rep.join("history.html")).unwrap();
    assert!(html.contains("verdict pass") && html.contains("null.lat_ns.p50"));
    let junit = std::fs::read_to_string(rep.join("history.xml")).unwrap();
    assert!(
        junit.contains("Test_N1") && !junit.contains("<failure"),
        "{junit}"
    );
}
