//! Plots as inline SVG. The HTML renderer describes each plot as plain data
//! and asks a [`Plotter`] for the SVG text, so it never touches plotters;
//! [`SvgPlotter`] is the plotters-backed implementation.

use baselines::history::MetricHistory;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Which side of a comparison a line belongs to (decides its colour).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The baseline (blue).
    Baseline,
    /// The candidate (orange).
    Candidate,
}

impl Side {
    /// The word used in legends.
    pub fn word(self) -> &'static str {
        match self {
            Side::Baseline => "baseline",
            Side::Candidate => "candidate",
        }
    }
}

/// One latency-percentile curve: `x` is `log10(1/(1-p))`, `y` the latency.
#[derive(Clone, Debug)]
pub struct Curve {
    /// Legend text.
    pub label: String,
    /// Colour.
    pub side: Side,
    /// (log10(1/(1-p)), value in `unit`) points, x ascending.
    pub points: Vec<(f64, f64)>,
}

/// A percentile-distribution plot (HdrHistogram style).
#[derive(Clone, Debug)]
pub struct PercentilePlot {
    /// Caption.
    pub title: String,
    /// Unit of the y values (`µs`).
    pub unit: String,
    /// The curves.
    pub curves: Vec<Curve>,
}

/// A median with its interval, in any unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// Median.
    pub mid: f64,
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

/// One metric of a whisker plot: both sides relative to the baseline median.
#[derive(Clone, Debug)]
pub struct Whisker {
    /// Row label (metric name).
    pub label: String,
    /// Baseline median and interval, relative (1.0 = baseline median).
    pub baseline: Interval,
    /// Candidate median and interval, relative to the baseline median.
    pub candidate: Interval,
    /// Drawn in the alarm colour when true.
    pub regression: bool,
}

/// Medians with confidence whiskers for several metrics.
#[derive(Clone, Debug)]
pub struct WhiskerPlot {
    /// Caption.
    pub title: String,
    /// One row per metric, top to bottom.
    pub items: Vec<Whisker>,
}

/// One run's per-interval series.
#[derive(Clone, Debug)]
pub struct Line {
    /// Colour.
    pub side: Side,
    /// Drawn dashed and listed as disturbed.
    pub disturbed: bool,
    /// (seconds, value) points.
    pub points: Vec<(f64, f64)>,
}

/// Per-interval series of several runs.
#[derive(Clone, Debug)]
pub struct SeriesPlot {
    /// Caption.
    pub title: String,
    /// Y axis description (`ops/s`).
    pub y_label: String,
    /// Legend text of the baseline-coloured and candidate-coloured lines.
    pub side_labels: [String; 2],
    /// The lines.
    pub lines: Vec<Line>,
}

/// A figure against a parameter (latency against working-set size, ops/s
/// against threads), one line per run.
#[derive(Clone, Debug)]
pub struct CurvePlot {
    /// Caption.
    pub title: String,
    /// X axis description (its unit).
    pub x_label: String,
    /// Y axis description (its unit).
    pub y_label: String,
    /// X on a log2 scale (sizes spanning decades).
    pub log_x: bool,
    /// Y on a log2 scale (latencies spanning decades).
    pub log_y: bool,
    /// X values are bytes: ticks read 4K, 1M, 1G.
    pub x_bytes: bool,
    /// Legend text of the baseline-coloured and candidate-coloured lines.
    pub side_labels: [String; 2],
    /// The lines; `points` are (x, y).
    pub lines: Vec<Line>,
    /// Points and levels to mark (a knee, a target), from the runs' notes.
    pub marks: Vec<Mark>,
}

/// A marked place on a curve plot: a point (`x` given), or a level across
/// the plot (`x` none), with its label.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    /// What it is (`knee: qd 8`, `target 1 ms (p99)`).
    pub label: String,
    /// X of a point; none for a level.
    pub x: Option<f64>,
    /// Y of the point or level.
    pub y: f64,
}

impl Mark {
    /// The marks a run's notes give a curve: `notes.curve_marks.<curve>`,
    /// a list of `{label, x?, y}`; malformed entries are left out.
    pub fn of_run(r: &bench_core::result::RunRecord, curve: &str) -> Vec<Mark> {
        let Some(list) = r
            .notes
            .get("curve_marks")
            .and_then(|m| m.get(curve))
            .and_then(|l| l.as_array())
        else {
            return Vec::new();
        };
        list.iter()
            .filter_map(|m| {
                let y = m.get("y")?.as_f64().filter(|y| y.is_finite())?;
                let x = match m.get("x") {
                    None => None,
                    Some(v) => Some(v.as_f64().filter(|x| x.is_finite())?),
                };
                let label = m.get("label")?.as_str()?.chars().take(80).collect();
                Some(Mark { label, x, y })
            })
            .collect()
    }
}

impl CurvePlot {
    /// One plot per curve name in `runs` (first-seen order), every run a
    /// line in its side's colour; `label` heads each title.
    pub fn from_runs(
        label: &str,
        runs: &[(Side, &bench_core::result::RunRecord)],
        side_labels: [&str; 2],
    ) -> Vec<CurvePlot> {
        let mut plots: Vec<CurvePlot> = Vec::new();
        for (side, r) in runs {
            for c in &r.curves {
                let title = format!("{label} · {}", c.name);
                let i = match plots.iter().position(|p| p.title == title) {
                    Some(i) => i,
                    None => {
                        plots.push(CurvePlot {
                            title,
                            x_label: c.x_unit.clone(),
                            y_label: c.y_unit.clone(),
                            log_x: c.log_x,
                            log_y: c.log_y,
                            x_bytes: c.x_unit == "bytes",
                            side_labels: side_labels.map(String::from),
                            lines: Vec::new(),
                            marks: Vec::new(),
                        });
                        plots.len() - 1
                    }
                };
                for m in Mark::of_run(r, &c.name) {
                    if !plots[i].marks.contains(&m) {
                        plots[i].marks.push(m);
                    }
                }
                plots[i].lines.push(Line {
                    side: *side,
                    disturbed: r.disturbance.disturbed,
                    points: c.points.iter().map(|p| (p[0], p[1])).collect(),
                });
            }
        }
        plots
    }
}

/// Runs that ran at the same time on one time axis, each a labelled line
/// in its own colour (a stress group: which run sagged when).
#[derive(Clone, Debug)]
pub struct TimelinePlot {
    /// Caption.
    pub title: String,
    /// Y axis description.
    pub y_label: String,
    /// (run label, (seconds, value) points).
    pub lines: Vec<(String, Vec<(f64, f64)>)>,
}

/// A metric over time with its change points.
#[derive(Clone, Debug)]
pub struct HistoryPlot {
    /// Caption.
    pub title: String,
    /// Unit.
    pub unit: String,
    /// Values, oldest first.
    pub values: Vec<f64>,
    /// Change points: (index of the first point after it, is an alert).
    pub change_points: Vec<(usize, bool)>,
}

impl HistoryPlot {
    /// The plot of one history: its values, change points marked, alerts
    /// in the alarm colour.
    pub fn of(h: &MetricHistory) -> Self {
        HistoryPlot {
            title: format!("{} · {} · {} {}", h.metric, h.workload, h.sku, h.distro),
            unit: h.unit.clone(),
            values: h.points.iter().map(|p| p.value).collect(),
            change_points: h
                .change_points
                .iter()
                .map(|cp| (cp.index, h.alerts.iter().any(|a| a.index == cp.index)))
                .collect(),
        }
    }
}

/// Draws plots as standalone `<svg>` elements.
pub trait Plotter {
    /// Latency against percentile on a log `1/(1-p)` axis.
    fn percentile_plot(&self, p: &PercentilePlot) -> String;
    /// Medians with confidence whiskers, baseline against candidate.
    fn whiskers(&self, p: &WhiskerPlot) -> String;
    /// Per-interval values of each run over time.
    fn series(&self, p: &SeriesPlot) -> String;
    /// A history with its change points.
    fn history(&self, p: &HistoryPlot) -> String;
    /// A figure against a parameter, one line per run.
    fn curve(&self, p: &CurvePlot) -> String;
    /// Concurrent runs on one time axis, one colour each.
    fn timeline(&self, p: &TimelinePlot) -> String;
}

/// Plotters' SVG backend.
#[derive(Clone, Copy, Debug)]
pub struct SvgPlotter {
    /// Width of each plot, px.
    pub width: u32,
    /// Height of each plot, px.
    pub height: u32,
}

impl Default for SvgPlotter {
    fn default() -> Self {
        Self {
            width: 600,
            height: 340,
        }
    }
}

const BASE: RGBColor = RGBColor(0x3b, 0x6e, 0xa8);
const CAND: RGBColor = RGBColor(0xe0, 0x6c, 0x00);
const ALARM: RGBColor = RGBColor(0xc6, 0x28, 0x28);
const GRID: RGBColor = RGBColor(0xe4, 0xe4, 0xe4);
const FONT: &str = "sans-serif";

/// Colours of the lines of a timeline, in turn.
const PALETTE: [RGBColor; 8] = [
    BASE,
    CAND,
    RGBColor(0x2e, 0x7d, 0x32),
    RGBColor(0x8e, 0x24, 0xaa),
    RGBColor(0x00, 0x83, 0x8f),
    ALARM,
    RGBColor(0x6d, 0x4c, 0x41),
    RGBColor(0x55, 0x55, 0x55),
];

fn colour(s: Side) -> RGBColor {
    match s {
        Side::Baseline => BASE,
        Side::Candidate => CAND,
    }
}

type Res = Result<(), Box<dyn std::error::Error>>;

/// A chart with two f64 axes on the SVG backend.
type Chart2d<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The legend box every plot uses, at `at`.
fn legend<'a, DB, CT>(chart: &mut ChartContext<'a, DB, CT>, at: SeriesLabelPosition) -> Res
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(at)
        .background_style(WHITE.mix(0.85))
        .border_style(GRID)
        .label_font((FONT, 12))
        .draw()?;
    Ok(())
}

/// X range and y top (data maximum × `headroom`) of points over time, or
/// `None` when there is nothing to draw.
fn time_bounds(
    pts: impl Iterator<Item = (f64, f64)> + Clone,
    headroom: f64,
) -> Option<((f64, f64), f64)> {
    let (x0, x1) = bounds(pts.clone().map(|q| q.0))?;
    let (_, y1) = bounds(pts.map(|q| q.1))?;
    let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
    let y1 = if y1 > 0.0 { y1 * headroom } else { 1.0 };
    Some(((x0.min(0.0), x1), y1))
}

/// What sets one two-axis chart apart from another; the rest (margins,
/// grid, fonts) is the same on every plot.
struct Axes<'f> {
    title: &'f str,
    x_desc: &'f str,
    y_desc: &'f str,
    x: (f64, f64),
    y: (f64, f64),
    /// X tick labels; plotters' own when `None`.
    x_fmt: Option<&'f dyn Fn(&f64) -> String>,
    /// Y tick labels.
    y_fmt: &'f dyn Fn(&f64) -> String,
}

/// Compact y tick labels (`1.5k`, `2M`).
fn short_y(y: &f64) -> String {
    crate::common::short_num(*y)
}

/// The chart with its caption and labelled grid drawn.
fn axes<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    a: &Axes<'_>,
) -> Result<Chart2d<'a, 'b>, Box<dyn std::error::Error>> {
    let mut chart = ChartBuilder::on(root)
        .caption(a.title, (FONT, 15))
        .margin(8)
        .x_label_area_size(34)
        .y_label_area_size(58)
        .build_cartesian_2d(a.x.0..a.x.1, a.y.0..a.y.1)?;
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(GRID)
        .bold_line_style(GRID)
        .x_desc(a.x_desc)
        .y_desc(a.y_desc)
        .y_label_formatter(a.y_fmt)
        .label_style((FONT, 12));
    if let Some(f) = a.x_fmt {
        mesh.x_label_formatter(f);
    }
    mesh.draw()?;
    Ok(chart)
}

/// The axes of a plot over seconds of the measured phase, y from 0.
fn time_axes<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
    y_label: &str,
    x: (f64, f64),
    y1: f64,
) -> Result<Chart2d<'a, 'b>, Box<dyn std::error::Error>> {
    axes(
        root,
        &Axes {
            title,
            x_desc: "seconds into the measured phase",
            y_desc: y_label,
            x,
            y: (0.0, y1),
            x_fmt: None,
            y_fmt: &short_y,
        },
    )
}

/// Draws one line per run in its side's colour (disturbed runs dashed,
/// optional point markers) and a legend with one entry per kind of line.
fn draw_runs<'a, 'b: 'a>(
    chart: &mut Chart2d<'a, 'b>,
    lines: &[(&Line, &[(f64, f64)])],
    side_labels: &[String; 2],
    markers: bool,
    legend_at: SeriesLabelPosition,
) -> Res {
    let mut labelled = [false; 3];
    for (l, pts) in lines {
        let col = colour(l.side);
        let slot = if l.disturbed { 2 } else { l.side as usize };
        if markers {
            chart.draw_series(
                pts.iter()
                    .map(|&q| Circle::new(q, 2, col.mix(0.75).filled())),
            )?;
        }
        let ann = if l.disturbed {
            chart.draw_series(DashedLineSeries::new(
                pts.iter().copied(),
                6,
                4,
                col.mix(0.9).stroke_width(1),
            ))?
        } else {
            chart.draw_series(LineSeries::new(
                pts.iter().copied(),
                col.mix(0.75).stroke_width(1),
            ))?
        };
        if !labelled[slot] {
            labelled[slot] = true;
            let text = if l.disturbed {
                "disturbed run (dashed)".to_string()
            } else {
                side_labels[l.side as usize].clone()
            };
            let dashed = l.disturbed;
            ann.label(text).legend(move |(x, y)| {
                let len = if dashed { 5 } else { 16 };
                PathElement::new(vec![(x, y), (x + len, y)], col.stroke_width(2))
            });
        }
    }
    legend(chart, legend_at)?;
    Ok(())
}

/// Runs `f` on a fresh SVG canvas and returns the SVG text; a plot that
/// cannot be drawn becomes a small SVG saying so rather than a panic.
fn canvas(w: u32, h: u32, f: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Res) -> String {
    let mut buf = String::new();
    let outcome = {
        let root = SVGBackend::with_string(&mut buf, (w, h)).into_drawing_area();
        let r = root
            .fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|_| f(&root).map_err(|e| e.to_string()));
        r.and_then(|_| root.present().map_err(|e| e.to_string()))
    };
    match outcome {
        Ok(()) => buf,
        Err(e) => format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="40"><text x="4" y="24" font-family="{FONT}" font-size="13">plot not drawn: {}</text></svg>"#,
            crate::common::esc_html(&e)
        ),
    }
}

fn empty(w: u32, title: &str) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="40"><text x="4" y="24" font-family="{FONT}" font-size="13">{}: no data</text></svg>"#,
        crate::common::esc_html(title)
    )
}

/// The label of an x tick `log10(1/(1-p))`: 0 → `0%`, 2 → `99%`, 3 → `99.9%`.
pub fn percentile_label(x: f64) -> String {
    let k = x.round() as i32;
    if (x - k as f64).abs() > 1e-9 {
        let p = 100.0 * (1.0 - 10f64.powf(-x));
        return format!("{p:.3}%");
    }
    match k {
        i32::MIN..=0 => "0%".into(),
        1 => "90%".into(),
        k => format!("99.{}%", "9".repeat((k - 2) as usize)).replace("99.%", "99%"),
    }
}

fn bounds(vals: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in vals.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (lo <= hi).then_some((lo, hi))
}

fn percentile_chart<Y>(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    p: &PercentilePlot,
    xmax: f64,
    y: Y,
) -> Res
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(root)
        .caption(&p.title, (FONT, 15))
        .margin(8)
        .margin_right(28)
        .x_label_area_size(34)
        .y_label_area_size(58)
        .build_cartesian_2d(0f64..xmax, y)?;
    chart
        .configure_mesh()
        .light_line_style(GRID.mix(0.5))
        .bold_line_style(GRID)
        .max_light_lines(2)
        // One label per "nine": 0%, 90%, 99%, 99.9% …
        .x_labels(xmax as usize + 1)
        .x_desc("percentile")
        .y_desc(format!("latency ({})", p.unit))
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&short_y)
        .label_style((FONT, 12))
        .draw()?;
    for c in &p.curves {
        let col = colour(c.side);
        chart
            .draw_series(LineSeries::new(
                c.points.iter().copied().filter(|(_, y)| *y > 0.0),
                col.stroke_width(2),
            ))?
            .label(c.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], col.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}

impl Plotter for SvgPlotter {
    fn percentile_plot(&self, p: &PercentilePlot) -> String {
        let pts = || {
            p.curves
                .iter()
                .flat_map(|c| c.points.iter())
                .filter(|(_, y)| *y > 0.0)
        };
        let (Some((_, xmax)), Some((ylo, yhi))) =
            (bounds(pts().map(|q| q.0)), bounds(pts().map(|q| q.1)))
        else {
            return empty(self.width, &p.title);
        };
        let xmax = xmax.ceil().max(2.0);
        canvas(self.width, self.height, |root| {
            // A log latency axis when the distribution spans a decade or
            // more (body and tail both readable); linear otherwise, where a
            // log axis would show a single tick.
            if yhi / ylo >= 10.0 {
                percentile_chart(root, p, xmax, (ylo * 0.9..yhi * 1.15).log_scale())
            } else {
                let pad = (yhi - ylo) * 0.08;
                percentile_chart(root, p, xmax, (ylo - pad).max(0.0)..yhi + pad)
            }
        })
    }

    fn whiskers(&self, p: &WhiskerPlot) -> String {
        if p.items.is_empty() {
            return empty(self.width, &p.title);
        }
        let all = p
            .items
            .iter()
            .flat_map(|w| [w.baseline, w.candidate])
            .flat_map(|i| [i.lo, i.mid, i.hi]);
        let Some((lo, hi)) = bounds(all.map(|v| (v - 1.0) * 100.0)) else {
            return empty(self.width, &p.title);
        };
        let span = (hi.max(0.0) - lo.min(0.0)).max(2.0);
        let (xlo, xhi) = (lo.min(0.0) - span * 0.08, hi.max(0.0) + span * 0.08);
        let n = p.items.len();
        // One spare row on top holds the legend, clear of the whiskers.
        let h = 104 + 34 * n as u32;
        let labels: Vec<String> = p.items.iter().map(|w| w.label.clone()).collect();
        let label_w = labels.iter().map(|l| l.chars().count()).max().unwrap_or(8) as u32 * 8 + 16;
        canvas(self.width, h, |root| {
            let mut chart = ChartBuilder::on(root)
                .caption(&p.title, (FONT, 15))
                .margin(8)
                .x_label_area_size(30)
                .y_label_area_size(label_w.min(self.width / 2))
                .build_cartesian_2d(xlo..xhi, -0.5f64..n as f64 - 0.5)?;
            chart
                .configure_mesh()
                .light_line_style(GRID)
                .bold_line_style(GRID)
                .x_desc("change vs baseline median (%)")
                .x_label_formatter(&|x| format!("{x:+.0}%"))
                .y_labels(n + 1)
                .y_label_formatter(&|y| {
                    if (y - y.round()).abs() > 1e-6 || *y < -0.1 || *y > n as f64 - 0.9 {
                        return String::new();
                    }
                    // Row 0 is drawn at the top.
                    let i = (y.round() as usize).min(n - 1);
                    labels.get(n - 1 - i).cloned().unwrap_or_default()
                })
                .label_style((FONT, 12))
                .draw()?;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(0.0, -0.5), (0.0, n as f64 - 0.5)],
                BLACK.mix(0.5).stroke_width(1),
            )))?;
            for (i, w) in p.items.iter().enumerate() {
                let y = (n - 1 - i) as f64;
                for (side, iv, dy) in [
                    (Side::Baseline, w.baseline, 0.15),
                    (Side::Candidate, w.candidate, -0.15),
                ] {
                    let col = if side == Side::Candidate && w.regression {
                        ALARM
                    } else {
                        colour(side)
                    };
                    let pc = |v: f64| (v - 1.0) * 100.0;
                    let yy = y + dy;
                    chart.draw_series([
                        PathElement::new(
                            vec![(pc(iv.lo), yy), (pc(iv.hi), yy)],
                            col.stroke_width(2),
                        ),
                        PathElement::new(
                            vec![(pc(iv.lo), yy - 0.08), (pc(iv.lo), yy + 0.08)],
                            col.stroke_width(2),
                        ),
                        PathElement::new(
                            vec![(pc(iv.hi), yy - 0.08), (pc(iv.hi), yy + 0.08)],
                            col.stroke_width(2),
                        ),
                    ])?;
                    let s = chart.draw_series(std::iter::once(Circle::new(
                        (pc(iv.mid), yy),
                        4,
                        col.filled(),
                    )))?;
                    if i == 0 {
                        s.label(side.word()).legend(move |(x, y)| {
                            Circle::new((x + 8, y), 4, colour(side).filled())
                        });
                    }
                }
            }
            legend(&mut chart, SeriesLabelPosition::UpperRight)?;
            Ok(())
        })
    }

    fn series(&self, p: &SeriesPlot) -> String {
        let pts = p.lines.iter().flat_map(|l| l.points.iter().copied());
        let Some((x, y1)) = time_bounds(pts, 1.1) else {
            return empty(self.width, &p.title);
        };
        canvas(self.width, self.height, |root| {
            let mut chart = time_axes(root, &p.title, &p.y_label, x, y1)?;
            let lines: Vec<(&Line, &[(f64, f64)])> =
                p.lines.iter().map(|l| (l, l.points.as_slice())).collect();
            draw_runs(
                &mut chart,
                &lines,
                &p.side_labels,
                false,
                SeriesLabelPosition::LowerRight,
            )
        })
    }

    fn curve(&self, p: &CurvePlot) -> String {
        // Log x is drawn as log2(x) on a linear axis, labelled back in x:
        // one chart type for both scales.
        let lg = |log: bool, v: f64| if log { v.log2() } else { v };
        let lines: Vec<(&Line, Vec<(f64, f64)>)> = p
            .lines
            .iter()
            .map(|l| {
                let pts = l
                    .points
                    .iter()
                    .filter(|q| {
                        q.0.is_finite()
                            && q.1.is_finite()
                            && (!p.log_x || q.0 > 0.0)
                            && (!p.log_y || q.1 > 0.0)
                    })
                    .map(|q| (lg(p.log_x, q.0), lg(p.log_y, q.1)))
                    .collect();
                (l, pts)
            })
            .collect();
        let pts = || lines.iter().flat_map(|(_, v)| v.iter());
        // Marks in the plot's coordinates; a level spans the plot, so it
        // widens only the y range.
        let marks: Vec<(Option<f64>, f64, &str)> = p
            .marks
            .iter()
            .filter(|m| (!p.log_y || m.y > 0.0) && m.x.is_none_or(|x| !p.log_x || x > 0.0))
            .map(|m| {
                (
                    m.x.map(|x| lg(p.log_x, x)),
                    lg(p.log_y, m.y),
                    m.label.as_str(),
                )
            })
            .collect();
        let (Some((x0, x1)), Some((ylo, y1))) = (
            bounds(pts().map(|q| q.0)),
            bounds(pts().map(|q| q.1).chain(marks.iter().map(|m| m.1))),
        ) else {
            return empty(self.width, &p.title);
        };
        let (x0, x1) = if x1 > x0 {
            (x0, x1)
        } else {
            (x0 - 1.0, x1 + 1.0)
        };
        // Linear y starts at 0; log y spans the data with half a doubling
        // of margin.
        let (y0, y1) = if p.log_y {
            (ylo - 0.5, y1 + 0.5)
        } else if y1 > 0.0 {
            (0.0, y1 * 1.1)
        } else {
            (0.0, 1.0)
        };
        let (log_x, log_y, bytes) = (p.log_x, p.log_y, p.x_bytes);
        let y_fmt = move |v: &f64| crate::common::short_num(if log_y { 2f64.powf(*v) } else { *v });
        let x_fmt = move |v: &f64| {
            let x = if log_x { 2f64.powf(*v) } else { *v };
            if bytes {
                crate::common::short_bytes(x)
            } else {
                crate::common::short_num(x)
            }
        };
        canvas(self.width, self.height, |root| {
            let mut chart = axes(
                root,
                &Axes {
                    title: &p.title,
                    x_desc: &p.x_label,
                    y_desc: &p.y_label,
                    x: (x0, x1),
                    y: (y0, y1),
                    x_fmt: Some(&x_fmt),
                    y_fmt: &y_fmt,
                },
            )?;
            let lines: Vec<(&Line, &[(f64, f64)])> =
                lines.iter().map(|(l, v)| (*l, v.as_slice())).collect();
            // Markers show where the measured points are (the steps).
            draw_runs(
                &mut chart,
                &lines,
                &p.side_labels,
                true,
                SeriesLabelPosition::UpperLeft,
            )?;
            let ink = BLACK.mix(0.8);
            for (x, y, label) in &marks {
                match x {
                    Some(x) => {
                        chart.draw_series(std::iter::once(
                            EmptyElement::at((*x, *y))
                                + Circle::new((0, 0), 6, ink.stroke_width(2))
                                + Text::new(label.to_string(), (8, -14), (FONT, 12)),
                        ))?;
                    }
                    None => {
                        chart.draw_series(DashedLineSeries::new(
                            [(x0, *y), (x1, *y)],
                            6,
                            4,
                            ALARM.mix(0.8).stroke_width(1),
                        ))?;
                        chart.draw_series(std::iter::once(
                            EmptyElement::at((x0, *y))
                                + Text::new(label.to_string(), (4, -14), (FONT, 12)),
                        ))?;
                    }
                }
            }
            Ok(())
        })
    }

    fn timeline(&self, p: &TimelinePlot) -> String {
        let pts = p.lines.iter().flat_map(|l| l.1.iter().copied());
        let Some((x, y1)) = time_bounds(pts, 1.15) else {
            return empty(self.width, &p.title);
        };
        canvas(self.width, self.height, |root| {
            let mut chart = time_axes(root, &p.title, &p.y_label, x, y1)?;
            for (i, (label, pts)) in p.lines.iter().enumerate() {
                let col = PALETTE[i % PALETTE.len()];
                chart
                    .draw_series(LineSeries::new(pts.iter().copied(), col.stroke_width(2)))?
                    .label(label.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], col.stroke_width(2))
                    });
            }
            legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
            Ok(())
        })
    }

    fn history(&self, p: &HistoryPlot) -> String {
        let Some((lo, hi)) = bounds(p.values.iter().copied()) else {
            return empty(self.width, &p.title);
        };
        let pad = ((hi - lo) * 0.1).max(hi.abs() * 0.01).max(1e-9);
        let n = p.values.len();
        canvas(self.width, self.height, |root| {
            let mut chart = axes(
                root,
                &Axes {
                    title: &p.title,
                    x_desc: "run (oldest first)",
                    y_desc: &p.unit,
                    x: (-0.5, n as f64 - 0.5),
                    y: (lo - pad, hi + pad),
                    x_fmt: Some(&|x| format!("{x:.0}")),
                    y_fmt: &short_y,
                },
            )?;
            for &(i, alert) in &p.change_points {
                let x = i as f64 - 0.5;
                let col = if alert {
                    ALARM.to_rgba()
                } else {
                    BLACK.mix(0.5)
                };
                chart
                    .draw_series(DashedLineSeries::new(
                        [(x, lo - pad), (x, hi + pad)],
                        6,
                        4,
                        col.stroke_width(2),
                    ))?
                    .label(if alert {
                        "change point (alert)"
                    } else {
                        "change point"
                    })
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], col.stroke_width(2))
                    });
            }
            chart
                .draw_series(LineSeries::new(
                    p.values.iter().enumerate().map(|(i, v)| (i as f64, *v)),
                    BASE.stroke_width(2),
                ))?
                .label("value")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BASE.stroke_width(2)));
            chart.draw_series(
                p.values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Circle::new((i as f64, *v), 2, BASE.filled())),
            )?;
            legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_ticks_read_as_nines() {
        assert_eq!(percentile_label(0.0), "0%");
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(3.0), "99.9%");
        assert_eq!(percentile_label(4.0), "99.99%");
        assert_eq!(percentile_label(5.0), "99.999%");
    }

    #[test]
    fn plots_are_svg_and_empty_input_does_not_panic() {
        let pl = SvgPlotter::default();
        let s = pl.percentile_plot(&PercentilePlot {
            title: "t".into(),
            unit: "µs".into(),
            curves: vec![Curve {
                label: "baseline".into(),
                side: Side::Baseline,
                points: vec![(0.0, 10.0), (1.0, 20.0), (2.0, 50.0), (3.0, 400.0)],
            }],
        });
        assert!(s.starts_with("<svg") && s.contains("<polyline"), "{s}");
        assert!(s.contains("99.9%"), "x ticks are labelled as percentiles");
        let e = pl.series(&SeriesPlot {
            title: "none".into(),
            y_label: "ops/s".into(),
            side_labels: ["a".into(), "b".into()],
            lines: vec![],
        });
        assert!(e.contains("no data"));
        let w = pl.whiskers(&WhiskerPlot {
            title: "w".into(),
            items: vec![Whisker {
                label: "x.ops_per_s".into(),
                baseline: Interval {
                    mid: 1.0,
                    lo: 0.99,
                    hi: 1.01,
                },
                candidate: Interval {
                    mid: 0.9,
                    lo: 0.89,
                    hi: 0.91,
                },
                regression: true,
            }],
        });
        assert!(w.contains("x.ops_per_s") && w.contains("#C62828"), "{w}");
    }

    #[test]
    fn curve_marks_come_from_notes_and_are_drawn() {
        let mut r = bench_core::result::RunRecord {
            id: "a#1".into(),
            workload: "disk".into(),
            label: "disk".into(),
            repetition: 1,
            spec: serde_json::json!({}),
            status: bench_core::result::Status::Ok,
            error: None,
            started_at: String::new(),
            finished_at: String::new(),
            warmup_s: 0.0,
            measured_s: 1.0,
            metrics: vec![],
            histograms: Default::default(),
            series: vec![],
            curves: vec![],
            disturbance: Default::default(),
            notes: Default::default(),
        };
        r.curves.push(bench_core::result::Curve {
            name: "d.lat".into(),
            x_unit: "ops/s".into(),
            y_unit: "ns".into(),
            log_x: false,
            log_y: true,
            points: vec![[1000.0, 1e5], [1900.0, 1.1e5], [2000.0, 4e5]],
        });
        r.notes.insert(
            "curve_marks".into(),
            serde_json::json!({ "d.lat": [
                { "label": "knee: qd 2", "x": 1900.0, "y": 1.1e5 },
                { "label": "target 1 ms", "y": 1e6 },
                { "label": "bad", "x": "no", "y": 1.0 },
                { "label": "nan" }
            ]}),
        );
        let plots = CurvePlot::from_runs("disk", &[(Side::Baseline, &r)], ["runs", ""]);
        assert_eq!(plots.len(), 1);
        assert_eq!(
            plots[0].marks,
            vec![
                Mark {
                    label: "knee: qd 2".into(),
                    x: Some(1900.0),
                    y: 1.1e5
                },
                Mark {
                    label: "target 1 ms".into(),
                    x: None,
                    y: 1e6
                },
            ]
        );
        let svg = SvgPlotter::default().curve(&plots[0]);
        assert!(
            svg.contains("knee: qd 2") && svg.contains("target 1 ms"),
            "{svg}"
        );
        // The level lies above every point: the y range grew to show it.
        assert!(svg.contains("<circle"), "{svg}");
    }
}
