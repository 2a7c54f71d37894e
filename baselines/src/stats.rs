//! Statistics for comparing runs: Mann-Whitney U (exact for small samples),
//! Hodges-Lehmann shift with its distribution-free confidence interval,
//! order-statistic median intervals, Holm correction, Student/Welch t-tests.
//!
//! The replication unit is the run: inputs are per-run values of one metric.

/// Two-sided p-value and U statistic of a Mann-Whitney test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MannWhitney {
    /// U of the first sample (number of pairs with a > b, ties count ½).
    pub u: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// Whether the exact null distribution was used (no ties, small n).
    pub exact: bool,
}

/// Largest n₁·n₂ for which the exact U distribution is used for intervals.
const EXACT_MAX_PRODUCT: usize = 2500;

/// Number of arrangements giving each U value: `counts[u]` for u in 0..=n₁n₂.
/// The classic recursion f(n₁, n₂, u) = f(n₁−1, n₂, u−n₂) + f(n₁, n₂−1, u).
pub fn u_distribution(n1: usize, n2: usize) -> Vec<f64> {
    // dp[j][u] for the current i (rows of n1), j in 0..=n2.
    let max = n1 * n2;
    let mut prev: Vec<Vec<f64>> = (0..=n2)
        .map(|_| {
            let mut v = vec![0.0; max + 1];
            v[0] = 1.0;
            v
        })
        .collect();
    for i in 1..=n1 {
        let mut cur: Vec<Vec<f64>> = vec![vec![0.0; max + 1]; n2 + 1];
        cur[0][0] = 1.0;
        for j in 1..=n2 {
            for u in 0..=i * j {
                let a = if u >= j { prev[j][u - j] } else { 0.0 };
                let b = cur[j - 1][u];
                cur[j][u] = a + b;
            }
        }
        prev = cur;
    }
    prev.swap_remove(n2)
}

/// Mann-Whitney U test of `a` vs `b` (two-sided). Exact (permutation
/// distribution of mid-rank sums, so ties are handled exactly) when
/// n₁ + n₂ ≤ 60; otherwise the normal approximation with tie and continuity
/// corrections.
pub fn mann_whitney(a: &[f64], b: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 || a.iter().chain(b).any(|x| !x.is_finite()) {
        return None;
    }
    let mut u = 0.0f64;
    for &x in a {
        for &y in b {
            if x > y {
                u += 1.0;
            } else if x == y {
                u += 0.5;
            }
        }
    }
    let n = n1 + n2;
    if n <= EXACT_MAX_N {
        let p = exact_rank_sum_p(a, b);
        return Some(MannWhitney { u, p, exact: true });
    }
    // Normal approximation with tie correction.
    let mut all: Vec<f64> = a.iter().chain(b).copied().collect();
    all.sort_by(f64::total_cmp);
    let nn = (n1 * n2) as f64;
    let n = n as f64;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1] == all[i] {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let mean = nn / 2.0;
    let var = nn / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
    if var <= 0.0 {
        return Some(MannWhitney {
            u,
            p: 1.0,
            exact: false,
        });
    }
    let z = ((u - mean).abs() - 0.5).max(0.0) / var.sqrt();
    let p = (2.0 * normal_sf(z)).min(1.0);
    Some(MannWhitney { u, p, exact: false })
}

/// Largest n₁ + n₂ for which the exact permutation distribution is used.
const EXACT_MAX_N: usize = 60;

/// Exact two-sided p-value of the rank-sum statistic under the permutation
/// null, ties included (mid-ranks): the distribution of the first sample's
/// rank sum over all C(n₁+n₂, n₁) equally likely labellings, by dynamic
/// programming over doubled (integer) mid-ranks.
fn exact_rank_sum_p(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n) = (a.len(), a.len() + b.len());
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Doubled mid-ranks: a tie group over positions i..=j gets i + j + 2.
    let mut ranks = vec![0usize; n];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        for r in ranks.iter_mut().take(j + 1).skip(i) {
            *r = i + j + 2;
        }
        i = j + 1;
    }
    let observed: usize = (0..n).filter(|&k| all[k].1).map(|k| ranks[k]).sum();
    let max_sum: usize = ranks.iter().sum();
    // dp[j][s]: ways to pick j items with doubled rank sum s.
    let mut dp = vec![vec![0.0f64; max_sum + 1]; n1 + 1];
    dp[0][0] = 1.0;
    for &r in &ranks {
        for j in (1..=n1).rev() {
            let (lo, hi) = dp.split_at_mut(j);
            let (prev, cur) = (&lo[j - 1], &mut hi[0]);
            for s in (r..=max_sum).rev() {
                cur[s] += prev[s - r];
            }
        }
    }
    let dist = &dp[n1];
    let total: f64 = dist.iter().sum();
    // Mean of the doubled rank sum: n1 (n + 1).
    let mean = (n1 * (n + 1)) as f64;
    let dev = (observed as f64 - mean).abs();
    let tail: f64 = dist
        .iter()
        .enumerate()
        .filter(|(s, _)| (*s as f64 - mean).abs() >= dev - 1e-9)
        .map(|(_, c)| c)
        .sum();
    (tail / total).min(1.0)
}

/// Upper tail of the standard normal distribution.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * puruspe::erfc(z / std::f64::consts::SQRT_2)
}

/// Standard normal quantile.
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    -std::f64::consts::SQRT_2 * puruspe::inverfc(2.0 * p)
}

/// Median of a sample (NaN-free input assumed; empty → NaN).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Distribution-free confidence interval of the median from order
/// statistics (binomial), as benchstat computes it. `None` when the sample
/// is too small for the requested confidence (n < 6 at 95%).
pub fn median_ci(v: &[f64], confidence: f64) -> Option<(f64, f64)> {
    let n = v.len();
    if n < 2 {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    // Find the widest symmetric pair of order statistics (k, n−1−k) whose
    // coverage P(k < #below median ≤ n−1−k) is at least `confidence`.
    let pmf: Vec<f64> = (0..=n).map(|i| binom_pmf(n, i)).collect();
    let mut best = None;
    for k in 0..n / 2 {
        let coverage: f64 = pmf[k + 1..=n - 1 - k].iter().sum();
        if coverage >= confidence {
            best = Some((s[k], s[n - 1 - k]));
        } else {
            break;
        }
    }
    best
}

fn binom_pmf(n: usize, k: usize) -> f64 {
    // C(n, k) / 2^n in log space.
    let ln = ln_choose(n, k) - n as f64 * std::f64::consts::LN_2;
    ln.exp()
}

fn ln_choose(n: usize, k: usize) -> f64 {
    puruspe::ln_gamma(n as f64 + 1.0)
        - puruspe::ln_gamma(k as f64 + 1.0)
        - puruspe::ln_gamma((n - k) as f64 + 1.0)
}

/// Hodges-Lehmann estimate of the shift `b − a` with its distribution-free
/// confidence interval (Moses): the median and the K-th smallest/largest of
/// all n₁·n₂ pairwise differences, K from the Mann-Whitney null distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shift {
    /// Point estimate.
    pub estimate: f64,
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
    /// Coverage actually achieved (discrete: ≥ the requested level).
    pub coverage: f64,
}

/// Hodges-Lehmann shift of `b` relative to `a` at `confidence`.
pub fn hodges_lehmann(a: &[f64], b: &[f64], confidence: f64) -> Option<Shift> {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let mut d: Vec<f64> = Vec::with_capacity(n1 * n2);
    for &x in a {
        for &y in b {
            d.push(y - x);
        }
    }
    d.sort_by(f64::total_cmp);
    let m = d.len();
    let estimate = median(&d);
    let alpha = 1.0 - confidence;
    // K = number of differences cut from each end; P(U < K) ≤ α/2.
    let (k, coverage) = if n1 * n2 <= EXACT_MAX_PRODUCT {
        let dist = u_distribution(n1, n2);
        let total: f64 = dist.iter().sum();
        let mut cum = 0.0;
        let mut k = 0;
        for (u, c) in dist.iter().enumerate() {
            if (cum + c) / total > alpha / 2.0 {
                k = u;
                break;
            }
            cum += c;
        }
        (k, 1.0 - 2.0 * cum / total)
    } else {
        let nn = (n1 * n2) as f64;
        let sd = (nn * (n1 + n2 + 1) as f64 / 12.0).sqrt();
        let z = normal_quantile(1.0 - alpha / 2.0);
        let k = (nn / 2.0 - z * sd).floor().max(0.0) as usize;
        (k, confidence)
    };
    let k = k.min((m - 1) / 2);
    Some(Shift {
        estimate,
        lo: d[k],
        hi: d[m - 1 - k],
        coverage,
    })
}

/// Holm's step-down adjustment of p-values (same order as the input).
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut idx: Vec<usize> = (0..m).collect();
    idx.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut out = vec![1.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in idx.iter().enumerate() {
        let adj = ((m - rank) as f64 * p[i]).min(1.0);
        running = running.max(adj);
        out[i] = running;
    }
    out
}

/// Two-sided p-value of Student's t with `df` degrees of freedom.
pub fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return 0.0;
    }
    if df <= 0.0 {
        return 1.0;
    }
    let x = df / (df + t * t);
    puruspe::betai(df / 2.0, 0.5, x).clamp(0.0, 1.0)
}

/// The |t| whose two-sided p-value with `df` degrees of freedom is
/// `1 − confidence` (bisection: monotone, 80 steps are plenty).
pub fn t_quantile_two_sided(confidence: f64, df: f64) -> f64 {
    let target = (1.0 - confidence).clamp(1e-12, 1.0);
    let (mut lo, mut hi) = (0.0f64, 1e6f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_two_sided_p(mid, df) > target {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-10 * hi.max(1.0) {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// Student's two-sample t-test (pooled variance), two-sided p.
pub fn student_t(a: &[f64], b: &[f64]) -> Option<f64> {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (m1, m2) = (mean(a), mean(b));
    let v1 = a.iter().map(|x| (x - m1).powi(2)).sum::<f64>();
    let v2 = b.iter().map(|x| (x - m2).powi(2)).sum::<f64>();
    let df = n1 + n2 - 2.0;
    let sp = ((v1 + v2) / df * (1.0 / n1 + 1.0 / n2)).sqrt();
    if sp == 0.0 {
        return Some(if m1 == m2 { 1.0 } else { 0.0 });
    }
    Some(t_two_sided_p((m1 - m2) / sp, df))
}

/// Arithmetic mean.
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Sample standard deviation.
pub fn stddev(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_u_distribution_matches_tables() {
        // 5 vs 5: C(10,5) = 252 arrangements; P(U=0) = 1/252.
        let d = u_distribution(5, 5);
        assert_eq!(d.iter().sum::<f64>(), 252.0);
        assert_eq!(d[0], 1.0);
        assert_eq!(d[1], 1.0);
        assert_eq!(d[2], 2.0);
        // 7 vs 7: 3432 arrangements.
        assert_eq!(u_distribution(7, 7).iter().sum::<f64>(), 3432.0);
        // Symmetric.
        let d = u_distribution(4, 6);
        for u in 0..=24 {
            assert_eq!(d[u], d[24 - u]);
        }
    }

    #[test]
    fn exact_p_values_against_known_values() {
        // Complete separation, 5 vs 5: p = 2/252.
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [6.0, 7.0, 8.0, 9.0, 10.0];
        let r = mann_whitney(&a, &b).unwrap();
        assert!(r.exact);
        assert!((r.p - 2.0 / 252.0).abs() < 1e-12, "{}", r.p);
        // 7 vs 7 separation: 2/3432.
        let a: Vec<f64> = (0..7).map(f64::from).collect();
        let b: Vec<f64> = (10..17).map(f64::from).collect();
        assert!((mann_whitney(&a, &b).unwrap().p - 2.0 / 3432.0).abs() < 1e-12);
        // 3 vs 3 with U = 1: P(U ≤ 1) = 2/20 → p = 0.2 (Mann-Whitney table).
        let r = mann_whitney(&[1.0, 2.0, 4.0], &[3.0, 5.0, 6.0]).unwrap();
        assert_eq!(r.u, 1.0);
        assert!((r.p - 0.2).abs() < 1e-12, "{}", r.p);
        // Tied within each side, separated between: still 2/252 exactly.
        let r = mann_whitney(&[5.0; 5], &[7.0; 5]).unwrap();
        assert!((r.p - 2.0 / 252.0).abs() < 1e-12, "{}", r.p);
        // Ties across sides: P over mid-rank sums. a = [1,2,2], b = [2,3,4]:
        // a's doubled mid-rank sum is 2+6+6 = 14; 6 of the 20 labellings are as extreme.
        let r = mann_whitney(&[1.0, 2.0, 2.0], &[2.0, 3.0, 4.0]).unwrap();
        assert!((r.p - 0.3).abs() < 1e-12, "{}", r.p);
        // Identical samples: p = 1.
        assert!((mann_whitney(&[1.0, 1.0, 1.0], &[1.0, 1.0, 1.0]).unwrap().p - 1.0).abs() < 1e-12);
    }

    #[test]
    fn normal_quantile_is_accurate() {
        assert!((normal_quantile(0.975) - 1.959963984540054).abs() < 1e-9);
        assert!((normal_quantile(0.995) - 2.5758293035489).abs() < 1e-9);
        assert!((normal_quantile(0.5)).abs() < 1e-12);
    }

    #[test]
    fn hl_interval_contains_the_true_shift() {
        let a = [100.0, 101.0, 99.0, 100.5, 99.5, 100.2, 99.8];
        let b: Vec<f64> = a.iter().map(|x| x + 10.0).collect();
        let s = hodges_lehmann(&a, &b, 0.99).unwrap();
        assert!((s.estimate - 10.0).abs() < 1e-9);
        assert!(s.lo <= 10.0 && s.hi >= 10.0);
        assert!(s.coverage >= 0.99);
    }

    #[test]
    fn holm_adjusts_step_down() {
        let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
        // Sorted: 0.005×4=0.02, 0.01×3=0.03, 0.03×2=0.06, 0.04×1=0.04→max 0.06.
        assert!((adj[3] - 0.02).abs() < 1e-12);
        assert!((adj[0] - 0.03).abs() < 1e-12);
        assert!((adj[2] - 0.06).abs() < 1e-12);
        assert!((adj[1] - 0.06).abs() < 1e-12);
    }

    #[test]
    fn t_test_p_values() {
        // t = 2.228, df = 10 → two-sided p ≈ 0.05.
        assert!((t_two_sided_p(2.228138851986, 10.0) - 0.05).abs() < 1e-6);
        assert!((t_two_sided_p(0.0, 5.0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn median_interval_needs_six_samples_at_95() {
        assert!(median_ci(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.95).is_none());
        let (lo, hi) = median_ci(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 0.95).unwrap();
        assert_eq!((lo, hi), (1.0, 6.0));
    }
}
