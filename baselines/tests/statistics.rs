//! Statistical properties of the comparison, by simulation (seeded) and by
//! property tests.

use baselines::compare::{compare, Samples, SideInfo, Verdict};
use baselines::policy::Policy;
use bench_core::result::Better;
use proptest::prelude::*;
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, LogNormal};

fn samples(metrics: &[(String, Vec<f64>)], better: Better) -> Samples {
    let mut s = Samples {
        info: SideInfo::default(),
        ..Samples::default()
    };
    for (m, v) in metrics {
        s.values
            .insert(("w".into(), m.clone()), ("ops/s".into(), better, v.clone()));
    }
    s
}

fn lognormal(rng: &mut StdRng, n: usize, median: f64, cv: f64) -> Vec<f64> {
    // For small CV, sigma of the log ≈ CV.
    let sigma = (1.0 + cv * cv).ln().sqrt();
    let d = LogNormal::new(median.ln(), sigma).unwrap();
    (0..n).map(|_| d.sample(rng)).collect()
}

#[test]
fn aa_false_alarm_rate_is_below_alpha() {
    let policy = Policy::default();
    assert_eq!(policy.alpha, 0.01);
    let mut rng = StdRng::seed_from_u64(7);
    let sims = 10_000;
    let mut single_alarms = 0;
    let mut family_alarms = 0;
    for i in 0..sims {
        // Per metric, without Holm: one metric per comparison.
        let a = lognormal(&mut rng, 5, 1000.0, 0.03);
        let b = lognormal(&mut rng, 5, 1000.0, 0.03);
        let single = Policy {
            holm: false,
            ..policy.clone()
        };
        let c = compare(
            samples(&[("m".into(), a)], Better::Higher),
            samples(&[("m".into(), b)], Better::Higher),
            &single,
            None,
        );
        if matches!(
            c.rows[0].verdict,
            Verdict::Regression | Verdict::Improvement
        ) {
            single_alarms += 1;
        }
        // 20 metrics with Holm: any alarm counts against the comparison.
        if i < 2_000 {
            let mk = |rng: &mut StdRng| -> Vec<(String, Vec<f64>)> {
                (0..20)
                    .map(|k| (format!("m{k}"), lognormal(rng, 5, 1000.0, 0.03)))
                    .collect()
            };
            let a = mk(&mut rng);
            let b = mk(&mut rng);
            let c = compare(
                samples(&a, Better::Higher),
                samples(&b, Better::Higher),
                &policy,
                None,
            );
            if c.counts.regression + c.counts.improvement > 0 {
                family_alarms += 1;
            }
        }
    }
    let rate = single_alarms as f64 / sims as f64;
    let family = family_alarms as f64 / 2_000.0;
    eprintln!("A/A: per-metric false alarms {rate:.4}, per 20-metric comparison {family:.4}");
    assert!(rate <= 0.01, "per-metric false-alarm rate {rate}");
    assert!(family <= 0.05, "family-wise false-alarm rate {family}");
}

/// Detection rate of a shift (candidate = baseline × (1 − shift), higher is better).
pub fn power(n: usize, cv: f64, shift: f64, sims: usize, seed: u64) -> f64 {
    let policy = Policy {
        holm: false,
        ..Policy::default()
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut hits = 0;
    for _ in 0..sims {
        let a = lognormal(&mut rng, n, 1000.0, cv);
        let b = lognormal(&mut rng, n, 1000.0 * (1.0 - shift), cv);
        let c = compare(
            samples(&[("m".into(), a)], Better::Higher),
            samples(&[("m".into(), b)], Better::Higher),
            &policy,
            None,
        );
        let r = &c.rows[0];
        if r.verdict == Verdict::Regression
            || (r.verdict == Verdict::LowConfidence && r.hint == Some(Verdict::Regression))
        {
            hits += 1;
        }
    }
    hits as f64 / sims as f64
}

#[test]
fn ten_percent_shift_at_cv3_with_seven_runs_is_caught_99_percent() {
    let p = power(7, 0.03, 0.10, 2_000, 11);
    eprintln!("power n=7 cv=3% shift=10%: {p:.3}");
    assert!(p >= 0.99, "{p}");
}

fn verdict_of(a: &[f64], b: &[f64], better: Better) -> Verdict {
    let policy = Policy {
        holm: false,
        ..Policy::default()
    };
    let c = compare(
        samples(&[("m".into(), a.to_vec())], better),
        samples(&[("m".into(), b.to_vec())], better),
        &policy,
        None,
    );
    c.rows[0].verdict
}

fn flip(v: Verdict) -> Verdict {
    match v {
        Verdict::Regression => Verdict::Improvement,
        Verdict::Improvement => Verdict::Regression,
        x => x,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn swapping_sides_flips_the_verdict(
        a in proptest::collection::vec(50.0f64..150.0, 4..9),
        b in proptest::collection::vec(50.0f64..150.0, 4..9),
    ) {
        let ab = verdict_of(&a, &b, Better::Higher);
        let ba = verdict_of(&b, &a, Better::Higher);
        prop_assert_eq!(ab, flip(ba));
    }

    #[test]
    fn verdicts_are_scale_invariant(
        a in proptest::collection::vec(50.0f64..150.0, 4..9),
        b in proptest::collection::vec(50.0f64..150.0, 4..9),
        k in 0.001f64..1000.0,
    ) {
        let sa: Vec<f64> = a.iter().map(|x| x * k).collect();
        let sb: Vec<f64> = b.iter().map(|x| x * k).collect();
        prop_assert_eq!(verdict_of(&a, &b, Better::Higher), verdict_of(&sa, &sb, Better::Higher));
    }

    #[test]
    fn direction_of_better_mirrors_the_verdict(
        a in proptest::collection::vec(50.0f64..150.0, 4..9),
        b in proptest::collection::vec(50.0f64..150.0, 4..9),
    ) {
        prop_assert_eq!(verdict_of(&a, &b, Better::Higher), flip(verdict_of(&a, &b, Better::Lower)));
    }

    #[test]
    fn p_values_are_probabilities(
        a in proptest::collection::vec(-1e6f64..1e6, 1..30),
        b in proptest::collection::vec(-1e6f64..1e6, 1..30),
    ) {
        let r = baselines::stats::mann_whitney(&a, &b).unwrap();
        prop_assert!((0.0..=1.0).contains(&r.p));
        let s = baselines::stats::mann_whitney(&b, &a).unwrap();
        prop_assert!((r.p - s.p).abs() < 1e-9);
    }
}
