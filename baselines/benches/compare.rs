//! Costs of the analysis: comparing 10 vs 10 results of 50 metrics, and a
//! history query over 1,000,000 Parquet rows.
//!
//! Run: `cargo bench -p baselines --bench compare`
#![allow(missing_docs)] // criterion_group! generates undocumented items

use baselines::changepoint::CpConfig;
use baselines::compare::{compare, Samples, SideInfo};
use baselines::history::{self, HistoryQuery, Row};
use baselines::policy::Policy;
use bench_core::result::Better;
use criterion::{criterion_group, criterion_main, Criterion};

fn side(seed: u64, shift: f64) -> Samples {
    let mut s = Samples {
        info: SideInfo::default(),
        ..Samples::default()
    };
    let mut x = seed | 1;
    for m in 0..50 {
        let vals = (0..10)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                1000.0 * shift * (1.0 + ((x % 1000) as f64 / 1000.0 - 0.5) * 0.06)
            })
            .collect();
        s.values.insert(
            ("w".into(), format!("w.m{m}.ops_per_s")),
            ("ops/s".into(), Better::Higher, vals),
        );
    }
    s
}

fn bench_compare(c: &mut Criterion) {
    let policy = Policy::default();
    let (a, b) = (side(1, 1.0), side(2, 0.95));
    c.bench_function("compare 10 vs 10 runs x 50 metrics", |bn| {
        bn.iter(|| {
            let a2 = Samples {
                values: a.values.clone(),
                info: a.info.clone(),
                ..Samples::default()
            };
            let b2 = Samples {
                values: b.values.clone(),
                info: b.info.clone(),
                ..Samples::default()
            };
            compare(a2, b2, &policy, None)
        })
    });
}

fn bench_history(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    // 1,000,000 rows: 100 metrics × 10,000 nightly runs, one compacted file.
    let mut rows = Vec::with_capacity(1_000_000);
    for run in 0..10_000u32 {
        for m in 0..100u32 {
            rows.push(Row {
                result_id: format!("{run:016x}"),
                run_id: format!("w#{run}"),
                time: format!("2026-01-01T00:00:{:02}.{:03}Z", run / 1000 % 60, run % 1000),
                sku: if m % 2 == 0 { "D2".into() } else { "D4".into() },
                distro: "debian".into(),
                distro_version: "12".into(),
                kernel: "6.1".into(),
                hostname: "vm".into(),
                suite: "nightly".into(),
                workload: "w".into(),
                metric: format!("w.m{m}.ops_per_s"),
                value: 1000.0
                    + ((run.wrapping_mul(2654435761) ^ m.wrapping_mul(40503)) % 1000) as f64
                        / 100.0,
                unit: "ops/s".into(),
                better: "higher".into(),
                disturbed: false,
                status: "ok".into(),
                tag: String::new(),
            });
        }
    }
    let mut df = history::frame(&rows).unwrap();
    drop(rows);
    let mut f = std::fs::File::create(dir.path().join("compact-0.parquet")).unwrap();
    polars::prelude::ParquetWriter::new(&mut f)
        .finish(&mut df)
        .unwrap();
    drop(df);
    let q = HistoryQuery {
        sku: Some("D2".into()),
        metric: Some("w.m4*".into()),
        ..HistoryQuery::default()
    };
    let mut g = c.benchmark_group("history");
    g.sample_size(10);
    g.bench_function(
        "query 1M rows (read, filter, group, change points on 6 series of 10k)",
        |bn| {
            bn.iter(|| {
                let (h, _) = history::query(dir.path(), &q, &CpConfig::default(), 10).unwrap();
                assert_eq!(h.len(), 6);
                h
            })
        },
    );
    g.finish();
}

criterion_group!(benches, bench_compare, bench_history);
criterion_main!(benches);
