//! What every comparison format must show since comparisons have an
//! outcome, roles and minimum detectable effects: the outcome word (PASS,
//! FAIL, INCONCLUSIVE) in its own style, the MDE per metric, headline
//! rows marked, explanatory rows unjudged, possible regressions called out
//! and metrics missing from the candidate named as errors.

use baselines::compare::{Comparison, Outcome, Row, Verdict, MISSING};
use reports::{html, json, junit, markdown, sample, terminal};

/// Every format of `c`: (name, text).
fn formats(c: &Comparison) -> Vec<(&'static str, String)> {
    let page = html_page(c);
    vec![
        ("terminal", terminal::render(c, false)),
        ("terminal colour", terminal::render(c, true)),
        ("markdown", markdown::render(c)),
        ("html", page),
        ("junit", junit::render(c).unwrap()),
        ("json", String::from_utf8(json::render(c).unwrap()).unwrap()),
    ]
}

fn html_page(c: &Comparison) -> String {
    html::render(&html::HtmlInput {
        comparison: c,
        baseline: &[],
        candidate: &[],
        history: &[],
    })
}

/// The part of an HTML page above the plots and tables.
fn html_top(page: &str) -> &str {
    &page[..page.find("</section>").expect("a top section")]
}

fn row(c: &Comparison, f: impl Fn(&Row) -> bool) -> &Row {
    c.rows.iter().find(|r| f(r)).expect("a matching row")
}

#[test]
fn the_samples_have_each_outcome() {
    assert_eq!(sample::comparison().outcome, Outcome::Fail);
    assert_eq!(sample::inconclusive().outcome, Outcome::Inconclusive);
    assert_eq!(sample::passing().outcome, Outcome::Pass);
}

#[test]
fn every_format_names_the_outcome_in_its_own_style() {
    for (c, word, class, mark) in [
        (sample::comparison(), "FAIL", "fail", "❌"),
        (sample::inconclusive(), "INCONCLUSIVE", "inconclusive", "⚠️"),
        (sample::passing(), "PASS", "pass", "✅"),
    ] {
        for (name, text) in formats(&c) {
            let lower = word.to_lowercase();
            let needle = match name {
                "json" => format!("\"outcome\": \"{lower}\""),
                "junit" => format!("<property name=\"outcome\" value=\"{word}\"/>"),
                "html" => format!("<header class=\"verdict {class}\"><h1>{word}: "),
                "markdown" => format!("### {mark} {word}: "),
                "terminal colour" => format!("m{word}: "),
                _ => format!("{word}: "),
            };
            assert!(
                text.contains(&needle),
                "{name} of a {word} lacks {needle:?}"
            );
            if name == "terminal" {
                assert!(text.starts_with(&format!("{word}: ")), "{text}");
            }
            // No other outcome is claimed.
            for other in ["PASS", "FAIL", "INCONCLUSIVE"] {
                if other != word && name != "json" {
                    assert!(
                        !text.contains(&format!("{other}: ")),
                        "{name} of a {word} says {other}"
                    );
                }
            }
        }
    }
    // The terminal colours each outcome differently.
    let first = |c: &Comparison| {
        terminal::render(c, true)
            .lines()
            .next()
            .unwrap()
            .split('m')
            .next()
            .unwrap()
            .to_string()
    };
    let styles = [
        first(&sample::comparison()),
        first(&sample::inconclusive()),
        first(&sample::passing()),
    ];
    assert_ne!(styles[0], styles[1]);
    assert_ne!(styles[1], styles[2]);
    assert_ne!(styles[0], styles[2]);
}

#[test]
fn an_inconclusive_outcome_names_the_undecided_headline_metrics() {
    let c = sample::inconclusive();
    let undecided: Vec<&Row> = c.undecided_headlines().collect();
    assert!(!undecided.is_empty());
    let t = terminal::render(&c, false);
    let at = t.find("INCONCLUSIVE: these headline metrics").expect(&t);
    let md = markdown::render(&c);
    let md_at = md.find("#### ⚠️ Inconclusive").expect(&md);
    let page = html_page(&c);
    let top = html_top(&page);
    assert!(top.contains("<h2>Inconclusive</h2>"), "{top}");
    for r in undecided {
        assert!(t[at..].contains(&format!("{} / {}", r.workload, r.metric)));
        assert!(md[md_at..].contains(&format!("`{}`", r.metric)));
        assert!(top.contains(&format!("<code>{}</code>", r.metric)));
    }
    // A decided comparison has no such section.
    let pass = sample::passing();
    assert!(!terminal::render(&pass, false).contains("INCONCLUSIVE"));
    assert!(!markdown::render(&pass).contains("Inconclusive"));
    assert!(!html_top(&html_page(&pass)).contains("<h2>Inconclusive</h2>"));
}

#[test]
fn the_mde_is_shown_per_metric() {
    let c = sample::comparison();
    let r = row(&c, |r| r.metric == "mem.latency.dram.ns_per_load");
    let m = r.mde.unwrap();
    let cell = format!("±{:.1}%", m * 100.0);
    assert_eq!(cell, "±4.7%");
    let t = terminal::render(&c, false);
    let line = t.lines().find(|l| l.contains(&r.metric)).unwrap();
    assert!(line.contains(&cell), "{line}");
    assert!(t.contains("  MDE  "), "no MDE column header");
    let md = markdown::render(&c);
    assert!(md.contains("| MDE |"));
    let md_line = md
        .lines()
        .find(|l| l.starts_with("| latency |") && l.contains("| 5+5 |"))
        .unwrap();
    assert!(md_line.contains(&format!("| {cell} |")), "{md_line}");
    let page = html_page(&c);
    assert!(page.contains("<th>MDE</th>"));
    assert!(page.contains(&format!("<td class=\"num\">{cell}</td>")));
    let xml = junit::render(&c).unwrap();
    assert!(xml.contains(&format!("MDE {cell}")));
    let doc: serde_json::Value = serde_json::from_slice(&json::render(&c).unwrap()).unwrap();
    let jr = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["metric"] == r.metric.as_str())
        .unwrap();
    assert_eq!(jr["mde"].as_f64(), Some(m));
    assert_eq!(jr["role"], "headline");

    // Too few runs: no MDE, said so; explanatory: not tested, a dash.
    let lc = row(&c, |r| r.verdict == Verdict::LowConfidence);
    assert!(lc.mde.is_none());
    let line = t.lines().find(|l| l.contains(&lc.metric)).unwrap();
    assert!(line.contains("n too small"), "{line}");
    let ex = row(&c, |r| r.verdict == Verdict::Explanatory);
    let line = t.lines().find(|l| l.contains(&ex.metric)).unwrap();
    assert!(
        line.contains(" — ") && !line.contains("n too small"),
        "{line}"
    );
}

#[test]
fn headline_rows_are_marked_and_explanatory_rows_are_not_judged() {
    let c = sample::comparison();
    let h = row(&c, |r| r.metric == "disk.randread.iops");
    let t = terminal::render(&c, false);
    assert!(t.contains(&format!("* {}", h.metric)));
    let s = row(&c, |r| r.metric == "disk.randread.lat_ns.p99_9");
    assert!(!t.contains(&format!("* {}", s.metric)));
    let md = markdown::render(&c);
    assert!(md.contains(&format!("| `{}` | **headline** |", h.metric)));
    assert!(md.contains(&format!("| `{}` | secondary |", s.metric)));

    let ex = row(&c, |r| r.verdict == Verdict::Explanatory);
    // Colour: dim, never the red of a regression or the green of an improvement.
    let colour = terminal::render(&c, true);
    let line = colour.lines().find(|l| l.contains(&ex.metric)).unwrap();
    assert!(
        !line.contains("\x1b[1;31m") && !line.contains("\x1b[32m"),
        "{line:?}"
    );
    assert!(line.contains("\x1b[2mexplanatory\x1b[0m"), "{line:?}");
    let md_line = md
        .lines()
        .find(|l| l.contains(&format!("`{}`", ex.metric)))
        .unwrap();
    assert!(md_line.ends_with("| _explanatory_ |"), "{md_line}");
    let page = html_page(&c);
    let tr = page
        .lines()
        .find(|l| {
            l.contains(&format!(
                "<code>{}</code></td><td class=\"role\">",
                ex.metric
            ))
        })
        .unwrap();
    assert!(tr.starts_with("<tr class=\"explanatory\">"), "{tr}");
    // Not in the top section of things that need attention.
    assert!(!html_top(&page).contains(&ex.metric));
}

#[test]
fn possible_regressions_are_called_out_as_warnings() {
    let c = sample::comparison();
    let r = row(&c, |r| r.possible == Some(Verdict::Regression));
    assert_eq!(r.verdict, Verdict::Inconclusive);
    let t = terminal::render(&c, false);
    let at = t.find("WARNING: 2 possible regressions").expect(&t);
    assert!(t[at..].contains(&format!("{} / {} ", r.workload, r.metric)));
    assert!(t[at..].contains("interval beyond the 2% noise threshold"));
    let md = markdown::render(&c);
    let at = md.find("#### ⚠️ Possible regressions").expect(&md);
    let end = md[at..].find("#### Failed spec limits").unwrap() + at;
    assert!(md[at..end].contains(&format!("`{}`", r.metric)));
    let page = html_page(&c);
    let top = html_top(&page);
    let at = top.find("<h2>Possible regressions</h2><div class=\"warning\">");
    assert!(top[at.expect(top)..].contains(&r.metric));
    // The verdict cell says so too.
    assert!(md.contains("⚠️ inconclusive, possible regression"));
    // Under `possible_regression = "fail"` the reports say that it fails.
    let mut strict = c.clone();
    strict.policy.possible_regression = baselines::policy::PossiblePolicy::Fail;
    assert!(terminal::render(&strict, false).contains("fails the comparison"));
    assert!(!t.contains("fails the comparison"));
    // Nothing of the kind on a comparison without one.
    let pass = sample::passing();
    assert!(!terminal::render(&pass, false).contains("possible regression"));
    assert!(!markdown::render(&pass).contains("Possible regressions"));
    assert!(!html_page(&pass).contains("<h2>Possible regressions</h2>"));
    assert!(!junit::render(&pass).unwrap().contains("<system-err>"));
}

#[test]
fn missing_metrics_are_named_as_errors() {
    let c = sample::comparison();
    let (w, m, _) = c.missing().next().unwrap().clone();
    let t = terminal::render(&c, false);
    let at = t
        .find("ERROR: 1 metric missing from the candidate:")
        .expect(&t);
    assert!(t[at..].contains(&format!("{m} ({w})")));
    // Not among the metrics merely measured on one side.
    let only = t.find("only on one side").unwrap();
    assert!(!t[only..].contains(&m));
    let md = markdown::render(&c);
    let at = md
        .find("#### ❌ Missing from the candidate (error)")
        .expect(&md);
    assert!(md[at..].contains(&format!("- **error**: {m} ({w})")));
    let page = html_page(&c);
    let top = html_top(&page);
    let at = top.find("<h2>Missing from the candidate</h2><div class=\"error\">");
    assert!(top[at.expect(top)..].contains(&m));
    let xml = junit::render(&c).unwrap();
    assert!(xml.contains(&format!(
        "<testcase name=\"{m}\" classname=\"skubench.{w}\">\n            <failure message=\"{m} ({w}): measured by the baseline, missing from the candidate"
    )), "{xml}");
    let doc: serde_json::Value = serde_json::from_slice(&json::render(&c).unwrap()).unwrap();
    assert!(doc["unmatched"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u[1] == m.as_str() && u[2] == MISSING));
    assert_eq!(doc["counts"]["missing"], 1);
    // None without one.
    let pass = sample::passing();
    assert!(!terminal::render(&pass, false).contains("ERROR"));
    assert!(!markdown::render(&pass).contains("Missing from the candidate"));
}

#[test]
fn the_method_line_names_the_permutation_test_not_holm() {
    let c = sample::comparison();
    for (name, text) in formats(&c) {
        assert!(!text.contains("Holm"), "{name} still says Holm");
        assert!(
            !text.contains("Mann-Whitney"),
            "{name} still says Mann-Whitney"
        );
        if name != "json" {
            assert!(text.contains("step-down maxT"), "{name}");
            assert!(text.contains("3432 run assignments (exact)"), "{name}");
            assert!(text.contains("headline α = 0.04 (7 metrics)"), "{name}");
            assert!(text.contains("secondary α = 0.01 (2 metrics)"), "{name}");
        }
    }
    let mut own = c;
    own.policy.holm = false;
    let t = terminal::render(&own, false);
    assert!(t.contains("each metric on its own at α = 0.01"), "{t}");
    assert!(!t.contains("step-down maxT"));
}

/// A real comparison (the statistics of `baselines`) with too few runs for
/// a test is INCONCLUSIVE, and the reports say so.
#[test]
fn a_real_comparison_with_too_few_runs_is_inconclusive() {
    use baselines::compare::{compare, Samples};
    use bench_core::result::{Better, Role};
    let side = |name: &str, k: f64| {
        let mut s = Samples::default();
        s.info.name = name.into();
        s.values.insert(
            ("cpu".into(), "cpu.int.ops_per_s".into()),
            (
                "ops/s".into(),
                Better::Higher,
                vec![100.0 * k, 101.0 * k, 99.0 * k],
            ),
        );
        s.roles
            .insert(("cpu".into(), "cpu.int.ops_per_s".into()), Role::Headline);
        s
    };
    let c = compare(
        side("a", 1.0),
        side("b", 1.0),
        &baselines::policy::Policy::default(),
        None,
    );
    assert_eq!(c.outcome, Outcome::Inconclusive, "{:?}", c.rows);
    let t = terminal::render(&c, false);
    assert!(t.starts_with("INCONCLUSIVE: "), "{t}");
    assert!(t.contains("cpu / cpu.int.ops_per_s"), "{t}");
    assert!(markdown::render(&c).starts_with("### ⚠️ INCONCLUSIVE: "));
    assert!(html_page(&c).contains("<header class=\"verdict inconclusive\">"));
    let xml = junit::render(&c).unwrap();
    assert!(xml.contains("<skipped message=\"INCONCLUSIVE"), "{xml}");
}
