//! One onboarding as a matrix: the results of one tag, grouped by SKU ×
//! distro, each cell gated against the baseline and the spec limits, and
//! per headline metric the spread across distros and whether one distro is
//! significantly slower than the rest of them.
//!
//! Every test here is the comparison's own ([`crate::compare::compare`]):
//! a cell is `compare(baseline, cell)`; "distro D is slower than the rest"
//! is `compare(the other distros of the SKU pooled, D)` with its headline
//! verdict, at the policy's family α divided by the number of distros of the
//! SKU (Bonferroni over the distros, on top of the maxT control over the
//! metrics each comparison already does), so a matrix of eight distros
//! flags a distro no more often by chance than one comparison does.

use std::collections::BTreeMap;

use bench_core::result::{Better, ResultFile, Role};
use serde::Serialize;

use crate::compare::{check_spec, collect, compare, Comparison, Outcome, Verdict};
use crate::policy::{Policy, Spec};

/// The identifier written in serialized matrices.
pub const MATRIX_SCHEMA: &str = "skubench.matrix.v1";

/// One (SKU, distro) of the onboarding.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    /// SKU (empty when the results named none).
    pub sku: String,
    /// Distro ID and version, e.g. `ubuntu 24.04`.
    pub distro: String,
    /// A file-name-safe name of the cell: where its own comparison goes.
    pub slug: String,
    /// Result ids (or files) of the cell.
    pub sources: Vec<String>,
    /// Runs used (not failed, not disturbed unless the policy keeps them).
    pub runs: usize,
    /// The cell's verdict: the comparison's outcome against the baseline,
    /// else the spec limits' (`None`: neither was given).
    pub outcome: Option<Outcome>,
    /// Headline metrics that regressed against the baseline.
    pub regressions: Vec<String>,
    /// Spec limits that failed.
    pub spec_failed: Vec<String>,
    /// Spec limits that passed.
    pub spec_passed: usize,
    /// Headline metrics the comparison could not decide.
    pub undecided: Vec<String>,
    /// The cell against the baseline (the per-distro report is rendered
    /// from it); not serialized into the matrix itself.
    #[serde(skip)]
    pub comparison: Option<Comparison>,
}

/// One distro's figure of a headline metric.
#[derive(Clone, Debug, Serialize)]
pub struct DistroValue {
    /// Distro.
    pub distro: String,
    /// The cell's slug (its anchor and report directory).
    pub slug: String,
    /// Runs.
    pub n: usize,
    /// Median over the runs.
    pub median: f64,
    /// This distro against the others of the SKU pooled: the ratio of
    /// medians (this / rest) and its interval, the adjusted p-value and
    /// the verdict. `None` with a single distro.
    pub vs_rest: Option<VsRest>,
}

/// A distro against the rest of the SKU's distros.
#[derive(Clone, Debug, Serialize)]
pub struct VsRest {
    /// Ratio of medians, this distro / the others.
    pub ratio: f64,
    /// Its confidence interval.
    pub ratio_ci: Option<(f64, f64)>,
    /// Family-wise adjusted p-value (maxT) of the comparison.
    pub p_adjusted: Option<f64>,
    /// The comparison's verdict for this metric.
    pub verdict: Verdict,
}

/// A headline metric across the distros of one SKU.
#[derive(Clone, Debug, Serialize)]
pub struct Spread {
    /// SKU.
    pub sku: String,
    /// Workload label.
    pub workload: String,
    /// Metric.
    pub metric: String,
    /// Unit.
    pub unit: String,
    /// Which direction is better.
    pub better: Better,
    /// One entry per distro that measured it, in distro order.
    pub distros: Vec<DistroValue>,
    /// Worst median over best (≥ 1): how far apart the distros are.
    pub spread: f64,
    /// The distro significantly slower than the rest, if one is (the
    /// verdict of its comparison against the others is a regression).
    pub slower: Option<String>,
}

/// The whole onboarding.
#[derive(Clone, Debug, Serialize)]
pub struct Matrix {
    /// Always [`MATRIX_SCHEMA`].
    pub schema: String,
    /// The tag.
    pub tag: String,
    /// The baseline's name, when there was one.
    pub baseline: Option<String>,
    /// Whether spec limits were checked.
    pub spec: bool,
    /// SKUs (rows), sorted.
    pub skus: Vec<String>,
    /// Distros (columns), sorted.
    pub distros: Vec<String>,
    /// The cells present, by SKU then distro.
    pub cells: Vec<Cell>,
    /// Headline metrics across distros, by SKU, workload, metric.
    pub spreads: Vec<Spread>,
    /// FAIL when any cell failed, else INCONCLUSIVE when any was, else
    /// PASS; `None` when no cell had a baseline or spec to be judged by.
    pub outcome: Option<Outcome>,
    /// The family α each distro-vs-rest comparison ran at.
    pub distro_alpha: f64,
}

/// A name safe as a file name and an HTML id: letters, digits, `.`, `_`,
/// `-`; everything else becomes `_`.
pub fn slug(sku: &str, distro: &str) -> String {
    let clean = |s: &str| -> String {
        let s: String = s
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .take(60)
            .collect();
        if s.is_empty() || s.starts_with('.') {
            format!("_{s}")
        } else {
            s
        }
    };
    format!("{}__{}", clean(sku), clean(distro))
}

/// The distro label of a result: `ID VERSION_ID`.
pub fn distro_of(f: &ResultFile) -> String {
    let d = f.host.distro.trim();
    let v = f.host.distro_version.trim();
    match (d.is_empty(), v.is_empty()) {
        (true, _) => "unknown".into(),
        (false, true) => d.into(),
        (false, false) => format!("{d} {v}"),
    }
}

/// Builds the matrix of `results` (one tag's), each cell against `base`
/// (name and files) and `spec`.
pub fn build(
    tag: &str,
    results: Vec<(String, ResultFile)>,
    base: Option<(&str, &[(String, ResultFile)])>,
    policy: &Policy,
    spec: Option<&Spec>,
) -> Matrix {
    let mut groups: BTreeMap<(String, String), Vec<(String, ResultFile)>> = BTreeMap::new();
    for (src, f) in results {
        let key = (f.host.sku.clone().unwrap_or_default(), distro_of(&f));
        groups.entry(key).or_default().push((src, f));
    }
    let mut skus: Vec<String> = groups.keys().map(|k| k.0.clone()).collect();
    skus.dedup();
    let mut distros: Vec<String> = groups.keys().map(|k| k.1.clone()).collect();
    distros.sort();
    distros.dedup();

    let mut cells = Vec::new();
    for ((sku, distro), files) in &groups {
        cells.push(cell(sku, distro, files, base, policy, spec));
    }

    let mut spreads = Vec::new();
    let max_distros = skus
        .iter()
        .map(|s| groups.keys().filter(|k| &k.0 == s).count())
        .max()
        .unwrap_or(1);
    let mut distro_policy = policy.clone();
    distro_policy.family_alpha = policy.family_alpha / max_distros.max(1) as f64;
    for sku in &skus {
        let of_sku: Vec<(&String, &Vec<(String, ResultFile)>)> = groups
            .iter()
            .filter(|(k, _)| &k.0 == sku)
            .map(|(k, v)| (&k.1, v))
            .collect();
        spreads.extend(sku_spreads(sku, &of_sku, &distro_policy));
    }

    let judged: Vec<Outcome> = cells.iter().filter_map(|c| c.outcome).collect();
    let outcome = if judged.is_empty() {
        None
    } else if judged.contains(&Outcome::Fail) {
        Some(Outcome::Fail)
    } else if judged.contains(&Outcome::Inconclusive) {
        Some(Outcome::Inconclusive)
    } else {
        Some(Outcome::Pass)
    };
    Matrix {
        schema: MATRIX_SCHEMA.into(),
        tag: tag.into(),
        baseline: base.map(|(n, _)| n.to_string()),
        spec: spec.is_some(),
        skus,
        distros,
        cells,
        spreads,
        outcome,
        distro_alpha: distro_policy.family_alpha,
    }
}

fn cell(
    sku: &str,
    distro: &str,
    files: &[(String, ResultFile)],
    base: Option<(&str, &[(String, ResultFile)])>,
    policy: &Policy,
    spec: Option<&Spec>,
) -> Cell {
    let name = format!("{sku} / {distro}");
    let samples = collect(&name, files, policy.include_disturbed);
    let runs = samples.info.runs_used;
    let mut c = Cell {
        sku: sku.into(),
        distro: distro.into(),
        slug: slug(sku, distro),
        sources: files.iter().map(|(s, _)| s.clone()).collect(),
        runs,
        outcome: None,
        regressions: Vec::new(),
        spec_failed: Vec::new(),
        spec_passed: 0,
        undecided: Vec::new(),
        comparison: None,
    };
    match (base, spec) {
        (Some((bn, bfiles)), _) => {
            let b = collect(bn, bfiles, policy.include_disturbed);
            let cmp = compare(b, samples, policy, spec);
            c.outcome = Some(cmp.outcome);
            c.regressions = cmp
                .rows
                .iter()
                .filter(|r| r.verdict == Verdict::Regression)
                .map(|r| r.metric.clone())
                .collect();
            c.undecided = cmp
                .undecided_headlines()
                .map(|r| r.metric.clone())
                .collect();
            c.spec_failed = cmp
                .spec
                .iter()
                .filter(|s| !s.pass)
                .map(|s| s.metric.clone())
                .collect();
            c.spec_passed = cmp.spec.iter().filter(|s| s.pass).count();
            c.comparison = Some(cmp);
        }
        (None, Some(spec)) => {
            let rows = check_spec(spec, &samples);
            c.spec_failed = rows
                .iter()
                .filter(|s| !s.pass)
                .map(|s| s.metric.clone())
                .collect();
            c.spec_passed = rows.iter().filter(|s| s.pass).count();
            c.outcome = Some(if c.spec_failed.is_empty() && runs > 0 {
                Outcome::Pass
            } else {
                Outcome::Fail
            });
        }
        (None, None) => {}
    }
    c
}

fn median(v: &[f64]) -> f64 {
    crate::stats::median(v)
}

fn sku_spreads(
    sku: &str,
    of_sku: &[(&String, &Vec<(String, ResultFile)>)],
    policy: &Policy,
) -> Vec<Spread> {
    let include = policy.include_disturbed;
    let per_distro: Vec<(&String, crate::compare::Samples)> = of_sku
        .iter()
        .map(|(d, files)| (*d, collect(d, files, include)))
        .collect();
    // Each distro against the others pooled: one comparison per distro.
    let vs_rest: Vec<Option<Comparison>> = (0..of_sku.len())
        .map(|i| {
            if of_sku.len() < 2 {
                return None;
            }
            let rest: Vec<(String, ResultFile)> = of_sku
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .flat_map(|(_, (_, files))| files.iter().cloned())
                .collect();
            let me = collect(of_sku[i].0, of_sku[i].1, include);
            Some(compare(collect("rest", &rest, include), me, policy, None))
        })
        .collect();
    // Headline metrics: those any distro's comparison gates on, else (one
    // distro) those the result files mark as headline.
    let mut keys: BTreeMap<(String, String), (String, Better)> = BTreeMap::new();
    for (_, s) in &per_distro {
        for (k, (unit, better, _)) in &s.values {
            if s.roles.get(k) == Some(&Role::Headline) {
                keys.insert(k.clone(), (unit.clone(), *better));
            }
        }
    }
    let mut out = Vec::new();
    for ((workload, metric), (unit, better)) in keys {
        let key = (workload.clone(), metric.clone());
        let mut distros = Vec::new();
        for (i, (d, s)) in per_distro.iter().enumerate() {
            let Some((_, _, values)) = s.values.get(&key) else {
                continue;
            };
            if values.is_empty() {
                continue;
            }
            let vs = vs_rest[i].as_ref().and_then(|c| {
                c.rows
                    .iter()
                    .find(|r| r.workload == workload && r.metric == metric)
                    .map(|r| VsRest {
                        ratio: r.ratio,
                        ratio_ci: r.ratio_ci,
                        p_adjusted: r.p_adjusted,
                        verdict: r.verdict,
                    })
            });
            distros.push(DistroValue {
                distro: (*d).clone(),
                slug: slug(sku, d),
                n: values.len(),
                median: median(values),
                vs_rest: vs,
            });
        }
        if distros.is_empty() {
            continue;
        }
        let (lo, hi) = distros.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), d| {
            (lo.min(d.median), hi.max(d.median))
        });
        let spread = if lo > 0.0 { hi / lo } else { f64::NAN };
        // The slowest significant one, when several are.
        let slower = distros
            .iter()
            .filter(|d| {
                d.vs_rest
                    .as_ref()
                    .is_some_and(|v| v.verdict == Verdict::Regression)
            })
            .min_by(|a, b| {
                let (ra, rb) = (
                    a.vs_rest.as_ref().map_or(1.0, |v| v.ratio),
                    b.vs_rest.as_ref().map_or(1.0, |v| v.ratio),
                );
                match better {
                    Better::Higher => ra.total_cmp(&rb),
                    Better::Lower => rb.total_cmp(&ra),
                }
            })
            .map(|d| d.distro.clone());
        out.push(Spread {
            sku: sku.into(),
            workload,
            metric,
            unit,
            better,
            distros,
            spread,
            slower,
        });
    }
    out
}
