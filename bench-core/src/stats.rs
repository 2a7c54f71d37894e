//! The few order statistics the run model and workloads need (the
//! comparison statistics live in the baselines crate, which may use these).

/// Median of `v` (mean of the two middle values when the length is even);
/// NaN when `v` is empty. NaNs sort last ([`f64::total_cmp`]).
pub fn median(v: &[f64]) -> f64 {
    percentile(v, 50.0)
}

/// The `p`-th percentile (0–100) of `v`, linear between the closest ranks
/// (the "R-7" rule of R and NumPy's default, so the 50th is the median);
/// NaN when `v` is empty or `p` is outside 0–100.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() || !(0.0..=100.0).contains(&p) {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = p / 100.0 * (s.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    if lo == hi {
        s[lo]
    } else {
        // The midpoint of an even-length median is (a + b) / 2 exactly.
        let w = rank - lo as f64;
        if w == 0.5 {
            (s[lo] + s[hi]) / 2.0
        } else {
            s[lo] + (s[hi] - s[lo]) * w
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[7.0]), 7.0);
        assert!(median(&[]).is_nan());
        // The same as the sorted-middle rule on an awkward even sample.
        let v = [0.1, 0.7, 0.2, 0.3];
        assert_eq!(median(&v), (0.2 + 0.3) / 2.0);
    }

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=5).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 100.0), 5.0);
        assert_eq!(percentile(&v, 25.0), 2.0);
        assert!((percentile(&v, 90.0) - 4.6).abs() < 1e-12);
        assert!(percentile(&v, 101.0).is_nan());
        assert!(percentile(&[], 50.0).is_nan());
    }
}
