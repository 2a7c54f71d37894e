//! Statistical properties of the comparison, by seeded simulation on the
//! metric families of real suites (the acceptance floors of the method, see
//! docs/statistics.md) and by property tests.

use baselines::compare::{compare, Samples, SideInfo, Verdict};
use baselines::policy::Policy;
use baselines::simulate::{rates, Family, Noise, Scenario};
use bench_core::result::Better;
use proptest::prelude::*;

fn quick() -> Family {
    Family::of_suite("quick").unwrap()
}

fn scenario(f: &Family, n: usize, cv: f64, noise: Noise, shift: f64) -> Scenario<'_> {
    Scenario {
        family: f,
        n,
        cv,
        noise,
        shift,
        shifted: f.throughput_of("cpu"),
    }
}

#[test]
fn aa_on_the_quick_family_flags_at_most_five_percent() {
    let f = quick();
    let p = Policy::default();
    for (noise, seed) in [
        (Noise::Independent, 1),
        (Noise::RunFactor, 2),
        (Noise::HeavyTails, 3),
    ] {
        let r = rates(&scenario(&f, 7, 0.03, noise, 0.0), &p, 400, seed);
        eprintln!("A/A quick n=7 cv=3% {}: {r:?}", noise.name());
        assert!(r.any_flag <= 0.05, "{}: {r:?}", noise.name());
        assert_eq!(r.fail, r.any_flag.min(r.fail), "{r:?}");
    }
    // The fewest runs that can reach a verdict, heavy-tailed.
    let r = rates(&scenario(&f, 4, 0.03, Noise::HeavyTails, 0.0), &p, 400, 4);
    eprintln!("A/A quick n=4 heavy tails: {r:?}");
    assert!(r.any_flag <= 0.05, "{r:?}");
}

#[test]
fn ten_percent_cpu_slowdown_at_seven_runs_cv3_is_caught_95_percent() {
    let f = quick();
    let r = rates(
        &scenario(&f, 7, 0.03, Noise::Independent, 0.10),
        &Policy::default(),
        200,
        11,
    );
    eprintln!("power quick n=7 cv=3% shift=10%: {r:?}");
    assert!(r.detected >= 0.95 && r.fail >= 0.95, "{r:?}");
}

#[test]
fn a_halving_is_caught_at_five_and_four_runs() {
    let f = quick();
    let p = Policy::default();
    let r5 = rates(&scenario(&f, 5, 0.03, Noise::Independent, 0.5), &p, 200, 12);
    let r4 = rates(&scenario(&f, 4, 0.03, Noise::Independent, 0.5), &p, 200, 13);
    eprintln!("power quick 2x: n=5 {r5:?}; n=4 {r4:?}");
    assert!(r5.detected >= 0.99 && r5.fail >= 0.99, "{r5:?}");
    assert!(r4.detected >= 0.95 && r4.fail >= 0.95, "{r4:?}");
}

#[test]
fn without_a_threshold_sized_view_the_outcome_is_never_pass() {
    // Three runs a side cannot reach the family's level: nothing is tested,
    // so no comparison may say PASS, however clean.
    let f = quick();
    let r = rates(
        &scenario(&f, 3, 0.01, Noise::Independent, 0.0),
        &Policy::default(),
        20,
        14,
    );
    assert_eq!(r.pass, 0.0, "{r:?}");
    assert_eq!(r.inconclusive, 1.0, "{r:?}");
}

/// One side with one metric `m` of workload `w` (values in rounds 0, 1 …).
fn side(vals: &[f64], better: Better) -> Samples {
    let mut s = Samples {
        info: SideInfo::default(),
        ..Samples::default()
    };
    s.values.insert(
        ("w".into(), "m.ops_per_s".into()),
        ("ops/s".into(), better, vals.to_vec()),
    );
    s
}

fn verdict_of(a: &[f64], b: &[f64], better: Better) -> Verdict {
    let policy = Policy {
        holm: false,
        ..Policy::default()
    };
    compare(side(a, better), side(b, better), &policy, None).rows[0].verdict
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
