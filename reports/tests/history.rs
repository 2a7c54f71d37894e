//! History reports: the verdict, alerts first, every history listed,
//! JUnit failures only for alerts, and untrusted names escaped.

use baselines::history::MetricHistory;
use reports::history::{headline, render_html, render_junit, render_markdown};

fn history(metric: &str, alert: bool) -> MetricHistory {
    reports::sample::metric_history(metric, alert)
}

#[test]
fn an_alert_fails_every_format_and_a_quiet_history_passes() {
    let quiet = [history("disk.randread.lat_ns.p99", false)];
    assert!(headline(&quiet, 5).starts_with("PASS"));
    assert!(!render_junit(&quiet, 5).unwrap().contains("<failure"));
    let page = render_html(&quiet, 5);
    assert!(page.contains("verdict pass") && !page.contains("<h2>Alerts</h2>"));

    let both = [
        history("disk.randread.lat_ns.p99", false),
        history("disk.randread.iops", true),
    ];
    let h = headline(&both, 5);
    assert!(h.starts_with("FAIL: 1 change point alert(s)"), "{h}");
    assert!(h.contains("(1 of 2 metric histories)"), "{h}");

    let junit = render_junit(&both, 5).unwrap();
    assert_eq!(junit.matches("<failure").count(), 1, "{junit}");
    assert!(
        junit.contains("100.000 ops/s → 80.000 ops/s (-20.0%) from run #6"),
        "{junit}"
    );
    assert_eq!(junit.matches("<testcase").count(), 2);

    let md = render_markdown(&both, 5);
    assert!(md.contains("| `disk.randread.iops` | randread | Standard_D4s_v6 · debian | **100.000 ops/s → 80.000 ops/s (-20.0%)"), "{md}");

    let page = render_html(&both, 5);
    assert!(page.contains("verdict fail"));
    let alerts_at = page.find("<h2>Alerts</h2>").unwrap();
    assert!(alerts_at < page.find("<h2>Every history</h2>").unwrap());
    // One plot per history: the alerted one under Alerts, the other below.
    assert_eq!(page.matches("<figure class=\"plot\">").count(), 2);
    for bad in ["<script", "src=", "href=", "url(", "@import", "<link"] {
        assert!(!page.contains(bad), "page contains {bad}");
    }
}

#[test]
fn names_from_result_files_are_escaped() {
    let evil = [history("x<script>alert(1)</script>|y", true)];
    let page = render_html(&evil, 5);
    assert!(!page.contains("<script>"), "unescaped name in HTML");
    let md = render_markdown(&evil, 5);
    assert!(!md.contains("<script>") && md.contains("\\|y"), "{md}");
    let junit = render_junit(&evil, 5).unwrap();
    assert!(!junit.contains("<script>"), "{junit}");
}

#[test]
fn empty_history_is_a_page_not_an_error() {
    let page = render_html(&[], 5);
    assert!(page.contains("No history matches"));
    assert!(headline(&[], 5).starts_with("PASS"));
    assert!(render_junit(&[], 5).unwrap().contains("<testsuites"));
}
