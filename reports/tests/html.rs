//! The HTML report: self-contained, every plot present, the verdict and the
//! worst latency regression at the top, disturbed runs marked, and small
//! enough for a 50-metric comparison.

use std::cell::RefCell;

use baselines::history::MetricHistory;
use reports::html::{render, render_with, HtmlInput};
use reports::plot::{
    CurvePlot, HistoryPlot, PercentilePlot, Plotter, SeriesPlot, Side, TimelinePlot, WhiskerPlot,
};
use reports::sample;

fn sample_page(history: &[MetricHistory]) -> String {
    let c = sample::comparison();
    let (b, k) = sample::result_files();
    render(&HtmlInput {
        comparison: &c,
        baseline: &b,
        candidate: &k,
        history,
    })
}

/// Records what the renderer asked to plot.
#[derive(Default)]
struct Spy(RefCell<Vec<String>>);

impl Plotter for Spy {
    fn percentile_plot(&self, p: &PercentilePlot) -> String {
        self.0.borrow_mut().push(format!("percentile {}", p.title));
        "<svg></svg>".into()
    }
    fn whiskers(&self, p: &WhiskerPlot) -> String {
        let labels: Vec<&str> = p.items.iter().map(|w| w.label.as_str()).collect();
        self.0
            .borrow_mut()
            .push(format!("whiskers {} {}", p.title, labels.join(",")));
        "<svg></svg>".into()
    }
    fn series(&self, p: &SeriesPlot) -> String {
        let disturbed = p.lines.iter().filter(|l| l.disturbed).count();
        self.0.borrow_mut().push(format!(
            "series {} lines={} disturbed={disturbed}",
            p.title,
            p.lines.len()
        ));
        "<svg></svg>".into()
    }
    fn history(&self, p: &HistoryPlot) -> String {
        self.0
            .borrow_mut()
            .push(format!("history {} cps={:?}", p.title, p.change_points));
        "<svg></svg>".into()
    }
    fn timeline(&self, p: &TimelinePlot) -> String {
        self.0
            .borrow_mut()
            .push(format!("timeline {} lines={}", p.title, p.lines.len()));
        "<svg></svg>".into()
    }
    fn curve(&self, p: &CurvePlot) -> String {
        let cand = p.lines.iter().filter(|l| l.side == Side::Candidate).count();
        self.0.borrow_mut().push(format!(
            "curve {} x={} log={} lines={} candidate={cand}",
            p.title,
            p.x_label,
            p.log_x,
            p.lines.len()
        ));
        "<svg></svg>".into()
    }
}

#[test]
fn plots_requested_through_the_trait() {
    let c = sample::comparison();
    let (b, k) = sample::result_files();
    let spy = Spy::default();
    render_with(
        &HtmlInput {
            comparison: &c,
            baseline: &b,
            candidate: &k,
            history: &[],
        },
        &spy,
    );
    let calls = spy.0.into_inner();
    // The regressed disk family comes first (the top of the page), the
    // jitter family after it.
    assert_eq!(calls[0], "percentile randread · disk.randread.lat_ns");
    assert!(calls.contains(&"percentile jitter · jitter.sleep.lat_ns".to_string()));
    // Latency percentiles are plotted as distributions, not as whiskers.
    let w: Vec<&String> = calls.iter().filter(|c| c.starts_with("whiskers")).collect();
    assert!(
        w.iter()
            .any(|c| c.starts_with("whiskers randread disk.randread.iops")),
        "{w:?}"
    );
    assert!(w.iter().all(|c| !c.contains("lat_ns.p9")), "{w:?}");
    // Every run's series, the disturbed candidate run among them.
    assert!(
        calls.contains(&"series randread · disk.randread lines=14 disturbed=1".to_string()),
        "{calls:?}"
    );
    assert!(calls.iter().any(|c| c.starts_with("series stream")));
    // Curves: one plot per curve name, every run of both sides a line.
    assert!(
        calls.contains(
            &"curve latency · mem.latency.ns_per_load x=bytes log=true lines=10 candidate=5"
                .to_string()
        ),
        "{calls:?}"
    );
}

#[test]
fn verdict_and_tail_regression_come_first() {
    let page = sample_page(&[]);
    let top_end = page.find("</section>").unwrap();
    let top = &page[..top_end];
    assert!(top.contains("<header class=\"verdict fail\"><h1>FAIL: 2 regressions"));
    assert!(top.contains("disk.randread.lat_ns.p99_9"));
    assert!(
        top.contains("regressed: p99_9 +42."),
        "caption names the tail regression"
    );
    assert!(
        top.contains("<svg"),
        "the distribution plot is in the top section"
    );
    assert!(
        top.contains("advertised uncached IOPS cap"),
        "failed spec limit at the top"
    );
}

#[test]
fn self_contained_and_every_figure_has_a_plot() {
    let page = sample_page(&[]);
    for bad in ["<script", "src=", "href=", "url(", "@import", "<link"] {
        assert!(!page.contains(bad), "page contains {bad}");
    }
    // The only URL is the SVG namespace, which is a name, not a fetch.
    let urls = page.matches("http").count();
    let ns = page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count();
    assert_eq!(urls, ns);
    let figures = page.matches("<figure class=\"plot\">").count();
    assert!(figures >= 6, "{figures}");
    for f in page.split("<figure class=\"plot\">").skip(1) {
        let body = &f[..f.find("</figure>").unwrap()];
        assert!(body.starts_with("<svg") && body.contains("</svg>"));
        assert!(!body.contains("plot not drawn") && !body.contains("no data"));
    }
    assert!(page.contains("disturbed, left out"));
    assert!(page.contains("1 disturbed run dashed (left out of the comparison)"));
    // Both hosts side by side.
    assert!(page.contains("Standard_D4s_v5") && page.contains("Standard_D4s_v6"));
}

#[test]
fn history_with_change_points_is_plotted_when_given() {
    let h = sample::metric_history("disk.randread.iops", true);
    let page = sample_page(std::slice::from_ref(&h));
    assert!(page.contains("<h2>History</h2>"));
    assert!(page.contains("change point (alert)"));
    assert!(page.contains("10 points, 1 change point(s), 1 alert(s)"));
    assert!(!sample_page(&[]).contains("<h2>History</h2>"));
}

#[test]
fn fifty_metric_report_is_under_two_megabytes() {
    let (c, b, k) = sample::fifty_metrics();
    assert_eq!(c.rows.len(), 50);
    assert!(c.counts.regression > 0, "{:?}", c.counts);
    let page = render(&HtmlInput {
        comparison: &c,
        baseline: &b,
        candidate: &k,
        history: &[],
    });
    assert!(page.len() < 2 << 20, "{} bytes", page.len());
    // One distribution per workload, whiskers and series per workload.
    assert_eq!(page.matches("latency by percentile").count(), 10);
    assert_eq!(page.matches("<figure class=\"plot\">").count(), 30);
}

#[test]
fn timelines_group_runs_that_ran_together() {
    let (b, _) = sample::result_files();
    let mut runs = b[0].1.runs.clone();
    assert!(
        reports::runs::timelines(&runs).is_empty(),
        "nothing ran together"
    );
    // Make the first run of two labels a concurrent pair.
    let first = |label: &str, runs: &[bench_core::result::RunRecord]| {
        runs.iter()
            .position(|r| r.label == label && r.repetition == 1)
            .unwrap()
    };
    let (i, j) = (first("randread", &runs), first("stream", &runs));
    runs[i]
        .notes
        .insert("concurrent_with".into(), serde_json::json!(["stream"]));
    runs[j]
        .notes
        .insert("concurrent_with".into(), serde_json::json!(["randread"]));
    let t = reports::runs::timelines(&runs);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].title, "repetition 1: randread, stream");
    assert_eq!(t[0].lines.len(), 2);
    // Each line is relative to its own 90th-percentile interval.
    for (label, pts) in &t[0].lines {
        let mut v: Vec<f64> = pts.iter().map(|p| p.1).collect();
        v.sort_by(f64::total_cmp);
        let p90 = v[(v.len() * 9 / 10).min(v.len() - 1)];
        assert!((p90 - 100.0).abs() < 1e-9, "{label}: {v:?}");
        assert!(v[0] > 0.0 && v[0] <= 100.0, "{label}: {v:?}");
    }
}
