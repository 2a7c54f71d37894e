//! Short real runs of the cpu and jitter workloads, checked for sane values.

mod common;

use common::{run_ok, spec_error};

#[test]
fn cpu_stressors_report_plausible_rates() {
    let recs = run_ok("warmup = \"50ms\"\nduration = \"200ms\"\n[[workload]]\nkind = \"cpu\"\n");
    let r = &recs[0];
    for s in workloads::cpu::STRESSORS {
        let ops = r.metric(&format!("cpu.{s}.ops_per_s")).unwrap().value;
        // One op is 5–50 µs of work: between 1k and 1M ops/s on anything we run on.
        assert!((1_000.0..1_000_000.0).contains(&ops), "{s}: {ops}");
        let p50 = r.metric(&format!("cpu.{s}.lat_ns.p50")).unwrap().value;
        assert!(p50 > 500.0 && p50 < 10_000_000.0, "{s} p50 {p50}");
    }
    assert!(r.metric("cpu.hash.bytes_per_s").unwrap().value > 1e6);
    assert!(r.histograms.contains_key("cpu.int.lat_ns"));
}

#[test]
fn cpu_scaling_and_spread() {
    let n = bench_core::affinity::allowed_cpus().len();
    let recs = run_ok(
        "warmup = 0\nduration = \"150ms\"\n\
         [[workload]]\nkind = \"cpu\"\nstressor = \"int\"\nmode = \"scaling\"\n\
         [[workload]]\nkind = \"cpu\"\nstressor = \"int\"\nmode = \"spread\"\n",
    );
    let scaling = &recs[0];
    let eff1 = scaling
        .metric("cpu.int.scaling.t1.efficiency_ratio")
        .unwrap()
        .value;
    assert!((eff1 - 1.0).abs() < 1e-9);
    let top = *workloads::cpu::scaling_points(n).last().unwrap();
    let eff = scaling
        .metric(&format!("cpu.int.scaling.t{top}.efficiency_ratio"))
        .unwrap()
        .value;
    assert!(eff > 0.2 && eff < 1.5, "efficiency at {top} threads: {eff}");
    let c = &scaling.curves[0];
    assert_eq!(c.name, "cpu.int.scaling.ops_per_s");
    let xs: Vec<f64> = c.points.iter().map(|p| p[0]).collect();
    let want: Vec<f64> = workloads::cpu::scaling_points(n)
        .into_iter()
        .map(|k| k as f64)
        .collect();
    assert_eq!(xs, want);
    let t1 = scaling
        .metric("cpu.int.scaling.t1.ops_per_s")
        .unwrap()
        .value;
    assert_eq!(c.points[0][1], t1);
    let spread = &recs[1];
    for c in bench_core::affinity::allowed_cpus() {
        assert!(spread
            .metric(&format!("cpu.int.vcpu{c}.ops_per_s"))
            .is_some());
    }
    let ratio = spread
        .metric("cpu.int.spread.slowest_vs_median_ratio")
        .unwrap()
        .value;
    assert!(ratio > 0.1 && ratio <= 1.0, "{ratio}");
}

#[test]
fn jitter_measures_wakeup_lateness_per_vcpu() {
    let recs = run_ok(
        "warmup = 0\nduration = \"300ms\"\n[[workload]]\nkind = \"jitter\"\nsleep = \"1ms\"\n",
    );
    let r = &recs[0];
    let h = r.histogram("jitter.wake_lat_ns").unwrap().unwrap();
    let cpus = bench_core::affinity::allowed_cpus().len() as u64;
    // ~300 wake-ups per vCPU; the machine is shared, so allow a wide margin.
    assert!(
        h.len() >= 100 * cpus && h.len() <= 310 * cpus,
        "{}",
        h.len()
    );
    let p50 = r.metric("jitter.wake_lat_ns.p50").unwrap().value;
    assert!(p50 > 100.0 && p50 < 5_000_000.0, "p50 lateness {p50} ns");
    assert!(r.metric("jitter.wake_lat_ns.p99_99").is_some());
    assert!(r.metric("jitter.vcpu0.wake_lat_ns.p99").is_some());
}

#[test]
fn bad_parameters_are_rejected_before_running() {
    let e = spec_error("[[workload]]\nkind = \"cpu\"\nstressor = \"quantum\"\n");
    assert!(e.to_string().starts_with("t.toml:3:1"), "{e}");
    assert!(e.message.contains("stressor"), "{e}");
    let e = spec_error("[[workload]]\nkind = \"jitter\"\nsleep = \"1ns\"\n");
    assert!(e.message.contains("sleep"), "{e}");
    let e = spec_error("[[workload]]\nkind = \"cpu\"\npin = [4095]\n");
    assert!(e.message.contains("4095"), "{e}");
}
