//! Attribution through the CLI: a run without root says why its eBPF
//! section is missing, and a comparison of a disk run slowed by a competing
//! writer on the same device explains the regression in its reports.

mod common;

use std::process::Command as Std;
use std::time::{Duration, Instant};

use common::skubench;

/// Runs `skubench` as `nobody` when this is root (root would trace), else
/// as this user; `None` when root cannot drop to `nobody` here.
fn unprivileged() -> Option<Std> {
    let bin = assert_cmd::cargo::cargo_bin("skubench");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some(Std::new(bin));
    }
    Std::new("setpriv").arg("--version").output().ok()?;
    let mut c = Std::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin);
    Some(c)
}

#[test]
fn a_run_without_root_completes_and_says_why_ebpf_is_absent() {
    let Some(mut cmd) = unprivileged() else {
        eprintln!("skipped: setpriv not available to drop root");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = dir.path().join("r.json");
    let o = cmd
        .current_dir(dir.path())
        .args(["run", "-q", "cpu", "--stressor", "int", "--threads", "1"])
        .args(["--duration", "300ms", "--warmup", "100ms", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let f: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let run = &f["runs"][0];
    assert_eq!(run["status"], "ok");
    let why = run["notes"]["ebpf_absent"].as_str().unwrap_or_default();
    assert!(why.contains("not running as root"), "ebpf_absent: {why:?}");
    // The unprivileged part of attribution is there all the same.
    let names: Vec<&str> = run["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(
        names.contains(&"cpu.int.sched.runq_wait_ratio"),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains(".ebpf.")), "{names:?}");
}

/// The real case of the issue: `disk.randread` p50 regresses while `dd`
/// writes to the same device, and the Markdown and HTML reports show what
/// the device's own counters saw beside it. Root only (like the netns
/// tests): the competing writer and O_DIRECT on the build disk.
#[test]
fn a_disk_run_slowed_by_a_competing_writer_is_explained_in_the_reports() {
    if std::env::var_os("SKUBENCH_PRIVILEGED_TESTS").is_none() {
        eprintln!("skipped: set SKUBENCH_PRIVILEGED_TESTS=1 (root) for the competing-writer test");
        return;
    }
    if Std::new("dd").arg("--version").output().is_err() {
        eprintln!("skipped: no dd");
        return;
    }
    // On the build disk, not a tmpfs: the device is the point.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    // The writer is the test's precondition, not its subject: once in a
    // CI run it did not slow the reads at all (p50 82 µs before, 79 µs
    // beside it; it did in every run before and since). So a pair whose
    // p50 did not regress is tried once more; the explanation is checked
    // on the pair that did.
    let mut tries = Vec::new();
    let mut reports = None;
    for attempt in 1..=2 {
        let (verdict, dir_of_reports, detail) = slowed_pair(dir.path(), attempt);
        if verdict == "regression" {
            reports = Some(dir_of_reports);
            break;
        }
        tries.push(format!("attempt {attempt}: {detail}"));
    }
    let reports = reports.unwrap_or_else(|| {
        panic!(
            "the competing writer did not slow the reads:\n{}",
            tries.join("\n")
        )
    });
    let md = std::fs::read_to_string(reports.join("comparison.md")).unwrap();
    let html = std::fs::read_to_string(reports.join("comparison.html")).unwrap();
    let line = md
        .lines()
        .find(|l| l.contains("disk.randread.lat_ns.p50 +"))
        .unwrap_or_else(|| panic!("no explanation of the p50 in:\n{md}"));
    assert!(line.contains("device read service time +"), "{line}");
    eprintln!("explanation: {line}");
    assert!(md.contains("#### Why it moved"), "{md}");
    assert!(
        html.contains("Why it moved") && html.contains("device read service time +"),
        "no explanation in the HTML report"
    );
}

/// One base run, one run beside a competing `dd` writer, and their
/// comparison: the p50's verdict, the reports' directory and the row.
fn slowed_pair(dir: &std::path::Path, attempt: u32) -> (String, std::path::PathBuf, String) {
    let run = |name: &str| {
        let out = dir.join(format!("{attempt}-{name}"));
        skubench()
            .args(["run", "-q", "disk", "--rw", "randread", "--bs", "4k"])
            .args(["--engine", "sync", "--direct", "true", "--size", "32m"])
            .arg("--dir")
            .arg(dir)
            .args(["--duration", "700ms", "--warmup", "200ms"])
            .args(["--repetitions", "7", "-o"])
            .arg(&out)
            .assert()
            .success();
        out
    };
    let base = run("base.json");
    // The competitor: three loops of 1 MiB direct writes, each over and
    // over to its own 256 MiB file, for at most 60 s (`timeout` ends them
    // if this test dies). One loop, on a later build VM, sometimes did not
    // slow the reads (p50 ×1.02, and an inconclusive ×1.43 at n = 5);
    // three slowed them 14–19× there.
    use std::os::unix::process::CommandExt;
    let loops: Vec<String> = (0..3)
        .map(|i| {
            format!(
                "while :; do dd if=/dev/zero of='{}' bs=1M count=256 oflag=direct conv=notrunc status=none; done",
                dir.join(format!("hog{i}.dat")).display()
            )
        })
        .collect();
    let mut dd = Std::new("timeout")
        .args(["60", "sh", "-c"])
        .arg(format!("{} & {} & {}; wait", loops[0], loops[1], loops[2]))
        .process_group(0)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let cand = run("cand.json");
    // SAFETY: signalling our own child's process group (the loop and its dd).
    unsafe {
        libc::kill(-(dd.id() as i32), libc::SIGTERM);
    }
    let _ = dd.wait();
    assert!(t.elapsed() < Duration::from_secs(120));
    let reports = dir.join(format!("reports-{attempt}"));
    let o = skubench()
        .arg("compare")
        .arg(&base)
        .arg(&cand)
        // The writer is foreign load: the monitor flags those runs as
        // disturbed, which is right, and here they are the point.
        .args([
            "--include-disturbed",
            "--format",
            "markdown,html,json",
            "--output-dir",
        ])
        .arg(&reports)
        .output()
        .unwrap();
    let c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("comparison.json")).unwrap()).unwrap();
    let lat = c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "disk.randread.lat_ns.p50")
        .expect("the p50 row")
        .clone();
    let verdict = lat["verdict"].as_str().unwrap_or_default().to_string();
    (
        verdict,
        reports,
        format!("{lat}\n{}", String::from_utf8_lossy(&o.stdout)),
    )
}
