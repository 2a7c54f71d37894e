//! The HdrHistogram percentile-distribution text (`.hgrm`), as Java's
//! `outputPercentileDistribution` writes it: Value, Percentile, TotalCount,
//! 1/(1-Percentile), 5 ticks per half-distance, values scaled to a unit.

use std::fmt::Write as _;

use bench_core::hist::Hist;

/// Renders `h` (values in ns) as .hgrm text with values divided by `scale`
/// (1000.0 gives microseconds, as most HdrHistogram plotters expect).
pub fn render(h: &Hist, scale: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    if h.is_empty() {
        let _ = writeln!(out, "#[empty histogram]");
        return out;
    }
    let mut total = 0u64;
    for v in h.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let value = v.value_iterated_to() as f64 / scale;
        if q < 1.0 {
            let _ = writeln!(
                out,
                "{value:>12.3} {q:>14.12} {total:>10} {:>14.2}",
                1.0 / (1.0 - q)
            );
        } else {
            let _ = writeln!(out, "{value:>12.3} {q:>14.12} {total:>10}");
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
        h.mean() / scale,
        h.stdev() / scale
    );
    let _ = writeln!(
        out,
        "#[Max     = {:>12.3}, Total count    = {:>12}]",
        h.max() as f64 / scale,
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        h.distinct_values()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_known_distribution() {
        let mut h = bench_core::hist::new_hist();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let t = render(&h, 1000.0);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].contains("Value") && lines[0].contains("1/(1-Percentile)"));
        // First data row: the minimum (1 µs) at percentile 0.
        assert!(
            lines[2].trim_start().starts_with("1.000 0.000000000000"),
            "{}",
            lines[2]
        );
        // The median row exists and reads ≈ 500 µs.
        let median = lines
            .iter()
            .find(|l| l.contains(" 0.500000000000 "))
            .expect("a 50% row");
        let v: f64 = median.split_whitespace().next().unwrap().parse().unwrap();
        assert!((v - 500.0).abs() <= 1.0, "{median}");
        assert!(t.contains("Total count    =         1000"), "{t}");
        // Cumulative counts never decrease and end at the total.
        let counts: Vec<u64> = lines[2..]
            .iter()
            .take_while(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().nth(2).unwrap().parse().unwrap())
            .collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*counts.last().unwrap(), 1000);
    }
}
