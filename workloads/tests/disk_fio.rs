//! fio job files: [global] inheritance, several jobs, comments, ${ENV},
//! size units, timing, and errors that name the file, line and option.

mod common;

use std::time::Duration;

use bench_core::params::Value;
use bench_core::result::Status;
use workloads::disk::fio::{parse_jobs, suite_from_fio_env, SIZE_BASED_CAP};

fn env(k: &str) -> Option<String> {
    match k {
        "BS" => Some("16k".into()),
        "DEPTH" => Some("8".into()),
        _ => None,
    }
}

const JOB: &str = r#"
; a comment line
# another comment
[global]
ioengine=io_uring   ; trailing comment
direct=1
bs=${BS}
size=64m
runtime=10
time_based
ramp_time=2
filename=/tmp/skubench-fio-test${UNSET_SKUBENCH_VAR}.dat

[randread-qd]
rw=randread
iodepth=${DEPTH}
iodepth_batch_complete_max=4
numjobs=2

[global]
bs=4k

[seqwrite]
rw=write
bs=1m   # job value beats [global]
rwmixwrite=30
"#;

#[test]
fn global_inheritance_env_and_comments() {
    let reg = workloads::registry();
    let s = suite_from_fio_env(JOB, "jobs/t.fio", &reg, 4, false, &env).unwrap();
    assert_eq!(s.name, "t");
    assert_eq!(s.workloads.len(), 2);
    assert_eq!(s.text.as_deref(), Some(JOB), "the job file text is kept");

    let a = &s.workloads[0];
    assert_eq!(a.label, "randread-qd");
    assert_eq!(a.origin, "jobs/t.fio:14");
    assert_eq!(a.params.get("engine"), Some(&Value::Str("io_uring".into())));
    assert_eq!(a.params.get("direct"), Some(&Value::Bool(true)));
    assert_eq!(a.params.get("bs"), Some(&Value::Size(16 << 10)));
    assert_eq!(a.params.get("size"), Some(&Value::Size(64 << 20)));
    assert_eq!(a.params.get("iodepth"), Some(&Value::U64(8)));
    assert_eq!(a.params.get("iodepth_batch_complete"), Some(&Value::U64(4)));
    assert_eq!(
        a.params.get("filename"),
        Some(&Value::Str("/tmp/skubench-fio-test.dat".into()))
    );
    assert_eq!(a.workload.steps()[0].threads, 2);
    assert_eq!(a.workload.steps()[0].label, "disk.randread");
    assert_eq!(a.timing.warmup, Duration::from_secs(2));
    assert_eq!(a.timing.duration, Some(Duration::from_secs(10)));
    assert!(
        !a.params.is_set("io_size"),
        "time_based jobs are not size-bounded"
    );
    assert_eq!(a.params.get("allow_destructive"), Some(&Value::Bool(false)));
    let job = match a.params.get("fio_job") {
        Some(Value::Str(s)) => s.clone(),
        other => panic!("{other:?}"),
    };
    assert!(
        job.starts_with("[randread-qd]") && job.contains("iodepth=8"),
        "{job}"
    );

    let b = &s.workloads[1];
    assert_eq!(b.label, "seqwrite");
    // The second [global] changed bs to 4k, the job overrides it again.
    assert_eq!(b.params.get("bs"), Some(&Value::Size(1 << 20)));
    assert_eq!(b.params.get("rwmixread"), Some(&Value::U64(70)));
    assert_eq!(b.params.get("iodepth"), Some(&Value::U64(1)));
}

#[test]
fn fio_defaults_apply_where_skubench_differs() {
    let reg = workloads::registry();
    let s = suite_from_fio_env("[j]\nsize=16m\n", "d.fio", &reg, 2, false, &env).unwrap();
    let w = &s.workloads[0];
    assert_eq!(w.params.get("rw"), Some(&Value::Str("read".into())));
    assert_eq!(w.params.get("engine"), Some(&Value::Str("sync".into())));
    let e = err("[j]\nrw=read\n");
    assert!(e.starts_with("bad.fio:1:") && e.contains("size="), "{e}");
}

#[test]
fn second_global_applies_only_to_later_jobs() {
    let jobs = parse_jobs(JOB, "t.fio", &env).unwrap();
    assert_eq!(jobs[0].get("bs").unwrap().value.as_deref(), Some("16k"));
    assert_eq!(jobs[1].get("bs").unwrap().value.as_deref(), Some("1m"));
    assert_eq!(jobs[1].get("bs").unwrap().line, 25);
}

#[test]
fn size_based_jobs_stop_after_size_bytes() {
    let text = "[global]\nsize=1g\n[j]\nrw=read\nnumjobs=1\n";
    let reg = workloads::registry();
    let s = suite_from_fio_env(text, "s.fio", &reg, 2, true, &env).unwrap();
    let w = &s.workloads[0];
    assert_eq!(w.params.get("io_size"), Some(&Value::Size(1 << 30)));
    assert_eq!(w.timing.duration, Some(SIZE_BASED_CAP));
    assert_eq!(w.timing.warmup, Duration::ZERO);
    assert_eq!(w.params.get("allow_destructive"), Some(&Value::Bool(true)));
    let text = "[j]\nrw=read\nsize=1g\nio_size=100m\nruntime=5s\n";
    let s = suite_from_fio_env(text, "s.fio", &reg, 2, false, &env).unwrap();
    let w = &s.workloads[0];
    assert_eq!(w.params.get("io_size"), Some(&Value::Size(100 << 20)));
    assert_eq!(w.timing.duration, Some(Duration::from_secs(5)));
}

fn err(text: &str) -> String {
    suite_from_fio_env(text, "bad.fio", &workloads::registry(), 2, false, &env)
        .unwrap_err()
        .to_string()
}

#[test]
fn unsupported_options_and_values_are_errors_naming_them() {
    let e = err("[global]\nbs=4k\n\n[j]\nrw=randread\ninvalidate=1\n");
    assert!(e.starts_with("bad.fio:6:"), "{e}");
    assert!(e.contains("unsupported fio option `invalidate`"), "{e}");

    let e = err("[j]\nioengine=libaio\n");
    assert!(e.starts_with("bad.fio:2:") && e.contains("libaio"), "{e}");

    let e = err("[j]\nrw=randread:8\n");
    assert!(
        e.starts_with("bad.fio:2:") && e.contains("randread:8"),
        "{e}"
    );

    let e = err("[j]\nrw=trim\n");
    assert!(e.contains("trim"), "{e}");

    let e = err("[j]\nsize=50%\n");
    assert!(e.contains("50%"), "{e}");

    let e = err("[j]\nrandom_distribution=pareto:0.9\n");
    assert!(e.contains("pareto"), "{e}");

    let e = err("[j]\nverify=md5\n");
    assert!(e.starts_with("bad.fio:2:") && e.contains("md5"), "{e}");

    let e = err("[j]\nbs=4k,8k\n");
    assert!(e.contains("different read and write"), "{e}");

    let e = err("[j]\nfilename=/a:/b\n");
    assert!(e.contains("/a:/b"), "{e}");
}

#[test]
fn structural_errors_name_the_line() {
    let e = err("bs=4k\n[j]\n");
    assert!(
        e.starts_with("bad.fio:1:") && e.contains("outside a section"),
        "{e}"
    );
    let e = err("[global]\nbs=4k\n");
    assert!(e.contains("no job sections"), "{e}");
    let e = err("[j\nbs=4k\n");
    assert!(e.starts_with("bad.fio:1:"), "{e}");
    let e = err("[j]\nsize=1m\ntime_based\n");
    assert!(e.contains("time_based needs a runtime"), "{e}");
    let e = err("[j]\nbs=${UNTERMINATED\n");
    assert!(
        e.starts_with("bad.fio:2:") && e.contains("unterminated"),
        "{e}"
    );
    let e = err("[j]\nbs=4q\n");
    assert!(e.starts_with("bad.fio:2:") && e.contains("bs"), "{e}");
    let e = err("[j]\niodepth=0\nsize=1m\n");
    assert!(e.starts_with("bad.fio:2:") && e.contains("iodepth"), "{e}");
    // A cross-option error found when building points at an option's line.
    let e = err("[j]\nioengine=null\nverify=crc32c\nsize=1m\n");
    assert!(e.starts_with("bad.fio:3:") && e.contains("verify"), "{e}");
}

#[test]
fn a_job_file_runs_end_to_end() {
    let text = "[global]\nioengine=null\nsize=1g\nruntime=300ms\ntime_based\n\n[a]\nrw=randread\n\n[b]\nrw=randrw\nrwmixread=60\n";
    let reg = workloads::registry();
    let mut s = suite_from_fio_env(text, "e2e.fio", &reg, 2, false, &env).unwrap();
    let (recs, status) = common::small_runner().run_suite(&mut s, &mut []);
    assert_eq!(status, Status::Ok);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].label, "a");
    assert!(recs[0].metric("disk.randread.iops").unwrap().value > 0.0);
    assert!(recs[1].metric("disk.randrw.read.iops").unwrap().value > 0.0);
    assert!(recs[1].metric("disk.randrw.write.iops").unwrap().value > 0.0);
    let job = recs[1].notes["fio_job"].as_str().unwrap();
    assert!(job.contains("rwmixread=60"), "{job}");
}

#[test]
fn example_job_file_in_the_repo_parses() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../suites/disk-example.fio");
    let text = std::fs::read_to_string(path).unwrap();
    let reg = workloads::registry();
    let s = suite_from_fio_env(&text, path, &reg, 2, false, &|_| None).unwrap();
    assert!(s.workloads.len() >= 3);
}
