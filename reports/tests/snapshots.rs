//! Snapshots of every format on the fixed sample comparison
//! (`reports::sample`): regressions, an improvement, unchanged,
//! inconclusive and low-confidence metrics, failed and passed spec limits.
//! The sample has no timestamps or host-dependent data, so the snapshots
//! only change when a renderer does.

use reports::{html, json, junit, markdown, runs, sample, terminal};

#[test]
fn terminal_plain() {
    insta::assert_snapshot!("terminal", terminal::render(&sample::comparison(), false));
}

#[test]
fn terminal_colour() {
    let t = terminal::render(&sample::comparison(), true);
    assert!(t.contains("\x1b[1;31mregression\x1b[0m"));
    insta::assert_snapshot!("terminal_colour", t);
}

#[test]
fn markdown() {
    insta::assert_snapshot!("markdown", markdown::render(&sample::comparison()));
}

#[test]
fn json() {
    let bytes = json::render(&sample::comparison()).unwrap();
    insta::assert_snapshot!("json", String::from_utf8(bytes).unwrap());
}

#[test]
fn junit() {
    insta::assert_snapshot!("junit", junit::render(&sample::comparison()).unwrap());
}

#[test]
fn html() {
    let c = sample::comparison();
    let (b, k) = sample::result_files();
    let page = html::render(&html::HtmlInput {
        comparison: &c,
        baseline: &b,
        candidate: &k,
        history: &[],
    });
    insta::assert_snapshot!("html", page);
}

#[test]
fn single_runs() {
    let (_, k) = sample::result_files();
    insta::assert_snapshot!("runs_markdown", runs::markdown(&k));
    insta::assert_snapshot!(
        "runs_json",
        String::from_utf8(runs::json(&k).unwrap()).unwrap()
    );
    insta::assert_snapshot!("runs_html", runs::html(&k));
}
