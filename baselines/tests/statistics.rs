//! Statistical properties of the comparison, by seeded simulation and by
//! property tests.

use baselines::compare::{compare, Verdict};
use baselines::policy::Policy;
use baselines::simulate::{detection_rate, false_alarm_rate, side};
use bench_core::result::Better;
use proptest::prelude::*;

#[test]
fn aa_false_alarm_rate_is_below_alpha() {
    let policy = Policy::default();
    assert_eq!(policy.alpha, 0.01);
    let single = Policy {
        holm: false,
        ..policy.clone()
    };
    let per_metric = false_alarm_rate(&single, 5, 0.03, 1, 10_000, 7);
    let family = false_alarm_rate(&policy, 5, 0.03, 20, 2_000, 8);
    eprintln!("A/A: per-metric false alarms {per_metric:.4}, per 20-metric comparison {family:.4}");
    assert!(
        per_metric <= 0.01,
        "per-metric false-alarm rate {per_metric}"
    );
    assert!(family <= 0.05, "family-wise false-alarm rate {family}");
}

#[test]
fn ten_percent_shift_at_cv3_with_seven_runs_is_caught_99_percent() {
    let policy = Policy {
        holm: false,
        ..Policy::default()
    };
    let p = detection_rate(&policy, 7, 0.03, 0.10, 1, 2_000, 11);
    eprintln!("power n=7 cv=3% shift=10%: {p:.3}");
    assert!(p >= 0.99, "{p}");
}

fn verdict_of(a: &[f64], b: &[f64], better: Better) -> Verdict {
    let policy = Policy {
        holm: false,
        ..Policy::default()
    };
    let mut sa = side(vec![("m".into(), a.to_vec())]);
    let mut sb = side(vec![("m".into(), b.to_vec())]);
    for s in [&mut sa, &mut sb] {
        for v in s.values.values_mut() {
            v.1 = better;
        }
    }
    compare(sa, sb, &policy, None).rows[0].verdict
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
        prop_assert_eq!(verdict_of(&a, &b, Better::Higher), flip(verdict_of(&b, &a, Better::Higher)));
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
    fn p_values_are_probabilities_and_symmetric(
        a in proptest::collection::vec(-1e6f64..1e6, 1..30),
        b in proptest::collection::vec(-1e6f64..1e6, 1..30),
    ) {
        let r = baselines::stats::mann_whitney(&a, &b).unwrap();
        prop_assert!((0.0..=1.0).contains(&r.p));
        let s = baselines::stats::mann_whitney(&b, &a).unwrap();
        prop_assert!((r.p - s.p).abs() < 1e-9);
    }
}
