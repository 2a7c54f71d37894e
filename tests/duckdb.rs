//! The history is a Parquet dataset other engines read in place: Python's
//! `duckdb` (installed by scripts/test; gated by `SKUBENCH_PY_TESTS=1`, as
//! the hdrhistogram test) reads STORE/history/*.parquet, compacted file and
//! per-result parts together, and its medians per (SKU, distro, workload,
//! metric) are the medians of the points `skubench history` returns.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{null_result, skubench};

#[test]
fn duckdb_reads_the_history_in_place_with_the_same_medians() {
    if std::env::var("SKUBENCH_PY_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set SKUBENCH_PY_TESTS=1 (scripts/test does) to run");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    // Two SKUs, two latencies: several series of several runs each.
    let mut files = Vec::new();
    for (i, (sku, lat)) in [("A", 1000), ("A", 1200), ("B", 3000), ("B", 2500)]
        .iter()
        .enumerate()
    {
        let f = null_result(dir.path(), &format!("r{i}.json"), *lat, 3);
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        v["host"]["sku"] = (*sku).into();
        std::fs::write(&f, serde_json::to_vec(&v).unwrap()).unwrap();
        files.push(f);
    }
    // Half compacted into one file, half as per-result parts.
    skubench()
        .args(["store", "add", "--store", s])
        .args(&files[..2])
        .assert()
        .success();
    skubench()
        .args(["store", "compact", "--store", s])
        .assert()
        .success();
    skubench()
        .args(["store", "add", "--store", s])
        .args(&files[2..])
        .assert()
        .success();

    let o = skubench()
        .args(["history", "--json", "--include-disturbed", "--store", s])
        .output()
        .unwrap();
    // 1: the history alerts on the step from 1000 to 1200 ns; still read.
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let series: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut ours: BTreeMap<String, f64> = BTreeMap::new();
    for h in series.as_array().unwrap() {
        let mut v: Vec<f64> = h["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["value"].as_f64().unwrap())
            .collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let med = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        let key = format!(
            "{}|{}|{}|{}",
            h["sku"].as_str().unwrap(),
            h["distro"].as_str().unwrap(),
            h["workload"].as_str().unwrap(),
            h["metric"].as_str().unwrap()
        );
        ours.insert(key, med);
    }
    assert!(ours.len() >= 10, "{ours:?}");

    let script = r#"
import duckdb, json, sys
con = duckdb.connect()
rows = con.execute(f"""
  SELECT sku, distro, workload, metric, median(value) AS m
  FROM read_parquet('{sys.argv[1]}/history/*.parquet', union_by_name = true)
  WHERE status = 'ok'
  GROUP BY ALL
""").fetchall()
files = con.execute(f"SELECT count(DISTINCT filename) FROM read_parquet('{sys.argv[1]}/history/*.parquet', filename = true)").fetchone()[0]
print(json.dumps({"files": files, "rows": [["|".join(r[:4]), r[4]] for r in rows]}))
"#;
    let o = Command::new("python3")
        .args(["-c", script])
        .arg(&store)
        .output()
        .expect("python3");
    assert!(
        o.status.success(),
        "duckdb: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["files"], 3, "one compacted file and two parts: {v}");
    let theirs: BTreeMap<String, f64> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_f64().unwrap()))
        .collect();
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "the same series"
    );
    for (k, m) in &ours {
        let d = theirs[k];
        assert!(
            (m - d).abs() <= 1e-9 * m.abs().max(1.0),
            "{k}: skubench history median {m}, DuckDB {d}"
        );
    }
}
