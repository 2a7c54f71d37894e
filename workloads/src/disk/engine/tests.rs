//! The job loop across engines: what the end-to-end tests in
//! `workloads/tests/disk_run.rs` leave out (byte limits and syncing per
//! engine, batched submission, per-class recording under a rate limit).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bench_core::clock::Clock;
use bench_core::result::{RunRecord, Status};
use bench_core::runner::Runner;
use bench_core::suite::parse_suite;

fn run(job: &str) -> RunRecord {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[[workload]]\nkind = \"disk\"\ndir = \"{}\"\n{job}\n",
        dir.path().display()
    );
    let mut s = parse_suite(&text, "t.toml", &crate::registry(), 2).unwrap();
    let runner = Runner {
        clock: Clock::new(),
        stop: Arc::new(AtomicBool::new(false)),
        monitor: None,
        vcpus: 2,
        ebpf: Default::default(),
    };
    let r = runner.run_suite(&mut s, &mut []).0.remove(0);
    assert_eq!(r.status, Status::Ok, "{job}: {:?}", r.error);
    r
}

fn metric(r: &RunRecord, name: &str) -> f64 {
    r.metric(name)
        .unwrap_or_else(|| panic!("no metric {name}"))
        .value
}

fn ops(r: &RunRecord, series: &str) -> u64 {
    let s = r.series.iter().find(|s| s.name == series).unwrap();
    s.points.iter().map(|p| p.ops).sum()
}

fn uring() -> bool {
    super::probe_io_uring().is_ok()
}

#[test]
fn io_size_stops_every_engine_at_its_bytes() {
    let mut engines = vec!["null", "sync"];
    if uring() {
        engines.push("io_uring");
    }
    for e in engines {
        let r = run(&format!(
            "warmup = 0\nduration = \"30s\"\nengine = \"{e}\"\nrw = \"randrw\"\nbs = \"4k\"\n\
             iodepth = 4\nsize = \"4m\"\nio_size = \"1m\""
        ));
        // 256 I/Os, plus what io_uring still had in flight (drained, counted).
        let n = ops(&r, "disk.randrw");
        assert!((256..=259).contains(&n), "{e}: {n} I/Os");
        assert!(r.metric("disk.randrw.read.lat_ns.p50").is_some(), "{e}");
    }
}

#[test]
fn fsync_every_n_writes_is_timed_for_file_engines() {
    let mut engines = vec!["sync"];
    if uring() {
        engines.push("io_uring");
    }
    for e in engines {
        let r = run(&format!(
            "warmup = 0\nduration = \"0.3s\"\nengine = \"{e}\"\nrw = \"randwrite\"\nsize = \"4m\"\n\
             iodepth = 8\niodepth_batch = 4\nfdatasync = 16"
        ));
        assert!(metric(&r, "disk.randwrite.sync_lat_ns.p50") > 0.0, "{e}");
        assert!(metric(&r, "disk.randwrite.iops") > 0.0, "{e}");
    }
    // No file, nothing to sync: the key is accepted and has no effect.
    let r = run("warmup = 0\nops = 1000\nengine = \"null\"\nrw = \"randwrite\"\nfsync = 4");
    assert!(r.metric("disk.randwrite.sync_lat_ns.p50").is_none());
}

#[test]
fn paced_mixed_jobs_record_each_class_and_its_response_time() {
    let mut engines = vec!["null", "sync"];
    if uring() {
        engines.push("io_uring");
    }
    for e in engines {
        let r = run(&format!(
            "warmup = \"0.2s\"\nduration = \"1s\"\nengine = \"{e}\"\nrw = \"randrw\"\n\
             iodepth = 4\nsize = \"1m\"\nrate_iops = 2000"
        ));
        let iops = metric(&r, "disk.randrw.iops");
        assert!((iops - 2000.0).abs() < 60.0, "{e}: {iops}");
        for d in ["read", "write"] {
            let lat = metric(&r, &format!("disk.randrw.{d}.lat_ns.p50"));
            let resp = metric(&r, &format!("disk.randrw.{d}.resp_lat_ns.p50"));
            assert!(
                resp >= lat * 0.99,
                "{e} {d}: response {resp} below service {lat}"
            );
        }
    }
}
