//! Change-point detection for nightly series: E-divisive means with a
//! Student t-test significance check, as Apache Otava (formerly Hunter)
//! does — the t-test replaced MongoDB's permutation test, which was slow and
//! random. The energy statistic is computed over a window of points either
//! side of each candidate, so long series stay O(n·w²) and an old shift
//! does not mask a new one.

use serde::{Deserialize, Serialize};

use crate::stats;

/// Settings (Otava's defaults: p = 0.001, window 50).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct CpConfig {
    /// Significance threshold of the t-test.
    pub p_value: f64,
    /// Points considered around a candidate (half on each side).
    pub window: usize,
    /// Fewest points in a segment.
    pub min_size: usize,
    /// Relative change below which a change point is not reported.
    pub magnitude_floor: f64,
}

impl Default for CpConfig {
    fn default() -> Self {
        Self {
            p_value: 0.001,
            window: 50,
            min_size: 3,
            magnitude_floor: 0.02,
        }
    }
}

/// One detected change point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangePoint {
    /// Index of the first point after the change.
    pub index: usize,
    /// Mean of the window before.
    pub mean_before: f64,
    /// Mean of the window after.
    pub mean_after: f64,
    /// Relative change of the mean (after / before − 1).
    pub change: f64,
    /// t-test p-value.
    pub p_value: f64,
    /// Energy statistic.
    pub q: f64,
    /// Whether |change| reaches the magnitude floor (otherwise kept for
    /// segmentation but not reported as an alert).
    pub reported: bool,
}

fn mean_abs_within(v: &[f64]) -> f64 {
    let n = v.len();
    if n < 2 {
        return 0.0;
    }
    let mut s = 0.0;
    for i in 0..n {
        for k in i + 1..n {
            s += (v[i] - v[k]).abs();
        }
    }
    s / (n * (n - 1) / 2) as f64
}

/// The E-divisive energy statistic Q of splitting `l | r`.
pub fn energy_q(l: &[f64], r: &[f64]) -> f64 {
    let (m, n) = (l.len(), r.len());
    if m == 0 || n == 0 {
        return 0.0;
    }
    let mut between = 0.0;
    for a in l {
        for b in r {
            between += (a - b).abs();
        }
    }
    let e = 2.0 * between / (m * n) as f64 - mean_abs_within(l) - mean_abs_within(r);
    (m * n) as f64 / (m + n) as f64 * e
}

/// Finds change points in `x`.
pub fn detect(x: &[f64], cfg: &CpConfig) -> Vec<ChangePoint> {
    let n = x.len();
    let half = (cfg.window / 2).max(cfg.min_size);
    let mut cps: Vec<ChangePoint> = Vec::new();
    if n < 2 * cfg.min_size || x.iter().any(|v| !v.is_finite()) {
        return cps;
    }
    // Each accepted point splits a segment; stop at the first candidate
    // that is not significant. Bounded: at most n / min_size points.
    for _ in 0..n / cfg.min_size {
        let mut bounds: Vec<usize> = cps.iter().map(|c| c.index).collect();
        bounds.push(0);
        bounds.push(n);
        bounds.sort_unstable();
        bounds.dedup();
        let mut best: Option<(f64, usize, usize, usize)> = None;
        for w in bounds.windows(2) {
            let (s, e) = (w[0], w[1]);
            if e - s < 2 * cfg.min_size {
                continue;
            }
            for t in s + cfg.min_size..=e - cfg.min_size {
                let l = &x[t.saturating_sub(half).max(s)..t];
                let r = &x[t..(t + half).min(e)];
                let q = energy_q(l, r);
                if best.is_none_or(|b| q > b.0) {
                    best = Some((q, t, s, e));
                }
            }
        }
        let Some((q, t, s, e)) = best else { break };
        // Significance over the whole segments either side (as Otava does):
        // more data than the window, so a real step is clearer and a noise
        // wiggle that only looks big within the window is not.
        let p = stats::student_t(&x[s..t], &x[t..e]).unwrap_or(1.0);
        // Magnitude from the window either side: the level just before and
        // just after the change, not diluted by older segments.
        let l = &x[t.saturating_sub(half).max(s)..t];
        let r = &x[t..(t + half).min(e)];
        if p >= cfg.p_value {
            break;
        }
        let (mb, ma) = (stats::mean(l), stats::mean(r));
        let change = if mb != 0.0 { ma / mb - 1.0 } else { 0.0 };
        cps.push(ChangePoint {
            index: t,
            mean_before: mb,
            mean_after: ma,
            change,
            p_value: p,
            q,
            reported: change.abs() >= cfg.magnitude_floor,
        });
    }
    cps.sort_by_key(|c| c.index);
    cps
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};
    use rand_distr::{Distribution, Normal};

    fn noise(n: usize, cv: f64, seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let d = Normal::new(100.0, 100.0 * cv).unwrap();
        (0..n).map(|_| d.sample(&mut rng)).collect()
    }

    fn detection_rate(after: usize) -> usize {
        let mut found = 0;
        for seed in 0..100 {
            let mut x = noise(80 + after, 0.02, seed);
            for v in &mut x[80..] {
                *v *= 1.05;
            }
            let cps = detect(&x, &CpConfig::default());
            if cps
                .iter()
                .any(|c| c.reported && c.index.abs_diff(80) <= 3 && c.change > 0.02)
            {
                found += 1;
            }
        }
        found
    }

    /// How soon a nightly series shows a 5% step (CV 2%): with p = 0.001 a
    /// t-test over 3 new points can catch it at most ≈ 80% of the time, so
    /// the alert usually comes after 3–6 nights.
    #[test]
    fn a_five_percent_step_is_detected_after_a_few_points() {
        let r3 = detection_rate(3);
        let r6 = detection_rate(6);
        eprintln!("detected after 3 points: {r3}/100, after 6: {r6}/100");
        assert!(r3 >= 65, "after 3 points: {r3}/100");
        assert!(r6 >= 90, "after 6 points: {r6}/100");
    }

    /// A 5% step at CV 2% is found within 3 points of where it happened,
    /// with its magnitude close to 5%.
    #[test]
    fn a_five_percent_step_is_found_within_three_points() {
        let mut ok = 0;
        for seed in 0..100 {
            let mut x = noise(160, 0.02, seed);
            for v in &mut x[80..] {
                *v *= 1.05;
            }
            let cps = detect(&x, &CpConfig::default());
            if cps
                .iter()
                .any(|c| c.reported && c.index.abs_diff(80) <= 3 && (c.change - 0.05).abs() < 0.02)
            {
                ok += 1;
            }
        }
        assert!(ok >= 95, "located in {ok}/100 series");
    }

    #[test]
    fn a_year_of_pure_noise_yields_at_most_one_change_point() {
        for seed in 100..200 {
            let x = noise(365, 0.02, seed);
            let cps = detect(&x, &CpConfig::default());
            assert!(cps.len() <= 1, "seed {seed}: {cps:?}");
        }
    }

    #[test]
    fn short_and_constant_series_are_handled() {
        assert!(detect(&[1.0, 2.0], &CpConfig::default()).is_empty());
        assert!(detect(&[5.0; 40], &CpConfig::default()).is_empty());
        assert!(detect(&[1.0, f64::NAN, 3.0, 4.0, 5.0, 6.0], &CpConfig::default()).is_empty());
    }
}
