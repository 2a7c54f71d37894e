//! `skubench matrix` end to end on a local store: tagged results of three
//! distros (one with twice the latency), a baseline, every format, the
//! cells' own comparisons where the page links to them, exit codes.

mod common;

use std::path::{Path, PathBuf};

use common::{null_result, skubench};

/// A null result of 7 runs at `latency_ns`, recorded as `distro` 1 of
/// `sku` with `tag` (the host fingerprint edited: one machine plays many).
fn tagged(dir: &Path, sku: &str, distro: &str, latency_ns: u64, tag: Option<&str>) -> PathBuf {
    let tmp = null_result(dir, &format!("tmp-{sku}-{distro}.json"), latency_ns, 7);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&tmp).unwrap()).unwrap();
    std::fs::remove_file(&tmp).unwrap();
    v["host"]["sku"] = sku.into();
    v["host"]["distro"] = distro.into();
    v["host"]["distro_version"] = "1".into();
    if let Some(t) = tag {
        v["invocation"]["tag"] = t.into();
    }
    let p = dir.join(format!("{sku}-{distro}.json"));
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    p
}

#[test]
fn matrix_renders_the_grid_and_finds_the_slower_distro() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    let base = tagged(dir.path(), "OLD", "debian", 1000, None);
    let files = [
        tagged(dir.path(), "NEW", "debian", 1000, Some("onb")),
        tagged(dir.path(), "NEW", "ubuntu", 1000, Some("onb")),
        tagged(dir.path(), "NEW", "rhel", 2000, Some("onb")),
        // Another onboarding's result: not in this matrix.
        tagged(dir.path(), "NEW", "sles", 1000, Some("other")),
    ];
    skubench()
        .args(["baseline", "save", "old", "--store", s, "--from"])
        .arg(&base)
        .assert()
        .success();
    skubench()
        .args(["store", "add", "--store", s])
        .args(&files)
        .assert()
        .success();
    let out = dir.path().join("out");
    let o = skubench()
        .args([
            "matrix",
            "--tag",
            "onb",
            "--baseline",
            "old",
            "--include-disturbed",
        ])
        .args([
            "--format",
            "html,markdown,json,junit",
            "--store",
            s,
            "--output-dir",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "rhel regressed: {err}");

    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("matrix.json")).unwrap()).unwrap();
    assert_eq!(m["schema"], "skubench.matrix.v1");
    assert_eq!(
        m["distros"],
        serde_json::json!(["debian 1", "rhel 1", "ubuntu 1"])
    );
    assert_eq!(m["outcome"], "fail");
    let cells = m["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 3);
    for c in cells {
        let want = if c["distro"] == "rhel 1" {
            "fail"
        } else {
            "pass"
        };
        assert_eq!(c["outcome"], want, "{c}");
        assert_eq!(c["runs"], 7);
        // The cell's own comparison is where the page links to.
        let slug = c["slug"].as_str().unwrap();
        for ext in ["html", "md", "json"] {
            assert!(
                out.join(format!("cells/{slug}/comparison.{ext}")).is_file(),
                "{slug}.{ext}"
            );
        }
    }
    let p50 = m["spreads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["metric"] == "null.lat_ns.p50")
        .expect("p50 is a headline metric");
    assert_eq!(p50["slower"], "rhel 1", "{p50}");
    assert!(
        (p50["spread"].as_f64().unwrap() - 2.0).abs() < 0.05,
        "{p50}"
    );

    let html = std::fs::read_to_string(out.join("matrix.html")).unwrap();
    assert!(html.contains("href=\"cells/NEW__rhel_1/comparison.html\""));
    assert!(html.contains("id=\"NEW__rhel_1\""));
    assert!(html.contains("href=\"#NEW__rhel_1\""));
    assert!(html.contains("rhel 1 is significantly slower than the rest"));
    let md = std::fs::read_to_string(out.join("matrix.md")).unwrap();
    assert!(
        md.contains("| SKU | debian 1 | rhel 1 | ubuntu 1 |"),
        "{md}"
    );
    assert!(md.contains("❌ FAIL (7 runs)"), "{md}");
    let xml = std::fs::read_to_string(out.join("matrix.xml")).unwrap();
    assert!(xml.contains("<testcase name=\"rhel 1\""), "{xml}");
    assert!(xml.contains("type=\"slower-distro\""), "{xml}");
    assert!(!xml.contains("sles"), "another tag's result leaked in");
}

#[test]
fn matrix_without_tagged_results_or_with_bad_tags_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    let f = tagged(dir.path(), "NEW", "debian", 1000, Some("onb"));
    skubench()
        .args(["store", "add", "--store", s])
        .arg(&f)
        .assert()
        .success();
    let o = skubench()
        .args(["matrix", "--tag", "nope", "--store", s])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no results tagged `nope`"));
    for bad in ["../x", ".hidden", "a b", ""] {
        let o = skubench()
            .args(["matrix", "--store", s, "--tag", bad])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad}");
        let o = skubench()
            .args(["run", "null", "--ops", "10", "--tag", bad, "-o"])
            .arg(dir.path().join("x.json"))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad}");
    }
    // Without a baseline or spec the grid has no verdicts, and exits 0.
    let o = skubench()
        .args([
            "matrix",
            "--tag",
            "onb",
            "--store",
            s,
            "--format",
            "json",
            "--include-disturbed",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(m["outcome"], serde_json::Value::Null);
}

#[test]
fn run_records_its_tag() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    skubench()
        .args([
            "run",
            "null",
            "--ops",
            "100",
            "--warmup",
            "0",
            "-q",
            "--tag",
            "onb-2026.12",
        ])
        .arg("--output")
        .arg(&out)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(v["invocation"]["tag"], "onb-2026.12");
}
