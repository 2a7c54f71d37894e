//! IOPS at a latency target (`latency_target`): every step of the search
//! recorded, the answer and the knee, a run that misses the target failing
//! with the reason, fio's options mapped, and bad combinations refused.
//! The null engine makes the search fast and its outcome certain (its
//! latencies are hundreds of ns); one short io_uring run checks real files.

mod common;

use bench_core::params::Value;
use bench_core::result::{RunRecord, Status};
use common::{failure, metric, small_runner, spec_error, suite};
use workloads::disk::fio::suite_from_fio_env;

fn run(text: &str) -> Vec<RunRecord> {
    small_runner().run_suite(&mut suite(text, 2), &mut []).0
}

fn null_sla(extra: &str) -> String {
    format!(
        "warmup = 0\nduration = \"0.15s\"\n[[workload]]\nkind = \"disk\"\nengine = \"null\"\n\
         rw = \"randread\"\n{extra}"
    )
}

fn sla_note(r: &RunRecord) -> &serde_json::Value {
    &r.notes["disk.randread.sla"]
}

#[test]
fn a_target_every_depth_meets_is_answered_at_the_best_depth() {
    let recs = run(&null_sla(
        "latency_target = \"1s\"\nlatency_qd_max = 16\nlatency_rate_steps = 2\n",
    ));
    let r = &recs[0];
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    // Every depth of the sweep is its own measured step.
    let mut best = 0.0f64;
    for d in [1, 2, 4, 8, 16] {
        let iops = metric(r, &format!("disk.randread.sla.qd{d}.iops"));
        assert!(iops > 0.0, "qd{d}");
        assert_eq!(
            metric(r, &format!("disk.randread.sla.qd{d}.iodepth")),
            d as f64
        );
        assert_eq!(
            metric(r, &format!("disk.randread.sla.qd{d}.target_met")),
            1.0
        );
        assert!(metric(r, &format!("disk.randread.sla.qd{d}.lat_ns.p99")) > 0.0);
        best = best.max(iops);
    }
    // The answer is the most IOPS among the steps that met the target.
    let head = r.metric("disk.randread.iops_at_target").unwrap();
    assert_eq!(head.value, best);
    assert_eq!(head.role, Some(bench_core::result::Role::Headline));
    assert_eq!(r.metrics[0].name, "disk.randread.iops_at_target");
    let depth = metric(r, "disk.randread.iodepth_at_target");
    assert_eq!(
        metric(r, &format!("disk.randread.sla.qd{depth}.iops")),
        best
    );
    assert_eq!(metric(r, "disk.randread.sla.target_met"), 1.0);
    // Nothing to refine: the paced steps say why they were skipped.
    let steps = sla_note(r)["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 5 + 2);
    for s in &steps[5..] {
        assert!(
            s["skipped"]
                .as_str()
                .unwrap()
                .contains("every queue depth met"),
            "{s}"
        );
    }
    assert!(r.metric("disk.randread.sla.rate1.iops").is_none());
    // The sweep as curves, with the knee marked on both.
    let c = r
        .curves
        .iter()
        .find(|c| c.name == "disk.randread.sla.lat_ns_vs_iops")
        .unwrap();
    assert_eq!(c.points.len(), 5);
    assert!(c.points.windows(2).all(|w| w[0][0] <= w[1][0]));
    let k = r
        .curves
        .iter()
        .find(|c| c.name == "disk.randread.sla.iops_vs_iodepth")
        .unwrap();
    assert_eq!(
        k.points.iter().map(|p| p[0]).collect::<Vec<_>>(),
        vec![1.0, 2.0, 4.0, 8.0, 16.0]
    );
    let knee_d = metric(r, "disk.randread.sla.knee.iodepth");
    let marks = &r.notes["curve_marks"]["disk.randread.sla.iops_vs_iodepth"];
    assert_eq!(marks[0]["x"].as_f64(), Some(knee_d));
    assert!(sla_note(r)["knee_definition"]
        .as_str()
        .unwrap()
        .contains("IOPS / latency"));
    // The knee has the highest IOPS per latency of the sweep.
    let power = |d: u32| {
        metric(r, &format!("disk.randread.sla.qd{d}.iops"))
            / metric(r, &format!("disk.randread.sla.qd{d}.lat_ns.p99"))
    };
    let kp = power(knee_d as u32);
    assert!([1, 2, 4, 8, 16].iter().all(|d| power(*d) <= kp));
}

#[test]
fn a_target_even_qd1_misses_fails_the_run_and_says_why() {
    let recs = run(&null_sla(
        "latency_target = \"10ns\"\nlatency_qd_max = 4\nlatency_rate_steps = 3\n",
    ));
    let r = &recs[0];
    let e = failure(r);
    assert!(
        e.contains("latency target not met") && e.contains("even iodepth 1"),
        "{e}"
    );
    // Not `ok` with 0: no answer at all, and the steps are all there.
    assert!(r.metric("disk.randread.iops_at_target").is_none());
    assert_eq!(metric(r, "disk.randread.sla.target_met"), 0.0);
    for d in [1, 2, 4] {
        assert_eq!(
            metric(r, &format!("disk.randread.sla.qd{d}.target_met")),
            0.0
        );
    }
    // The paced steps ran at qd1, bisecting down from qd1's IOPS.
    let qd1 = metric(r, "disk.randread.sla.qd1.iops");
    let r1 = metric(r, "disk.randread.sla.rate1.rate_iops");
    let r2 = metric(r, "disk.randread.sla.rate2.rate_iops");
    // (As its workers counted them over the planned phase: within a few
    // percent of the runner's figure, which ends at the last I/O.)
    assert!((r1 - qd1 / 2.0).abs() <= 0.03 * qd1, "{r1} vs {qd1}");
    assert!((r2 - r1 / 2.0).abs() <= 1.0, "{r2} vs {r1}");
    assert_eq!(metric(r, "disk.randread.sla.rate1.iodepth"), 1.0);
    assert!(metric(r, "disk.randread.sla.rate3.iops") > 0.0);
    assert_eq!(sla_note(r)["met"], false);
}

#[test]
fn every_repetition_searches_afresh() {
    let text = null_sla("latency_target = \"1s\"\nlatency_qd_max = 2\nlatency_run = true\n")
        .replace("warmup = 0", "repetitions = 2\nwarmup = 0");
    let recs = run(&text);
    assert_eq!(recs.len(), 2);
    for r in &recs {
        assert_eq!(r.status, Status::Ok, "{:?}", r.error);
        assert!(metric(r, "disk.randread.iops_at_target") > 0.0);
        // latency_run: the answer measured again, and whether it held.
        assert!(metric(r, "disk.randread.sla.hold.iops") > 0.0);
        assert_eq!(metric(r, "disk.randread.sla.hold.target_met"), 1.0);
        assert_eq!(sla_note(r)["steps"].as_array().unwrap().len(), 2 + 4 + 1);
    }
}

#[test]
fn percentile_and_window_are_honoured() {
    let recs = run(&null_sla(
        "latency_target = \"1s\"\nlatency_qd_max = 1\nlatency_percentile = 99.9\n\
         latency_window = \"0.3s\"\nlatency_search = \"qd\"\n",
    ));
    let r = &recs[0];
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    assert!(metric(r, "disk.randread.lat_ns_at_target.p99_9") > 0.0);
    assert!(metric(r, "disk.randread.sla.qd1.lat_ns.p99_9") > 0.0);
    assert!((r.measured_s - 0.3).abs() < 0.1, "{}", r.measured_s);
    assert_eq!(sla_note(r)["window_s"].as_f64(), Some(0.3));
    // qd search only: no paced steps planned.
    assert!(sla_note(r)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| !s["step"].as_str().unwrap().starts_with("rate")));
}

#[test]
fn bad_combinations_are_refused_naming_the_key() {
    let base = "[[workload]]\nkind = \"disk\"\n";
    for (extra, key) in [
        (
            "latency_target = \"1ms\"\nrate_iops = 100\nengine = \"null\"\n",
            "rate_iops",
        ),
        (
            "latency_target = \"1ms\"\nio_size = \"1m\"\nengine = \"null\"\n",
            "io_size",
        ),
        ("latency_target = \"1ms\"\nengine = \"sync\"\n", "engine"),
        ("latency_window = \"1s\"\n", "latency_window"),
        (
            "latency_target = \"1ms\"\nlatency_window = \"10ms\"\n",
            "latency_window",
        ),
        ("latency_target = \"0s\"\n", "latency_target"),
        (
            "latency_target = \"1ms\"\nlatency_percentile = 0\n",
            "latency_percentile",
        ),
        (
            "latency_target = \"1ms\"\nlatency_search = \"depth\"\n",
            "latency_search",
        ),
    ] {
        let e = spec_error(&format!("{base}{extra}")).to_string();
        assert!(e.contains(key) && e.contains("t.toml"), "{extra}: {e}");
    }
    // The sync engine may still search rates.
    suite(
        &format!("{base}latency_target = \"1ms\"\nengine = \"sync\"\nlatency_search = \"rate\"\n"),
        2,
    );
}

#[test]
fn fio_latency_target_options_map_to_the_search() {
    let reg = workloads::registry();
    let env = |_: &str| None;
    let text = "[global]\nioengine=null\nsize=64m\nruntime=1\ntime_based\n\n\
                [sla]\nrw=randread\niodepth=16\nlatency_target=1000\nlatency_window=200000\n\
                latency_percentile=99.9\nlatency_run=1\n\n\
                [plain]\nrw=randread\niodepth=4\nlatency_target=2ms\n";
    let s = suite_from_fio_env(text, "sla.fio", &reg, 2, false, &env).unwrap();
    let p = &s.workloads[0].params;
    let dur = |v: Option<&Value>| match v {
        Some(Value::Duration(d)) => d.as_secs_f64(),
        other => panic!("{other:?}"),
    };
    // A bare number is microseconds, as in fio.
    assert!((dur(p.get("latency_target")) - 0.001).abs() < 1e-12);
    assert!((dur(p.get("latency_window")) - 0.2).abs() < 1e-12);
    assert_eq!(p.get("latency_percentile"), Some(&Value::F64(99.9)));
    assert_eq!(p.get("latency_run"), Some(&Value::Bool(true)));
    // fio searches depths up to the job's iodepth, and never the rate.
    assert_eq!(p.get("latency_qd_max"), Some(&Value::U64(16)));
    assert_eq!(p.get("latency_search"), Some(&Value::Str("qd".into())));
    // fio judges every I/O unless told a percentile.
    let q = &s.workloads[1].params;
    assert!(
        matches!(q.get("latency_percentile"), Some(Value::F64(x)) if *x == 100.0)
            || q.get("latency_percentile") == Some(&Value::U64(100))
    );
    assert!((dur(q.get("latency_target")) - 0.002).abs() < 1e-12);
    let bad = suite_from_fio_env(
        "[j]\nsize=1m\nioengine=null\nlatency_target=soon\n",
        "bad.fio",
        &reg,
        2,
        false,
        &env,
    )
    .unwrap_err()
    .to_string();
    assert!(
        bad.starts_with("bad.fio:4:") && bad.contains("latency_target"),
        "{bad}"
    );
    // And it runs: every depth a step, the answer recorded.
    let mut s = suite_from_fio_env(
        "[j]\nioengine=null\nsize=1m\nruntime=1\ntime_based\nrw=randread\niodepth=4\n\
         latency_target=1000000\nlatency_window=100000\n",
        "run.fio",
        &reg,
        2,
        false,
        &env,
    )
    .unwrap();
    let (recs, _) = small_runner().run_suite(&mut s, &mut []);
    let r = &recs[0];
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    for d in [1, 2, 4] {
        assert!(metric(r, &format!("disk.randread.sla.qd{d}.iops")) > 0.0);
    }
    assert!(metric(r, "disk.randread.iops_at_target") > 0.0);
}

#[test]
fn io_uring_search_on_a_real_file_is_bounded_and_cleans_up() {
    if workloads::disk::engine::probe_io_uring().is_err() {
        eprintln!("io_uring unavailable here: the null-engine tests cover the search");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t0 = std::time::Instant::now();
    let recs = run(&format!(
        "warmup = 0\nduration = \"0.2s\"\n[[workload]]\nkind = \"disk\"\nengine = \"io_uring\"\n\
         rw = \"randread\"\nsize = \"8m\"\ndir = \"{}\"\nlatency_target = \"10s\"\n\
         latency_qd_max = 8\nlatency_rate_steps = 1\n",
        dir.path().display()
    ));
    let r = &recs[0];
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    assert_eq!(r.notes["engine"], "io_uring");
    for d in [1, 2, 4, 8] {
        assert!(metric(r, &format!("disk.randread.sla.qd{d}.iops")) > 0.0);
    }
    assert!(metric(r, "disk.randread.iops_at_target") > 0.0);
    // 4 steps of 0.2 s plus laying out 8 MiB: far below a minute.
    assert!(t0.elapsed().as_secs() < 60, "{:?}", t0.elapsed());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
