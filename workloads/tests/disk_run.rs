//! End-to-end disk workload tests on small files in a temporary directory:
//! engines, verification catching a corrupted block, rate limiting,
//! safety refusals and clean-up. Short durations; no timing assertions
//! beyond the rate target, which the open-loop schedule makes exact.

mod common;

use std::path::Path;

use bench_core::result::{RunRecord, Status};
use bench_core::suite::single_workload;
use bench_core::workload::PrepareEnv;
use common::{failure, metric, small_runner, suite};
use workloads::disk::engine::{describe_uring_error, probe_io_uring};
use workloads::disk::target::{check_access, classify, explain, TargetKind};

/// Runs the suite `text`, parsed for 2 vCPUs, whatever its outcome.
fn run(text: &str) -> Vec<RunRecord> {
    small_runner().run_suite(&mut suite(text, 2), &mut []).0
}

/// A 0.2 s `sync` disk job on `filename` with the parameters `extra`.
fn sync_job_on(filename: impl std::fmt::Display, extra: &str) -> RunRecord {
    run(&format!(
        "warmup = 0\nduration = \"0.2s\"\n[[workload]]\nkind = \"disk\"\nengine = \"sync\"\n\
         {extra}filename = \"{filename}\"\n"
    ))
    .remove(0)
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn uring_ok() -> bool {
    match probe_io_uring() {
        Ok(()) => true,
        Err(e) => {
            eprintln!("io_uring unavailable here, checking sync only: {e}");
            false
        }
    }
}

#[test]
fn sync_randread_runs_and_removes_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let recs = run(&format!(
        "warmup = \"0.1s\"\nduration = \"0.5s\"\n[[workload]]\nkind = \"disk\"\nengine = \"sync\"\n\
         rw = \"randread\"\nsize = \"16m\"\ndir = \"{}\"\n",
        dir.path().display()
    ));
    let r = &recs[0];
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    assert!(metric(r, "disk.randread.iops") > 0.0);
    assert!(metric(r, "disk.randread.lat_ns.p99") >= metric(r, "disk.randread.lat_ns.p50"));
    assert!(metric(r, "disk.randread.bytes_per_s") > 0.0);
    assert!(r.metric("disk.randread.cpu.sys_pct").is_some());
    assert_eq!(r.notes["engine"], "sync");
    assert_eq!(entries(dir.path()), 0, "the temporary file was left behind");
}

#[test]
fn io_uring_randrw_reports_each_direction() {
    if !uring_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let recs = run(&format!(
        "warmup = \"0.1s\"\nduration = \"0.5s\"\ninterval = \"100ms\"\n[[workload]]\nkind = \"disk\"\n\
         engine = \"io_uring\"\nrw = \"randrw\"\nrwmixread = 70\niodepth = 8\nnumjobs = 2\nsize = \"16m\"\n\
         fsync = 64\ndir = \"{}\"\n",
        dir.path().display()
    ));
    let r = &recs[0];
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    let total = metric(r, "disk.randrw.iops");
    let rd = metric(r, "disk.randrw.read.iops");
    let wr = metric(r, "disk.randrw.write.iops");
    assert!(rd > 0.0 && wr > 0.0);
    // Per-direction counts include at most one boundary I/O per job more.
    assert!(
        (rd + wr - total).abs() <= 0.01 * total + 10.0,
        "{rd} + {wr} vs {total}"
    );
    assert!(r.metric("disk.randrw.read.lat_ns.p50").is_some());
    assert!(r.metric("disk.randrw.write.lat_ns.p99").is_some());
    assert!(r.metric("disk.randrw.sync_lat_ns.p50").is_some());
    direction_series_add_up(r, "disk.randrw");
    assert_eq!(entries(dir.path()), 0);
}

/// A mixed job's read and write series line up with its total series, and
/// per interval they add up to it.
fn direction_series_add_up(r: &RunRecord, p: &str) {
    let get = |n: String| {
        r.series
            .iter()
            .find(|s| s.name == n)
            .unwrap_or_else(|| panic!("no series {n}"))
    };
    let (t, rd, wr) = (
        get(p.to_string()),
        get(format!("{p}.read")),
        get(format!("{p}.write")),
    );
    assert!(t.points.len() >= 3, "{:?}", t.points);
    assert_eq!(rd.points.len(), t.points.len());
    assert_eq!(wr.points.len(), t.points.len());
    for ((a, b), c) in rd.points.iter().zip(&wr.points).zip(&t.points) {
        assert_eq!(a.ops + b.ops, c.ops, "{a:?} + {b:?} vs {c:?}");
        assert_eq!(a.t_s, c.t_s);
        assert!(
            (a.bytes_per_s + b.bytes_per_s - c.bytes_per_s).abs() <= 1e-6 * c.bytes_per_s.max(1.0)
        );
    }
    let reads: u64 = rd.points.iter().map(|x| x.ops).sum();
    let writes: u64 = wr.points.iter().map(|x| x.ops).sum();
    assert!(
        reads > writes,
        "rwmixread 70: {reads} reads, {writes} writes"
    );
}

#[test]
fn sync_randrw_has_a_series_per_direction() {
    let dir = tempfile::tempdir().unwrap();
    let recs = run(&format!(
        "warmup = \"0.1s\"\nduration = \"0.5s\"\ninterval = \"100ms\"\n[[workload]]\nkind = \"disk\"\n\
         engine = \"sync\"\nrw = \"randrw\"\nrwmixread = 70\nsize = \"8m\"\ndir = \"{}\"\n",
        dir.path().display()
    ));
    let r = &recs[0];
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    direction_series_add_up(r, "disk.randrw");
}

#[test]
fn auto_engine_records_which_engine_ran() {
    let dir = tempfile::tempdir().unwrap();
    let recs = run(&format!(
        "warmup = 0\nduration = \"0.2s\"\n[[workload]]\nkind = \"disk\"\n\
         size = \"4m\"\ndir = \"{}\"\n",
        dir.path().display()
    ));
    let r = &recs[0];
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    let engine = r.notes["engine"].as_str().unwrap();
    assert_eq!(r.notes["engine_requested"], "auto");
    if probe_io_uring().is_ok() {
        assert_eq!(engine, "io_uring");
    } else {
        assert_eq!(engine, "sync");
        assert!(r.notes.contains_key("engine_fallback_reason"));
    }
}

#[test]
fn null_engine_does_no_io_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let recs = run(&format!(
        "warmup = 0\nops = 100000\n[[workload]]\nkind = \"disk\"\nengine = \"null\"\n\
         rw = \"randread\"\nsize = \"1g\"\ndir = \"{}\"\n",
        dir.path().display()
    ));
    let r = &recs[0];
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    assert_eq!(
        r.series
            .iter()
            .flat_map(|s| &s.points)
            .map(|p| p.ops)
            .sum::<u64>(),
        100_000
    );
    assert_eq!(entries(dir.path()), 0);
    assert!(!r.notes.contains_key("file"));
}

#[test]
fn io_size_bounds_the_bytes_of_a_job() {
    let dir = tempfile::tempdir().unwrap();
    let recs = run(&format!(
        "warmup = 0\nduration = \"30s\"\n[[workload]]\nkind = \"disk\"\nengine = \"sync\"\n\
         rw = \"read\"\nbs = \"4k\"\nsize = \"4m\"\nio_size = \"1m\"\ndir = \"{}\"\n",
        dir.path().display()
    ));
    let r = &recs[0];
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    let ops: u64 = r.series.iter().flat_map(|s| &s.points).map(|p| p.ops).sum();
    assert_eq!(ops, 256);
    assert!(r.measured_s < 20.0);
}

fn verify_corruption_caught(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("verify.dat");
    let text = format!(
        "warmup = 0\nops = 256\n[[workload]]\nkind = \"disk\"\nengine = \"{engine}\"\n\
         rw = \"randread\"\nbs = \"4k\"\niodepth = 4\nsize = \"1m\"\nverify = true\n\
         filename = \"{}\"\n",
        file.display()
    );
    let mut s = suite(&text, 2);
    let r = small_runner();
    let env = PrepareEnv {
        vcpus: 2,
        stop: r.stop.clone(),
    };
    let w = &mut s.workloads[0];
    w.workload.prepare(&env).unwrap();
    // A clean pass over every block verifies.
    let ok = r.run_once(0, w, 1, 1.0, &mut []);
    assert_eq!(ok.status, Status::Ok, "{:?}", ok.error);
    // Every block once (a pass), plus what was still in flight at the end.
    let verified = ok.notes["disk.randread.verified_blocks"].as_f64().unwrap();
    assert!((256.0..=260.0).contains(&verified), "{verified}");
    // Flip bytes in the body of the block at 256 KiB, on disk.
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.write_all_at(b"corrupted!", 262_144 + 1000).unwrap();
        f.sync_all().unwrap();
    }
    let bad = r.run_once(1, w, 2, 1.0, &mut []);
    let e = failure(&bad);
    assert!(e.contains("offset 262144"), "{e}");
    assert!(e.contains("checksum"), "{e}");
    w.workload.teardown().unwrap();
    assert!(!file.exists(), "teardown left the file");
}

#[test]
fn verify_catches_a_corrupted_block_sync() {
    verify_corruption_caught("sync");
}

#[test]
fn verify_catches_a_corrupted_block_io_uring() {
    if uring_ok() {
        verify_corruption_caught("io_uring");
    }
}

#[test]
fn verify_passes_mixed_writes_with_several_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let engine = if uring_ok() { "io_uring" } else { "sync" };
    let recs = run(&format!(
        "warmup = 0\nduration = \"0.5s\"\n[[workload]]\nkind = \"disk\"\nengine = \"{engine}\"\n\
         rw = \"randrw\"\nbssplit = \"4k/50:16k/50\"\niodepth = 8\nnumjobs = 2\nsize = \"2m\"\n\
         verify = true\nrandom_distribution = \"zipf:1.2\"\ndir = \"{}\"\n",
        dir.path().display()
    ));
    let r = &recs[0];
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    assert!(r.notes["disk.randrw.verified_blocks"].as_f64().unwrap() > 0.0);
}

fn rate_holds(engine: &str, rate: u64, depth: u32) {
    let dir = tempfile::tempdir().unwrap();
    let recs = run(&format!(
        // A 1 MiB file read buffered: the warm-up pulls every block into the
        // page cache, so a stall of the shared disk cannot cost the
        // measured phase its target (the pacing is what is tested).
        "warmup = \"0.5s\"\nduration = \"2s\"\n[[workload]]\nkind = \"disk\"\nengine = \"{engine}\"\n\
         rw = \"randread\"\niodepth = {depth}\nsize = \"1m\"\nrate_iops = {rate}\ndir = \"{}\"\n",
        dir.path().display()
    ));
    let r = &recs[0];
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    let iops = metric(r, "disk.randread.iops");
    let err = (iops - rate as f64).abs() / rate as f64;
    assert!(err < 0.02, "{engine}: {iops} IOPS for a {rate} target");
    // Response time from the intended start is never below the service time:
    // it holds per operation, so at every percentile (0.99 allows for the
    // histogram's bucket rounding only).
    for p in ["p50", "p90", "p99"] {
        let resp = metric(r, &format!("disk.randread.resp_lat_ns.{p}"));
        let lat = metric(r, &format!("disk.randread.lat_ns.{p}"));
        assert!(
            resp >= lat * 0.99,
            "{engine}: response {p} {resp} ns below service {p} {lat} ns"
        );
    }
}

#[test]
fn rate_iops_holds_the_target_sync() {
    rate_holds("sync", 1000, 1);
}

#[test]
fn rate_iops_holds_the_target_null() {
    rate_holds("null", 5000, 1);
}

#[test]
fn rate_iops_holds_the_target_io_uring() {
    if uring_ok() {
        rate_holds("io_uring", 2000, 4);
    }
}

#[test]
fn classification_and_refusal_rules() {
    assert_eq!(
        classify(Path::new("/dev/null")).unwrap(),
        TargetKind::Other("character device")
    );
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x");
    assert_eq!(classify(&f).unwrap(), TargetKind::Missing);
    std::fs::write(&f, b"abc").unwrap();
    assert_eq!(classify(&f).unwrap(), TargetKind::Regular { len: 3 });
    assert_eq!(
        classify(dir.path()).unwrap(),
        TargetKind::Other("directory")
    );
    let reg = TargetKind::Regular { len: 3 };
    let e = check_access(&f, &reg, true, false).unwrap_err().to_string();
    assert!(e.contains("allow-destructive"), "{e}");
    assert!(check_access(&f, &reg, true, true).is_ok());
    assert!(check_access(&f, &reg, false, false).is_ok());
    let e = check_access(Path::new("/dev/sdz"), &TargetKind::BlockDevice, true, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("block device") && e.contains("allow-destructive"),
        "{e}"
    );
    assert!(check_access(
        Path::new("/dev/sdz"),
        &TargetKind::BlockDevice,
        false,
        false
    )
    .is_ok());
    assert!(check_access(Path::new("/dev/sdz"), &TargetKind::BlockDevice, true, true).is_ok());
    let e = check_access(
        Path::new("/dev/null"),
        &TargetKind::Other("character device"),
        false,
        true,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("character device"), "{e}");
}

#[test]
fn refuses_to_write_a_preexisting_file_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("precious.dat");
    let data = vec![0xabu8; 1 << 20];
    std::fs::write(&f, &data).unwrap();
    let r = sync_job_on(f.display(), "rw = \"randwrite\"\n");
    let e = failure(&r);
    assert!(
        e.contains("refusing to write") && e.contains("allow-destructive"),
        "{e}"
    );
    assert_eq!(std::fs::read(&f).unwrap(), data, "the file was modified");
    // Reading an existing file is fine, and it is kept.
    let r = sync_job_on(f.display(), "rw = \"randread\"\n");
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    assert_eq!(r.notes["file_created_by_skubench"], false);
    assert!(f.exists());
    // With explicit permission it writes, and still keeps the file.
    let r = sync_job_on(
        f.display(),
        "rw = \"randwrite\"\nallow_destructive = true\n",
    );
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    assert!(f.exists());
    assert_ne!(std::fs::read(&f).unwrap(), data);
}

#[test]
fn refuses_character_devices_even_when_destructive() {
    let r = sync_job_on(
        "/dev/null",
        "rw = \"randwrite\"\nallow_destructive = true\n",
    );
    let e = failure(&r);
    assert!(e.contains("character device"), "{e}");
}

/// Needs root and losetup: `SKUBENCH_PRIVILEGED_TESTS=1`.
#[test]
fn refuses_to_write_a_loop_block_device() {
    if std::env::var("SKUBENCH_PRIVILEGED_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set SKUBENCH_PRIVILEGED_TESTS=1 (root, losetup) to run");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("img");
    std::fs::write(&img, vec![0x5au8; 16 << 20]).unwrap();
    let out = std::process::Command::new("losetup")
        .args(["-f", "--show"])
        .arg(&img)
        .output()
        .expect("losetup");
    assert!(
        out.status.success(),
        "losetup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let r = sync_job_on(&dev, "rw = \"randwrite\"\n");
    let _ = std::process::Command::new("losetup")
        .args(["-d", &dev])
        .status();
    let e = failure(&r);
    assert!(e.contains("block device"), "{e}");
    assert!(std::fs::read(&img).unwrap().iter().all(|b| *b == 0x5a));
}

/// Needs root to mount a tiny tmpfs: `SKUBENCH_PRIVILEGED_TESTS=1`.
#[test]
fn a_full_file_system_fails_clearly_and_leaves_nothing() {
    if std::env::var("SKUBENCH_PRIVILEGED_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set SKUBENCH_PRIVILEGED_TESTS=1 (root, mount) to run");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(dir.path())
        .status()
        .expect("mount");
    assert!(ok.success());
    let recs = run(&format!(
        "warmup = 0\nduration = \"0.2s\"\n[[workload]]\nkind = \"disk\"\nengine = \"sync\"\n\
         rw = \"randread\"\nsize = \"16m\"\ndir = \"{}\"\n",
        dir.path().display()
    ));
    let left = entries(dir.path());
    let _ = std::process::Command::new("umount")
        .arg(dir.path())
        .status();
    let e = failure(&recs[0]);
    assert!(e.contains("space"), "{e}");
    assert_eq!(left, 0);
}

#[test]
fn errors_users_meet_are_explained() {
    let p = Path::new("/mnt/x");
    let e = explain(
        "open",
        p,
        std::io::Error::from_raw_os_error(libc::EINVAL),
        true,
    )
    .to_string();
    assert!(e.contains("O_DIRECT") && e.contains("direct=0"), "{e}");
    let e = explain(
        "write",
        p,
        std::io::Error::from_raw_os_error(libc::ENOSPC),
        false,
    )
    .to_string();
    assert!(e.contains("no space left"), "{e}");
    let m = describe_uring_error("io_uring_setup", Some(libc::EPERM), Some("2\n"));
    assert!(m.contains("io_uring_disabled = 2"), "{m}");
    let m = describe_uring_error("io_uring_setup", Some(libc::EPERM), None);
    assert!(m.contains("seccomp"), "{m}");
    let m = describe_uring_error("io_uring_setup", Some(libc::ENOSYS), Some("0"));
    assert!(m.contains("ENOSYS"), "{m}");
}

#[test]
fn bad_parameters_are_errors_naming_the_key() {
    let reg = workloads::registry();
    let kv = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("engine", "null"), ("verify", "true")], "verify"),
        (&[("fsync", "4"), ("fdatasync", "4")], "fdatasync"),
        (&[("bssplit", "4k/50:8k/20")], "bssplit"),
        (
            &[("random_distribution", "pareto:1")],
            "random_distribution",
        ),
        (&[("verify", "md5")], "verify"),
        (&[("direct", "true"), ("bs", "1000")], "bs"),
        (&[("steadystate", "iops:2%")], "ss_dur"),
        (&[("steadystate", "lat:2%"), ("ss_dur", "5")], "steadystate"),
        (&[("size", "1k"), ("bs", "4k")], "size"),
        (&[("rw", "trim")], "rw"),
    ];
    for (pairs, key) in cases {
        let e = single_workload("disk", &kv(pairs), &reg, 2).unwrap_err();
        assert!(e.to_string().contains(key), "{pairs:?}: {e}");
    }
}

#[test]
fn steady_state_is_judged_on_the_series() {
    // The null engine under a rate limit gives a steady series without
    // depending on the shared disk.
    let dir = tempfile::tempdir().unwrap();
    let recs = run(&format!(
        "warmup = 0\nduration = \"3s\"\ninterval = \"0.25s\"\n[[workload]]\nkind = \"disk\"\n\
         engine = \"null\"\nrw = \"randread\"\nsize = \"8m\"\nrate_iops = 2000\n\
         steadystate = \"iops:20%\"\nss_dur = \"1s\"\ndir = \"{}\"\n",
        dir.path().display()
    ));
    let r = &recs[0];
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    assert_eq!(metric(r, "disk.randread.steadystate.reached"), 1.0);
    let at = metric(r, "disk.randread.steadystate.reached_at_s");
    assert!((0.9..=3.0).contains(&at), "{at}");
    assert_eq!(
        r.notes["disk.randread.steadystate"]["criterion"],
        "iops:20%"
    );
}

#[test]
fn steady_state_reached_and_left_on_a_synthetic_series() {
    use bench_core::workload::IntervalPoint;
    use std::time::Duration;
    use workloads::disk::steady::SteadyState;
    // Ramp up for 3 s, flat for 5 s, then a 30% drop.
    let iops = [
        100.0, 500.0, 800.0, 1000.0, 1005.0, 995.0, 1000.0, 1002.0, 700.0, 690.0,
    ];
    let series: Vec<IntervalPoint> = iops
        .iter()
        .enumerate()
        .map(|(i, v)| IntervalPoint {
            t_s: i as f64 + 1.0,
            len_s: 1.0,
            ops: *v as u64,
            ops_per_s: *v,
            bytes_per_s: v * 4096.0,
            p50_ns: 0,
            p99_ns: 0,
        })
        .collect();
    let ss = SteadyState::parse("iops:2%")
        .unwrap()
        .with_window(Duration::from_secs(3), Duration::ZERO);
    let v = ss.judge(&series);
    assert_eq!(v.reached_at_s, Some(6.0));
    assert_eq!(v.left_at_s, Some(9.0));
    // The slope criterion on bandwidth sees the same plateau.
    let ss = SteadyState::parse("bw_slope:1%")
        .unwrap()
        .with_window(Duration::from_secs(3), Duration::ZERO);
    let v = ss.judge(&series);
    assert_eq!(v.reached_at_s, Some(6.0));
    assert!(v.left_at_s.is_some());
    // A ramp that skips the plateau never reaches it.
    let ss = SteadyState::parse("iops:2%")
        .unwrap()
        .with_window(Duration::from_secs(3), Duration::from_secs(6));
    assert_eq!(ss.judge(&series).reached_at_s, None);
}

#[test]
fn verify_refuses_a_file_it_did_not_lay_out() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("old.dat");
    std::fs::write(&f, vec![1u8; 1 << 20]).unwrap();
    let r = sync_job_on(
        f.display(),
        "rw = \"randrw\"\nverify = true\nallow_destructive = true\n",
    );
    let e = failure(&r);
    assert!(e.contains("verify needs a file skubench lays out"), "{e}");
    assert!(f.exists());
}

/// Mean latency × IOPS of a direct qd16 io_uring run, in I/Os: Little's law
/// says it is the mean number of I/Os the latency clock was running for.
fn measured_depth(dir: &Path, reap: u32) -> Option<f64> {
    let recs = run(&format!(
        "warmup = \"0.2s\"\nduration = \"1s\"\n[[workload]]\nkind = \"disk\"\nengine = \"io_uring\"\n\
         rw = \"randread\"\niodepth = 16\niodepth_batch_complete = {reap}\ndirect = true\n\
         size = \"16m\"\ndir = \"{}\"\n",
        dir.display()
    ));
    let r = &recs[0];
    if r.status != Status::Ok {
        // O_DIRECT refused by this file system (tmpfs): nothing to measure.
        eprintln!("direct io_uring run failed here: {:?}", r.error);
        return None;
    }
    Some(metric(r, "disk.randread.iops") * metric(r, "disk.randread.lat_ns.mean") / 1e9)
}

#[test]
fn io_uring_latency_covers_every_slot_in_flight() {
    if !uring_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // fio's semantics (reap one, refill one): the clock runs for all 16
    // slots nearly all the time. Reaping every completion and then
    // resubmitting one by one leaves slots idle and unmeasured; on a
    // virtio disk that measured 13.4 of 16.
    let Some(l) = measured_depth(dir.path(), 1) else {
        return;
    };
    assert!(
        (0.92 * 16.0..=16.0 * 1.01).contains(&l),
        "mean latency × IOPS = {l:.2} I/Os, not ≈ 16: latency leaves in-flight time out"
    );
    // Reaping everything at once still runs, with at most `iodepth` counted.
    let l_all = measured_depth(dir.path(), 0).expect("ran once already");
    assert!(l_all > 0.0 && l_all <= 16.0 * 1.01, "{l_all}");
    assert_eq!(entries(dir.path()), 0);
}

#[test]
fn a_bad_pin_in_a_disk_job_is_a_spec_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[[workload]]\nkind = \"disk\"\nengine = \"null\"\nsize = \"1m\"\npin = [4000]\ndir = \"{}\"\n",
        dir.path().display()
    );
    let e = common::spec_error(&text).to_string();
    assert!(
        e.contains("t.toml") && e.contains("`pin`") && e.contains("vCPU 4000"),
        "{e}"
    );
    // Nothing was prepared: validation happens before anything runs.
    assert_eq!(entries(dir.path()), 0);
}
