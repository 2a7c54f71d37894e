//! Seeded simulations of the comparison method on realistic metric
//! families: the metric sets of real suites (taken from real result files,
//! `baselines/data/families/*.tsv`), with run-to-run noise that is shared
//! by the metrics of one workload run, independent per metric (the worst
//! case for a family-wise test), or heavy-tailed (5% of runs are outliers
//! 1.5× worse). Used by the tests and by docs/statistics.md's generator
//! (`cargo run --release -p baselines --example power_table`).

use bench_core::result::{assign_roles, Better, Metric, Role};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use crate::compare::{compare, Comparison, Outcome, Samples, SideInfo, Verdict};
use crate::policy::Policy;

/// One metric of a family.
#[derive(Clone, Debug, PartialEq)]
pub struct FamilyMetric {
    /// Workload label.
    pub workload: String,
    /// Metric name.
    pub metric: String,
    /// Unit.
    pub unit: String,
    /// Better direction.
    pub better: Better,
    /// Role, as a result file would record it.
    pub role: Role,
}

/// The metric set of a suite.
#[derive(Clone, Debug)]
pub struct Family {
    /// Suite name.
    pub name: String,
    /// Its metrics, in result-file order.
    pub metrics: Vec<FamilyMetric>,
}

const QUICK: &str = include_str!("../data/families/quick.tsv");
const ONBOARDING: &str = include_str!("../data/families/onboarding.tsv");

impl Family {
    /// The family of a ready suite: `quick` or `onboarding`.
    pub fn of_suite(name: &str) -> Option<Family> {
        let text = match name {
            "quick" => QUICK,
            "onboarding" => ONBOARDING,
            _ => return None,
        };
        Some(Self::parse(name, text))
    }

    /// Parses `workload<TAB>metric<TAB>unit<TAB>better` lines (`#` comments).
    pub fn parse(name: &str, text: &str) -> Family {
        let mut by_run: Vec<(String, Vec<Metric>)> = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() != 4 {
                continue;
            }
            let better = if f[3] == "lower" {
                Better::Lower
            } else {
                Better::Higher
            };
            let m = Metric::new(f[1], 1.0, f[2], better);
            match by_run.last_mut() {
                Some((w, v)) if w == f[0] => v.push(m),
                _ => by_run.push((f[0].to_string(), vec![m])),
            }
        }
        let mut metrics = Vec::new();
        for (w, mut ms) in by_run {
            assign_roles(&mut ms);
            for m in ms {
                metrics.push(FamilyMetric {
                    workload: w.clone(),
                    role: m.role(),
                    metric: m.name,
                    unit: m.unit.to_string(),
                    better: m.better,
                });
            }
        }
        Family {
            name: name.to_string(),
            metrics,
        }
    }

    /// The metrics a slowdown of `workload`'s throughput touches: its
    /// higher-is-better rates (`…/s` units).
    pub fn throughput_of(&self, workload: &str) -> Vec<usize> {
        (0..self.metrics.len())
            .filter(|&i| {
                let m = &self.metrics[i];
                m.workload == workload && m.better == Better::Higher && m.unit.ends_with("/s")
            })
            .collect()
    }
}

/// How run-to-run noise is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Noise {
    /// Half the variance is a factor shared by every metric of one
    /// workload run (a slow run is slow in all its figures), half is
    /// per metric.
    RunFactor,
    /// Every metric independent: the worst case for a family-wise test.
    Independent,
    /// Independent noise, and 5% of workload runs are outliers, 1.5×
    /// worse in every metric (a disturbed run the monitor missed).
    HeavyTails,
}

impl Noise {
    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Noise::RunFactor => "run factor + per metric",
            Noise::Independent => "independent",
            Noise::HeavyTails => "independent, 5% of runs ×1.5",
        }
    }
}

/// One simulated scenario.
#[derive(Clone, Debug)]
pub struct Scenario<'a> {
    /// The metric family.
    pub family: &'a Family,
    /// Runs a side.
    pub n: usize,
    /// Coefficient of variation of each metric.
    pub cv: f64,
    /// Noise model.
    pub noise: Noise,
    /// Relative slowdown of the shifted metrics on the candidate (0.1 =
    /// 10% less throughput); 0 for A/A.
    pub shift: f64,
    /// Indexes of the shifted metrics in the family.
    pub shifted: Vec<usize>,
}

/// `n` runs of every metric of the family.
fn side(rng: &mut StdRng, s: &Scenario, shift: f64) -> Samples {
    let sigma = (1.0 + s.cv * s.cv).ln().sqrt();
    let mut out = Samples {
        info: SideInfo::default(),
        n_rounds: s.n,
        ..Samples::default()
    };
    let fam = &s.family.metrics;
    let mut shared: Vec<f64> = Vec::new();
    let mut outlier: Vec<bool> = Vec::new();
    let mut last_workload: Option<&str> = None;
    // Per workload and round: the shared factor and whether it is an outlier.
    let draw_run = |rng: &mut StdRng, shared: &mut Vec<f64>, outlier: &mut Vec<bool>| {
        shared.clear();
        outlier.clear();
        for _ in 0..s.n {
            shared.push(StandardNormal.sample(rng));
            outlier.push(s.noise == Noise::HeavyTails && rng.random::<f64>() < 0.05);
        }
    };
    for (i, m) in fam.iter().enumerate() {
        if last_workload != Some(m.workload.as_str()) {
            draw_run(rng, &mut shared, &mut outlier);
            last_workload = Some(m.workload.as_str());
        }
        let factor = if s.shifted.contains(&i) {
            1.0 - shift
        } else {
            1.0
        };
        let values: Vec<f64> = (0..s.n)
            .map(|r| {
                let own: f64 = StandardNormal.sample(rng);
                let z = match s.noise {
                    Noise::RunFactor => (0.5f64.sqrt()) * shared[r] + (0.5f64.sqrt()) * own,
                    _ => own,
                };
                let worse = match (outlier[r], m.better) {
                    (false, _) => 1.0,
                    (true, Better::Higher) => 1.0 / 1.5,
                    (true, Better::Lower) => 1.5,
                };
                1000.0 * factor * worse * (sigma * z).exp()
            })
            .collect();
        let key = (m.workload.clone(), m.metric.clone());
        out.rounds.insert(key.clone(), (0..s.n).collect());
        out.roles.insert(key.clone(), m.role);
        out.values.insert(key, (m.unit.clone(), m.better, values));
    }
    out
}

/// Simulates one comparison of the scenario.
pub fn simulate_one(rng: &mut StdRng, s: &Scenario, policy: &Policy) -> Comparison {
    let a = side(rng, s, 0.0);
    let b = side(rng, s, s.shift);
    compare(a, b, policy, None)
}

/// Shares of simulated comparisons with each result.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rates {
    /// Comparisons simulated.
    pub sims: usize,
    /// Any row called a regression or improvement (a false alarm in A/A).
    pub any_flag: f64,
    /// A shifted metric called a regression (power).
    pub detected: f64,
    /// Outcome FAIL.
    pub fail: f64,
    /// Outcome INCONCLUSIVE.
    pub inconclusive: f64,
    /// Outcome PASS.
    pub pass: f64,
}

/// Runs `sims` seeded comparisons of the scenario.
pub fn rates(s: &Scenario, policy: &Policy, sims: usize, seed: u64) -> Rates {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut r = Rates {
        sims,
        ..Rates::default()
    };
    let shifted: Vec<(&str, &str)> = s
        .shifted
        .iter()
        .map(|&i| {
            let m = &s.family.metrics[i];
            (m.workload.as_str(), m.metric.as_str())
        })
        .collect();
    for _ in 0..sims {
        let c = simulate_one(&mut rng, s, policy);
        if c.counts.regression + c.counts.improvement > 0 {
            r.any_flag += 1.0;
        }
        if c.rows.iter().any(|row| {
            row.verdict == Verdict::Regression
                && shifted.contains(&(row.workload.as_str(), row.metric.as_str()))
        }) {
            r.detected += 1.0;
        }
        match c.outcome {
            Outcome::Fail => r.fail += 1.0,
            Outcome::Inconclusive => r.inconclusive += 1.0,
            Outcome::Pass => r.pass += 1.0,
        }
    }
    let n = sims.max(1) as f64;
    r.any_flag /= n;
    r.detected /= n;
    r.fail /= n;
    r.inconclusive /= n;
    r.pass /= n;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_families_load_with_roles() {
        let q = Family::of_suite("quick").unwrap();
        assert!(q.metrics.len() > 150, "{}", q.metrics.len());
        let head: Vec<&str> = q
            .metrics
            .iter()
            .filter(|m| m.role == Role::Headline)
            .map(|m| m.metric.as_str())
            .collect();
        assert!(head.contains(&"cpu.int.ops_per_s"), "{head:?}");
        assert!(head.contains(&"disk.randread.iops"), "{head:?}");
        assert!(!head.contains(&"cpu.int.ops_per_s_per_thread"));
        // Every workload has a headline.
        for m in &q.metrics {
            assert!(
                q.metrics
                    .iter()
                    .any(|h| h.workload == m.workload && h.role == Role::Headline),
                "{} has no headline",
                m.workload
            );
        }
        let expl = q
            .metrics
            .iter()
            .find(|m| m.metric == "net.tcp_stream.client.cpu_busy_ratio")
            .unwrap();
        assert_eq!(expl.role, Role::Explanatory);
        assert!(!q.throughput_of("cpu").is_empty());
        assert!(Family::of_suite("onboarding").unwrap().metrics.len() > 50);
    }

    #[test]
    fn the_shift_lands_on_the_candidate_only() {
        let f = Family::of_suite("quick").unwrap();
        let s = Scenario {
            family: &f,
            n: 5,
            cv: 0.0001,
            noise: Noise::Independent,
            shift: 0.5,
            shifted: f.throughput_of("cpu"),
        };
        let mut rng = StdRng::seed_from_u64(1);
        let c = simulate_one(&mut rng, &s, &Policy::default());
        let row = c
            .rows
            .iter()
            .find(|r| r.metric == "cpu.int.ops_per_s")
            .unwrap();
        assert!((row.ratio - 0.5).abs() < 0.01, "{}", row.ratio);
        assert_eq!(row.verdict, Verdict::Regression);
    }
}
