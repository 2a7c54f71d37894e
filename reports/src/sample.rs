//! Deterministic sample data: a hand-built comparison with every kind of
//! verdict and the result files behind it, and a 50-metric comparison.
//! Used by the snapshot tests, the browser check and the screenshot in
//! docs/; nothing here depends on the clock or the host. Built only with
//! the `test-support` feature, which the tests' dev-dependencies turn on.

use std::collections::BTreeMap;

use baselines::compare::{
    Comparison, Counts, Method, Outcome, Row, SideInfo, SpecRow, Summary, Verdict,
    COMPARISON_SCHEMA, MISSING,
};
use baselines::policy::Policy;
use bench_core::disturb::Disturbance;
use bench_core::hist::{encode, new_hist, Hist};
use bench_core::host::HostInfo;
use bench_core::result::{
    Better, Invocation, Metric, ResultFile, Role, RunRecord, Series, Status, ToolInfo,
};
use bench_core::workload::IntervalPoint;

/// Result files of one side as (source, file).
pub type Files = Vec<(String, ResultFile)>;

/// A small deterministic generator (xorshift64*), so samples never change.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn summary(values: &[f64]) -> Summary {
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let mean = s.iter().sum::<f64>() / n as f64;
    let var = s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64;
    Summary {
        n,
        median: baselines::stats::median(&s),
        ci: (n >= 5).then(|| (s[1], s[n - 2])),
        min: s[0],
        max: s[n - 1],
        cv: var.sqrt() / mean,
        values: values.to_vec(),
    }
}

fn scaled(base: &[f64], k: f64) -> Vec<f64> {
    base.iter().map(|x| x * k).collect()
}

/// A hand-built comparison row: each fixture states only what sets it
/// apart (its values, test results, verdict), the rest is derived.
struct Fx {
    workload: &'static str,
    metric: &'static str,
    unit: &'static str,
    better: Better,
    base: Vec<f64>,
    cand: Vec<f64>,
    ratio_ci: Option<(f64, f64)>,
    /// (p, adjusted p) of a tested row.
    p: Option<(f64, f64)>,
    mde: Option<f64>,
    hint: Option<Verdict>,
    possible: Option<Verdict>,
}

impl Fx {
    fn new(
        workload: &'static str,
        metric: &'static str,
        unit: &'static str,
        better: Better,
    ) -> Self {
        Fx {
            workload,
            metric,
            unit,
            better,
            base: Vec::new(),
            cand: Vec::new(),
            ratio_ci: None,
            p: None,
            mde: None,
            hint: None,
            possible: None,
        }
    }

    /// The per-run values of both sides.
    fn values(mut self, base: Vec<f64>, cand: Vec<f64>) -> Self {
        self.base = base;
        self.cand = cand;
        self
    }

    /// A row the permutation test decided on: its ratio interval, (p,
    /// adjusted p) and minimum detectable effect.
    fn tested(mut self, ci: (f64, f64), p: (f64, f64), mde: f64) -> Self {
        self.ratio_ci = Some(ci);
        self.p = Some(p);
        self.mde = Some(mde);
        self
    }

    /// A ratio interval without a test (explanatory rows).
    fn ci(mut self, ci: (f64, f64)) -> Self {
        self.ratio_ci = Some(ci);
        self
    }

    /// The threshold-only hint of a low-confidence row.
    fn hint(mut self, v: Verdict) -> Self {
        self.hint = Some(v);
        self
    }

    /// The possible change of an inconclusive row.
    fn possible(mut self, v: Verdict) -> Self {
        self.possible = Some(v);
        self
    }

    /// The row, with its threshold, verdict and role.
    fn judged(self, threshold: f64, verdict: Verdict, role: Role) -> Row {
        let b = summary(&self.base);
        let c = summary(&self.cand);
        Row {
            workload: self.workload.into(),
            metric: self.metric.into(),
            unit: self.unit.into(),
            better: self.better,
            ratio: c.median / b.median,
            baseline: b,
            candidate: c,
            ratio_ci: self.ratio_ci,
            p_value: self.p.map(|x| x.0),
            p_adjusted: self.p.map(|x| x.1),
            exact: self.p.is_some(),
            threshold,
            verdict,
            hint: self.hint,
            role,
            mde: self.mde,
            possible: self.possible,
            alpha: None,
        }
    }
}

/// What `compare` derives from the rows, spec and unmatched metrics of a
/// hand-built comparison: counts, the outcome and the metrics tested per
/// family (rounds and permutations are the caller's).
fn finish(c: &mut Comparison) {
    c.explanations = baselines::explain::explain(&c.rows);
    let mut counts = Counts::tally(&c.rows, &c.spec);
    counts.missing = c.unmatched.iter().filter(|u| u.2 == MISSING).count();
    let failed = counts.regression > 0
        || counts.spec_failed > 0
        || counts.missing > 0
        || (c.policy.possible_regression == baselines::policy::PossiblePolicy::Fail
            && counts.possible_regression > 0);
    let headline = |r: &&Row| r.role == Role::Headline;
    let tested = |r: &&Row| r.p_value.is_some();
    c.method.tested = (
        c.rows.iter().filter(headline).filter(tested).count(),
        c.rows
            .iter()
            .filter(|r| r.role == Role::Secondary)
            .filter(tested)
            .count(),
    );
    for r in &mut c.rows {
        r.alpha = r.p_value.map(|_| match r.role {
            Role::Headline => c.method.headline_alpha,
            _ => c.method.secondary_alpha,
        });
    }
    let undecided = c.undecided_headlines().next().is_some();
    c.outcome = if failed {
        Outcome::Fail
    } else if undecided || c.method.tested.0 == 0 {
        Outcome::Inconclusive
    } else {
        Outcome::Pass
    };
    c.counts = counts;
    c.rows.sort_by(|a, b| {
        a.verdict
            .cmp(&b.verdict)
            .then_with(|| a.role.cmp(&b.role))
            .then_with(|| a.workload.cmp(&b.workload))
            .then_with(|| a.metric.cmp(&b.metric))
    });
}

fn host(sku: &str, name: &str, kernel: &str, cpu: &str) -> HostInfo {
    HostInfo {
        sku: Some(sku.into()),
        hostname: name.into(),
        distro: "debian".into(),
        distro_version: "12".into(),
        distro_pretty: "Debian GNU/Linux 12 (bookworm)".into(),
        kernel: kernel.into(),
        arch: "x86_64".into(),
        cpu_model: cpu.into(),
        vcpus: 4,
        memory_bytes: 16 << 30,
        hypervisor: "microsoft".into(),
        system: "Microsoft Corporation Virtual Machine".into(),
        clocksource: "tsc".into(),
        timer: "tsc".into(),
        boot_id: format!("{name}-boot"),
        llc_bytes: 32 << 20,
        thp: "madvise".into(),
        region: None,
        image: None,
        numa: Vec::new(),
    }
}

/// The baseline host of the sample.
pub fn baseline_host() -> HostInfo {
    host(
        "Standard_D4s_v5",
        "vm-d4sv5-01",
        "6.1.0-28-cloud-amd64",
        "Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz",
    )
}

/// The candidate host of the sample.
pub fn candidate_host() -> HostInfo {
    host(
        "Standard_D4s_v6",
        "vm-d4sv6-01",
        "6.1.0-31-cloud-amd64",
        "INTEL(R) XEON(R) PLATINUM 8573C",
    )
}

const IOPS: [f64; 7] = [4010.0, 3985.0, 4032.0, 3998.0, 4020.0, 3975.0, 4005.0];
const CAND_IOPS: [f64; 6] = [3650.0, 3702.0, 3671.0, 3633.0, 3688.0, 3660.0];
/// Relative spread of a steady throughput over 7 runs.
const STEADY: [f64; 7] = [1.0, 1.01, 0.99, 1.005, 0.995, 1.0, 1.002];

/// The sample comparison (outcome FAIL): a disk workload with a headline
/// throughput regression and a secondary tail-latency regression, a memory
/// improvement, unchanged, inconclusive and low-confidence metrics, a
/// possible regression (interval beyond the threshold, not significant), an
/// explanatory counter, spec limits failed and passed, a metric missing
/// from the candidate and one measured by the candidate only.
pub fn comparison() -> Comparison {
    let lat = |b: f64| -> Vec<f64> {
        [1.0, 0.99, 1.01, 1.005, 0.995, 1.002, 0.998]
            .iter()
            .map(|k| k * b)
            .collect()
    };
    let clat = |b: f64| -> Vec<f64> {
        [1.0, 0.99, 1.01, 1.005, 0.995, 1.002]
            .iter()
            .map(|k| k * b)
            .collect()
    };
    use Better::{Higher, Lower};
    use Verdict::{Explanatory, Improvement, Inconclusive, LowConfidence, Regression, Unchanged};
    let (h, s) = (Role::Headline, Role::Secondary);
    let rows = vec![
        Fx::new("randread", "disk.randread.iops", "ops/s", Higher)
            .values(IOPS.to_vec(), CAND_IOPS.to_vec())
            .tested((0.908, 0.925), (0.0012, 0.0142), 0.008)
            .judged(0.02, Regression, h),
        Fx::new("randread", "disk.randread.lat_ns.p99_9", "ns", Lower)
            .values(lat(1_210_000.0), clat(1_720_000.0))
            .tested((1.36, 1.47), (0.0006, 0.0029), 0.031)
            .judged(0.15, Regression, s),
        Fx::new("stream", "mem.stream.triad.bytes_per_s", "bytes/s", Higher)
            .values(scaled(&STEADY, 11.2e9), scaled(&STEADY, 11.9e9))
            .tested((1.052, 1.071), (0.0006, 0.0081), 0.011)
            .judged(0.02, Improvement, h),
        Fx::new("latency", "mem.latency.dram.ns_per_load", "ns", Lower)
            .values(
                vec![100.2, 99.1, 100.9, 98.7, 101.6],
                vec![104.8, 103.1, 105.9, 102.2, 104.3],
            )
            .tested((1.021, 1.066), (0.0079, 0.061), 0.047)
            .possible(Regression)
            .judged(0.02, Inconclusive, h),
        Fx::new("net", "net.tcp_stream.bits_per_s", "bits/s", Higher)
            .values(
                scaled(&[1.0, 0.93, 1.06, 0.97, 1.04, 0.95, 1.02], 9.4e9),
                scaled(&[0.99, 0.91, 1.07, 0.95, 1.03, 0.9, 1.0], 9.3e9),
            )
            .tested((0.941, 1.032), (0.62, 1.0), 0.072)
            .judged(0.02, Inconclusive, h),
        Fx::new("randread", "disk.randread.lat_ns.p99_99", "ns", Lower)
            .values(
                scaled(&[1.0, 0.8, 1.3, 0.9, 1.2, 0.85, 1.1], 2_900_000.0),
                scaled(&[1.1, 0.9, 1.6, 0.95, 1.4, 1.0], 3_100_000.0),
            )
            .tested((0.93, 1.58), (0.09, 0.63), 0.37)
            .judged(0.25, Inconclusive, s),
        // The only metric of its workload: its headline by promotion.
        Fx::new("jitter", "jitter.sleep.lat_ns.p99", "ns", Lower)
            .values(
                vec![1_080_000.0, 1_095_000.0, 1_070_000.0],
                vec![1_410_000.0, 1_385_000.0, 1_432_000.0],
            )
            .hint(Regression)
            .judged(0.15, LowConfidence, h),
        Fx::new("jitter", "jitter.sleep.lat_ns.p50", "ns", Lower)
            .values(
                vec![1_058_000.0, 1_061_000.0, 1_057_000.0],
                vec![1_059_000.0, 1_060_000.0, 1_062_000.0],
            )
            .hint(Unchanged)
            .judged(0.15, LowConfidence, s),
        Fx::new("randread", "disk.randread.lat_ns.p50", "ns", Lower)
            .values(lat(84_200.0), clat(84_900.0))
            .tested((0.998, 1.016), (0.08, 0.63), 0.010)
            .judged(0.05, Unchanged, h),
        Fx::new("randread", "disk.randread.lat_ns.p99", "ns", Lower)
            .values(lat(412_000.0), clat(421_000.0))
            .tested((1.004, 1.041), (0.011, 0.099), 0.011)
            .judged(0.08, Unchanged, h),
        Fx::new("stream", "mem.stream.copy.bytes_per_s", "bytes/s", Higher)
            .values(scaled(&STEADY, 10.1e9), scaled(&STEADY, 10.14e9))
            .tested((0.996, 1.011), (0.21, 0.63), 0.011)
            .judged(0.02, Unchanged, h),
        // A counter: +76% retransmits would look like a regression if it
        // were judged; it explains, it does not gate.
        Fx::new("net", "net.tcp_stream.tcp.retransmits", "count", Lower)
            .values(
                vec![812.0, 790.0, 845.0, 801.0, 830.0, 798.0, 820.0],
                vec![1430.0, 1385.0, 1502.0, 1410.0, 1460.0, 1399.0, 1444.0],
            )
            .ci((1.71, 1.81))
            .judged(0.02, Explanatory, Role::Explanatory),
        // Attribution of the randread step: the device's own service time
        // moved with the tail, the run queue did not (explain.rs).
        Fx::new("randread", "disk.randread.dev.read_await_ns", "ns", Lower)
            .values(lat(61_000.0), clat(84_100.0))
            .ci((1.36, 1.40))
            .judged(0.02, Explanatory, Role::Explanatory),
        Fx::new(
            "randread",
            "disk.randread.sched.runq_wait_ratio",
            "ratio",
            Lower,
        )
        .values(lat(0.012), clat(0.0121))
        .ci((0.98, 1.03))
        .judged(0.02, Explanatory, Role::Explanatory),
    ];
    let spec = vec![
        SpecRow {
            metric: "disk.randread.iops".into(),
            workload: Some("randread".into()),
            value: Some(3666.0),
            unit: "ops/s".into(),
            min: Some(4000.0),
            max: None,
            tolerance: 0.05,
            pass: false,
            note: "advertised uncached IOPS cap".into(),
        },
        SpecRow {
            metric: "net.*.bits_per_s".into(),
            workload: Some("net".into()),
            value: Some(9.3e9),
            unit: "bits/s".into(),
            min: Some(8e9),
            max: None,
            tolerance: 0.05,
            pass: true,
            note: "expected network bandwidth".into(),
        },
        SpecRow {
            metric: "disk.seqwrite.bytes_per_s".into(),
            workload: None,
            value: None,
            unit: String::new(),
            min: Some(2.5e8),
            max: None,
            tolerance: 0.05,
            pass: false,
            note: "metric not measured by the candidate".into(),
        },
    ];
    let policy = Policy::default();
    let mut c = Comparison {
        schema: COMPARISON_SCHEMA.into(),
        baseline: SideInfo {
            name: "baseline:d4sv5-debian12".into(),
            sources: vec!["baseline/d4sv5-1.json".into()],
            hosts: vec![baseline_host()],
            runs_used: 17,
            runs_disturbed_excluded: 0,
            runs_failed_excluded: 0,
        },
        candidate: SideInfo {
            name: "candidate/d4sv6-1.json".into(),
            sources: vec!["candidate/d4sv6-1.json".into()],
            hosts: vec![candidate_host()],
            runs_used: 16,
            runs_disturbed_excluded: 1,
            runs_failed_excluded: 0,
        },
        method: Method {
            rounds: (7, 7),
            headline_alpha: policy.headline_alpha(),
            secondary_alpha: policy.secondary_alpha(),
            tested: (0, 0),
            permutations: 3432,
            exact: true,
        },
        policy,
        rows,
        unmatched: vec![
            (
                "randread".into(),
                "disk.randread.bytes_per_s".into(),
                MISSING.into(),
            ),
            (
                "stream".into(),
                "mem.stream.scale.bytes_per_s".into(),
                "candidate".into(),
            ),
        ],
        spec,
        counts: Counts::default(),
        outcome: Outcome::Fail,
        explanations: Vec::new(),
    };
    finish(&mut c);
    c
}

/// The sample without anything that fails it (regressions, failed spec
/// limits, the missing metric): outcome INCONCLUSIVE, since headline
/// metrics stay inconclusive or low-confidence, with the possible
/// regression still called out as a warning.
pub fn inconclusive() -> Comparison {
    let mut c = comparison();
    c.rows.retain(|r| r.verdict != Verdict::Regression);
    c.spec.retain(|s| s.pass);
    c.unmatched.retain(|u| u.2 != MISSING);
    finish(&mut c);
    c
}

/// The sample with only decided metrics (improved, unchanged and
/// explanatory rows, passed spec limits): outcome PASS.
pub fn passing() -> Comparison {
    let mut c = comparison();
    c.rows.retain(|r| {
        matches!(
            r.verdict,
            Verdict::Improvement | Verdict::Unchanged | Verdict::Explanatory
        )
    });
    c.spec.retain(|s| s.pass);
    c.unmatched.retain(|u| u.2 != MISSING);
    finish(&mut c);
    c
}

/// Latency histogram of one disk run: a body around 80 µs and a rare slow
/// tail, which is heavier on the candidate.
fn disk_hist(rng: &mut Rng, candidate: bool) -> Hist {
    let mut h = new_hist();
    let (tail_p, tail_scale) = if candidate {
        (0.004, 700_000.0)
    } else {
        (0.002, 450_000.0)
    };
    for _ in 0..20_000 {
        let u = rng.next();
        let body = 55_000.0 + 30_000.0 * -(1.0 - u).ln();
        let v = if rng.next() < tail_p {
            tail_scale * (1.0 + 2.0 * rng.next())
        } else {
            body
        };
        let _ = h.record(v as u64);
    }
    h
}

fn jitter_hist(rng: &mut Rng, candidate: bool) -> Hist {
    let mut h = new_hist();
    for _ in 0..5_000 {
        let u = rng.next();
        let extra = if candidate { 90_000.0 } else { 5_000.0 };
        let v = 1_050_000.0 + 4_000.0 * -(1.0 - u).ln() + extra * u.powi(40);
        let _ = h.record(v as u64);
    }
    h
}

#[allow(clippy::too_many_arguments)]
fn run(
    label: &str,
    workload: &str,
    rep: u32,
    metrics: Vec<Metric>,
    hist: Option<(&str, Hist)>,
    series: Option<(&str, f64, usize, &mut Rng)>,
    disturbed: bool,
) -> RunRecord {
    let mut histograms = BTreeMap::new();
    if let Some((n, h)) = hist {
        histograms.insert(n.to_string(), encode(&h).unwrap_or_default());
    }
    let mut ser = Vec::new();
    if let Some((name, rate, len, rng)) = series {
        let points = (1..=len)
            .map(|i| {
                let t = i as f64;
                // A short ramp at the start (caches, queue depth filling),
                // and a dip in the middle of a disturbed run.
                let ramp = if i <= 2 { 0.85 + 0.05 * t } else { 1.0 };
                let dip = if disturbed && (len / 3..len / 2).contains(&i) {
                    0.7
                } else {
                    1.0
                };
                let v = rate * ramp * dip * (1.0 + 0.02 * (rng.next() - 0.5));
                IntervalPoint {
                    t_s: t,
                    len_s: 1.0,
                    ops: v as u64,
                    ops_per_s: v,
                    bytes_per_s: v * 4096.0,
                    p50_ns: 84_000,
                    p99_ns: 420_000,
                }
            })
            .collect();
        ser.push(Series {
            name: name.into(),
            points,
        });
    }
    RunRecord {
        id: format!("{label}#{rep}"),
        workload: workload.into(),
        label: label.into(),
        repetition: rep,
        spec: serde_json::Value::Null,
        status: Status::Ok,
        error: None,
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: "2026-01-01T00:00:30Z".into(),
        warmup_s: 5.0,
        measured_s: 30.0,
        metrics,
        histograms,
        series: ser,
        curves: Vec::new(),
        disturbance: Disturbance {
            disturbed,
            threshold_vcpus: 0.25,
            foreign_cpu_vcpus: if disturbed { 0.9 } else { 0.02 },
            foreign_cpu_peak_vcpus: if disturbed { 1.7 } else { 0.1 },
            steal_pct: if disturbed { 3.1 } else { 0.1 },
            ..Disturbance::default()
        },
        notes: BTreeMap::new(),
    }
}

fn file(host: HostInfo, runs: Vec<RunRecord>) -> ResultFile {
    ResultFile {
        schema: bench_core::RESULT_SCHEMA.into(),
        tool: ToolInfo {
            name: "skubench".into(),
            version: "0.1.0".into(),
            git_revision: "sample".into(),
        },
        status: Status::Ok,
        error: None,
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: "2026-01-01T00:10:00Z".into(),
        host,
        invocation: Invocation {
            suite: "sample".into(),
            repetitions: 7,
            ..Invocation::default()
        },
        runs,
    }
}

/// The result files behind [`comparison`]: (baseline, candidate), each one
/// file; the candidate's last disk run is disturbed.
pub fn result_files() -> (Files, Files) {
    let mut out = Vec::new();
    for candidate in [false, true] {
        let mut rng = Rng(if candidate { 0x5eed_0002 } else { 0x5eed_0001 });
        let mut runs = Vec::new();
        let reps = 7;
        for rep in 1..=reps {
            let disturbed = candidate && rep == reps;
            let iops = if candidate {
                CAND_IOPS[(rep as usize - 1) % CAND_IOPS.len()] * if disturbed { 0.8 } else { 1.0 }
            } else {
                IOPS[rep as usize - 1]
            };
            let h = disk_hist(&mut rng, candidate);
            let mut m = vec![Metric::new(
                "disk.randread.iops",
                iops,
                "ops/s",
                Better::Higher,
            )];
            for (q, s) in bench_core::hist::REPORTED_PERCENTILES {
                m.push(Metric::new(
                    format!("disk.randread.lat_ns.{s}"),
                    h.value_at_quantile(q / 100.0) as f64,
                    "ns",
                    Better::Lower,
                ));
            }
            let mut srng = Rng(0xabc0 + u64::from(rep) + if candidate { 100 } else { 0 });
            runs.push(run(
                "randread",
                "disk",
                rep,
                m,
                Some(("disk.randread.lat_ns", h)),
                Some(("disk.randread", iops, 30, &mut srng)),
                disturbed,
            ));
        }
        for rep in 1..=7 {
            let bw = if candidate { 11.9e9 } else { 11.2e9 };
            let mut srng = Rng(0xdef0 + u64::from(rep) + if candidate { 100 } else { 0 });
            runs.push(run(
                "stream",
                "mem",
                rep,
                vec![Metric::new(
                    "mem.stream.triad.bytes_per_s",
                    bw,
                    "bytes/s",
                    Better::Higher,
                )],
                None,
                Some(("mem.stream.triad", bw / 16.0, 20, &mut srng)),
                false,
            ));
        }
        for rep in 1..=5 {
            // A latency-against-working-set curve: L1, L2, L3 and DRAM
            // plateaus; the candidate's DRAM is 4% slower.
            // Its own generator, so the other sample data stay as they were.
            let mut lrng = Rng(0x1a70 + u64::from(rep) + if candidate { 100 } else { 0 });
            let dram = if candidate { 104.0 } else { 100.0 } * (1.0 + 0.01 * (lrng.next() - 0.5));
            let points: Vec<[f64; 2]> = (12..=30)
                .map(|k| {
                    let ns = match k {
                        ..=15 => 1.2,
                        16..=19 => 4.1,
                        20..=24 => 14.0,
                        _ => dram,
                    };
                    [(1u64 << k) as f64, ns * (1.0 + 0.01 * (lrng.next() - 0.5))]
                })
                .collect();
            let mut r = run(
                "latency",
                "mem",
                rep,
                vec![Metric::new(
                    "mem.latency.dram.ns_per_load",
                    points[points.len() - 1][1],
                    "ns",
                    Better::Lower,
                )],
                None,
                None,
                false,
            );
            r.curves.push(bench_core::result::Curve {
                name: "mem.latency.ns_per_load".into(),
                x_unit: "bytes".into(),
                y_unit: "ns".into(),
                log_x: true,
                log_y: true,
                points,
            });
            runs.push(r);
        }
        for rep in 1..=3 {
            let h = jitter_hist(&mut rng, candidate);
            runs.push(run(
                "jitter",
                "jitter",
                rep,
                vec![Metric::new(
                    "jitter.sleep.lat_ns.p99",
                    h.value_at_quantile(0.99) as f64,
                    "ns",
                    Better::Lower,
                )],
                Some(("jitter.sleep.lat_ns", h)),
                None,
                false,
            ));
        }
        let (name, host) = if candidate {
            ("candidate/d4sv6-1.json", candidate_host())
        } else {
            ("baseline/d4sv5-1.json", baseline_host())
        };
        out.push(vec![(name.to_string(), file(host, runs))]);
    }
    let cand = out.pop().unwrap_or_default();
    let base = out.pop().unwrap_or_default();
    (base, cand)
}

/// A comparison of 10 workloads × 5 metrics (throughput and four latency
/// percentiles) with 7 runs a side, histograms and 60-point series in every
/// run, made by the real statistics: the size check of the HTML report.
pub fn fifty_metrics() -> (Comparison, Files, Files) {
    let mut sides = Vec::new();
    for candidate in [false, true] {
        let mut rng = Rng(if candidate { 77 } else { 11 });
        let mut runs = Vec::new();
        for w in 0..10 {
            let label = format!("w{w}");
            // Every third workload slows down on the candidate.
            let k = if candidate && w % 3 == 0 { 0.9 } else { 1.0 };
            for rep in 1..=7 {
                let mut h = new_hist();
                for _ in 0..5_000 {
                    let u = rng.next();
                    let _ =
                        h.record((40_000.0 / k * (1.0 + 0.2 * (-(1.0 - u).ln()).min(3.0))) as u64);
                }
                let rate = 10_000.0 * k * (1.0 + 0.01 * (rng.next() - 0.5));
                let mut m = vec![Metric::new(
                    format!("{label}.ops_per_s"),
                    rate,
                    "ops/s",
                    Better::Higher,
                )];
                for (q, s) in &bench_core::hist::REPORTED_PERCENTILES[..4] {
                    m.push(Metric::new(
                        format!("{label}.lat_ns.{s}"),
                        h.value_at_quantile(q / 100.0) as f64,
                        "ns",
                        Better::Lower,
                    ));
                }
                let mut srng = Rng(1000 + rep as u64 * 7 + w);
                runs.push(run(
                    &label,
                    "cpu",
                    rep,
                    m,
                    Some((&format!("{label}.lat_ns"), h)),
                    Some((&label, rate, 60, &mut srng)),
                    false,
                ));
            }
        }
        let host = if candidate {
            candidate_host()
        } else {
            baseline_host()
        };
        sides.push(vec![(
            format!("{}.json", if candidate { "candidate" } else { "baseline" }),
            file(host, runs),
        )]);
    }
    let cand = sides.pop().unwrap_or_default();
    let base = sides.pop().unwrap_or_default();
    let policy = Policy::default();
    let c = baselines::compare::compare(
        baselines::compare::collect("baseline", &base, false),
        baselines::compare::collect("candidate", &cand, false),
        &policy,
        None,
    );
    (c, base, cand)
}

/// A ten-point history of `metric` on randread: flat at 100, or, with
/// `alert`, dropping to 80 at point 6 with that change point as an alert.
pub fn metric_history(metric: &str, alert: bool) -> baselines::history::MetricHistory {
    let cp = baselines::changepoint::ChangePoint {
        index: 6,
        mean_before: 100.0,
        mean_after: 80.0,
        change: -0.2,
        p_value: 1e-5,
        q: 3.0,
        reported: true,
    };
    baselines::history::MetricHistory {
        sku: "Standard_D4s_v6".into(),
        distro: "debian".into(),
        workload: "randread".into(),
        metric: metric.into(),
        unit: "ops/s".into(),
        better: "higher".into(),
        points: (0..10)
            .map(|i| baselines::history::Point {
                time: format!("2026-01-{:02}T00:00:00Z", i + 1),
                value: if alert && i >= 6 { 80.0 } else { 100.0 },
                result_id: format!("r{i}"),
                run_id: "randread#1".into(),
            })
            .collect(),
        change_points: if alert { vec![cp.clone()] } else { vec![] },
        alerts: if alert { vec![cp] } else { vec![] },
    }
}
