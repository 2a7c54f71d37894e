//! The onboarding matrix: cells gated against a baseline and spec limits,
//! and a distro significantly slower than the rest found (and none when
//! the distros do not differ).

use baselines::compare::{Outcome, Verdict};
use baselines::matrix::{build, slug};
use baselines::policy::{Policy, Spec};
use bench_core::host::HostInfo;
use bench_core::result::{Better, Invocation, Metric, ResultFile, RunRecord, Status, ToolInfo};

/// A result of `reps` runs on (sku, distro) whose throughput is `level`
/// with a fixed ±2% pattern of noise (seeded by `seed`).
fn result(sku: &str, distro: &str, level: f64, reps: u32, seed: u32) -> ResultFile {
    let runs = (1..=reps)
        .map(|rep| {
            let noise = 1.0 + 0.02 * (((rep * 7919 + seed * 104_729) % 11) as f64 - 5.0) / 5.0;
            RunRecord {
                id: format!("w#{rep}"),
                workload: "null".into(),
                label: "w".into(),
                repetition: rep,
                spec: serde_json::json!({"kind": "null"}),
                status: Status::Ok,
                error: None,
                started_at: format!("2026-01-01T00:00:{rep:02}.000Z"),
                finished_at: format!("2026-01-01T00:00:{rep:02}.500Z"),
                warmup_s: 0.0,
                measured_s: 0.5,
                metrics: vec![Metric::new(
                    "w.ops_per_s",
                    level * noise,
                    "ops/s",
                    Better::Higher,
                )],
                histograms: Default::default(),
                series: vec![],
                curves: vec![],
                disturbance: Default::default(),
                notes: Default::default(),
            }
        })
        .collect();
    ResultFile {
        schema: bench_core::RESULT_SCHEMA.into(),
        tool: ToolInfo {
            name: "skubench".into(),
            version: "test".into(),
            git_revision: "x".into(),
        },
        status: Status::Ok,
        error: None,
        started_at: "2026-01-01T00:00:00.000Z".into(),
        finished_at: "2026-01-01T00:01:00.000Z".into(),
        host: HostInfo {
            sku: Some(sku.into()),
            distro: distro.into(),
            distro_version: "1".into(),
            hostname: format!("{sku}-{distro}"),
            ..HostInfo::default()
        },
        invocation: Invocation {
            suite: "s".into(),
            repetitions: reps,
            tag: Some("onb".into()),
            ..Invocation::default()
        },
        runs,
    }
}

fn named(f: ResultFile) -> (String, ResultFile) {
    (format!("{}/{}", f.host.hostname, f.runs.len()), f)
}

#[test]
fn a_distro_twice_as_slow_is_found_and_its_cell_fails() {
    let base = vec![named(result("D4", "pred", 1000.0, 7, 9))];
    let results: Vec<_> = [
        ("debian", 1000.0),
        ("ubuntu", 1010.0),
        ("rhel", 500.0),
        ("sles", 995.0),
    ]
    .iter()
    .enumerate()
    .map(|(i, (d, level))| named(result("D4v6", d, *level, 7, i as u32)))
    .collect();
    let m = build(
        "onb",
        results,
        Some(("pred", &base)),
        &Policy::default(),
        None,
    );
    assert_eq!(m.skus, vec!["D4v6"]);
    assert_eq!(m.distros, vec!["debian 1", "rhel 1", "sles 1", "ubuntu 1"]);
    assert_eq!(m.cells.len(), 4);
    for c in &m.cells {
        let want = if c.distro == "rhel 1" {
            Outcome::Fail
        } else {
            Outcome::Pass
        };
        assert_eq!(c.outcome, Some(want), "{}: {:?}", c.distro, c.regressions);
        assert_eq!(c.runs, 7);
        assert!(c.comparison.is_some());
    }
    assert_eq!(m.outcome, Some(Outcome::Fail));
    let s = &m.spreads[0];
    assert_eq!(s.metric, "w.ops_per_s");
    assert_eq!(s.slower.as_deref(), Some("rhel 1"));
    assert!((s.spread - 2.0).abs() < 0.1, "{}", s.spread);
    let rhel = s.distros.iter().find(|d| d.distro == "rhel 1").unwrap();
    let v = rhel.vs_rest.as_ref().unwrap();
    assert_eq!(v.verdict, Verdict::Regression);
    assert!(v.ratio < 0.55 && v.ratio > 0.45, "{}", v.ratio);
    // Four distros: each distro-vs-rest comparison runs at α / 4.
    assert!((m.distro_alpha - Policy::default().family_alpha / 4.0).abs() < 1e-12);
}

#[test]
fn distros_that_do_not_differ_have_no_slower_one() {
    let results: Vec<_> = ["debian", "ubuntu", "rhel"]
        .iter()
        .enumerate()
        .map(|(i, d)| named(result("D4v6", d, 1000.0, 7, i as u32 + 3)))
        .collect();
    let m = build("onb", results, None, &Policy::default(), None);
    assert_eq!(
        m.outcome, None,
        "no baseline and no spec: nothing to judge by"
    );
    assert!(m.cells.iter().all(|c| c.outcome.is_none()));
    assert_eq!(m.spreads.len(), 1);
    assert_eq!(m.spreads[0].slower, None, "{:?}", m.spreads[0].distros);
    assert!(m.spreads[0].spread < 1.05);
}

#[test]
fn spec_limits_alone_judge_the_cells() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("spec.toml");
    std::fs::write(
        &p,
        "[[limit]]\nmetric = \"w.ops_per_s\"\nmin = 900.0\ntolerance = 0.0\n",
    )
    .unwrap();
    let spec = Spec::load(&p).unwrap();
    let results = vec![
        named(result("D4v6", "debian", 1000.0, 4, 1)),
        named(result("D4v6", "rhel", 500.0, 4, 2)),
        named(result("D8v6", "debian", 2000.0, 4, 3)),
    ];
    let m = build("onb", results, None, &Policy::default(), Some(&spec));
    assert_eq!(m.skus, vec!["D4v6", "D8v6"]);
    let by = |sku: &str, d: &str| {
        m.cells
            .iter()
            .find(|c| c.sku == sku && c.distro == d)
            .unwrap()
            .outcome
    };
    assert_eq!(by("D4v6", "debian 1"), Some(Outcome::Pass));
    assert_eq!(by("D4v6", "rhel 1"), Some(Outcome::Fail));
    assert_eq!(by("D8v6", "debian 1"), Some(Outcome::Pass));
    assert_eq!(m.outcome, Some(Outcome::Fail));
}

#[test]
fn slugs_are_safe_file_names() {
    assert_eq!(
        slug("Standard_D4s_v6", "ubuntu 24.04"),
        "Standard_D4s_v6__ubuntu_24.04"
    );
    assert_eq!(slug("../x", ""), "_.._x___");
    assert!(!slug("a/b", "<script>").contains(['/', '<', '>']));
}
