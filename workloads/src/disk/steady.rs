//! Steady-state detection over the per-interval series, with fio's criteria.
//!
//! `iops:N%` / `bw:N%`: within a rolling window of `ss_dur` (after
//! `ss_ramp`), the largest deviation of a sample from the window's mean is
//! at most N% of the mean (or N in absolute units without `%`).
//! `iops_slope:N%` / `bw_slope:N%`: the least-squares slope of the window,
//! per second, is at most N% of the mean. Unlike fio, the run does not stop
//! when steady state is reached, so leaving it afterwards is seen too.

use std::time::Duration;

use bench_core::error::ValueError;
use bench_core::result::IntervalPoint;

/// What is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// I/Os per second.
    Iops,
    /// Bytes per second.
    Bw,
}

/// A steady-state criterion.
#[derive(Clone, Debug, PartialEq)]
pub struct SteadyState {
    /// The series judged.
    pub measure: Measure,
    /// Slope criterion (else maximum deviation).
    pub slope: bool,
    /// Limit: a fraction of the mean when `percent`, else absolute units.
    pub limit: f64,
    /// Whether `limit` is relative to the mean.
    pub percent: bool,
    /// Window length.
    pub window: Duration,
    /// Ignored start of the measured phase.
    pub ramp: Duration,
    /// The criterion as written.
    pub text: String,
}

/// The verdict on one series.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// End of the first window that met the criterion, s since measuring began.
    pub reached_at_s: Option<f64>,
    /// End of the first later window that did not meet it.
    pub left_at_s: Option<f64>,
    /// Windows judged.
    pub windows: usize,
    /// The criterion's value in the first passing window (or the best one).
    pub value: Option<f64>,
}

impl SteadyState {
    /// Parses `iops:2%`, `bw:5%`, `iops_slope:0.5%`, `bw_slope:1000` …
    /// (fio also accepts the short prefixes `iops`/`bw` with `_slope`).
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let t = s.trim().to_ascii_lowercase();
        let (kind, val) = t
            .split_once(':')
            .ok_or_else(|| format!("`{s}` is not of the form iops:N% or bw_slope:N%"))?;
        let (measure, slope) = match kind.trim() {
            "iops" => (Measure::Iops, false),
            "bw" => (Measure::Bw, false),
            "iops_slope" => (Measure::Iops, true),
            "bw_slope" => (Measure::Bw, true),
            other => {
                return Err(format!(
                    "`{other}` is not a criterion (iops, bw, iops_slope, bw_slope)"
                )
                .into())
            }
        };
        let v = val.trim();
        let (num, percent) = match v.strip_suffix('%') {
            Some(n) => (n, true),
            None => (v, false),
        };
        let limit: f64 = if percent || measure == Measure::Iops {
            num.trim()
                .parse()
                .map_err(|_| format!("`{v}` is not a number"))?
        } else {
            bench_core::units::parse_size(num)? as f64
        };
        if !limit.is_finite() || limit < 0.0 {
            return Err(format!("limit `{v}` must be a non-negative number").into());
        }
        Ok(Self {
            measure,
            slope,
            limit: if percent { limit / 100.0 } else { limit },
            percent,
            window: Duration::ZERO,
            ramp: Duration::ZERO,
            text: s.trim().to_string(),
        })
    }

    /// Sets the window and the ramp.
    pub fn with_window(mut self, window: Duration, ramp: Duration) -> Self {
        self.window = window;
        self.ramp = ramp;
        self
    }

    fn value_of(&self, p: &IntervalPoint) -> f64 {
        match self.measure {
            Measure::Iops => p.ops_per_s,
            Measure::Bw => p.bytes_per_s,
        }
    }

    /// The criterion's value over a window, and whether it passes.
    fn eval(&self, pts: &[IntervalPoint]) -> (f64, bool) {
        let n = pts.len() as f64;
        let ys: Vec<f64> = pts.iter().map(|p| self.value_of(p)).collect();
        let mean = ys.iter().sum::<f64>() / n;
        let raw = if self.slope {
            let ts: Vec<f64> = pts.iter().map(|p| p.t_s).collect();
            let tm = ts.iter().sum::<f64>() / n;
            let sxy: f64 = ts.iter().zip(&ys).map(|(t, y)| (t - tm) * (y - mean)).sum();
            let sxx: f64 = ts.iter().map(|t| (t - tm) * (t - tm)).sum();
            if sxx > 0.0 {
                (sxy / sxx).abs()
            } else {
                0.0
            }
        } else {
            ys.iter().map(|y| (y - mean).abs()).fold(0.0, f64::max)
        };
        let v = if self.percent {
            if mean > 0.0 {
                raw / mean
            } else {
                f64::INFINITY
            }
        } else {
            raw
        };
        (v, v <= self.limit)
    }

    /// Judges a series: when the criterion was first met over a full window
    /// after the ramp, and whether a later window failed it.
    pub fn judge(&self, series: &[IntervalPoint]) -> Verdict {
        let ramp = self.ramp.as_secs_f64();
        let win = self.window.as_secs_f64();
        // Only full-length samples after the ramp; a short last interval
        // would skew the rate.
        let pts: Vec<IntervalPoint> = series
            .iter()
            .filter(|p| p.t_s - p.len_s >= ramp - 1e-9)
            .filter(|p| series.first().is_none_or(|f| p.len_s >= f.len_s * 0.999))
            .cloned()
            .collect();
        let mut v = Verdict {
            reached_at_s: None,
            left_at_s: None,
            windows: 0,
            value: None,
        };
        let Some(len) = pts.first().map(|p| p.len_s).filter(|l| *l > 0.0) else {
            return v;
        };
        let n = ((win / len).round() as usize).max(2);
        if pts.len() < n {
            return v;
        }
        let mut best = f64::INFINITY;
        for end in n..=pts.len() {
            let w = &pts[end - n..end];
            let (val, ok) = self.eval(w);
            v.windows += 1;
            let t = w[w.len() - 1].t_s;
            match (v.reached_at_s, ok) {
                (None, true) => {
                    v.reached_at_s = Some(t);
                    v.value = Some(val);
                }
                (Some(_), false) if v.left_at_s.is_none() => v.left_at_s = Some(t),
                _ => {}
            }
            best = best.min(val);
        }
        if v.value.is_none() && best.is_finite() {
            v.value = Some(best);
        }
        v
    }
}

impl Verdict {
    /// The verdict as a JSON note.
    pub fn to_json(&self, ss: &SteadyState) -> serde_json::Value {
        serde_json::json!({
            "criterion": ss.text,
            "window_s": ss.window.as_secs_f64(),
            "ramp_s": ss.ramp.as_secs_f64(),
            "reached": self.reached_at_s.is_some(),
            "reached_at_s": self.reached_at_s,
            "left_afterwards": self.left_at_s.is_some(),
            "left_at_s": self.left_at_s,
            "windows_judged": self.windows,
            "value": self.value,
            "value_is_fraction_of_mean": ss.percent,
        })
    }
}
