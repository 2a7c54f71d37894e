//! Seeded simulations of the comparison method: false-alarm rate (A/A) and
//! detection power. Used by the tests and by `docs/statistics.md`'s
//! generator (`cargo run --release -p baselines --example power_table`).

use bench_core::result::Better;
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, LogNormal};

use crate::compare::{compare, Samples, SideInfo, Verdict};
use crate::policy::Policy;

/// `n` log-normal values with the given median and coefficient of variation.
pub fn lognormal(rng: &mut StdRng, n: usize, median: f64, cv: f64) -> Vec<f64> {
    let sigma = (1.0 + cv * cv).ln().sqrt();
    match LogNormal::new(median.ln(), sigma) {
        Ok(d) => (0..n).map(|_| d.sample(rng)).collect(),
        Err(_) => vec![median; n],
    }
}

/// One side holding `metrics` (name, values) of a higher-is-better workload.
pub fn side(metrics: Vec<(String, Vec<f64>)>) -> Samples {
    let mut s = Samples {
        info: SideInfo::default(),
        ..Samples::default()
    };
    for (m, v) in metrics {
        s.values
            .insert(("w".into(), m), ("ops/s".into(), Better::Higher, v));
    }
    s
}

/// Share of comparisons of `metrics` metrics × `n` runs a side, with
/// `shift` (0.1 = candidate 10% slower) on every metric, in which at least
/// one metric is called a regression (or, for low-confidence rows, hinted).
pub fn detection_rate(
    policy: &Policy,
    n: usize,
    cv: f64,
    shift: f64,
    metrics: usize,
    sims: usize,
    seed: u64,
) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut hits = 0;
    for _ in 0..sims {
        let a: Vec<_> = (0..metrics)
            .map(|k| (format!("m{k}"), lognormal(&mut rng, n, 1000.0, cv)))
            .collect();
        let b: Vec<_> = (0..metrics)
            .map(|k| {
                (
                    format!("m{k}"),
                    lognormal(&mut rng, n, 1000.0 * (1.0 - shift), cv),
                )
            })
            .collect();
        let c = compare(side(a), side(b), policy, None);
        if c.rows.iter().any(|r| {
            r.verdict == Verdict::Regression
                || (r.verdict == Verdict::LowConfidence && r.hint == Some(Verdict::Regression))
        }) {
            hits += 1;
        }
    }
    hits as f64 / sims.max(1) as f64
}

/// Share of A/A comparisons (no shift) that flag any regression or improvement.
pub fn false_alarm_rate(
    policy: &Policy,
    n: usize,
    cv: f64,
    metrics: usize,
    sims: usize,
    seed: u64,
) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut alarms = 0;
    for _ in 0..sims {
        let mk = |rng: &mut StdRng| -> Vec<(String, Vec<f64>)> {
            (0..metrics)
                .map(|k| (format!("m{k}"), lognormal(rng, n, 1000.0, cv)))
                .collect()
        };
        let a = mk(&mut rng);
        let b = mk(&mut rng);
        let c = compare(side(a), side(b), policy, None);
        if c.counts.regression + c.counts.improvement > 0 {
            alarms += 1;
        }
    }
    alarms as f64 / sims.max(1) as f64
}
