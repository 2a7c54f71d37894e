//! The comparison on real runs of a genuinely slower machine: the
//! candidate runs inside a CPU cgroup capped at half a vCPU. 5 vs 5 runs
//! of a one-thread cpu suite must FAIL with the throughput metrics as
//! regressions; 5 vs 5 A/A must not. Needs root for the cgroup: gated by
//! `SKUBENCH_PRIVILEGED_TESTS=1` (CI sets it). Works with cgroup v2
//! (`cpu.max`) and v1 (`cpu.cfs_quota_us`). One test in its own binary, so
//! no other test loads the machine while it measures.

use std::path::{Path, PathBuf};
use std::process::Command;

fn skubench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_skubench"))
}

/// A CPU cgroup capped at half a vCPU, removed on drop.
struct HalfCpu {
    dir: PathBuf,
}

impl HalfCpu {
    fn create() -> Option<Self> {
        let name = format!("skubench-test-{}", std::process::id());
        let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers");
        if std::fs::read_to_string(v2).is_ok_and(|c| c.split_whitespace().any(|x| x == "cpu")) {
            // The controller must be enabled for children of the root.
            let _ = std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+cpu");
            let dir = Path::new("/sys/fs/cgroup").join(name);
            std::fs::create_dir(&dir).ok()?;
            let g = HalfCpu { dir };
            std::fs::write(g.dir.join("cpu.max"), "50000 100000").ok()?;
            return Some(g);
        }
        let v1 = Path::new("/sys/fs/cgroup/cpu");
        if v1.join("cpu.cfs_quota_us").exists() {
            let dir = v1.join(name);
            std::fs::create_dir(&dir).ok()?;
            let g = HalfCpu { dir };
            std::fs::write(g.dir.join("cpu.cfs_period_us"), "100000").ok()?;
            std::fs::write(g.dir.join("cpu.cfs_quota_us"), "50000").ok()?;
            return Some(g);
        }
        None
    }

    /// A command that moves itself into the cgroup, then runs skubench.
    fn skubench(&self) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg("echo $$ > \"$1/cgroup.procs\" && shift && exec \"$@\"")
            .arg("sh")
            .arg(&self.dir)
            .arg(env!("CARGO_BIN_EXE_skubench"))
            .arg("run");
        c
    }
}

impl Drop for HalfCpu {
    fn drop(&mut self) {
        // Empty once the child has exited; a few tries while it is reaped.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        eprintln!("could not remove {}", self.dir.display());
    }
}

fn run_suite(mut cmd: Command, suite: &Path, out: &Path) {
    let st = cmd
        .arg(suite)
        .args(["--quiet", "--output"])
        .arg(out)
        .status()
        .expect("run skubench");
    assert!(st.success(), "skubench run {}: {st}", out.display());
}

/// Writes the even and the odd repetitions of `both` as two result files.
fn split(both: &Path, even: &Path, odd: &Path) {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(both).unwrap()).unwrap();
    for (out, parity) in [(even, 0), (odd, 1)] {
        let mut w = v.clone();
        let runs: Vec<serde_json::Value> = v["runs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["repetition"].as_u64().unwrap() % 2 == parity)
            .cloned()
            .collect();
        assert_eq!(runs.len(), 5);
        w["runs"] = serde_json::Value::Array(runs);
        std::fs::write(out, serde_json::to_vec(&w).unwrap()).unwrap();
    }
}

/// `compare` of two result files: (exit code, comparison JSON).
fn compare(dir: &Path, a: &Path, b: &Path, name: &str) -> (i32, serde_json::Value) {
    let out = dir.join(name);
    let o = skubench()
        .arg("compare")
        .arg(a)
        .arg(b)
        .args(["--format", "json,terminal", "--output-dir"])
        .arg(&out)
        .output()
        .expect("run compare");
    let json = std::fs::read_to_string(out.join("comparison.json")).unwrap_or_default();
    let text = std::fs::read_to_string(out.join("comparison.txt")).unwrap_or_default();
    eprintln!("{name}:\n{text}\n{}", String::from_utf8_lossy(&o.stderr));
    (
        o.status.code().unwrap_or(-1),
        serde_json::from_str(&json).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn half_a_vcpu_is_a_regression_and_aa_is_not() {
    if std::env::var("SKUBENCH_PRIVILEGED_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set SKUBENCH_PRIVILEGED_TESTS=1 (root) for the cgroup test");
        return;
    }
    let Some(cap) = HalfCpu::create() else {
        panic!("SKUBENCH_PRIVILEGED_TESTS=1 but no CPU cgroup (v2 cpu.max or v1 cpu.cfs_quota_us) could be made");
    };
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("cpu1.toml");
    // The machine is shared: keep every run (the cap is not foreign load).
    std::fs::write(
        &suite,
        "name = \"cpu-one-thread\"\nrepetitions = 5\nwarmup = \"0.3s\"\nduration = \"2s\"\n\
         disturbance_threshold = 1000\n[[workload]]\nkind = \"cpu\"\nthreads = 1\npin = [0]\n",
    )
    .unwrap();
    let (both, a, b, c) = (
        dir.path().join("both.json"),
        dir.path().join("a.json"),
        dir.path().join("b.json"),
        dir.path().join("c.json"),
    );
    // A/A on the same machine: 10 runs, split into the even and the odd
    // repetitions, so drift of a shared machine lands on both sides alike.
    let mut ten = skubench();
    ten.args(["run", "--repetitions", "10"]);
    run_suite(ten, &suite, &both);
    split(&both, &a, &b);
    run_suite(cap.skubench(), &suite, &c);
    drop(cap);

    let (code, v) = compare(dir.path(), &a, &c, "capped");
    // Half a vCPU is never a PASS, however noisy the machine.
    assert_ne!(code, 0, "half a vCPU must not PASS");
    let rows = v["rows"].as_array().unwrap();
    let throughput: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| {
            let m = r["metric"].as_str().unwrap_or("");
            m.starts_with("cpu.") && m.ends_with(".ops_per_s") && r["role"] == "headline"
        })
        .collect();
    assert!(!throughput.is_empty());
    // Whenever the comparison itself says it could see a halving (every
    // throughput headline's minimum detectable effect ≤ 40%), it must FAIL
    // with them as regressions. A machine loaded by something else can make
    // 5 runs too noisy for that; the comparison then says INCONCLUSIVE.
    let visible = throughput
        .iter()
        .all(|r| r["mde"].as_f64().is_some_and(|m| m <= 0.4));
    if visible {
        assert_eq!(code, 1, "half a vCPU must FAIL the comparison");
        assert_eq!(v["outcome"], "fail");
        let mut called = 0;
        for r in &throughput {
            let ratio = r["ratio"].as_f64().unwrap_or(1.0);
            assert!(ratio < 0.8, "{}: ratio {ratio}", r["metric"]);
            let verdict = r["verdict"].as_str().unwrap_or("");
            assert!(
                verdict == "regression" || verdict == "inconclusive",
                "{}: {verdict}",
                r["metric"]
            );
            called += usize::from(verdict == "regression");
        }
        assert!(
            2 * called >= throughput.len(),
            "{called} of {} called",
            throughput.len()
        );
    } else {
        assert_eq!(
            code, 4,
            "a noisy comparison that cannot see a halving is INCONCLUSIVE"
        );
        eprintln!("capped: this machine was too noisy for 5 runs to see a halving (MDE > 40%): INCONCLUSIVE, as it must be");
    }

    let (code, v) = compare(dir.path(), &a, &b, "aa");
    assert_ne!(code, 1, "A/A must not fail");
    assert_eq!(v["counts"]["regression"], 0);
    if code != 0 {
        // Only honest reason for an A/A INCONCLUSIVE: this machine was too
        // noisy for 5 runs to see a threshold-sized shift of some headline.
        let too_noisy = v["rows"].as_array().unwrap().iter().any(|r| {
            r["role"] == "headline"
                && r["verdict"] == "inconclusive"
                && r["mde"]
                    .as_f64()
                    .is_none_or(|m| m > r["threshold"].as_f64().unwrap_or(0.0))
        });
        assert!(
            code == 4 && too_noisy,
            "A/A exited {code} although every headline could see a threshold-sized shift"
        );
        eprintln!("A/A: INCONCLUSIVE, this machine was too noisy for 5 runs (see the MDE column)");
    }
}
