//! Latency histograms of result files: which families both sides have,
//! each side's runs merged, and percentile curves sampled on the log
//! `1/(1-p)` axis.

use std::collections::BTreeSet;

use bench_core::hist::{new_hist, Hist};
use bench_core::result::{ResultFile, RunRecord, Status};

/// A latency family: a histogram (e.g. `disk.randread.lat_ns`) of a workload label.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Family {
    /// Workload label.
    pub workload: String,
    /// Histogram name; its percentile metrics are `<hist>.p50` …
    pub hist: String,
}

impl Family {
    /// Whether a metric of a workload belongs to this family.
    pub fn owns(&self, workload: &str, metric: &str) -> bool {
        workload == self.workload
            && metric.len() > self.hist.len()
            && metric.starts_with(&self.hist)
            && metric.as_bytes()[self.hist.len()] == b'.'
    }
}

/// The runs of `files` a comparison uses: completed, and undisturbed unless
/// disturbed runs are kept.
pub fn used_runs<'a>(
    files: &'a [(String, ResultFile)],
    include_disturbed: bool,
) -> impl Iterator<Item = &'a RunRecord> + 'a {
    files
        .iter()
        .flat_map(|(_, f)| f.runs.iter())
        .filter(move |r| r.status == Status::Ok && (include_disturbed || !r.disturbance.disturbed))
}

/// The families of one side.
pub fn families(files: &[(String, ResultFile)], include_disturbed: bool) -> BTreeSet<Family> {
    used_runs(files, include_disturbed)
        .flat_map(|r| {
            r.histograms.keys().map(|h| Family {
                workload: r.label.clone(),
                hist: h.clone(),
            })
        })
        .collect()
}

/// The family's histograms of every used run merged. Blobs that do not
/// decode are counted, not fatal: the report still shows what it can.
pub fn merged(
    files: &[(String, ResultFile)],
    fam: &Family,
    include_disturbed: bool,
) -> (Hist, usize) {
    let mut h = new_hist();
    let mut bad = 0;
    for r in used_runs(files, include_disturbed).filter(|r| r.label == fam.workload) {
        match r.histogram(&fam.hist) {
            Some(Ok(x)) => bad += usize::from(h.add(&x).is_err()),
            Some(Err(_)) => bad += 1,
            None => {}
        }
    }
    (h, bad)
}

/// The display unit for latencies around `typical` ns: (name, divisor).
pub fn unit_for(typical_ns: f64) -> (&'static str, f64) {
    if typical_ns >= 1e6 {
        ("ms", 1e6)
    } else if typical_ns >= 1e3 {
        ("µs", 1e3)
    } else {
        ("ns", 1.0)
    }
}

/// Samples the percentile curve of `h`: x = log10(1/(1-p)) in steps of
/// 1/50 decade up to the resolution the count allows (at most 99.9999%),
/// y = latency / `scale`.
pub fn curve(h: &Hist, scale: f64) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    // Beyond 1/n the curve is just the maximum: stop one decade after.
    let xmax = ((h.len() as f64).log10() + 0.0).clamp(1.0, 6.0);
    let steps = (xmax * 50.0).round() as usize;
    let mut pts = Vec::with_capacity(steps + 2);
    for i in 0..=steps {
        let x = i as f64 / 50.0;
        let q = 1.0 - 10f64.powf(-x);
        pts.push((x, h.value_at_quantile(q) as f64 / scale));
    }
    pts.push((xmax, h.max() as f64 / scale));
    pts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_owns_its_percentiles_only() {
        let f = Family {
            workload: "rr".into(),
            hist: "disk.rr.lat_ns".into(),
        };
        assert!(f.owns("rr", "disk.rr.lat_ns.p99"));
        assert!(!f.owns("rr", "disk.rr.lat_ns_total"));
        assert!(!f.owns("other", "disk.rr.lat_ns.p99"));
        assert!(!f.owns("rr", "disk.rr.iops"));
    }

    #[test]
    fn curve_is_monotone_and_reaches_the_tail() {
        let mut h = new_hist();
        for v in 1..=10_000u64 {
            h.record(v * 100).unwrap();
        }
        let c = curve(&h, 1e3);
        assert!(c.windows(2).all(|w| w[0].1 <= w[1].1 && w[0].0 <= w[1].0));
        assert!((c[0].1 - 0.1).abs() < 0.01, "{:?}", c[0]);
        let last = c.last().unwrap();
        assert!((last.0 - 4.0).abs() < 1e-9 && (last.1 - 1000.0).abs() < 1.0);
    }
}
