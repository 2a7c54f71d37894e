//! Snapshots of every format on the fixed sample comparison
//! (`reports::sample`, outcome FAIL): regressions, an improvement,
//! unchanged, inconclusive and low-confidence metrics, a possible
//! regression, an explanatory counter, a metric missing from the
//! candidate, failed and passed spec limits; and the terminal, Markdown and
//! JUnit of its INCONCLUSIVE variant.
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
fn inconclusive() {
    let c = sample::inconclusive();
    insta::assert_snapshot!("terminal_inconclusive", terminal::render(&c, false));
    insta::assert_snapshot!("markdown_inconclusive", markdown::render(&c));
    insta::assert_snapshot!("junit_inconclusive", junit::render(&c).unwrap());
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
