//! Opens HTML reports in headless Chromium (scripts/browser-test): the page
//! loads with no console message, every plot's `<svg>` is in the rendered
//! DOM, and a screenshot of the sample report is taken. Gated by
//! `SKUBENCH_BROWSER_TESTS=1` (CI sets it); with
//! `SKUBENCH_UPDATE_SCREENSHOT=1` the screenshot replaces
//! docs/report-screenshot.png.

use std::path::Path;
use std::process::Command;

use reports::html::{render, HtmlInput};
use reports::sample;

fn enabled() -> bool {
    if std::env::var("SKUBENCH_BROWSER_TESTS").as_deref() == Ok("1") {
        return true;
    }
    eprintln!(
        "skipped: set SKUBENCH_BROWSER_TESTS=1 to open the HTML reports in headless Chromium"
    );
    false
}

struct Loaded {
    dom: String,
    console: Vec<String>,
    screenshot: Vec<u8>,
}

fn open(html: &str, dir: &Path) -> Loaded {
    let page = dir.join("report.html");
    std::fs::write(&page, html).unwrap();
    let out = dir.join("out");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/browser-test");
    let st = Command::new("bash")
        .arg(script)
        .arg(&page)
        .arg(&out)
        .status()
        .expect("run scripts/browser-test");
    assert!(st.success(), "scripts/browser-test failed: {st}");
    let log = std::fs::read_to_string(out.join("console.log")).unwrap();
    Loaded {
        dom: std::fs::read_to_string(out.join("dom.html")).unwrap(),
        console: log
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(String::from)
            .collect(),
        screenshot: std::fs::read(out.join("screenshot.png")).unwrap(),
    }
}

/// Each `<figure class="plot">` of the source still holds an `<svg>` with
/// drawn content after the browser parsed the page.
fn assert_plots_present(source: &str, dom: &str) {
    let want = source.matches("<figure class=\"plot\">").count();
    assert!(want > 0);
    let figures: Vec<&str> = dom.split("<figure class=\"plot\">").skip(1).collect();
    assert_eq!(figures.len(), want, "figures lost in the DOM");
    for f in figures {
        let body = &f[..f.find("</figure>").expect("figure closed")];
        assert!(body.contains("<svg"), "figure without svg");
        assert!(
            body.contains("<polyline") || body.contains("<circle") || body.contains("<line"),
            "svg without drawing"
        );
    }
}

#[test]
fn console_messages_are_detected() {
    // The check below is only worth something if a console error would be seen.
    if !enabled() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let l = open(
        "<!DOCTYPE html><html><body><script>console.error('skubench-canary')</script></body></html>",
        dir.path(),
    );
    assert!(
        l.console.iter().any(|c| c.contains("skubench-canary")),
        "{:?}",
        l.console
    );
}

#[test]
fn sample_report_renders_without_console_errors() {
    if !enabled() {
        return;
    }
    let c = sample::comparison();
    let (b, k) = sample::result_files();
    let html = render(&HtmlInput {
        comparison: &c,
        baseline: &b,
        candidate: &k,
        history: &[],
    });
    let dir = tempfile::tempdir().unwrap();
    let l = open(&html, dir.path());
    assert!(l.console.is_empty(), "console: {:?}", l.console);
    assert!(l.dom.contains("FAIL: 2 regressions"));
    assert_plots_present(&html, &l.dom);
    assert!(l.screenshot.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(l.screenshot.len() > 20_000, "screenshot looks blank");
    if std::env::var("SKUBENCH_UPDATE_SCREENSHOT").as_deref() == Ok("1") {
        let doc = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/report-screenshot.png");
        std::fs::write(doc, &l.screenshot).unwrap();
    }
}

#[test]
fn fifty_metric_report_renders() {
    if !enabled() {
        return;
    }
    let (c, b, k) = sample::fifty_metrics();
    let html = render(&HtmlInput {
        comparison: &c,
        baseline: &b,
        candidate: &k,
        history: &[],
    });
    assert!(html.len() < 2 << 20);
    let dir = tempfile::tempdir().unwrap();
    let l = open(&html, dir.path());
    assert!(l.console.is_empty(), "console: {:?}", l.console);
    assert_plots_present(&html, &l.dom);
}

#[test]
fn matrix_page_renders_without_console_errors() {
    if !enabled() {
        return;
    }
    // The sample's candidate as two distros of one SKU, against its baseline.
    let (b, k) = sample::result_files();
    let mut results = Vec::new();
    for (distro, files) in [("ubuntu", &k), ("rhel", &b)] {
        for (src, f) in files.iter() {
            let mut f = f.clone();
            f.host.sku = Some("Standard_D4s_v6".into());
            f.host.distro = distro.into();
            results.push((format!("{distro}-{src}"), f));
        }
    }
    let m = baselines::matrix::build(
        "onb",
        results,
        Some(("pred", &b)),
        &baselines::policy::Policy::default(),
        None,
    );
    let html = reports::matrix::render_html(&m);
    let dir = tempfile::tempdir().unwrap();
    let l = open(&html, dir.path());
    assert!(l.console.is_empty(), "console: {:?}", l.console);
    assert!(l.dom.contains("<table class=\"grid-m\">"), "no grid");
    for c in &m.cells {
        assert!(
            l.dom.contains(&format!("id=\"{}\"", c.slug)),
            "no anchor {}",
            c.slug
        );
    }
    assert!(l.screenshot.len() > 20_000, "screenshot looks blank");
    std::fs::write(dir.path().join("matrix.png"), &l.screenshot).unwrap();
    if let Some(to) = std::env::var_os("SKUBENCH_MATRIX_SCREENSHOT") {
        std::fs::write(to, &l.screenshot).unwrap();
    }
}
