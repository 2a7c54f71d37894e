//! IOPS at a latency target: the search of PerfKit's `fio_latency_sla`, of
//! fio's `latency_target`/`latency_window`/`latency_percentile`, and of
//! VirtualClient's queue-depth discovery, with every step recorded.
//!
//! A run is a fixed list of measured phases (bench-core steps), so it can
//! be planned, shown and interrupted like any other run:
//!
//! 1. a queue-depth sweep, unthrottled, at iodepth 1, 2, 4 … `latency_qd_max`
//!    (powers of two, and the maximum itself): the curve of IOPS against the
//!    chosen latency percentile (completion latency, as fio's clat);
//! 2. `latency_rate_steps` paced steps (`rate_iops`) that bisect the IOPS
//!    between the best depth that met the target and the first deeper one
//!    that missed it, run at that missing depth: more I/Os may be in flight,
//!    but they arrive at a set rate. Their latency is the response time from
//!    each I/O's intended start (coordinated omission), so a rate the device
//!    cannot keep counts as a miss, never as a pass at a lower rate;
//! 3. with `latency_run`, a hold step at the answer (fio's `latency_run=1`
//!    keeps adjusting to stay at the target; here the answer is re-measured
//!    and whether it held is recorded);
//! 4. a verdict: when no step met the target the run fails, naming the best
//!    latency seen, instead of reporting `ok` with 0 IOPS.
//!
//! The decisions between steps are pure functions of what the earlier steps
//! saw ([`Search`]), so they are tested without a disk. Workers publish the
//! judged latency of their measured phase into a [`SlaTap`] at the end of
//! each step; the next step's workers are built after that, from it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bench_core::hist::{new_hist, Hist};

/// How much of a paced step's asked rate it must achieve to count: a step
/// that asked for 10 000 IOPS and did 9 000 did not show that 10 000 meet
/// the target.
pub const RATE_ACHIEVED: f64 = 0.97;

/// The rate bisection stops when its interval is narrower than this
/// fraction of its upper end (further steps would measure noise).
pub const RATE_RESOLUTION: f64 = 0.02;

/// What the search varies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchMode {
    /// Queue-depth sweep only.
    Qd,
    /// One unthrottled step at `iodepth`, then the rate bisection below it.
    Rate,
    /// The sweep, then the rate bisection between the depths (default).
    QdRate,
}

impl SearchMode {
    /// Parses the `latency_search` value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "qd" => Some(Self::Qd),
            "rate" => Some(Self::Rate),
            "qd+rate" => Some(Self::QdRate),
            _ => None,
        }
    }
    /// The parameter word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Qd => "qd",
            Self::Rate => "rate",
            Self::QdRate => "qd+rate",
        }
    }
}

/// A validated latency-target job.
#[derive(Clone, Debug, PartialEq)]
pub struct SlaConfig {
    /// The latency the percentile must stay at or under, ns.
    pub target_ns: u64,
    /// The percentile judged, 0 < p ≤ 100 (100: every I/O, as fio's default).
    pub percentile: f64,
    /// Measured length of each step (`None`: the run's duration).
    pub window: Option<Duration>,
    /// Re-measure the answer in a last step (fio's `latency_run`).
    pub hold: bool,
    /// What is searched.
    pub mode: SearchMode,
    /// Deepest queue of the sweep (the job's `iodepth` in `rate` mode).
    pub qd_max: u32,
    /// Paced bisection steps.
    pub rate_steps: u32,
}

/// What one step of the search does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// Unthrottled at this iodepth.
    Qd(u32),
    /// The k-th paced step (1-based).
    Rate(u32),
    /// The answer again (latency_run).
    Hold,
    /// No I/O: fails the run when nothing met the target.
    Verdict,
}

/// The queue depths of the sweep: powers of two from 1 below `max`, then `max`.
pub fn depths(max: u32) -> Vec<u32> {
    let max = max.max(1);
    let mut v: Vec<u32> = std::iter::successors(Some(1u32), |d| d.checked_mul(2))
        .take_while(|d| *d < max)
        .collect();
    v.push(max);
    v
}

impl SlaConfig {
    /// The steps of one run, as (label suffix after `<prefix>.sla.`, kind).
    pub fn plan(&self) -> Vec<(String, StepKind)> {
        let mut v: Vec<(String, StepKind)> = match self.mode {
            SearchMode::Qd | SearchMode::QdRate => depths(self.qd_max)
                .into_iter()
                .map(|d| (format!("qd{d}"), StepKind::Qd(d)))
                .collect(),
            SearchMode::Rate => vec![(format!("qd{}", self.qd_max), StepKind::Qd(self.qd_max))],
        };
        if self.mode != SearchMode::Qd {
            for k in 1..=self.rate_steps {
                v.push((format!("rate{k}"), StepKind::Rate(k)));
            }
        }
        if self.hold {
            v.push(("hold".into(), StepKind::Hold));
        }
        v.push(("verdict".into(), StepKind::Verdict));
        v
    }

    /// The metric suffix of the judged percentile (`p99`, `p99_9`, `p100`).
    pub fn pct_name(&self) -> String {
        pct_name(self.percentile)
    }
}

/// `p99`, `p99_9`, `p99_99`, `p100`: the metric suffix of a percentile.
pub fn pct_name(p: f64) -> String {
    let s = format!("{p:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("p{}", s.replace('.', "_"))
}

/// What the search saw in one step.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    /// Label suffix (`qd8`, `rate2`, `hold`).
    pub name: String,
    /// The step's kind.
    pub kind: StepKind,
    /// I/Os in flight per job.
    pub iodepth: u32,
    /// Total rate asked for (paced steps), IOPS.
    pub rate: Option<u64>,
    /// IOPS achieved.
    pub iops: f64,
    /// The judged percentile of the judged latency, ns.
    pub lat_ns: u64,
    /// Measured I/Os.
    pub ops: u64,
}

impl Observed {
    /// Whether this step met the target: its percentile at or under the
    /// target, with I/Os measured, and a paced step's rate achieved.
    pub fn met(&self, target_ns: u64) -> bool {
        self.ops > 0
            && self.lat_ns <= target_ns
            && self
                .rate
                .is_none_or(|r| self.iops >= RATE_ACHIEVED * r as f64)
    }
}

/// How a step is run, decided from the steps before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// Run at this depth and (total) rate.
    Run {
        /// I/Os in flight per job.
        iodepth: u32,
        /// Total IOPS asked for, over all jobs.
        rate: Option<u64>,
    },
    /// Nothing left to learn: the step does no I/O and reports nothing.
    Skip(&'static str),
}

/// The search over what the steps so far observed.
#[derive(Clone, Debug, Default)]
pub struct Search {
    /// Observed steps, in run order.
    pub observed: Vec<Observed>,
}

impl Search {
    /// The step that met the target with the most IOPS (the answer); ties
    /// go to the earlier (shallower) step. The hold step only confirms.
    pub fn best(&self, target_ns: u64) -> Option<&Observed> {
        let mut best: Option<&Observed> = None;
        for o in self.observed.iter().filter(|o| o.kind != StepKind::Hold) {
            if o.met(target_ns) && best.is_none_or(|b| o.iops > b.iops) {
                best = Some(o);
            }
        }
        best
    }

    /// The depth steps, shallowest first.
    fn depth_steps(&self) -> Vec<&Observed> {
        let mut v: Vec<&Observed> = self
            .observed
            .iter()
            .filter(|o| matches!(o.kind, StepKind::Qd(_)))
            .collect();
        v.sort_by_key(|o| o.iodepth);
        v
    }

    /// The setting of the next paced step: a bisection of the IOPS between
    /// the best depth that met the target (or 0) and the first deeper one
    /// that missed it, run at that missing depth; paced steps so far narrow
    /// the interval.
    pub fn next_rate(&self, target_ns: u64) -> Setting {
        let qd = self.depth_steps();
        let best_qd = qd
            .iter()
            .filter(|o| o.met(target_ns))
            .max_by_key(|o| o.iodepth);
        let floor = best_qd.map_or(0, |o| o.iodepth);
        // The shallowest depth past the best one that missed (qd1 itself
        // when nothing met the target).
        let Some(miss) = qd.iter().find(|o| !o.met(target_ns) && o.iodepth > floor) else {
            return Setting::Skip("every queue depth met the target: no rate to refine");
        };
        if miss.ops == 0 {
            return Setting::Skip("the missing depth measured no I/O");
        }
        let mut lo = best_qd.map_or(0.0, |o| o.iops);
        let mut hi = miss.iops;
        for o in self
            .observed
            .iter()
            .filter(|o| matches!(o.kind, StepKind::Rate(_)))
        {
            let r = o.rate.unwrap_or(0) as f64;
            if o.met(target_ns) {
                lo = lo.max(r);
            } else {
                hi = hi.min(r);
            }
        }
        if hi <= lo || hi - lo < RATE_RESOLUTION * hi {
            return Setting::Skip("the rate interval is already within 2%");
        }
        let rate = ((lo + hi) / 2.0).round().max(1.0) as u64;
        Setting::Run {
            iodepth: miss.iodepth,
            rate: Some(rate),
        }
    }

    /// The setting of the hold step: the answer, or skip when there is none.
    pub fn hold(&self, target_ns: u64) -> Setting {
        match self.best(target_ns) {
            Some(b) => Setting::Run {
                iodepth: b.iodepth,
                rate: b.rate,
            },
            None => Setting::Skip("no step met the target: nothing to hold"),
        }
    }
}

/// The knee of the depth sweep: the depth with the highest *power*,
/// IOPS / latency (Kleinrock's power of a queue, throughput over delay).
/// Below it, a deeper queue buys IOPS faster than it costs latency; above
/// it, latency grows faster than IOPS. Ties go to the shallower depth.
/// `points` are (iodepth, IOPS, latency ns); points without I/O or with a
/// zero latency are left out. Returns the index into `points`.
pub fn knee(points: &[(u32, f64, u64)]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, (_, iops, lat)) in points.iter().enumerate() {
        if *iops <= 0.0 || *lat == 0 {
            continue;
        }
        let power = iops / *lat as f64;
        if best.is_none_or(|(_, p)| power > p) {
            best = Some((i, power));
        }
    }
    best.map(|b| b.0)
}

/// What the workers of one step published.
#[derive(Debug)]
struct Partial {
    hist: Hist,
    ops: u64,
    iops: f64,
}

/// Where the workers of a step publish the judged latency of their
/// measured phase, for the decisions of the steps after it.
#[derive(Debug, Default)]
pub struct SlaTap {
    steps: Mutex<BTreeMap<String, Partial>>,
}

impl SlaTap {
    /// A new, empty tap.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Forgets every step (a new repetition begins).
    pub fn clear(&self) {
        if let Ok(mut s) = self.steps.lock() {
            s.clear();
        }
    }

    /// One worker's measured phase of step `name`: its judged latencies,
    /// I/Os and IOPS.
    pub fn publish(&self, name: &str, hist: &Hist, ops: u64, iops: f64) {
        if let Ok(mut s) = self.steps.lock() {
            let e = s.entry(name.to_string()).or_insert_with(|| Partial {
                hist: new_hist(),
                ops: 0,
                iops: 0.0,
            });
            let _ = e.hist.add(hist);
            e.ops += ops;
            e.iops += iops;
        }
    }

    /// The search state over the steps of `plan` published so far, with
    /// each step's setting as `settings` recorded it.
    pub fn search(&self, cfg: &SlaConfig, settings: &BTreeMap<String, Setting>) -> Search {
        let Ok(s) = self.steps.lock() else {
            return Search::default();
        };
        let mut observed = Vec::new();
        for (name, kind) in cfg.plan() {
            let (Some(p), Some(Setting::Run { iodepth, rate })) =
                (s.get(&name), settings.get(&name))
            else {
                continue;
            };
            observed.push(Observed {
                name: name.clone(),
                kind,
                iodepth: *iodepth,
                rate: *rate,
                iops: p.iops,
                lat_ns: if p.hist.is_empty() {
                    0
                } else {
                    p.hist.value_at_quantile(cfg.percentile / 100.0)
                },
                ops: p.ops,
            });
        }
        Search { observed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(mode: SearchMode) -> SlaConfig {
        SlaConfig {
            target_ns: 1_000_000,
            percentile: 99.0,
            window: None,
            hold: false,
            mode,
            qd_max: 256,
            rate_steps: 4,
        }
    }

    fn qd(d: u32, iops: f64, lat: u64) -> Observed {
        Observed {
            name: format!("qd{d}"),
            kind: StepKind::Qd(d),
            iodepth: d,
            rate: None,
            iops,
            lat_ns: lat,
            ops: 1000,
        }
    }

    #[test]
    fn depths_are_powers_of_two_up_to_the_maximum() {
        assert_eq!(depths(256), vec![1, 2, 4, 8, 16, 32, 64, 128, 256]);
        assert_eq!(depths(48), vec![1, 2, 4, 8, 16, 32, 48]);
        assert_eq!(depths(1), vec![1]);
        assert_eq!(depths(0), vec![1]);
    }

    #[test]
    fn the_plan_has_every_step_and_ends_in_the_verdict() {
        let p = cfg(SearchMode::QdRate).plan();
        assert_eq!(p.len(), 9 + 4 + 1);
        assert_eq!(p[0], ("qd1".into(), StepKind::Qd(1)));
        assert_eq!(p[9], ("rate1".into(), StepKind::Rate(1)));
        assert_eq!(p.last().unwrap().1, StepKind::Verdict);
        let mut c = cfg(SearchMode::Rate);
        c.qd_max = 32;
        c.hold = true;
        let p = c.plan();
        assert_eq!(p[0], ("qd32".into(), StepKind::Qd(32)));
        assert_eq!(p[p.len() - 2].1, StepKind::Hold);
        assert_eq!(cfg(SearchMode::Qd).plan().len(), 10);
    }

    #[test]
    fn percentile_names_match_the_metric_suffixes() {
        assert_eq!(pct_name(99.0), "p99");
        assert_eq!(pct_name(99.9), "p99_9");
        assert_eq!(pct_name(99.99), "p99_99");
        assert_eq!(pct_name(100.0), "p100");
        assert_eq!(pct_name(95.5), "p95_5");
    }

    #[test]
    fn the_best_is_the_most_iops_that_met_the_target() {
        let s = Search {
            observed: vec![
                qd(1, 10_000.0, 100_000),
                qd(2, 19_000.0, 200_000),
                qd(4, 30_000.0, 900_000),
                qd(8, 40_000.0, 1_500_000),
            ],
        };
        assert_eq!(s.best(1_000_000).unwrap().iodepth, 4);
        assert!(s.best(50_000).is_none());
        // A step exactly at the target meets it.
        assert_eq!(s.best(1_500_000).unwrap().iodepth, 8);
    }

    #[test]
    fn rates_bisect_between_the_passing_and_the_missing_depth() {
        let t = 1_000_000;
        let mut s = Search {
            observed: vec![
                qd(1, 10_000.0, 100_000),
                qd(2, 20_000.0, 500_000),
                qd(4, 30_000.0, 2_000_000),
                qd(8, 32_000.0, 4_000_000),
            ],
        };
        assert_eq!(
            s.next_rate(t),
            Setting::Run {
                iodepth: 4,
                rate: Some(25_000)
            }
        );
        // 25 000 met: the next is between 25 000 and 30 000.
        s.observed.push(Observed {
            name: "rate1".into(),
            kind: StepKind::Rate(1),
            iodepth: 4,
            rate: Some(25_000),
            iops: 24_990.0,
            lat_ns: 800_000,
            ops: 1000,
        });
        assert_eq!(
            s.next_rate(t),
            Setting::Run {
                iodepth: 4,
                rate: Some(27_500)
            }
        );
        assert_eq!(s.best(t).unwrap().name, "rate1");
        // 27 500 was not achieved (only 26 000): a miss, whatever its latency.
        s.observed.push(Observed {
            name: "rate2".into(),
            kind: StepKind::Rate(2),
            iodepth: 4,
            rate: Some(27_500),
            iops: 26_000.0,
            lat_ns: 900_000,
            ops: 1000,
        });
        assert_eq!(
            s.next_rate(t),
            Setting::Run {
                iodepth: 4,
                rate: Some(26_250)
            }
        );
        assert_eq!(s.best(t).unwrap().name, "rate1");
    }

    #[test]
    fn no_rate_steps_when_every_depth_met_the_target() {
        let s = Search {
            observed: vec![qd(1, 10_000.0, 100), qd(2, 20_000.0, 200)],
        };
        assert!(matches!(s.next_rate(1_000), Setting::Skip(_)));
    }

    #[test]
    fn when_qd1_misses_the_rates_go_down_from_its_iops() {
        let t = 1_000;
        let mut s = Search {
            observed: vec![qd(1, 10_000.0, 5_000), qd(2, 12_000.0, 9_000)],
        };
        assert!(s.best(t).is_none());
        assert_eq!(
            s.next_rate(t),
            Setting::Run {
                iodepth: 1,
                rate: Some(5_000)
            }
        );
        s.observed.push(Observed {
            name: "rate1".into(),
            kind: StepKind::Rate(1),
            iodepth: 1,
            rate: Some(5_000),
            iops: 5_000.0,
            lat_ns: 4_000,
            ops: 100,
        });
        assert_eq!(
            s.next_rate(t),
            Setting::Run {
                iodepth: 1,
                rate: Some(2_500)
            }
        );
        assert!(matches!(s.hold(t), Setting::Skip(_)));
    }

    #[test]
    fn the_knee_is_the_highest_iops_per_latency() {
        // IOPS saturate at 30k while latency keeps doubling.
        let pts = [
            (1, 10_000.0, 100_000),
            (2, 19_000.0, 105_000),
            (4, 30_000.0, 130_000),
            (8, 31_000.0, 260_000),
            (16, 31_000.0, 520_000),
        ];
        assert_eq!(knee(&pts), Some(2));
        assert_eq!(knee(&[]), None);
        assert_eq!(knee(&[(1, 0.0, 10)]), None);
        // Ties go to the shallower depth.
        assert_eq!(knee(&[(1, 10.0, 10), (2, 20.0, 20)]), Some(0));
    }

    #[test]
    fn the_tap_merges_workers_and_follows_the_plan() {
        let c = cfg(SearchMode::QdRate);
        let tap = SlaTap::new();
        let mut h = new_hist();
        for v in 1..=100u64 {
            h.record(v * 1000).unwrap();
        }
        tap.publish("qd1", &h, 100, 50.0);
        tap.publish("qd1", &h, 100, 50.0);
        let mut settings = BTreeMap::new();
        settings.insert(
            "qd1".to_string(),
            Setting::Run {
                iodepth: 1,
                rate: None,
            },
        );
        let s = tap.search(&c, &settings);
        assert_eq!(s.observed.len(), 1);
        assert_eq!(s.observed[0].ops, 200);
        assert_eq!(s.observed[0].iops, 100.0);
        assert!((s.observed[0].lat_ns as i64 - 99_000).abs() < 1000);
        tap.clear();
        assert!(tap.search(&c, &settings).observed.is_empty());
    }
}
