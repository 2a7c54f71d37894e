//! Westfall–Young step-down maxT permutation test over whole runs.
//!
//! The unit that is permuted is a *round*: one repetition of every
//! workload of a suite (a result file's runs with the same repetition
//! number). Under "no change" the rounds of both sides are exchangeable, so
//! relabelling whole rounds keeps every correlation between the metrics of
//! a run (p50/p90/p99 of one histogram, `ops_per_s` and its per-thread
//! twin, the workloads of one round sharing the machine's state). The
//! family-wise error is then exact for any dependence between metrics and
//! any noise distribution, and metrics that are the same measurement cost
//! the family nothing: the maximum of identical statistics is that statistic.
//!
//! The statistic is Student's pooled two-sample t on each metric's values
//! (log values for positive metrics), winsorised at the pooled median ± 3
//! robust standard deviations so that one outlier run cannot hide a shift. For a permutation test it orders the
//! assignments as the difference of means does (the total sum of squares is
//! fixed), while putting metrics of different scales on one footing for
//! the maximum. Written by hand: no maintained crate offers a multi-metric
//! step-down maxT over grouped observations.

use rand::seq::SliceRandom;
use rand::{rngs::StdRng, SeedableRng};

/// One metric's observations: `(round, value)` where rounds below the
/// number of baseline rounds are the baseline's in the observed labelling.
pub type Observations = Vec<(usize, f64)>;

/// What the test found for a family of metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct MaxT {
    /// Observed t of each metric (candidate − baseline), 0 when undefined.
    pub t: Vec<f64>,
    /// Unadjusted two-sided permutation p-value of each metric.
    pub p_raw: Vec<f64>,
    /// Step-down maxT adjusted p-value of each metric (family-wise).
    pub p_adjusted: Vec<f64>,
    /// Critical |t| of the family at its α: the smallest |t| that the
    /// single-step maxT would call significant; `None` when no assignment
    /// can reach α (too few rounds: the smallest p is 2 / C(N, n)).
    pub critical: Option<f64>,
    /// Assignments evaluated (with the observed one).
    pub permutations: usize,
    /// Whether every assignment was enumerated (else a seeded random sample).
    pub exact: bool,
}

/// The smallest standard deviation a statistic assumes, relative to the
/// metric (in log space: 0.1%, about the resolution of a 3-digit HDR
/// histogram). Without it a metric that is nearly constant (a quantised
/// percentile) gives enormous |t| whenever an assignment happens to split
/// its few distinct values, and that maximum would set the critical value
/// of the whole family.
pub const RESOLUTION: f64 = 1e-3;

/// Pre-centred sums of one metric, for fast per-assignment statistics.
struct Prepared {
    rounds: Vec<usize>,
    x: Vec<f64>,
    total_ss: f64,
    min_var: f64,
}

/// How far from the pooled median (in robust standard deviations,
/// 1.4826 × MAD) a value may lie before it is pulled in.
pub const WINSOR_SDS: f64 = 3.0;

/// Pulls values further than [`WINSOR_SDS`] robust standard deviations from
/// the pooled median in to that bound: the guard against outlier runs. It
/// uses both sides together and no labels, so every assignment sees the
/// same values and the test stays exact; a real shift widens the pooled
/// spread and is not cut.
pub fn winsorize(values: &mut [f64]) {
    if values.len() < 3 {
        return;
    }
    let med = crate::stats::median(values);
    let dev: Vec<f64> = values.iter().map(|v| (v - med).abs()).collect();
    let sd = 1.4826 * crate::stats::median(&dev);
    if sd.is_nan() || sd <= 0.0 {
        return;
    }
    let (lo, hi) = (med - WINSOR_SDS * sd, med + WINSOR_SDS * sd);
    for v in values.iter_mut() {
        *v = v.clamp(lo, hi);
    }
}

impl Prepared {
    fn new(obs: &[(usize, f64)], log: bool) -> Self {
        let n = obs.len().max(1) as f64;
        let mut v: Vec<f64> = obs.iter().map(|o| o.1).collect();
        winsorize(&mut v);
        let mean = v.iter().sum::<f64>() / n;
        let x: Vec<f64> = v.iter().map(|o| o - mean).collect();
        let floor = if log {
            RESOLUTION
        } else {
            RESOLUTION * mean.abs()
        };
        Self {
            rounds: obs.iter().map(|o| o.0).collect(),
            total_ss: x.iter().map(|v| v * v).sum(),
            x,
            min_var: (floor * floor).max(1e-24),
        }
    }

    /// Pooled t of "not baseline" minus "baseline" under `is_base`.
    fn t(&self, is_base: &[bool]) -> f64 {
        let n = self.x.len();
        let (mut s, mut q, mut k) = (0.0, 0.0, 0usize);
        for (r, v) in self.rounds.iter().zip(&self.x) {
            if is_base[*r] {
                s += v;
                q += v * v;
                k += 1;
            }
        }
        let kc = n - k;
        if k == 0 || kc == 0 || n < 3 {
            return 0.0;
        }
        // The values are centred, so the candidate's sum is −s.
        let (mb, mc) = (s / k as f64, -s / kc as f64);
        let within = (q - s * s / k as f64) + ((self.total_ss - q) - s * s / kc as f64);
        let df = (n - 2) as f64;
        // A floor keeps a difference with no spread finite and ordered.
        let var = (within / df).max(self.min_var);
        let se = (var * (1.0 / k as f64 + 1.0 / kc as f64)).sqrt();
        (mc - mb) / se
    }
}

/// C(n, k) as f64 (saturating at large values).
pub fn choose(n: usize, k: usize) -> f64 {
    let k = k.min(n.saturating_sub(k));
    let mut c = 1.0f64;
    for i in 0..k {
        c = c * (n - i) as f64 / (i + 1) as f64;
    }
    c
}

/// How a family is tested: which rounds are the baseline's, the level, and
/// how many assignments are evaluated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Design {
    /// Baseline rounds: the first `n_base` of the observed labelling.
    pub n_base: usize,
    /// All rounds, both sides.
    pub n_rounds: usize,
    /// Family-wise level.
    pub alpha: f64,
    /// Every assignment is enumerated when there are at most this many.
    pub exact_limit: usize,
    /// Else this many assignments are drawn, with a fixed seed (the same
    /// input gives the same answer).
    pub random: usize,
}

/// Runs the test on `metrics` as `design` says, every metric's values
/// being logs.
pub fn maxt(metrics: &[Observations], design: &Design) -> MaxT {
    maxt_scaled(metrics, &vec![true; metrics.len()], design)
}

/// [`maxt`] where `log[j]` says whether metric `j`'s values are logs (the
/// [`RESOLUTION`] floor is then absolute, else relative to its mean).
pub fn maxt_scaled(metrics: &[Observations], log: &[bool], design: &Design) -> MaxT {
    let Design {
        n_base,
        n_rounds,
        alpha,
        exact_limit,
        random,
    } = *design;
    let m = metrics.len();
    let prepared: Vec<Prepared> = metrics
        .iter()
        .zip(log)
        .map(|(o, l)| Prepared::new(o, *l))
        .collect();
    let observed: Vec<bool> = (0..n_rounds).map(|r| r < n_base).collect();
    let t_obs: Vec<f64> = prepared.iter().map(|p| p.t(&observed)).collect();
    let abs_obs: Vec<f64> = t_obs.iter().map(|t| t.abs()).collect();
    // Ties (the complement of an assignment gives the same |t|) must count:
    // compare with a relative tolerance.
    let reach = |v: f64, obs: f64| v >= obs * (1.0 - 1e-9) - 1e-12;
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| abs_obs[b].total_cmp(&abs_obs[a]));

    let mut raw = vec![0usize; m];
    let mut step = vec![0usize; m];
    let mut maxima = Vec::new();
    let mut abs = vec![0.0; m];
    let mut visit = |is_base: &[bool]| {
        for (j, p) in prepared.iter().enumerate() {
            abs[j] = p.t(is_base).abs();
            if reach(abs[j], abs_obs[j]) {
                raw[j] += 1;
            }
        }
        let mut u: f64 = 0.0;
        for k in (0..m).rev() {
            u = u.max(abs[order[k]]);
            if reach(u, abs_obs[order[k]]) {
                step[k] += 1;
            }
        }
        maxima.push(u);
    };

    let total = choose(n_rounds, n_base);
    let exact = total <= exact_limit as f64;
    if exact {
        // Every n_base-subset of the rounds, in lexicographic order.
        let mut idx: Vec<usize> = (0..n_base).collect();
        let mut is_base = vec![false; n_rounds];
        loop {
            is_base.iter_mut().for_each(|b| *b = false);
            for &i in &idx {
                is_base[i] = true;
            }
            visit(&is_base);
            // Next combination: bump the rightmost index that can move.
            let mut i = n_base;
            while i > 0 && idx[i - 1] == n_rounds - n_base + i - 1 {
                i -= 1;
            }
            if i == 0 {
                break;
            }
            idx[i - 1] += 1;
            for j in i..n_base {
                idx[j] = idx[j - 1] + 1;
            }
        }
    } else {
        visit(&observed);
        let mut rng = StdRng::seed_from_u64(0x5eed_57a7);
        let mut perm: Vec<usize> = (0..n_rounds).collect();
        let mut is_base = vec![false; n_rounds];
        for _ in 0..random {
            perm.shuffle(&mut rng);
            is_base.iter_mut().for_each(|b| *b = false);
            for &r in &perm[..n_base] {
                is_base[r] = true;
            }
            visit(&is_base);
        }
    }
    let b = maxima.len().max(1) as f64;
    let p_raw: Vec<f64> = raw.iter().map(|&c| c as f64 / b).collect();
    let mut p_adjusted = vec![1.0; m];
    let mut running: f64 = 0.0;
    for (k, &j) in order.iter().enumerate() {
        running = running.max(step[k] as f64 / b);
        p_adjusted[j] = running.min(1.0);
    }
    maxima.sort_by(|a, b| b.total_cmp(a));
    // Assignments always as extreme as the observed one: itself, and with
    // equal sides its mirror (swapping the labels only flips the sign).
    let floor = if 2 * n_base == n_rounds { 2 } else { 1 };
    let k = (alpha * maxima.len() as f64).floor() as usize;
    let critical = (k >= floor && k < maxima.len()).then(|| maxima[k]);
    MaxT {
        t: t_obs,
        p_raw,
        p_adjusted,
        critical,
        permutations: maxima.len(),
        exact,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test at α = 0.05.
    fn design(n_base: usize, n_rounds: usize, exact_limit: usize, random: usize) -> Design {
        Design {
            n_base,
            n_rounds,
            alpha: 0.05,
            exact_limit,
            random,
        }
    }

    fn obs(base: &[f64], cand: &[f64]) -> Observations {
        base.iter()
            .enumerate()
            .map(|(i, v)| (i, *v))
            .chain(cand.iter().enumerate().map(|(i, v)| (base.len() + i, *v)))
            .collect()
    }

    #[test]
    fn enumeration_counts_every_assignment() {
        let o = obs(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0]);
        let r = maxt(&[o], &design(4, 8, 20_000, 1000));
        assert!(r.exact);
        assert_eq!(r.permutations, 70);
        // Complete separation: only the observed split and its mirror reach it.
        assert!((r.p_raw[0] - 2.0 / 70.0).abs() < 1e-12, "{r:?}");
        assert!((r.p_adjusted[0] - 2.0 / 70.0).abs() < 1e-12);
        assert!(r.t[0] > 0.0);
    }

    #[test]
    fn the_floor_does_not_grow_with_the_family() {
        // One shifted metric among 200 pure-noise ones: its adjusted p is
        // still the floor 2 / C(10, 5), where Holm would give 200 × that.
        let mut fam = vec![obs(
            &[1.00, 1.01, 0.99, 1.02, 0.98],
            &[2.0, 2.01, 1.99, 2.02, 1.98],
        )];
        for k in 0..200 {
            let v: Vec<f64> = (0..10)
                .map(|i| ((k * 31 + i * 17) % 23) as f64 / 23.0)
                .collect();
            fam.push(obs(&v[..5], &v[5..]));
        }
        let r = maxt(&fam, &design(5, 10, 20_000, 1000));
        assert!(
            (r.p_adjusted[0] - 2.0 / 252.0).abs() < 1e-12,
            "{}",
            r.p_adjusted[0]
        );
        assert!(r.p_adjusted.iter().skip(1).all(|p| *p > 0.05));
    }

    #[test]
    fn too_few_rounds_have_no_critical_value() {
        let o = obs(&[1.0, 2.0, 3.0], &[5.0, 6.0, 7.0]);
        let r = maxt(&[o], &design(3, 6, 20_000, 1000));
        assert_eq!(r.permutations, 20);
        assert!(r.critical.is_none());
        assert!(r.p_adjusted[0] >= 0.1 - 1e-12);
    }

    #[test]
    fn random_assignments_are_seeded_and_bounded() {
        let base: Vec<f64> = (0..12).map(|i| i as f64).collect();
        let cand: Vec<f64> = (0..12).map(|i| i as f64 + 0.5).collect();
        let o = obs(&base, &cand);
        let a = maxt(std::slice::from_ref(&o), &design(12, 24, 1000, 500));
        let b = maxt(&[o], &design(12, 24, 1000, 500));
        assert!(!a.exact);
        assert_eq!(a.permutations, 501);
        assert_eq!(a, b);
        assert!(a.p_raw[0] > 0.3);
    }

    #[test]
    fn one_outlier_run_does_not_hide_a_shift() {
        // A 10% shift with 1% noise, and one baseline run far off: without
        // the guard the outlier's variance would swamp the shift.
        let base = [1.00, 1.01, 0.99, 1.005, 0.995, 1.0, 1.6];
        let cand = [0.90, 0.91, 0.89, 0.905, 0.895, 0.9, 0.902];
        let l = |v: &[f64]| v.iter().map(|x: &f64| x.ln()).collect::<Vec<_>>();
        let r = maxt(&[obs(&l(&base), &l(&cand))], &design(7, 14, 20_000, 1000));
        assert!(r.p_adjusted[0] < 0.01, "{r:?}");
        let mut v = vec![1.0, 1.1, 0.9, 1.0, 50.0];
        winsorize(&mut v);
        assert!(v[4] < 2.0 && v[0] == 1.0, "{v:?}");
    }

    #[test]
    fn missing_values_and_constant_metrics_are_handled() {
        // A metric with a missing round, and one that never varies.
        let mut o = obs(&[1.0, 1.1, 0.9, 1.0], &[3.0, 3.1, 2.9]);
        o.retain(|(r, _)| *r != 7);
        let c = obs(&[5.0; 4], &[5.0; 4]);
        let r = maxt(&[o, c], &design(4, 8, 20_000, 1000));
        assert!(r.t[0] > 5.0);
        assert_eq!(r.t[1], 0.0);
        assert_eq!(r.p_raw[1], 1.0);
    }
}
