//! Fault injection: a full file system under the result file, and SIGKILL
//! of the store's writers at random points.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as Std;
use std::time::Duration;

use common::{null_result, skubench};

/// `n` distinct valid result files (one null run each, the start time
/// changed so each has its own bytes and so its own content id).
fn results(dir: &Path, n: usize) -> Vec<PathBuf> {
    let base = null_result(dir, "base.json", 1000, 1);
    let text = std::fs::read_to_string(&base).unwrap();
    let mut f: serde_json::Value = serde_json::from_str(&text).unwrap();
    (0..n)
        .map(|i| {
            f["started_at"] = format!("2026-01-01T00:00:{:02}.{i:06}Z", i % 60).into();
            let p = dir.join(format!("r{i}.json"));
            std::fs::write(&p, serde_json::to_vec_pretty(&f).unwrap()).unwrap();
            p
        })
        .collect()
}

/// Every file a reader can see in the store is whole: results and
/// baselines parse as JSON, history files carry Parquet's magic at both
/// ends. Temporary files (`.name.PID.tmp`) are invisible to readers.
fn store_is_whole(store: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    for sub in ["results", "baselines"] {
        let Ok(rd) = std::fs::read_dir(store.join(sub)) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".json") else {
                continue;
            };
            let bytes = std::fs::read(e.path()).unwrap();
            assert!(
                serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(),
                "a partial {sub}/{name} is visible"
            );
            if sub == "results" {
                ids.push(stem.to_string());
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(store.join("history")) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".parquet") {
                let b = std::fs::read(e.path()).unwrap();
                assert!(
                    b.len() >= 8 && &b[..4] == b"PAR1" && &b[b.len() - 4..] == b"PAR1",
                    "a partial history/{name} is visible"
                );
            }
        }
    }
    ids.sort();
    ids
}

/// A deterministic sequence of kill delays (xorshift) between 0 and 1.5
/// times `whole` (how long one uninterrupted operation takes on this
/// machine), so kills land before, inside and after its writes.
fn delays(n: usize, whole: Duration) -> Vec<Duration> {
    let span = (whole.as_micros() as u64 * 3 / 2).max(1);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_micros(x % span)
        })
        .collect()
}

fn killed_after(args: &[std::ffi::OsString], after: Duration) {
    let mut c = Std::new(assert_cmd::cargo::cargo_bin("skubench"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    // SIGKILL: no handler, no cleanup.
    let _ = c.kill();
    let _ = c.wait();
}

#[test]
fn sigkill_of_store_add_and_baseline_save_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let files = results(dir.path(), 50);
    // How long one `store add` takes here, uninterrupted (a scratch store).
    let t = std::time::Instant::now();
    skubench()
        .args(["store", "--store"])
        .arg(dir.path().join("scratch"))
        .arg("add")
        .arg(&files[0])
        .assert()
        .success();
    let whole = t.elapsed();
    let s = store.as_os_str();
    // Kills one command per file at the given delays; after each, every
    // visible file is whole and no stored result was lost.
    let mut seen: Vec<String> = Vec::new();
    let mut kill_each = |cmd: &dyn Fn(usize) -> Vec<std::ffi::OsString>, ds: Vec<Duration>| {
        for (i, d) in ds.into_iter().enumerate() {
            killed_after(&cmd(i), d);
            let now = store_is_whole(&store);
            assert!(
                seen.iter().all(|id| now.contains(id)),
                "a stored result was lost"
            );
            seen = now;
            // The lock is free again (flock dies with its holder): the
            // next writer goes through.
            if i % 10 == 9 {
                skubench()
                    .args(["store", "--store"])
                    .arg(&store)
                    .arg("list")
                    .timeout(Duration::from_secs(30))
                    .assert()
                    .success();
            }
        }
        seen.len()
    };
    let os = |v: &[&std::ffi::OsStr]| v.iter().map(|x| x.to_os_string()).collect::<Vec<_>>();
    let added = kill_each(
        &|i| {
            os(&[
                "store".as_ref(),
                "--store".as_ref(),
                s,
                "add".as_ref(),
                files[i].as_os_str(),
            ])
        },
        delays(50, whole),
    );
    // The kills hit: some adds completed, some did not.
    eprintln!("{added} of 50 killed adds had completed (one takes {whole:?})");
    assert!(
        added > 0 && added < 50,
        "{added} of 50 adds completed (one takes {whole:?})"
    );
    // Baselines, killed the same way: each either absent or whole.
    let names: Vec<String> = (0..50).map(|i| format!("b{i}")).collect();
    kill_each(
        &|i| {
            let mut v = os(&["baseline".as_ref(), "--store".as_ref(), s, "save".as_ref()]);
            v.push(names[i].clone().into());
            v.extend(os(&["--from".as_ref(), files[i].as_os_str()]));
            v
        },
        delays(50, whole).into_iter().rev().collect(),
    );
    // Completing every add now stores all 50, each exactly once.
    let mut add = skubench();
    add.args(["store", "--store"]).arg(&store).arg("add");
    for f in &files {
        add.arg(f);
    }
    add.timeout(Duration::from_secs(120)).assert().success();
    let ids = store_is_whole(&store);
    assert_eq!(ids.len(), 50, "{ids:?}");
}

/// The result file is rewritten (temp file + rename) after every run; when
/// the file system fills up, the run fails with a clear error naming the
/// file, and the last complete version stays whole. Root only (tmpfs).
#[test]
fn a_full_file_system_under_the_result_file_keeps_its_last_whole_version() {
    if std::env::var_os("SKUBENCH_PRIVILEGED_TESTS").is_none() {
        eprintln!("skipped: set SKUBENCH_PRIVILEGED_TESTS=1 (root) to mount a small tmpfs");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    // 16 KiB: room for the file after one run (≈ 7 KB) beside its temp
    // copy, not for the file after two runs beside the one after one.
    let ok = Std::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16k", "tmpfs"])
        .arg(&full)
        .status()
        .unwrap();
    assert!(ok.success(), "mount tmpfs");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Std::new("umount").arg(&self.0).status();
        }
    }
    let _u = Unmount(full.clone());
    let suite = dir.path().join("s.toml");
    std::fs::write(
        &suite,
        "warmup = 0\nops = 2000\n[[workload]]\nkind = \"null\"\nname = \"a\"\n\
         [[workload]]\nkind = \"null\"\nname = \"b\"\n[[workload]]\nkind = \"null\"\nname = \"c\"\n",
    )
    .unwrap();
    let out = full.join("r.json");
    let o = skubench()
        .args(["run", "-q", "--no-ebpf"])
        .arg(&suite)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "the run failed (exit 3)");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("No space left on device") && err.contains("r.json"),
        "{err}"
    );
    let f: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap())
        .expect("the last version of the result file is whole");
    assert!(!f["runs"].as_array().unwrap().is_empty(), "{f}");
    let left: Vec<_> = std::fs::read_dir(&full)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 1, "temporary files left behind: {left:?}");
}
