//! Store behaviour: idempotent adds, concurrent writers, corrupt files,
//! baselines and queries.

use std::path::Path;

use baselines::history::HistoryQuery;
use baselines::store::{Query, Store};
use bench_core::host::HostInfo;
use bench_core::result::{Better, Invocation, Metric, ResultFile, RunRecord, Status, ToolInfo};

fn result(sku: &str, i: usize, value: f64) -> ResultFile {
    let run = RunRecord {
        id: "w#1".into(),
        workload: "null".into(),
        label: "w".into(),
        repetition: 1,
        spec: serde_json::json!({"kind": "null"}),
        status: Status::Ok,
        error: None,
        started_at: format!("2026-01-01T00:{:02}:{:02}.000Z", i / 60, i % 60),
        finished_at: "2026-01-01T01:00:00.000Z".into(),
        warmup_s: 0.0,
        measured_s: 1.0,
        metrics: vec![Metric::new("w.ops_per_s", value, "ops/s", Better::Higher)],
        histograms: Default::default(),
        series: vec![],
        curves: vec![],
        disturbance: Default::default(),
        notes: Default::default(),
    };
    ResultFile {
        schema: bench_core::RESULT_SCHEMA.into(),
        tool: ToolInfo {
            name: "skubench".into(),
            version: "test".into(),
            git_revision: "x".into(),
        },
        status: Status::Ok,
        error: None,
        started_at: run.started_at.clone(),
        finished_at: run.finished_at.clone(),
        host: HostInfo {
            sku: Some(sku.into()),
            distro: "debian".into(),
            hostname: format!("h{i}"),
            ..HostInfo::default()
        },
        invocation: Invocation {
            suite: "s".into(),
            repetitions: 1,
            ..Invocation::default()
        },
        runs: vec![run],
    }
}

fn files_in(p: &Path) -> usize {
    walk(p)
}

fn walk(p: &Path) -> usize {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn add_is_content_addressed_and_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let st = Store::new(dir.path());
    let a = st.add_result(&result("D2", 1, 100.0)).unwrap();
    assert!(a.new);
    let again = st.add_result(&result("D2", 1, 100.0)).unwrap();
    assert_eq!(a.id, again.id);
    assert!(!again.new);
    assert_eq!(st.ids().unwrap(), vec![a.id.clone()]);
    assert_eq!(st.load(&a.id[..6]).unwrap().runs[0].metrics[0].value, 100.0);
}

#[test]
fn concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let root = root.clone();
            std::thread::spawn(move || {
                let st = Store::new(&root);
                for i in 0..10 {
                    st.add_result(&result("D2", t * 100 + i, (t * 100 + i) as f64))
                        .unwrap();
                }
            })
        })
        .collect();
    // A compaction racing with the writers must not lose rows either.
    let st = Store::new(&root);
    std::thread::sleep(std::time::Duration::from_millis(50));
    st.compact().unwrap();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(st.ids().unwrap().len(), 80);
    let idx = st.history_index().unwrap();
    assert_eq!(idx.len(), 80);
    st.compact().unwrap();
    let (h, w) = st
        .history_query(&HistoryQuery::default(), &Default::default(), 5)
        .unwrap();
    assert!(w.is_empty());
    assert_eq!(h[0].points.len(), 80);
}

#[test]
fn a_corrupt_history_file_is_named_and_the_rest_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let st = Store::new(dir.path());
    for i in 0..3 {
        st.add_result(&result("D2", i, 10.0)).unwrap();
    }
    std::fs::write(
        st.local_root()
            .unwrap()
            .join("history/deadbeefdeadbeef.parquet"),
        b"not parquet",
    )
    .unwrap();
    let (h, warnings) = st
        .history_query(&HistoryQuery::default(), &Default::default(), 5)
        .unwrap();
    assert_eq!(h[0].points.len(), 3);
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].contains("deadbeefdeadbeef.parquet"),
        "{warnings:?}"
    );
    // Compaction refuses rather than dropping the unreadable file's data silently.
    assert!(st.compact().is_err());
}

#[test]
fn baselines_and_queries() {
    let dir = tempfile::tempdir().unwrap();
    let st = Store::new(dir.path());
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            st.add_result(&result(if i % 2 == 0 { "D2" } else { "D4" }, i, 1.0))
                .unwrap()
                .id,
        );
    }
    let q = Query::parse("sku=D2,last=2").unwrap();
    let hits = st.query(&q).unwrap();
    assert_eq!(hits, vec![ids[2].clone(), ids[4].clone()]);
    let b = st
        .save_baseline("d2-ref", &hits, "query:sku=D2,last=2", false)
        .unwrap();
    assert_eq!(st.baseline("d2-ref").unwrap(), b);
    // Saving again without --replace keeps the old one.
    let e = st
        .save_baseline("d2-ref", &ids, "x", false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("exists"), "{e}");
    assert_eq!(st.baseline("d2-ref").unwrap().results.len(), 2);
    assert!(st
        .baseline("nope")
        .unwrap_err()
        .to_string()
        .contains("no baseline `nope`"));
    assert!(st.save_baseline("../evil", &hits, "x", false).is_err());
    assert!(Query::parse("sku").is_err());
    assert!(Query::parse("colour=red").is_err());
    assert!(Query::parse("last=0").is_err());
}

#[test]
fn a_store_path_that_is_not_a_directory_is_an_error_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("store");
    std::fs::write(&file, "i am a file").unwrap();
    let st = Store::new(&file);
    assert!(st.add_result(&result("D2", 1, 1.0)).is_err());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "i am a file");
    assert_eq!(files_in(dir.path()), 1);
}
